//! Sockets, tables and a whole dashboard scenario for the tests.

use std::time::Instant;

use crate::diagnosis::{
    Blocker, Conflict, IntendedBind, Probe, ProbeKind, Reason, RuleContext, Verdict,
};
use crate::errno::Errno;
use crate::model::KernelContext;
use crate::model::{
    Process, ProtocolSet, Socket, SocketTable, SourceKind, TcpState, Timer, TimerKind,
};
use crate::session::{BindOptions, BindSpec};
use crate::testing;
use crate::tui::{CollectRequest, HeaderInfo, Snapshot};

/// A bare socket: no timer, no inode, uid 1000 (the builders below add them).
pub(crate) fn socket(state: TcpState, local: &str, remote: &str) -> Socket {
    Socket {
        uid: 1000,
        inode: 0,
        timer: None,
        ..testing::socket(state, local, remote)
    }
}

pub(crate) fn process(pid: u32, comm: &str) -> Process {
    Process {
        pid,
        comm: comm.to_string(),
        cmdline: format!("/usr/sbin/{comm} -g daemon off;"),
        ..Process::default()
    }
}

pub(crate) fn established(local: &str, remote: &str, owner: Option<(u32, &str)>) -> Socket {
    let mut socket = socket(TcpState::Established, local, remote);
    socket.inode = 4242;
    socket.processes = owner
        .map(|(pid, comm)| process(pid, comm))
        .into_iter()
        .collect();
    socket
}

pub(crate) fn time_wait(local: &str, remote: &str, expires_ms: u64) -> Socket {
    let mut socket = socket(TcpState::TimeWait, local, remote);
    socket.uid = 0;
    // As sock_diag reads it: destroying needs the cookie.
    socket.cookie = Some(0x7700 + expires_ms);
    socket.timer = Some(Timer {
        kind: TimerKind::Timewait,
        expires_ms,
        retransmits: 0,
    });
    socket
}

pub(crate) fn listen(local: &str, owner: (u32, &str)) -> Socket {
    let remote = if local.starts_with('[') {
        "[::]:0"
    } else {
        "0.0.0.0:0"
    };
    let mut socket = socket(TcpState::Listen, local, remote);
    socket.inode = 777;
    socket.processes = vec![process(owner.0, owner.1)];
    socket
}

/// An unconnected UDP socket on `local`, owned by `owner`.
pub(crate) fn udp(local: &str, owner: (u32, &str)) -> Socket {
    let mut socket = listen(local, owner);
    socket.protocol = crate::model::Protocol::Udp;
    socket.state = TcpState::Close;
    socket
}

pub(crate) fn table(sockets: Vec<Socket>) -> SocketTable {
    SocketTable {
        source: SourceKind::Netlink,
        sockets,
        skipped_rows: 0,
        owners_unseen: 0,
    }
}

/// The intended bind of the scenario: 0.0.0.0:8080 without flags.
pub(crate) fn bind_8080() -> IntendedBind {
    testing::bind("0.0.0.0:8080")
}

/// The scenario's bind as the user asks for it: port 8080, no flags.
pub(crate) fn spec_8080() -> BindSpec {
    BindSpec {
        port: 8080,
        options: BindOptions::default(),
    }
}

/// What a reading of the scenario answers.
pub(crate) fn request_8080() -> CollectRequest {
    CollectRequest {
        bind: Some(spec_8080()),
        protocols: ProtocolSet::TCP,
        pressure: false,
    }
}

/// The sockets of the scenario: port 8080 held by two TIME_WAITs and a
/// listener whose process name carries an escape sequence, among others.
pub(crate) fn scenario_sockets() -> Vec<Socket> {
    let mut sockets = vec![
        time_wait("127.0.0.1:8080", "127.0.0.1:51234", 41_650),
        time_wait("127.0.0.1:8080", "127.0.0.1:51240", 12_300),
        listen("0.0.0.0:8080", (4321, "evil\x1b[2Jname")),
        listen("[::]:22", (812, "sshd")),
        established("10.0.0.5:22", "10.0.0.9:60110", Some((901, "sshd"))),
        established("10.0.0.5:443", "10.0.0.77:41000", Some((1234, "nginx"))),
        time_wait("10.0.0.5:443", "10.0.0.78:41002", 58_000),
        socket(TcpState::CloseWait, "10.0.0.5:5432", "10.0.0.12:33000"),
    ];
    sockets[4].timer = Some(Timer {
        kind: TimerKind::Keepalive,
        expires_ms: 7_100_000,
        retransmits: 0,
    });
    sockets
}

/// The verdict the diagnosis would give for [`bind_8080`] on the scenario.
pub(crate) fn scenario_verdict(sockets: &[Socket]) -> Verdict {
    let blocker = |index: usize, reason: Reason, why: &str| Blocker {
        socket: sockets[index].clone(),
        reason,
        conflict: Conflict::Yes,
        why: why.to_string().into(),
    };
    Verdict {
        bind: bind_8080(),
        blocked: true,
        refused: None,
        free_in_ms: None,
        blockers: vec![
            blocker(
                0,
                Reason::TimeWait,
                "A TIME_WAIT on 127.0.0.1:8080 blocks a bind without SO_REUSEADDR.",
            ),
            blocker(
                1,
                Reason::TimeWait,
                "A TIME_WAIT on 127.0.0.1:8080 blocks a bind without SO_REUSEADDR.",
            ),
            blocker(2, Reason::Listen, "A process listens on 0.0.0.0:8080."),
        ],
        probes: vec![
            Probe {
                bind: bind_8080(),
                kind: ProbeKind::Intended,
                ok: false,
                errno: Some(Errno::EADDRINUSE),
            },
            Probe {
                bind: IntendedBind {
                    reuseaddr: true,
                    ..bind_8080()
                },
                kind: ProbeKind::WithReuseaddr,
                ok: false,
                errno: Some(Errno::EADDRINUSE),
            },
        ],
        explanation: "A live process listens on 0.0.0.0:8080; two TIME_WAITs also hold it. \
             Waiting does not help: the listener never expires, and freeing the TIME_WAITs \
             leaves it in place. SO_REUSEADDR passes the TIME_WAITs only if the old sockets \
             set it too, and never passes a listener."
            .to_string(),
        client_time_waits: 0,
        advice: vec![
            "Stop pid 4321 or bind another port.".to_string(),
            "Set SO_REUSEADDR so the TIME_WAITs stop mattering.".to_string(),
        ],
    }
}

/// The context the scenario's verdict was judged in: uid 1000, no device,
/// no CAP_NET_BIND_SERVICE.
pub(crate) fn rule_context() -> RuleContext {
    testing::context()
}

pub(crate) fn header() -> HeaderInfo {
    HeaderInfo {
        host: Some("web-1".to_string()),
        kernel: Some("6.8.0-45-generic".to_string()),
        sysctl: KernelContext {
            tcp_tw_reuse: Some(2),
            tcp_max_tw_buckets: Some(262_144),
            ip_local_port_range: Some((32768, 60999)),
            ..KernelContext::default()
        },
    }
}

pub(crate) fn scenario(read_at: Instant) -> Snapshot {
    let sockets = scenario_sockets();
    Snapshot {
        request: request_8080(),
        verdict: Some(scenario_verdict(&sockets)),
        rule_context: Some(rule_context()),
        table: table(sockets),
        header: header(),
        read_at,
        everywhere: None,
        pressure: None,
    }
}

/// A verdict for [`bind_8080`] blocked by one listener.
fn listener_verdict(listener: &Socket) -> Verdict {
    Verdict {
        blockers: vec![Blocker {
            socket: listener.clone(),
            reason: Reason::Listen,
            conflict: Conflict::Yes,
            why: format!("A process listens on {}.", listener.local).into(),
        }],
        probes: Vec::new(),
        explanation: format!("A live process listens on {}.", listener.local),
        advice: Vec::new(),
        ..scenario_verdict(&scenario_sockets())
    }
}

/// An `--all-netns` reading of three namespaces: "blue" (a docker
/// container's) and an unnamed one both listen on 8080, the third has
/// only sshd on 22.
pub(crate) fn everywhere_scenario(read_at: Instant) -> Snapshot {
    use crate::model::{Container, NamespaceId, Runtime};
    use crate::session::NamespaceEntry;
    use crate::tui::{Everywhere, NamespaceView};
    let entry = |inode: u64, name: Option<&str>, container: Option<Container>| NamespaceEntry {
        id: NamespaceId {
            inode,
            name: name.map(str::to_string),
        },
        pids: vec![],
        container,
    };
    let mut blue = listen("0.0.0.0:8080", (4321, "nginx"));
    blue.inode = 9001;
    let mut unnamed = listen("0.0.0.0:8080", (5150, "api"));
    unnamed.inode = 9002;
    let ssh = listen("[::]:22", (812, "sshd"));
    let docker = Container {
        runtime: Runtime::Docker,
        id: "3f4e2a1b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f".to_string(),
        pod_uid: None,
    };
    let namespaces = vec![
        NamespaceView {
            entry: entry(4026531840, None, None),
            sockets: 0..1,
            verdict: None,
        },
        NamespaceView {
            entry: entry(4026532246, Some("blue"), Some(docker)),
            sockets: 1..2,
            verdict: Some((listener_verdict(&blue), rule_context())),
        },
        NamespaceView {
            entry: entry(4026532300, None, None),
            sockets: 2..3,
            verdict: Some((listener_verdict(&unnamed), rule_context())),
        },
    ];
    Snapshot {
        request: request_8080(),
        verdict: None,
        rule_context: None,
        table: table(vec![ssh, blue, unnamed]),
        header: header(),
        read_at,
        everywhere: Some(Everywhere {
            namespaces,
            warnings: vec!["net:[4026532400]: gone".to_string()],
        }),
        pressure: None,
    }
}

/// The local port range of a proxy that eats it towards one backend:
/// 32768-60999 with 10 reserved, six destinations.
pub(crate) fn pressure() -> crate::diagnosis::connect::PortPressure {
    use crate::diagnosis::connect::{DestinationPressure, PortPressure};
    let usable = 28_222;
    let destination = |remote: &str, time_wait: usize, live: usize| {
        let ports = time_wait + live;
        DestinationPressure {
            remote: remote.parse().expect("address"),
            ports,
            time_wait,
            live,
            share: ports as f64 / usable as f64,
        }
    };
    PortPressure {
        range: (32768, 60999),
        reserved: 10,
        usable,
        used: 21_540,
        free: 6_682,
        held: 2,
        destinations: vec![
            destination("10.0.0.20:5432", 18_311, 40),
            destination("10.0.0.21:6379", 2_950, 12),
            destination("[2001:db8::7]:443", 140, 3),
            destination("10.0.0.22:80", 61, 0),
            destination("10.0.0.23:8080", 17, 1),
            destination("10.0.0.24:9000", 3, 0),
        ],
    }
}

/// A failed bind of 127.0.0.1:8080 by `pid` at a fixed wall-clock time
/// (2026-11-30T16:40:01.000Z plus `pid` ms): blocked by the scenario's
/// verdict when `blocked`, else free by the time it was judged.
pub(crate) fn failure(pid: u32, comm: &str, blocked: bool) -> crate::session::FailureReport {
    use std::time::{Duration, UNIX_EPOCH};
    let sockets = scenario_sockets();
    let mut verdict = scenario_verdict(&sockets);
    if !blocked {
        verdict.blocked = false;
        verdict.blockers.clear();
    }
    let left_by = verdict.blockers.iter().map(|_| None).collect();
    crate::session::FailureReport {
        time: UNIX_EPOCH + Duration::from_millis(1_796_056_801_000 + u64::from(pid)),
        pid,
        comm: comm.to_string(),
        uid: 0,
        cmdline: format!("{comm} --port 8080"),
        netns: crate::model::NamespaceId {
            inode: 4_026_531_840,
            name: None,
        },
        workload: crate::model::Workload::default(),
        bind: IntendedBind {
            addr: "127.0.0.1".parse().expect("address"),
            ..bind_8080()
        },
        verdict: Ok(verdict),
        left_by,
    }
}
