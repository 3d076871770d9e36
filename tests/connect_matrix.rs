//! The kernel as judge of the connect() rules (issue 15): in a fresh network
//! namespace with ip_local_port_range narrowed to 10 ports, every usable port
//! is filled with a TIME_WAIT towards the namespace's own loopback listener
//! on port 80 (the client closing first). Then, for each call a client can
//! make, the verdict computed from the namespace's table and sysctls (read
//! right before the call, from inside the namespace) must match what the
//! kernel's real call does: connect() to :80 and :81, bind(0) then connect
//! :81, bind(0) with IP_BIND_ADDRESS_NO_PORT then connect :81, and the
//! tool's own bind(0) probe. Traffic stays on the namespace's loopback.
mod common;

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use common::sockets::{self, Opts};
use common::Netns;
use tw_inspect::diagnosis::connect::{connect_verdict, pressure, ConnectVerdict, IntendedConnect};
use tw_inspect::diagnosis::probe::{probe_bind_zero, source_address_for};
use tw_inspect::model::{Protocol, Query};
use tw_inspect::source::netlink;
use tw_inspect::source::sysctl;

const LOW: u16 = 40000;
const HIGH: u16 = 40009;

#[derive(Clone, Copy, Debug)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn loopback(self) -> IpAddr {
        match self {
            Family::V4 => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Family::V6 => IpAddr::V6(Ipv6Addr::LOCALHOST),
        }
    }
}

/// Writes a sysctl of the calling thread's namespace.
fn set_sysctl(name: &str, value: &str) {
    let path = format!("/proc/sys/net/ipv4/{name}");
    std::fs::write(&path, value).unwrap_or_else(|e| panic!("write {path}: {e}"));
}

/// The namespace set up for one group of checks; call inside `Netns::run`.
struct Scene {
    /// The address of the listeners and of the clients.
    host: IpAddr,
    /// Loopback listeners on :80 and :81, kept open.
    _listeners: Vec<TcpListener>,
    /// Sockets that hold range ports by bind() (kept open).
    _holders: Vec<OwnedFd>,
    /// Connections the checks opened, kept open so they leave no new TIME_WAIT.
    opened: Vec<OwnedFd>,
    /// How many TIME_WAITs towards :80 the fill made.
    filled: usize,
}

impl Scene {
    /// Narrows the range (and reserves `reserved`), makes listeners, lets
    /// `holders` take range ports by bind(), then fills every port connect()
    /// can take with a TIME_WAIT towards :80, and waits out
    /// tcp_tw_reuse_delay (1000 ms by default).
    /// Clients connect from `client_source` when given (bind with
    /// IP_BIND_ADDRESS_NO_PORT first), else from the address routing picks.
    fn build(
        host: IpAddr,
        client_source: Option<IpAddr>,
        timestamps: bool,
        reserved: &str,
        holders: Vec<OwnedFd>,
    ) -> Scene {
        set_sysctl("ip_local_port_range", &format!("{LOW} {HIGH}"));
        if !reserved.is_empty() {
            set_sysctl("ip_local_reserved_ports", reserved);
        }
        set_sysctl("tcp_timestamps", if timestamps { "1" } else { "0" });
        // While filling, a TIME_WAIT must never be taken over.
        set_sysctl("tcp_tw_reuse", "0");
        let listeners: Vec<TcpListener> = [80, 81]
            .into_iter()
            .map(|port| sockets::listen_with(SocketAddr::new(host, port), Opts::default()))
            .collect();
        let target = SocketAddr::new(host, 80);
        let mut filled = 0;
        loop {
            let client = IntendedConnect {
                remote: target,
                local: client_source,
                bind_zero: client_source.is_some(),
                no_port: true,
                reuseaddr: false,
            };
            let client = match real_call(&client) {
                Ok(fd) => TcpStream::from(fd),
                Err(errno) => {
                    assert_eq!(errno, libc::EADDRNOTAVAIL, "fill");
                    break;
                }
            };
            let (mut accepted, _) = listeners[0].accept().unwrap();
            drop(client); // the client closes first: its port gets the TIME_WAIT
            accepted
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut buf = [0u8; 8];
            while accepted.read(&mut buf).map(|n| n > 0).unwrap_or(false) {}
            drop(accepted);
            filled += 1;
            assert!(filled <= 10, "more connections than ports in the range");
        }
        // Past tcp_tw_reuse_delay, with margin (a precondition, not an assertion).
        std::thread::sleep(Duration::from_millis(1500));
        Scene {
            host,
            _listeners: listeners,
            _holders: holders,
            opened: Vec::new(),
            filled,
        }
    }

    fn intended(&self, port: u16, bind_zero: bool, no_port: bool) -> IntendedConnect {
        let remote = SocketAddr::new(self.host, port);
        let local = if bind_zero && !no_port {
            // A bare bind(0) on the wildcard, the usual client code.
            None
        } else {
            let source = source_address_for(remote).expect("route to loopback");
            assert_eq!(source, self.host);
            Some(source)
        };
        IntendedConnect {
            remote,
            local,
            bind_zero,
            no_port,
            reuseaddr: false,
        }
    }

    /// The verdict from the table and sysctls as they are now.
    fn verdict(&self, connect: &IntendedConnect) -> ConnectVerdict {
        let table = netlink::read_sockets(Protocol::Tcp, &Query::everything()).expect("sock_diag");
        connect_verdict(connect, &sysctl::read_connect(), &table)
    }

    /// The verdict, then the kernel's real call; they must agree. Returns
    /// the kernel's errno (None: the call succeeded).
    fn judge(&mut self, label: &str, connect: &IntendedConnect) -> Option<i32> {
        let verdict = self.verdict(connect);
        let kernel = real_call(connect);
        let errno = match kernel {
            Ok(fd) => {
                self.opened.push(fd);
                None
            }
            Err(errno) => Some(errno),
        };
        assert!(
            verdict.certain,
            "{label}: the rules are unsure: {}",
            verdict.explanation
        );
        assert_eq!(
            verdict.errno.map(|errno| errno.0),
            errno,
            "{label}: the rules say {:?} ({}), the kernel {errno:?}",
            verdict.errno,
            verdict.explanation
        );
        assert_eq!(verdict.blocked, errno.is_some(), "{label}");
        errno
    }

    /// The bind(0) probe agrees with the verdict for a bind(0) client.
    fn judge_probe(&self, label: &str) -> Option<i32> {
        let connect = self.intended(81, true, false);
        let verdict = self.verdict(&connect);
        let probed = probe_bind_zero(&connect);
        if let Ok(port) = probed {
            assert!((LOW..=HIGH).contains(&port), "{label}: port {port}");
        }
        let errno = probed.err().map(|e| e.0);
        assert_eq!(
            verdict.errno.map(|errno| errno.0),
            errno,
            "{label}: {}",
            verdict.explanation
        );
        errno
    }

    /// The four calls of the issue's table, with tcp_tw_reuse set to `reuse`,
    /// checked against the rules; returns the kernel's errnos in the table's
    /// order.
    fn row(&mut self, reuse: u8) -> [Option<i32>; 4] {
        set_sysctl("tcp_tw_reuse", &reuse.to_string());
        let host = self.host;
        let label = |call: &str| format!("{host} tcp_tw_reuse={reuse} {call}");
        let bind_zero_probe = self.judge_probe(&label("bind(0) probe"));
        // bind(0) first: when it fails it changes nothing; each success below
        // takes a port the next verdict reads back from the table.
        let bind_zero = self.judge(
            &label("bind(0), connect :81"),
            &self.intended(81, true, false),
        );
        assert_eq!(
            bind_zero_probe,
            bind_zero,
            "{}",
            label("probe vs real bind(0)")
        );
        [
            self.judge(&label("connect :80"), &self.intended(80, false, false)),
            self.judge(&label("connect :81"), &self.intended(81, false, false)),
            bind_zero,
            self.judge(
                &label("bind(0) NO_PORT, connect :81"),
                &self.intended(81, true, true),
            ),
        ]
    }
}

/// The client's real calls: [bind(addr, 0) [with IP_BIND_ADDRESS_NO_PORT]],
/// connect(); the fd on success, the errno of the call that failed.
fn real_call(connect: &IntendedConnect) -> Result<OwnedFd, i32> {
    let domain = if connect.remote.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain socket(2); owned at once.
    let raw = unsafe { libc::socket(domain, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(raw >= 0, "socket: {}", std::io::Error::last_os_error());
    // SAFETY: a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let last_errno = || std::io::Error::last_os_error().raw_os_error().unwrap();
    if connect.bind_zero {
        if connect.no_port {
            let one: libc::c_int = 1;
            // SAFETY: an int option on a live socket.
            let rc = unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::IPPROTO_IP,
                    libc::IP_BIND_ADDRESS_NO_PORT,
                    (&raw const one).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            assert_eq!(rc, 0);
        }
        let (storage, length) = sockets::sockaddr(SocketAddr::new(connect.bind_address(), 0));
        // SAFETY: storage holds a sockaddr of `length` bytes.
        if unsafe { libc::bind(fd.as_raw_fd(), storage.as_ptr().cast(), length) } != 0 {
            return Err(last_errno());
        }
    }
    let (storage, length) = sockets::sockaddr(connect.remote);
    // SAFETY: storage holds a sockaddr of `length` bytes.
    if unsafe { libc::connect(fd.as_raw_fd(), storage.as_ptr().cast(), length) } != 0 {
        return Err(last_errno());
    }
    Ok(fd)
}

const NOT_AVAIL: Option<i32> = Some(libc::EADDRNOTAVAIL);
const IN_USE: Option<i32> = Some(libc::EADDRINUSE);

/// The issue's table, for both families: tcp_tw_reuse 0, then 1 (which
/// takes over one TIME_WAIT), then 2 (loopback: takes over another).
#[test]
fn the_issue_table_in_both_families() {
    require_netns!();
    for family in [Family::V4, Family::V6] {
        let ns = Netns::new();
        ns.run(|| {
            // Before the fill, bind(0) gets a port of the narrowed range.
            set_sysctl("ip_local_port_range", &format!("{LOW} {HIGH}"));
            let fresh = Scene {
                host: family.loopback(),
                _listeners: Vec::new(),
                _holders: Vec::new(),
                opened: Vec::new(),
                filled: 0,
            };
            assert_eq!(fresh.judge_probe("empty namespace"), None);

            let mut scene = Scene::build(family.loopback(), None, true, "", Vec::new());
            assert_eq!(scene.filled, 10, "{family:?}");
            let verdict = scene.verdict(&scene.intended(80, false, false));
            assert_eq!(
                (verdict.time_wait_same_tuple, verdict.usable),
                (10, 10),
                "{family:?}: {}",
                verdict.explanation
            );
            // Which destination eats the ports: all of them, :80.
            let table =
                netlink::read_sockets(Protocol::Tcp, &Query::everything()).expect("sock_diag");
            let pressure = pressure(&table, &verdict.settings);
            let top = &pressure.destinations[0];
            assert_eq!(
                (top.remote, top.ports, top.time_wait, top.share),
                (SocketAddr::new(family.loopback(), 80), 10, 10, 1.0)
            );
            assert_eq!((pressure.used, pressure.free), (10, 0));
            assert_eq!(scene.row(0), [NOT_AVAIL, None, IN_USE, None], "{family:?}");
            assert_eq!(scene.row(1), [None, None, IN_USE, None], "{family:?}");
            assert_eq!(scene.row(2), [None, None, IN_USE, None], "{family:?}");
        });
    }
}

/// Without timestamps, tcp_tw_reuse takes over nothing.
#[test]
fn without_timestamps_no_time_wait_is_taken_over() {
    require_netns!();
    let ns = Netns::new();
    ns.run(|| {
        let mut scene = Scene::build(Family::V4.loopback(), None, false, "", Vec::new());
        assert_eq!(scene.filled, 10);
        assert_eq!(scene.row(1), [NOT_AVAIL, None, IN_USE, None]);
        assert_eq!(scene.row(2), [NOT_AVAIL, None, IN_USE, None]);
    });
}

/// Reserved ports are skipped: 7 usable ports, all in TIME_WAIT.
#[test]
fn reserved_ports_shrink_the_range() {
    require_netns!();
    let ns = Netns::new();
    ns.run(|| {
        let mut scene = Scene::build(
            Family::V4.loopback(),
            None,
            true,
            "40000-40001,40007",
            Vec::new(),
        );
        assert_eq!(scene.filled, 7);
        let verdict = scene.verdict(&scene.intended(80, false, false));
        assert_eq!((verdict.reserved, verdict.usable), (3, 7));
        assert_eq!(scene.row(0), [NOT_AVAIL, None, IN_USE, None]);
        assert_eq!(scene.row(1), [None, None, IN_USE, None]);
    });
}

/// Ports held by bind() (a bound socket, and an IPv6 listener: the bind hash
/// is shared by both families) are never taken by an IPv4 connect().
#[test]
fn bound_and_listening_ports_are_never_taken() {
    require_netns!();
    let ns = Netns::new();
    ns.run(|| {
        let bound = sockets::bind_with("127.0.0.1:40005".parse().unwrap(), Opts::default())
            .expect("bind a range port");
        let listening: OwnedFd =
            sockets::listen_with("[::1]:40006".parse().unwrap(), Opts::default()).into();
        let mut scene = Scene::build(
            Family::V4.loopback(),
            None,
            true,
            "",
            vec![bound, listening],
        );
        assert_eq!(scene.filled, 8);
        let verdict = scene.verdict(&scene.intended(80, false, false));
        assert_eq!(
            (verdict.held, verdict.time_wait_same_tuple),
            (2, 8),
            "{}",
            verdict.explanation
        );
        // Only held ports are left for :80, and connect() does not take them.
        // bind(0.0.0.0, 0) does take one: the IPv6 listener's address does
        // not overlap it, and bind(0) checks addresses where connect() skips
        // the whole port.
        assert_eq!(scene.row(0), [NOT_AVAIL, None, None, None]);
        let table = netlink::read_sockets(Protocol::Tcp, &Query::everything()).expect("sock_diag");
        assert!(
            table.iter().any(|socket| socket.local.port() == 40006
                && socket.remote == "127.0.0.1:81".parse().unwrap()),
            "bind(0) did not take the port of the IPv6 listener"
        );
        // Now 127.0.0.1:40006 is in use too.
        assert_eq!(scene.row(1), [None, None, IN_USE, None]);
    });
}

/// In a range of odd size each connect() scan covers an even number of
/// ports and skips one end port, chosen by where the scan starts (per
/// destination). With only `lo` left, some destinations get it and others
/// fail: the rules call that uncertain, with failure as the worst case.
#[test]
fn an_odd_sized_range_skips_an_end_port_for_some_destinations() {
    require_netns!();
    let ns = Netns::new();
    ns.run(|| {
        set_sysctl("ip_local_port_range", "40000 40010");
        // Hold every port but 40000 by bind(): connect() never takes those.
        let _held: Vec<OwnedFd> = (40001..=40010)
            .map(|port| {
                sockets::bind_with(
                    SocketAddr::new(Family::V4.loopback(), port),
                    Opts::default(),
                )
                .expect("bind a range port")
            })
            .collect();
        let listeners: Vec<TcpListener> = (2000..2064)
            .map(|port| {
                sockets::listen_with(
                    SocketAddr::new(Family::V4.loopback(), port),
                    Opts::default(),
                )
            })
            .collect();
        let (mut got_it, mut failed) = (0, 0);
        for listener in &listeners {
            let remote = listener.local_addr().unwrap();
            let connect = IntendedConnect {
                remote,
                local: Some(Family::V4.loopback()),
                bind_zero: false,
                no_port: false,
                reuseaddr: false,
            };
            let table =
                netlink::read_sockets(Protocol::Tcp, &Query::everything()).expect("sock_diag");
            let verdict = connect_verdict(&connect, &sysctl::read_connect(), &table);
            assert_eq!(
                verdict.skippable_last_port,
                Some(40000),
                "{}",
                verdict.explanation
            );
            assert!(verdict.blocked && !verdict.certain);
            match real_call(&connect) {
                Ok(fd) => {
                    let stream = TcpStream::from(fd);
                    assert_eq!(stream.local_addr().unwrap().port(), 40000);
                    // Close with RST: no TIME_WAIT, 40000 is free again.
                    let linger = libc::linger {
                        l_onoff: 1,
                        l_linger: 0,
                    };
                    // SAFETY: a linger struct on a live socket.
                    let rc = unsafe {
                        libc::setsockopt(
                            stream.as_raw_fd(),
                            libc::SOL_SOCKET,
                            libc::SO_LINGER,
                            (&raw const linger).cast(),
                            std::mem::size_of::<libc::linger>() as libc::socklen_t,
                        )
                    };
                    assert_eq!(rc, 0);
                    drop(stream);
                    got_it += 1;
                }
                Err(errno) => {
                    assert_eq!(errno, libc::EADDRNOTAVAIL);
                    failed += 1;
                }
            }
        }
        assert!(
            got_it > 0 && failed > 0,
            "{got_it} destinations got port 40000, {failed} failed"
        );
    });
}

/// 10.1.0.1 on `lo`: its traffic goes through lo, but the kernel's
/// loopback test looks at the addresses.
fn add_non_loopback_address(ns: &Netns) {
    let out = ns
        .exec("ip")
        .args(["addr", "add", "10.1.0.1/32", "dev", "lo"])
        .output()
        .expect("run ip");
    assert!(out.status.success(), "ip addr add: {out:?}");
}

/// tcp_tw_reuse = 2 takes over loopback TIME_WAITs only: between two
/// non-loopback addresses it takes none, and 1 does.
#[test]
fn tw_reuse_two_leaves_non_loopback_time_waits_alone() {
    require_netns!();
    let ns = Netns::new();
    // A non-loopback address on lo: its traffic goes through lo, but the
    // kernel's test looks at the addresses (and at a device binding, which
    // these sockets do not have).
    add_non_loopback_address(&ns);
    ns.run(|| {
        let host: IpAddr = "10.1.0.1".parse().unwrap();
        let mut scene = Scene::build(host, None, true, "", Vec::new());
        assert_eq!(scene.filled, 10);
        assert_eq!(scene.row(0), [NOT_AVAIL, None, IN_USE, None]);
        assert_eq!(scene.row(2), [NOT_AVAIL, None, IN_USE, None]);
        assert_eq!(scene.row(1), [None, None, IN_USE, None]);
    });
}

/// tcp_tw_reuse = 2 asks for *an* end of the TIME_WAIT to be loopback
/// (tcp_twsk_unique): from 10.1.0.1 to 127.0.0.1 qualifies.
#[test]
fn tw_reuse_two_needs_only_one_loopback_end() {
    require_netns!();
    let ns = Netns::new();
    add_non_loopback_address(&ns);
    ns.run(|| {
        let source: IpAddr = "10.1.0.1".parse().unwrap();
        let mut scene = Scene::build(Family::V4.loopback(), Some(source), true, "", Vec::new());
        assert_eq!(scene.filled, 10);
        let connect = IntendedConnect {
            remote: SocketAddr::new(Family::V4.loopback(), 80),
            local: Some(source),
            bind_zero: true,
            no_port: true,
            reuseaddr: false,
        };
        set_sysctl("tcp_tw_reuse", "0");
        assert_eq!(scene.judge("10.1.0.1 -> :80, reuse 0", &connect), NOT_AVAIL);
        set_sysctl("tcp_tw_reuse", "2");
        assert_eq!(scene.judge("10.1.0.1 -> :80, reuse 2", &connect), None);
    });
}
