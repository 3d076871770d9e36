// SPDX-License-Identifier: MIT OR Apache-2.0 OR GPL-2.0-only
//
// tw-inspect --watch: the kernel side.
//
// Two tp_btf programs (the only attach kind this project can count on: fentry,
// fexit, LSM and kprobes are refused or absent on the kernels it targets):
//
//  - twi_bind_fail  (tp_btf/sys_exit): a bind() that returned -EADDRINUSE.
//    Reads the address the caller passed (user memory) and, following the fd
//    to its struct sock, the socket's own options: SO_REUSEADDR,
//    SO_REUSEPORT, IPV6_V6ONLY, bound device, type, protocol and netns.
//  - twi_tcp_close  (tp_btf/inet_sock_set_state): ESTABLISHED -> FIN_WAIT1,
//    the one transition that runs in the closing process's context, so that
//    user space can name who left a later TIME_WAIT (linked by 4-tuple).
//
// Events go through one ring buffer; a reservation that fails bumps LOST.
// Kernel structs are declared here with only the fields read, and
// preserve_access_index: CO-RE relocates each access against the running
// kernel's BTF, so no vmlinux.h is needed to build.
//
// Rebuild with bpf/build.sh; the record layout is mirrored by
// src/source/bpf/event.rs (keep the two in step).

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;

enum bpf_map_type {
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_RINGBUF = 27,
};

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define EADDRINUSE 98
#define TCP_ESTABLISHED 1
#define TCP_FIN_WAIT1 4

#if defined(__TARGET_ARCH_x86)
#define NR_BIND 49
#else
#error "only x86_64 is supported (the bind syscall number and pt_regs field)"
#endif

// ---- kernel types: only what is read; CO-RE finds the real offsets ----

struct pt_regs {
	unsigned long di;
	unsigned long si;
	unsigned long dx;
	unsigned long orig_ax;
} __attribute__((preserve_access_index));

struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct net {
	struct ns_common ns;
} __attribute__((preserve_access_index));

typedef struct {
	struct net *net;
} possible_net_t;

struct in6_addr {
	__u8 s6_addr[16];
} __attribute__((preserve_access_index));

struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	unsigned char skc_reuse : 4;
	unsigned char skc_reuseport : 1;
	unsigned char skc_ipv6only : 1;
	int skc_bound_dev_if;
	possible_net_t skc_net;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
	__u16 sk_protocol;
} __attribute__((preserve_access_index));

struct inet_sock {
	struct sock sk;
	__be16 inet_sport;
} __attribute__((preserve_access_index));

struct socket {
	struct sock *sk;
} __attribute__((preserve_access_index));

struct file {
	void *private_data;
} __attribute__((preserve_access_index));

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
} __attribute__((preserve_access_index));

struct files_struct {
	struct fdtable *fdt;
} __attribute__((preserve_access_index));

struct task_struct {
	struct files_struct *files;
} __attribute__((preserve_access_index));

// ---- the sockaddr layouts the caller passes ----

struct sockaddr_in_user {
	__u16 sin_family;
	__be16 sin_port;
	__u8 sin_addr[4];
};

struct sockaddr_in6_user {
	__u16 sin6_family;
	__be16 sin6_port;
	__u32 sin6_flowinfo;
	__u8 sin6_addr[16];
	__u32 sin6_scope_id;
};

// ---- the record (96 bytes, no implicit padding) ----

#define EVENT_BIND_FAILED 1
#define EVENT_CLOSED 2

#define FLAG_REUSEADDR 1
#define FLAG_REUSEPORT 2
#define FLAG_V6ONLY 4

struct event {
	__u8 kind;          // EVENT_*
	__u8 family;        // AF_INET / AF_INET6
	__u8 protocol;      // IPPROTO_TCP / IPPROTO_UDP
	__u8 flags;         // FLAG_*
	__u32 pid;          // thread id
	__u32 tgid;         // process id
	__u32 uid;
	__u32 netns_inode;
	__s32 bound_dev_if;
	__u64 at_ns;        // bpf_ktime_get_ns: CLOCK_MONOTONIC
	char comm[16];
	__u16 local_port;   // host order
	__u16 remote_port;  // host order; 0 for a bind
	__u32 reserved0;
	__u8 local_addr[16];  // IPv4 in the first 4 bytes
	__u8 remote_addr[16];
	__u32 scope_id;     // sin6_scope_id of the bind address
	__u32 reserved1;
};

// ---- scope, set by user space before load ----

const volatile __u32 scope_netns_inode = 0; // 0: every namespace
const volatile __u16 scope_port = 0;        // 0: every port
// The watching process itself: its probe binds fail with EADDRINUSE too, and
// reporting them would feed the watcher its own verdicts' probes forever.
const volatile __u32 ignore_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} EVENTS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} LOST SEC(".maps");

static __always_inline void count_lost(void)
{
	__u32 zero = 0;
	__u64 *lost = bpf_map_lookup_elem(&LOST, &zero);
	if (lost)
		__sync_fetch_and_add(lost, 1);
}

static __always_inline __u32 netns_of(struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

static __always_inline void fill_task(struct event *e)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	e->pid = (__u32)pid_tgid;
	e->tgid = pid_tgid >> 32;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->at_ns = bpf_ktime_get_ns();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
}

SEC("tp_btf/sys_exit")
int twi_bind_fail(__u64 *ctx)
{
	// Every syscall on the host passes here: the cheapest test goes first.
	long ret = (long)ctx[1];
	if (ret != -EADDRINUSE)
		return 0;
	struct pt_regs *regs = (struct pt_regs *)ctx[0];
	if (BPF_CORE_READ(regs, orig_ax) != NR_BIND)
		return 0;
	if (ignore_tgid && (bpf_get_current_pid_tgid() >> 32) == ignore_tgid)
		return 0;

	int fd = (int)BPF_CORE_READ(regs, di);
	const void *uaddr = (const void *)BPF_CORE_READ(regs, si);
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *file = 0;
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	if (!file)
		return 0;
	struct socket *sock = BPF_CORE_READ(file, private_data);
	if (!sock)
		return 0;
	struct sock *sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return 0;

	__u32 netns = netns_of(sk);
	if (scope_netns_inode && netns != scope_netns_inode)
		return 0;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	__u16 protocol = BPF_CORE_READ(sk, sk_protocol);
	if (protocol != IPPROTO_TCP && protocol != IPPROTO_UDP)
		return 0;

	// The address as the caller passed it: its family decides its size.
	__u16 addr_family = 0;
	if (bpf_probe_read_user(&addr_family, sizeof(addr_family), uaddr))
		return 0;
	struct sockaddr_in6_user sin6 = {};
	if (addr_family == AF_INET6) {
		if (bpf_probe_read_user(&sin6, sizeof(sin6), uaddr))
			return 0;
	} else if (addr_family == AF_INET) {
		if (bpf_probe_read_user(&sin6, sizeof(struct sockaddr_in_user), uaddr))
			return 0;
	} else {
		return 0;
	}
	__u16 port = __builtin_bswap16(sin6.sin6_port);
	if (scope_port && port != scope_port)
		return 0;

	struct event *e = bpf_ringbuf_reserve(&EVENTS, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	fill_task(e);
	e->kind = EVENT_BIND_FAILED;
	e->family = addr_family;
	e->protocol = protocol;
	__u8 reuse = BPF_CORE_READ_BITFIELD_PROBED(&sk->__sk_common, skc_reuse);
	__u8 flags = 0;
	if (reuse)
		flags |= FLAG_REUSEADDR;
	if (BPF_CORE_READ_BITFIELD_PROBED(&sk->__sk_common, skc_reuseport))
		flags |= FLAG_REUSEPORT;
	if (BPF_CORE_READ_BITFIELD_PROBED(&sk->__sk_common, skc_ipv6only))
		flags |= FLAG_V6ONLY;
	e->flags = flags;
	e->netns_inode = netns;
	e->bound_dev_if = BPF_CORE_READ(sk, __sk_common.skc_bound_dev_if);
	e->local_port = port;
	if (addr_family == AF_INET6) {
		__builtin_memcpy(e->local_addr, sin6.sin6_addr, 16);
		e->scope_id = sin6.sin6_scope_id;
	} else {
		struct sockaddr_in_user *sin = (struct sockaddr_in_user *)&sin6;
		__builtin_memcpy(e->local_addr, sin->sin_addr, 4);
	}
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int twi_tcp_close(__u64 *ctx)
{
	struct sock *sk = (struct sock *)ctx[0];
	int oldstate = (int)ctx[1];
	int newstate = (int)ctx[2];
	if (oldstate != TCP_ESTABLISHED || newstate != TCP_FIN_WAIT1)
		return 0;
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	__u32 netns = netns_of(sk);
	if (scope_netns_inode && netns != scope_netns_inode)
		return 0;
	// skc_num can already be 0 later in the close; inet_sport stays.
	__u16 sport = __builtin_bswap16(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	__u16 dport = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (scope_port && sport != scope_port && dport != scope_port)
		return 0;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	struct event *e = bpf_ringbuf_reserve(&EVENTS, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	fill_task(e);
	e->kind = EVENT_CLOSED;
	e->family = family;
	e->protocol = IPPROTO_TCP;
	e->netns_inode = netns;
	e->bound_dev_if = BPF_CORE_READ(sk, __sk_common.skc_bound_dev_if);
	e->local_port = sport;
	e->remote_port = dport;
	if (family == AF_INET6) {
		BPF_CORE_READ_INTO(&e->local_addr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&e->remote_addr, sk, __sk_common.skc_v6_daddr);
	} else {
		BPF_CORE_READ_INTO((__be32 *)e->local_addr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__be32 *)e->remote_addr, sk, __sk_common.skc_daddr);
	}
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
