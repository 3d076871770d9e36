//! UDP against the kernel, each test in a fresh network namespace: the
//! sock_diag and /proc listings equal `ss -uanH`; the in-kernel port filter
//! returns exactly the port's UDP sockets; owners are found by inode as for
//! TCP; a raw dump parses back to the same sockets; for each row of the
//! measured UDP table the rules (and the probe, where the rules say Unknown)
//! agree with a real second bind(); and the counterfactual probes name the
//! option that would help.
mod common;

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::OwnedFd;
use std::path::Path;

use common::sockets::{self, Opts};
use common::Netns;
use tw_inspect::diagnosis::probe::{probe, rule_context, run_probes, ProbeKind};
use tw_inspect::diagnosis::{rules, udp_rules, Conflict, IntendedBind};
use tw_inspect::errno::Errno;
use tw_inspect::model::{Protocol, ProtocolSet, Query, Socket, SourceKind, TcpState};
use tw_inspect::source::{netlink, procnet, read_table, sysctl, ReadRequest, SourceChoice};

fn at(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn opts(reuseaddr: bool, reuseport: bool) -> Opts {
    Opts {
        reuseaddr,
        reuseport,
        ..Opts::default()
    }
}

fn udp(addr: &str, opts: Opts) -> OwnedFd {
    sockets::bind_udp(at(addr), opts).unwrap_or_else(|e| panic!("bind udp {addr}: {e}"))
}

fn connected(addr: &str, opts: Opts, peer: &str) -> UdpSocket {
    let socket = UdpSocket::from(udp(addr, opts));
    socket.connect(at(peer)).expect("connect udp");
    socket
}

/// The scenario of the listing tests: unconnected and connected UDP sockets
/// of both families, shared ports, a device-bound one, and a TCP listener on
/// a UDP port (which no UDP reading may show).
struct Scenario {
    _fds: Vec<OwnedFd>,
    _connected: Vec<UdpSocket>,
    _tcp: std::net::TcpListener,
}

fn build_scenario() -> Scenario {
    let fds = vec![
        udp("0.0.0.0:5353", opts(true, false)),
        udp("0.0.0.0:5353", opts(true, false)),
        udp("127.0.0.1:9531", Opts::default()),
        udp("127.0.0.1:9540", opts(false, true)),
        udp("127.0.0.1:9540", opts(false, true)),
        udp("[::1]:9532", Opts::default()),
        udp(
            "[::]:9533",
            Opts {
                v6only: Some(false),
                ..Opts::default()
            },
        ),
        udp(
            "[::]:9536",
            Opts {
                v6only: Some(true),
                ..Opts::default()
            },
        ),
        udp(
            "0.0.0.0:9541",
            Opts {
                device: Some("lo"),
                ..Opts::default()
            },
        ),
    ];
    let connected = vec![
        connected("127.0.0.1:9534", Opts::default(), "127.0.0.1:5353"),
        connected("[::1]:9535", Opts::default(), "[::1]:9532"),
    ];
    Scenario {
        _fds: fds,
        _connected: connected,
        _tcp: sockets::listen_with(at("0.0.0.0:5353"), Opts::default()),
    }
}

/// `*:port` for a wildcard, else `ip:port`: how ss and we agree to compare.
fn norm(addr: &SocketAddr) -> String {
    let ip = addr.ip();
    if ip.is_unspecified() {
        format!("*:{}", addr.port())
    } else {
        format!("{}:{}", ip.to_canonical(), addr.port())
    }
}

/// ss prints `127.0.0.1%lo:9541`, `[::1]:9532`, `*:9533`, `0.0.0.0:*`.
fn norm_ss(text: &str) -> String {
    let (host, port) = text.rsplit_once(':').expect("ss address has a port");
    let host = host.trim_start_matches('[').replace(']', "");
    let host = host.split('%').next().unwrap_or_default().to_string();
    let port: u16 = if port == "*" {
        0
    } else {
        port.parse().unwrap()
    };
    if host == "*" {
        return format!("*:{port}");
    }
    norm(&SocketAddr::new(host.parse().unwrap(), port))
}

/// (state, local, remote, inode) of one socket.
type Key = (TcpState, String, String, u64);

fn key(socket: &Socket) -> Key {
    assert_eq!(socket.protocol, Protocol::Udp, "{socket:?}");
    assert_eq!(socket.timer, None, "UDP has no timers: {socket:?}");
    (
        socket.state,
        norm(&socket.local),
        norm(&socket.remote),
        socket.inode,
    )
}

/// `ss -uanHe [filter]` as keys: UNCONN is CLOSE, ESTAB is ESTABLISHED.
fn ss_keys(ns: &Netns, filter: &[&str]) -> Vec<Key> {
    let mut args = vec!["-uanHe"];
    args.extend_from_slice(filter);
    let mut keys: Vec<Key> = ns
        .ss(&args)
        .lines()
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let state = match words[0] {
                "UNCONN" => TcpState::Close,
                "ESTAB" => TcpState::Established,
                other => panic!("ss state {other}: {line}"),
            };
            let inode = words
                .iter()
                .find_map(|w| w.strip_prefix("ino:"))
                .unwrap_or_else(|| panic!("no ino: in {line}"))
                .parse()
                .unwrap();
            (state, norm_ss(words[3]), norm_ss(words[4]), inode)
        })
        .collect();
    keys.sort();
    keys
}

fn keys(sockets: &[Socket]) -> Vec<Key> {
    let mut keys: Vec<Key> = sockets.iter().map(key).collect();
    keys.sort();
    keys
}

#[test]
fn netlink_and_proc_listings_equal_ss() {
    require_netns!();
    let ns = Netns::new();
    let _scenario = ns.run(build_scenario);
    let from_netlink = ns
        .run(|| netlink::read_sockets(Protocol::Udp, &Query::everything()))
        .expect("sock_diag UDP dump");
    let from_proc = ns
        .run(|| {
            procnet::read_sockets(
                Path::new("/proc/thread-self"),
                Protocol::Udp,
                &Query::everything(),
            )
        })
        .expect("/proc/net/udp{,6}");
    let ss = ss_keys(&ns, &[]);
    assert_eq!(ss.len(), 11, "{ss:?}");
    assert_eq!(keys(&from_netlink), ss);
    assert_eq!(keys(&from_proc.sockets), ss);
    assert_eq!(from_proc.skipped_rows, 0);
    assert!(from_proc.notes.is_empty(), "{:?}", from_proc.notes);

    // What only sock_diag shows: cookies, the bound device, IPV6_V6ONLY.
    let by_local: BTreeMap<String, &Socket> =
        from_netlink.iter().map(|s| (norm(&s.local), s)).collect();
    assert!(from_netlink.iter().all(|s| s.cookie.is_some()));
    assert_eq!(by_local["*:9541"].bound_device, 1, "lo is ifindex 1");
    assert_eq!(by_local["*:9533"].v6only, Some(false));
    assert_eq!(by_local["*:9536"].v6only, Some(true));
    assert_eq!(by_local["127.0.0.1:9531"].v6only, None);
    assert_eq!(by_local["127.0.0.1:9534"].state, TcpState::Established);
}

#[test]
fn raw_capture_parses_back_to_the_same_sockets() {
    require_netns!();
    let ns = Netns::new();
    // This is also the scenario of fixtures/netlink/udp-dump.bin.
    let _scenario = ns.run(build_scenario);
    let (sockets, raw) = ns
        .run(|| netlink::read_raw(Protocol::Udp, &Query::everything()))
        .unwrap();
    let mut parsed = Vec::new();
    let status = netlink::parse_dump(&raw, Protocol::Udp, &mut parsed).unwrap();
    assert!(status.done && !status.interrupted);
    assert_eq!(parsed, sockets);
    assert_eq!(sockets.len(), 11);
    if let Some(dir) = std::env::var_os("TWI_WRITE_FIXTURES") {
        // Regenerates fixtures/netlink/udp-dump.bin (see fixtures/netlink/README.md).
        std::fs::write(Path::new(&dir).join("udp-dump.bin"), &raw).unwrap();
    }
}

#[test]
fn one_reading_holds_both_protocols_with_owners() {
    require_netns!();
    let ns = Netns::new();
    let _scenario = ns.run(build_scenario);
    let read = |protocols| {
        ns.run(|| {
            read_table(&ReadRequest {
                choice: SourceChoice::Netlink,
                captured: None,
                query: Query {
                    port: Some(5353),
                    ..Query::everything()
                },
                protocols,
                owners: true,
            })
        })
        .expect("read_table")
    };
    let both = read(ProtocolSet::ALL);
    assert_eq!(both.table.source, SourceKind::Netlink);
    let protocols: Vec<Protocol> = both.table.sockets.iter().map(|s| s.protocol).collect();
    assert_eq!(protocols, [Protocol::Tcp, Protocol::Udp, Protocol::Udp]);
    // Owners come by inode, as for TCP: this test process holds them all.
    let me = std::process::id();
    for socket in &both.table.sockets {
        assert!(
            socket.processes.iter().any(|p| p.pid == me),
            "{socket:?} has no owner"
        );
    }
    assert_eq!(both.table.owners_unseen, 0);
    let only_udp = read(ProtocolSet::UDP);
    assert_eq!(only_udp.table.sockets, both.table.sockets[1..]);
    let only_tcp = read(ProtocolSet::TCP);
    assert_eq!(only_tcp.table.sockets, both.table.sockets[..1]);
}

#[test]
fn port_filter_returns_exactly_the_ports_udp_sockets() {
    require_netns!();
    let ns = Netns::new();
    let _scenario = ns.run(build_scenario);
    for port in [5353u16, 9540, 9532, 9599] {
        let query = Query {
            port: Some(port),
            ..Query::everything()
        };
        let (sockets, raw) = ns
            .run(|| netlink::read_raw(Protocol::Udp, &query))
            .expect("filtered dump");
        // The kernel filtered: every socket it sent is on the port.
        let mut sent = Vec::new();
        netlink::parse_dump(&raw, Protocol::Udp, &mut sent).unwrap();
        assert_eq!(sent, sockets);
        let filter = format!("sport = :{port}");
        assert_eq!(keys(&sockets), ss_keys(&ns, &[&filter]), "port {port}");
        assert!(sockets.iter().all(|s| s.local.port() == port));
    }
}

/// One case of the UDP table: what holds the port, and the second bind.
struct Case {
    name: &'static str,
    existing: Vec<(&'static str, Opts, Option<&'static str>)>,
    new: &'static str,
    new_opts: Opts,
    /// The kernel's answer measured on 6.18 (checked again below).
    blocked: bool,
    /// The uid the second bind runs as (the holders are root's).
    as_uid: Option<u32>,
}

fn case(
    name: &'static str,
    existing: (&'static str, Opts),
    new: (&'static str, Opts),
    blocked: bool,
) -> Case {
    Case {
        name,
        existing: vec![(existing.0, existing.1, None)],
        new: new.0,
        new_opts: new.1,
        blocked,
        as_uid: None,
    }
}

fn v6only(flag: bool) -> Opts {
    Opts {
        v6only: Some(flag),
        ..Opts::default()
    }
}

/// Twelve loopback addresses on one port: a crowded hash slot.
const CROWD: [&str; 12] = [
    "127.0.0.1:5366",
    "127.0.0.2:5366",
    "127.0.0.3:5366",
    "127.0.0.4:5366",
    "127.0.0.5:5366",
    "127.0.0.6:5366",
    "127.0.0.7:5366",
    "127.0.0.8:5366",
    "127.0.0.9:5366",
    "127.0.0.10:5366",
    "127.0.0.11:5366",
    "127.0.0.12:5366",
];

fn cases() -> Vec<Case> {
    let none = Opts::default();
    let ra = opts(true, false);
    let rp = opts(false, true);
    vec![
        case(
            "none/none",
            ("0.0.0.0:5353", none),
            ("0.0.0.0:5353", none),
            true,
        ),
        case("RA/RA", ("0.0.0.0:5354", ra), ("0.0.0.0:5354", ra), false),
        case(
            "RA/none",
            ("0.0.0.0:5355", ra),
            ("0.0.0.0:5355", none),
            true,
        ),
        case(
            "none/RA",
            ("0.0.0.0:5356", none),
            ("0.0.0.0:5356", ra),
            true,
        ),
        case("RP/RP", ("0.0.0.0:5357", rp), ("0.0.0.0:5357", rp), false),
        case("RP/RA", ("0.0.0.0:5364", rp), ("0.0.0.0:5364", ra), true),
        Case {
            name: "connected RA/RA",
            existing: vec![("127.0.0.1:5358", ra, Some("127.0.0.1:40000"))],
            new: "0.0.0.0:5358",
            new_opts: ra,
            blocked: false,
            as_uid: None,
        },
        Case {
            name: "connected none/none",
            existing: vec![("127.0.0.1:5365", none, Some("127.0.0.1:40000"))],
            new: "127.0.0.1:5365",
            new_opts: none,
            blocked: true,
            as_uid: None,
        },
        // SO_REUSEPORT shares only within one uid.
        Case {
            name: "RP/RP another uid",
            existing: vec![("0.0.0.0:5367", rp, None)],
            new: "0.0.0.0:5367",
            new_opts: rp,
            blocked: true,
            as_uid: Some(4242),
        },
        case(
            "127.0.0.1/127.0.0.2",
            ("127.0.0.1:5359", none),
            ("127.0.0.2:5359", none),
            false,
        ),
        case(
            "specific then wildcard",
            ("127.0.0.1:5360", none),
            ("0.0.0.0:5360", none),
            true,
        ),
        // Past ten sockets on the port the kernel looks them up by address
        // (udp_lib_lport_inuse2): the wildcard is still refused.
        Case {
            name: "twelve specific then wildcard",
            existing: CROWD.iter().map(|addr| (*addr, none, None)).collect(),
            new: "0.0.0.0:5366",
            new_opts: none,
            blocked: true,
            as_uid: None,
        },
        case(
            "[::] dual-stack then 0.0.0.0",
            ("[::]:5361", v6only(false)),
            ("0.0.0.0:5361", none),
            true,
        ),
        case(
            "[::] v6only then 0.0.0.0",
            ("[::]:5362", v6only(true)),
            ("0.0.0.0:5362", none),
            false,
        ),
        case(
            "[::1] then [::]",
            ("[::1]:5363", none),
            ("[::]:5363", v6only(false)),
            true,
        ),
    ]
}

/// The rules' answer over every socket on the port (the sock_diag table):
/// Some(blocked) when certain, None when only a probe can tell.
fn rules_say(bind: &IntendedBind, on_port: &[Socket]) -> Option<bool> {
    let kernel = sysctl::read();
    let ctx = rule_context(bind, &kernel, SourceKind::Netlink);
    let answers: Vec<Conflict> = on_port
        .iter()
        .map(|s| udp_rules::assess(bind, s, &ctx).conflict)
        .collect();
    if answers.contains(&Conflict::Yes) {
        Some(true)
    } else if answers.contains(&Conflict::Unknown) {
        None
    } else {
        Some(false)
    }
}

/// Makes the case's existing sockets (connecting those with a peer).
fn hold(case: &Case) -> Vec<OwnedFd> {
    case.existing
        .iter()
        .map(|(addr, opts, peer)| {
            let fd = udp(addr, *opts);
            match peer {
                Some(peer) => {
                    let socket = UdpSocket::from(fd);
                    socket.connect(at(peer)).expect("connect");
                    OwnedFd::from(socket)
                }
                None => fd,
            }
        })
        .collect()
}

/// What each case's verdicts were, made inside the namespace.
struct Judged {
    /// The rules alone: Some(blocked) when certain.
    rules: Option<bool>,
    /// The UDP probe of the intended bind failed with EADDRINUSE.
    probed: bool,
    /// The kernel's answer: a real second UDP bind() by the test.
    kernel_blocked: bool,
    /// A TCP bind() of the same address and options succeeded.
    tcp_allowed: bool,
    /// The TCP rules say none of the UDP sockets blocks a TCP bind.
    ignored_by_tcp_rules: bool,
}

/// Judges one case on the calling thread, a fresh `Netns::run` thread that
/// ends afterwards. For `as_uid` the thread first drops to that uid with the
/// raw syscall, which changes this thread's credentials only (glibc's
/// setresuid would change every thread of the test process).
fn judge(case: &Case) -> Judged {
    let _held = hold(case);
    if let Some(uid) = case.as_uid {
        // SAFETY: setresuid(2) on this thread only; no memory is involved.
        let rc = unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) };
        assert_eq!(rc, 0, "setresuid: {}", std::io::Error::last_os_error());
    }
    let new = at(case.new);
    let query = Query {
        port: Some(new.port()),
        ..Query::everything()
    };
    let on_port = netlink::read_sockets(Protocol::Udp, &query).expect("dump");
    assert_eq!(on_port.len(), case.existing.len(), "{}", case.name);
    let bind = IntendedBind {
        protocol: Protocol::Udp,
        addr: new.ip(),
        port: new.port(),
        reuseaddr: case.new_opts.reuseaddr,
        reuseport: case.new_opts.reuseport,
        v6only: case.new_opts.v6only.unwrap_or(false),
        device: None,
        uid: None,
    };
    let rules = rules_say(&bind, &on_port);
    let probe = probe(&bind, ProbeKind::Intended);
    assert!(
        probe.ok || probe.errno == Some(Errno::EADDRINUSE),
        "{}: {probe:?}",
        case.name
    );
    let kernel_blocked = sockets::bind_udp(new, case.new_opts).is_err();
    let tcp_allowed = sockets::bind_with(new, case.new_opts).is_ok();
    let ctx = rule_context(&bind, &sysctl::read(), SourceKind::Netlink);
    let tcp_bind = IntendedBind {
        protocol: Protocol::Tcp,
        ..bind.clone()
    };
    let ignored_by_tcp_rules = on_port
        .iter()
        .all(|s| rules::assess(&tcp_bind, s, &ctx).conflict == Conflict::No);
    Judged {
        rules,
        probed: !probe.ok,
        kernel_blocked,
        tcp_allowed,
        ignored_by_tcp_rules,
    }
}

#[test]
fn rules_and_probes_agree_with_the_kernel_for_every_row() {
    require_netns!();
    let ns = Netns::new();
    let mut certainty = Vec::new();
    for case in cases() {
        let judged = ns.run(|| judge(&case));
        assert_eq!(
            judged.kernel_blocked, case.blocked,
            "{}: the kernel changed",
            case.name
        );
        if let Some(rules_blocked) = judged.rules {
            assert_eq!(rules_blocked, judged.kernel_blocked, "{}: rules", case.name);
        }
        assert_eq!(judged.probed, judged.kernel_blocked, "{}: probe", case.name);
        // A UDP socket never blocks a TCP bind, and the TCP rules say so.
        assert!(judged.tcp_allowed, "{}: UDP blocked TCP", case.name);
        assert!(judged.ignored_by_tcp_rules, "{}", case.name);
        certainty.push((case.name, judged.rules));
    }
    // The rules are certain exactly where the table decides: a plain bind
    // against an overlapping socket, or addresses that do not overlap;
    // wherever the old socket's hidden SO_REUSEADDR / SO_REUSEPORT could
    // change the answer, they leave it to the probe.
    let expected = [
        ("none/none", Some(true)),
        ("RA/RA", None),
        ("RA/none", Some(true)),
        ("none/RA", None),
        ("RP/RP", None),
        ("RP/RA", None),
        ("connected RA/RA", None),
        ("connected none/none", Some(true)),
        ("RP/RP another uid", Some(true)),
        ("127.0.0.1/127.0.0.2", Some(false)),
        ("specific then wildcard", Some(true)),
        ("twelve specific then wildcard", Some(true)),
        ("[::] dual-stack then 0.0.0.0", Some(true)),
        ("[::] v6only then 0.0.0.0", Some(false)),
        ("[::1] then [::]", Some(true)),
    ];
    assert_eq!(certainty, expected);
}

/// The counterfactual probes answer what the rules leave open: which option
/// the existing socket set, so which one the new bind needs.
#[test]
fn counterfactual_udp_probes_name_the_option_that_helps() {
    require_netns!();
    let ns = Netns::new();
    let answers = ns.run(|| {
        [
            ("0.0.0.0:5370", opts(true, false)),
            ("0.0.0.0:5371", opts(false, true)),
            ("0.0.0.0:5372", Opts::default()),
        ]
        .map(|(addr, old)| {
            let _held = udp(addr, old);
            let new = at(addr);
            let bind = IntendedBind {
                protocol: Protocol::Udp,
                addr: new.ip(),
                port: new.port(),
                reuseaddr: false,
                reuseport: false,
                v6only: false,
                device: None,
                uid: None,
            };
            let on_port = netlink::read_sockets(
                Protocol::Udp,
                &Query {
                    port: Some(new.port()),
                    ..Query::everything()
                },
            )
            .expect("dump");
            run_probes(&bind, &on_port)
                .into_iter()
                .map(|p| (p.kind, p.ok))
                .collect::<Vec<_>>()
        })
    });
    let expect = |reuseaddr, reuseport| {
        vec![
            (ProbeKind::Intended, false),
            (ProbeKind::WithReuseaddr, reuseaddr),
            (ProbeKind::WithReuseport, reuseport),
            // 127.0.0.1, the namespace's one IPv4 address, is under the wildcard.
            (ProbeKind::SpecificAddress, false),
        ]
    };
    assert_eq!(
        answers,
        [
            expect(true, false),
            expect(false, true),
            expect(false, false)
        ]
    );
}
