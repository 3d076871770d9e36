/* LD_PRELOAD shim for tw-inspect's fault tests: makes the sock_diag netlink
 * socket fail from outside the program, the way a locked-down host would.
 * Everything is driven by environment variables, read at each call:
 *
 *   TWI_SOCK_DIAG_SOCKET_ERRNO=N  socket(AF_NETLINK, *, NETLINK_SOCK_DIAG)
 *                                 fails with errno N (e.g. 93 EPROTONOSUPPORT).
 *   TWI_SOCK_DIAG_RECV_ERRNO=N    recv/recvfrom/recvmsg on that socket fail
 *   TWI_SOCK_DIAG_RECV_FAILS=K    with errno N, the first K times (default 1;
 *                                 -1 = always).
 *   TWI_SOCK_DIAG_RECV_AFTER=M    ...but only after M receives went through
 *                                 (a source that breaks mid-run).
 *   TWI_SOCK_DIAG_DUMP_INTR=K     the first K datagrams received on it get
 *                                 NLM_F_DUMP_INTR set on every message
 *                                 (-1 = always): an interrupted dump.
 *   TWI_SHIM_LOG=PATH             append one line per injected fault.
 *
 * Only the sock_diag socket is touched; every other call goes to libc. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef NETLINK_SOCK_DIAG
#define NETLINK_SOCK_DIAG 4
#endif

static int diag_fds[64];
static int diag_count;
static long recv_faults_done;
static long intr_done;
static long recv_calls;

static long env_long(const char *name, long fallback) {
    const char *v = getenv(name);
    if (!v || !*v) return fallback;
    return strtol(v, NULL, 10);
}

static void log_fault(const char *what) {
    const char *path = getenv("TWI_SHIM_LOG");
    if (!path) return;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return;
    /* One write per line: threads that dump at once log at once, and an
       O_APPEND write is not interleaved with another. */
    char line[64];
    size_t len = strlen(what);
    if (len > sizeof line - 1) len = sizeof line - 1;
    memcpy(line, what, len);
    line[len] = '\n';
    (void)!write(fd, line, len + 1);
    close(fd);
}

static int is_diag(int fd) {
    int n = __atomic_load_n(&diag_count, __ATOMIC_SEQ_CST);
    for (int i = 0; i < n && i < 64; i++)
        if (__atomic_load_n(&diag_fds[i], __ATOMIC_SEQ_CST) == fd) return 1;
    return 0;
}

int socket(int domain, int type, int protocol) {
    static int (*real)(int, int, int);
    if (!real) real = (int (*)(int, int, int))dlsym(RTLD_NEXT, "socket");
    if (domain == AF_NETLINK && protocol == NETLINK_SOCK_DIAG) {
        long err = env_long("TWI_SOCK_DIAG_SOCKET_ERRNO", 0);
        if (err > 0) {
            log_fault("socket");
            errno = (int)err;
            return -1;
        }
        int fd = real(domain, type, protocol);
        if (fd >= 0) {
            /* Reuse a slot freed by close(): a long run opens many. */
            int n = __atomic_load_n(&diag_count, __ATOMIC_SEQ_CST);
            for (int i = 0; i < n && i < 64; i++) {
                int freed = -1;
                if (__atomic_compare_exchange_n(&diag_fds[i], &freed, fd, 0,
                                                __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
                    return fd;
            }
            int slot = __atomic_fetch_add(&diag_count, 1, __ATOMIC_SEQ_CST);
            if (slot < 64) __atomic_store_n(&diag_fds[slot], fd, __ATOMIC_SEQ_CST);
        }
        return fd;
    }
    return real(domain, type, protocol);
}

int close(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "close");
    int n = __atomic_load_n(&diag_count, __ATOMIC_SEQ_CST);
    for (int i = 0; i < n && i < 64; i++) {
        int expected = fd; /* overwritten on a mismatch */
        __atomic_compare_exchange_n(&diag_fds[i], &expected, -1, 0, __ATOMIC_SEQ_CST,
                                    __ATOMIC_SEQ_CST);
    }
    return real(fd);
}

/* Returns 1 (errno set) when this receive must fail. */
static int inject_recv_error(int fd) {
    if (!is_diag(fd)) return 0;
    long err = env_long("TWI_SOCK_DIAG_RECV_ERRNO", 0);
    if (err <= 0) return 0;
    long after = env_long("TWI_SOCK_DIAG_RECV_AFTER", 0);
    if (__atomic_fetch_add(&recv_calls, 1, __ATOMIC_SEQ_CST) < after) return 0;
    long fails = env_long("TWI_SOCK_DIAG_RECV_FAILS", 1);
    long done = __atomic_fetch_add(&recv_faults_done, 1, __ATOMIC_SEQ_CST);
    if (fails >= 0 && done >= fails) return 0;
    log_fault("recv");
    errno = (int)err;
    return 1;
}

static void mark_interrupted(int fd, void *buf, ssize_t len, size_t cap) {
    if (len <= 0 || !is_diag(fd)) return;
    long wanted = env_long("TWI_SOCK_DIAG_DUMP_INTR", 0);
    if (wanted == 0) return;
    long done = __atomic_fetch_add(&intr_done, 1, __ATOMIC_SEQ_CST);
    if (wanted > 0 && done >= wanted) return;
    size_t avail = (size_t)len < cap ? (size_t)len : cap;
    unsigned char *p = buf;
    size_t off = 0;
    while (off + sizeof(struct nlmsghdr) <= avail) {
        struct nlmsghdr *h = (struct nlmsghdr *)(p + off);
        if (h->nlmsg_len < sizeof(struct nlmsghdr)) break;
        h->nlmsg_flags |= NLM_F_DUMP_INTR;
        off += NLMSG_ALIGN(h->nlmsg_len);
    }
    log_fault("intr");
}

ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
                 socklen_t *addrlen) {
    static ssize_t (*real)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
    if (!real) real = dlsym(RTLD_NEXT, "recvfrom");
    if (inject_recv_error(fd)) return -1;
    ssize_t n = real(fd, buf, len, flags, addr, addrlen);
    mark_interrupted(fd, buf, n, len);
    return n;
}

ssize_t recv(int fd, void *buf, size_t len, int flags) {
    static ssize_t (*real)(int, void *, size_t, int);
    if (!real) real = dlsym(RTLD_NEXT, "recv");
    if (inject_recv_error(fd)) return -1;
    ssize_t n = real(fd, buf, len, flags);
    mark_interrupted(fd, buf, n, len);
    return n;
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags) {
    static ssize_t (*real)(int, struct msghdr *, int);
    if (!real) real = dlsym(RTLD_NEXT, "recvmsg");
    if (inject_recv_error(fd)) return -1;
    ssize_t n = real(fd, msg, flags);
    if (msg && msg->msg_iovlen > 0)
        mark_interrupted(fd, msg->msg_iov[0].iov_base, n, msg->msg_iov[0].iov_len);
    return n;
}
