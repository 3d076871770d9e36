//! The one place the diagnosis touches the kernel: real bind() calls, closed
//! at once and never listen()ed, and the facts about the binder the rules
//! need (uid, capability, device index). Everything runs in the calling
//! thread's network namespace, which must be the target's.

use std::ffi::CString;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::connect::IntendedConnect;
use super::rules::RuleContext;
use super::{IntendedBind, Probe};
use crate::errno::Errno;
use crate::model::{KernelContext, Protocol, Socket, SourceKind};

/// Which question a probe answers. What code compares is this; the
/// question's words are output only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    /// The bind exactly as intended.
    Intended,
    /// The intended bind with SO_REUSEADDR and without SO_REUSEPORT.
    WithReuseaddr,
    /// The intended bind with SO_REUSEPORT and without SO_REUSEADDR.
    WithReuseport,
    /// The intended bind on one specific local address instead of the wildcard.
    SpecificAddress,
}

impl ProbeKind {
    /// The question in words, as the report and JSON print it.
    pub fn question(self) -> &'static str {
        match self {
            ProbeKind::Intended => "the intended bind",
            ProbeKind::WithReuseaddr => "would SO_REUSEADDR (without SO_REUSEPORT) help?",
            ProbeKind::WithReuseport => "would SO_REUSEPORT (without SO_REUSEADDR) help?",
            ProbeKind::SpecificAddress => "would a specific address instead of the wildcard help?",
        }
    }
}

/// CAP_NET_BIND_SERVICE's bit in the capability sets (linux/capability.h).
const CAP_NET_BIND_SERVICE: u32 = 10;
/// CAP_SETUID's bit: needed to probe as another uid.
const CAP_SETUID: u32 = 7;

/// Probes the intended bind; when it fails with EADDRINUSE, also the
/// counterfactuals: with SO_REUSEADDR, with SO_REUSEPORT, and (for a wildcard
/// bind) on one local address that no socket on the port holds.
///
/// A successful bind leaves a trace in the port's bind bucket: one with
/// SO_REUSEPORT arms the kernel's fast path (`tb->fastreuseport`) for its
/// uid and address, and later SO_REUSEPORT binds of that uid then skip the
/// conflict check. A probe with both flags can pass an existing socket by
/// SO_REUSEADDR alone and so open that path past a socket that never set
/// SO_REUSEPORT (measured on 6.18). So each flag counterfactual sets one
/// flag and clears the other; only the user's own intended bind may set both.
pub fn run_probes(bind: &IntendedBind, sockets: &[Socket]) -> Vec<Probe> {
    probes_after(
        probe(bind, ProbeKind::Intended),
        &held_addresses(bind, sockets),
    )
}

/// The local addresses (canonical: a v4-mapped IPv6 address as IPv4) that
/// sockets of the bind's protocol hold on its port, each once: all that the
/// probes need to know of a reading.
pub fn held_addresses(bind: &IntendedBind, sockets: &[Socket]) -> Vec<IpAddr> {
    let mut held: Vec<IpAddr> = Vec::new();
    for socket in sockets
        .iter()
        .filter(|socket| socket.protocol == bind.protocol && socket.local.port() == bind.port)
    {
        let addr = socket.local.ip().to_canonical();
        // Sockets on one address come in runs: sorting 100k copies of one
        // address would cost more than this check.
        if held.last() != Some(&addr) {
            held.push(addr);
        }
    }
    held.sort_unstable();
    held.dedup();
    held
}

/// [`run_probes`] for an intended bind already probed: the counterfactuals
/// that `intended`'s answer calls for, given the addresses [`held_addresses`]
/// found. (A bind costs the kernel a walk of the port's bucket: with 25k
/// TIME_WAITs on a port, up to a few milliseconds.)
pub fn probes_after(intended: Probe, held: &[IpAddr]) -> Vec<Probe> {
    let bind = &intended.bind.clone();
    let in_use = intended.errno == Some(Errno::EADDRINUSE);
    let mut probes = vec![intended];
    if !in_use {
        return probes;
    }
    if !bind.reuseaddr {
        let with = IntendedBind {
            reuseaddr: true,
            reuseport: false,
            ..bind.clone()
        };
        probes.push(probe(&with, ProbeKind::WithReuseaddr));
    }
    if !bind.reuseport {
        let with = IntendedBind {
            reuseaddr: false,
            reuseport: true,
            ..bind.clone()
        };
        probes.push(probe(&with, ProbeKind::WithReuseport));
    }
    if bind.addr.is_unspecified() {
        if let Some(addr) = unheld_local_address(bind, held) {
            let with = IntendedBind {
                addr,
                ..bind.clone()
            };
            probes.push(probe(&with, ProbeKind::SpecificAddress));
        }
    }
    probes
}

/// One real bind() of a socket of the bind's protocol (SOCK_STREAM or
/// SOCK_DGRAM), family, address, options and device, closed at once (never
/// listen()ed or connected).
///
/// With `bind.uid` another uid than this process's, the bind is made on a
/// thread of its own that switches to that uid first: the raw setresuid(2)
/// changes only the calling thread (glibc's wrapper would change every
/// thread), and a new thread shares its creator's network namespace. Check
/// [`can_probe_as`] first: a refused switch answers EPERM, not the question.
pub fn probe(bind: &IntendedBind, kind: ProbeKind) -> Probe {
    let errno = match bind.uid.filter(|uid| *uid != effective_uid()) {
        None => try_bind(bind),
        Some(uid) => std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    // SAFETY: a raw syscall with integer arguments; it
                    // changes only this thread's credentials, and the
                    // thread ends after the bind.
                    let rc = unsafe {
                        libc::syscall(
                            libc::SYS_setresuid,
                            libc::c_ulong::from(uid),
                            libc::c_ulong::from(uid),
                            libc::c_ulong::from(uid),
                        )
                    };
                    if rc == 0 {
                        try_bind(bind)
                    } else {
                        Err(io::Error::last_os_error())
                    }
                })
                .join()
                .unwrap_or_else(|_| Err(io::Error::from_raw_os_error(libc::EIO)))
        }),
    }
    .err()
    .map(|error| Errno::of(&error));
    Probe {
        bind: bind.clone(),
        kind,
        ok: errno.is_none(),
        errno,
    }
}

/// Whether probes can bind as `uid` (None: this process's): the same uid,
/// or CAP_SETUID to switch to it.
pub fn can_probe_as(uid: Option<u32>) -> bool {
    match uid {
        Some(uid) if uid != effective_uid() => has_effective_capability(CAP_SETUID),
        _ => true,
    }
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

fn try_bind(bind: &IntendedBind) -> io::Result<()> {
    bound_socket(bind, false).map(drop)
}

/// A socket of the bind's protocol with its options, bound to its address
/// and port (with IP_BIND_ADDRESS_NO_PORT first when `no_port`); closed
/// when dropped.
fn bound_socket(bind: &IntendedBind, no_port: bool) -> io::Result<OwnedFd> {
    let kind = match bind.protocol {
        Protocol::Tcp => libc::SOCK_STREAM,
        Protocol::Udp => libc::SOCK_DGRAM,
    };
    let socket = new_socket(bind.addr, kind)?;
    let fd = socket.as_raw_fd();
    if let Some(device) = &bind.device {
        set_option(
            fd,
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            device.as_bytes(),
        )?;
    }
    if bind.reuseaddr {
        set_int_option(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    }
    if bind.reuseport {
        set_int_option(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    }
    if bind.addr.is_ipv6() {
        set_int_option(
            fd,
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
            i32::from(bind.v6only),
        )?;
    }
    if no_port {
        set_int_option(fd, libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT, 1)?;
    }
    let (storage, length) = sockaddr(SocketAddr::new(bind.addr, bind.port));
    // SAFETY: storage holds a sockaddr of `length` bytes for this family.
    let rc = unsafe { libc::bind(fd, (&raw const storage).cast(), length) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(socket)
}

/// A fresh socket of the address's family, owned (closed on drop).
fn new_socket(addr: IpAddr, kind: i32) -> io::Result<OwnedFd> {
    let domain = match addr {
        IpAddr::V4(_) => libc::AF_INET,
        IpAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: plain socket(2); the result is checked and owned at once.
    let raw = unsafe { libc::socket(domain, kind | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: raw is a fresh descriptor nobody else owns; dropping closes it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// The harmless half of a client's bind(0) + connect(): a real TCP bind() to
/// port 0 on the client's local address (the family's wildcard when it
/// names none), with its SO_REUSEADDR and IP_BIND_ADDRESS_NO_PORT, closed at
/// once; never connect() (that would send a SYN to someone's host), never
/// listen(). Ok holds the port the kernel chose (0 with
/// IP_BIND_ADDRESS_NO_PORT, which leaves the choice to connect()).
/// The chosen port is taken for the instant the probe holds it.
pub fn probe_bind_zero(connect: &IntendedConnect) -> Result<u16, Errno> {
    let bind = IntendedBind {
        protocol: Protocol::Tcp,
        addr: connect.bind_address(),
        port: 0,
        reuseaddr: connect.reuseaddr,
        reuseport: false,
        v6only: false,
        device: None,
        uid: None,
    };
    let socket = bound_socket(&bind, connect.no_port).map_err(|e| Errno::of(&e))?;
    local_address(&socket)
        .map(|addr| addr.port())
        .map_err(|e| Errno::of(&e))
}

/// The source address the kernel's routing picks for a connection to
/// `remote` from this thread's namespace: what connect() puts in the
/// four-tuple when the client binds no address. Asked with a UDP socket's
/// connect(), which sends nothing.
pub fn source_address_for(remote: SocketAddr) -> Result<IpAddr, Errno> {
    let socket = new_socket(remote.ip(), libc::SOCK_DGRAM).map_err(|e| Errno::of(&e))?;
    let (storage, length) = sockaddr(remote);
    // SAFETY: storage holds a sockaddr of `length` bytes for this family.
    let rc = unsafe { libc::connect(socket.as_raw_fd(), (&raw const storage).cast(), length) };
    if rc != 0 {
        return Err(Errno::of(&io::Error::last_os_error()));
    }
    local_address(&socket)
        .map(|addr| addr.ip())
        .map_err(|e| Errno::of(&e))
}

/// getsockname(2) as a SocketAddr.
fn local_address(socket: &OwnedFd) -> io::Result<SocketAddr> {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut length = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: storage has room for `length` bytes; the kernel writes at most that.
    let rc =
        unsafe { libc::getsockname(socket.as_raw_fd(), (&raw mut storage).cast(), &mut length) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    match i32::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: an AF_INET address is a sockaddr_in.
            let sin = unsafe { &*(&raw const storage).cast::<libc::sockaddr_in>() };
            Ok(SocketAddr::new(
                IpAddr::from(sin.sin_addr.s_addr.to_ne_bytes()),
                u16::from_be(sin.sin_port),
            ))
        }
        libc::AF_INET6 => {
            // SAFETY: an AF_INET6 address is a sockaddr_in6.
            let sin6 = unsafe { &*(&raw const storage).cast::<libc::sockaddr_in6>() };
            Ok(SocketAddr::new(
                IpAddr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
            ))
        }
        _ => Err(io::Error::from_raw_os_error(libc::EAFNOSUPPORT)),
    }
}

fn set_int_option(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    set_option(fd, level, name, &value.to_ne_bytes())
}

fn set_option(fd: RawFd, level: i32, name: i32, value: &[u8]) -> io::Result<()> {
    let length = libc::socklen_t::try_from(value.len())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: value points to `length` readable bytes for the call's duration.
    let rc = unsafe { libc::setsockopt(fd, level, name, value.as_ptr().cast(), length) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let length = match addr {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { (&raw mut storage).cast::<libc::sockaddr_in>().write(sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: v6.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { (&raw mut storage).cast::<libc::sockaddr_in6>().write(sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    // Both sizes are far below socklen_t's range.
    (storage, length as libc::socklen_t)
}

/// A local address of the bind's family that no socket on the port holds,
/// preferring one that is not loopback (a server on the wildcard usually
/// wants outside traffic). IPv6 link-local addresses need a scope: skipped.
fn unheld_local_address(bind: &IntendedBind, held: &[IpAddr]) -> Option<IpAddr> {
    let mut candidates: Vec<IpAddr> = local_addresses()
        .into_iter()
        .filter(|addr| addr.is_ipv4() == bind.addr.is_ipv4())
        .filter(|addr| !matches!(addr, IpAddr::V6(v6) if v6.is_unicast_link_local()))
        .filter(|addr| held.binary_search(&addr.to_canonical()).is_err())
        .collect();
    candidates.sort_by_key(|addr| (addr.is_loopback(), *addr));
    candidates.into_iter().next()
}

/// The addresses of the namespace's interfaces (empty if getifaddrs fails).
fn local_addresses() -> Vec<IpAddr> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list`, freed below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Vec::new();
    }
    let mut addresses = Vec::new();
    let mut entry = list;
    while !entry.is_null() {
        // SAFETY: entry is a node of the list getifaddrs returned.
        let node = unsafe { &*entry };
        if !node.ifa_addr.is_null() {
            // SAFETY: ifa_addr points to a sockaddr whose family says its type.
            match i32::from(unsafe { (*node.ifa_addr).sa_family }) {
                libc::AF_INET => {
                    // SAFETY: an AF_INET sockaddr is a sockaddr_in.
                    let sin = unsafe { &*node.ifa_addr.cast::<libc::sockaddr_in>() };
                    addresses.push(IpAddr::from(sin.sin_addr.s_addr.to_ne_bytes()));
                }
                libc::AF_INET6 => {
                    // SAFETY: an AF_INET6 sockaddr is a sockaddr_in6.
                    let sin6 = unsafe { &*node.ifa_addr.cast::<libc::sockaddr_in6>() };
                    addresses.push(IpAddr::from(sin6.sin6_addr.s6_addr));
                }
                _ => {}
            }
        }
        entry = node.ifa_next;
    }
    // SAFETY: list came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    addresses
}

/// The rule context for a bind made now by this thread, in its namespace.
/// `source` says whether the table shows bound devices (sock_diag does).
pub fn rule_context(
    bind: &IntendedBind,
    kernel: &KernelContext,
    source: SourceKind,
) -> RuleContext {
    let bind_ifindex = bind.device.as_deref().and_then(interface_index);
    let caller_uid = effective_uid();
    let uid = bind.uid.unwrap_or(caller_uid);
    RuleContext {
        bind_ifindex,
        device_missing: bind.device.is_some() && bind_ifindex.is_none(),
        devices_known: source == SourceKind::Netlink,
        uid,
        caller_uid,
        unprivileged_port_start: kernel.ip_unprivileged_port_start,
        // Another uid's capabilities are unknown: root's are assumed, and a
        // probe as a non-root uid runs without any.
        cap_net_bind_service: if uid == caller_uid {
            has_effective_capability(CAP_NET_BIND_SERVICE)
        } else {
            uid == 0
        },
        captured: false,
    }
}

/// The rule context for a captured table from another host: its devices,
/// privileges and sysctls are unknown, so no ENODEV or EACCES is claimed.
/// The uid is this process's (the likeliest binder when the table is local).
pub fn captured_rule_context(source: SourceKind) -> RuleContext {
    RuleContext {
        bind_ifindex: None,
        device_missing: false,
        devices_known: source == SourceKind::Netlink,
        uid: effective_uid(),
        caller_uid: effective_uid(),
        unprivileged_port_start: None,
        cap_net_bind_service: false,
        captured: true,
    }
}

fn interface_index(name: &str) -> Option<u32> {
    let name = CString::new(name).ok()?;
    // SAFETY: name is a NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then_some(index)
}

/// Reads CapEff from /proc/thread-self/status; false when unreadable.
fn has_effective_capability(bit: u32) -> bool {
    std::fs::read_to_string("/proc/thread-self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("CapEff:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .is_some_and(|set| set & (1 << bit) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{bind, listener, time_wait};

    #[test]
    fn held_addresses_are_the_ports_local_addresses_once_each() {
        let bind = bind("0.0.0.0:8080");
        let mut udp = listener("127.0.0.3:8080");
        udp.protocol = Protocol::Udp;
        let sockets = [
            time_wait("127.0.0.1:8080", "127.0.0.9:40000", 1000),
            time_wait("127.0.0.1:8080", "127.0.0.9:40001", 1000),
            listener("10.0.0.1:8080"),
            time_wait("127.0.0.1:8080", "127.0.0.9:40002", 1000),
            listener("[::ffff:10.0.0.2]:8080"),
            // Another port, and the other protocol: not held for this bind.
            listener("127.0.0.2:8081"),
            udp,
        ];
        let held: Vec<String> = held_addresses(&bind, &sockets)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(held, ["10.0.0.1", "10.0.0.2", "127.0.0.1"]);
    }
}
