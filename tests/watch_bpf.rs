//! The eBPF watcher against the real kernel: each test scopes a watcher to a
//! fresh namespace, makes binds fail there, and checks what the programs
//! reported against what the test did (and `ss` as a witness).

mod common;

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::sockets::{bind_with, listen_with, server_side_time_wait, Opts};
use common::Netns;
use tw_inspect::model::Protocol;
use tw_inspect::source::bpf::{
    netns_inode, BindFailed, CloseLog, Closed, WatchEvent, WatchScope, WatchUnavailable, Watcher,
    OBJECT_PATH, PROGRAM_NAMES,
};

/// Root and a kernel that accepts the programs, or SKIP.
fn watcher_for(test: &str, netns: &Netns) -> Option<Watcher> {
    if !common::can_use_netns(test) {
        return None;
    }
    let scope = WatchScope::netns(Path::new(&format!("/run/netns/{}", netns.name)))
        .expect("namespace inode");
    match Watcher::start(scope) {
        Ok(watcher) => Some(watcher),
        // A kernel that refuses the programs is a SKIP, not a pass: say why.
        Err(why) => {
            eprintln!("SKIP {test}: the watcher cannot run here: {why}");
            None
        }
    }
}

fn inode_of(netns: &Netns) -> u32 {
    netns_inode(Path::new(&format!("/run/netns/{}", netns.name))).unwrap()
}

fn gettid() -> u32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() as u32 }
}

/// Everything the programs wrote so far (they write before the syscall returns).
fn drain(watcher: &mut Watcher) -> (Vec<BindFailed>, Vec<Closed>) {
    let (mut binds, mut closes) = (Vec::new(), Vec::new());
    loop {
        let events = watcher.poll(Duration::ZERO);
        if events.is_empty() {
            break;
        }
        for event in events {
            match event {
                WatchEvent::BindFailed(failed) => binds.push(failed),
                WatchEvent::Closed(closed) => closes.push(closed),
            }
        }
    }
    assert_eq!(watcher.malformed(), 0, "records that did not decode");
    (binds, closes)
}

/// What one TCP case did in the namespace.
struct Scene {
    tid: u32,
    /// The client end of the TIME_WAIT the server left on `addr`.
    client: SocketAddr,
}

/// A server on `addr` closes first (TIME_WAIT on its port); when given, a
/// listener (with the server's options) then holds the port, for options
/// that would pass that TIME_WAIT; a bind with `opts` must fail with EADDRINUSE.
fn tcp_scene(netns: &Netns, addr: SocketAddr, server: Opts, listener: bool, opts: Opts) -> Scene {
    netns.run(|| {
        let client = server_side_time_wait(addr, server);
        let _listener = listener.then(|| listen_with(addr, server));
        let refused = bind_with(addr, opts).expect_err("the bind must fail");
        assert_eq!(refused.kind(), ErrorKind::AddrInUse, "{refused}");
        Scene {
            tid: gettid(),
            client,
        }
    })
}

fn check_tcp_case(
    watcher: &mut Watcher,
    netns: &Netns,
    addr: SocketAddr,
    (server, listener): (Opts, bool),
    opts: Opts,
) {
    let scene = tcp_scene(netns, addr, server, listener, opts);
    let (binds, closes) = drain(watcher);
    assert_eq!(binds.len(), 1, "exactly one failed bind: {binds:?}");
    let failed = &binds[0];
    assert_eq!(failed.task.pid, scene.tid);
    assert_eq!(failed.task.tgid, std::process::id());
    assert_eq!(failed.task.uid, 0);
    assert_eq!(failed.netns_inode, inode_of(netns));
    assert_eq!(failed.protocol, Protocol::Tcp);
    assert_eq!(failed.addr, addr);
    assert_eq!(failed.reuseaddr, opts.reuseaddr, "{failed:?}");
    assert_eq!(failed.reuseport, opts.reuseport, "{failed:?}");
    assert_eq!(failed.v6only, opts.v6only == Some(true), "{failed:?}");
    // SO_BINDTODEVICE "lo": index 1 in a fresh namespace.
    assert_eq!(failed.bound_dev_if, opts.device.map(|_| 1), "{failed:?}");

    // The server's close, in its own context, with the TIME_WAIT's 4-tuple.
    assert_eq!(closes.len(), 1, "exactly one close: {closes:?}");
    let closed = &closes[0];
    assert_eq!(closed.task.pid, scene.tid);
    assert_eq!(closed.task.tgid, std::process::id());
    assert_eq!(closed.netns_inode, inode_of(netns));
    assert_eq!((closed.local, closed.remote), (addr, scene.client));
    assert!(closed.at_monotonic_ns <= failed.at_monotonic_ns);
    // ss, the witness: the TIME_WAIT on the port, and the log names its closer.
    let mut log = CloseLog::new(16);
    log.record(closed.clone());
    let witness = netns.ss(&["-tanH", "state", "time-wait"]);
    let time_waits: Vec<(SocketAddr, SocketAddr)> = witness
        .lines()
        .filter_map(|line| {
            let columns: Vec<&str> = line.split_whitespace().collect();
            let [.., local, peer] = columns[..] else {
                return None;
            };
            Some((
                local.parse::<SocketAddr>().ok()?,
                peer.parse::<SocketAddr>().ok()?,
            ))
        })
        .filter(|(local, _)| local.port() == addr.port())
        .collect();
    assert_eq!(time_waits.len(), 1, "one TIME_WAIT on the port:\n{witness}");
    let (local, peer) = time_waits[0];
    let left_by = log.left_by(inode_of(netns), local, peer);
    assert_eq!(left_by.map(|c| c.task.pid), Some(scene.tid), "{witness}");
}

#[test]
fn failed_tcp_binds_carry_their_own_options_and_the_close_that_left_the_time_wait() {
    let netns = Netns::new();
    let Some(mut watcher) = watcher_for(module_path!(), &netns) else {
        return;
    };
    let reuseaddr = Opts {
        reuseaddr: true,
        ..Opts::default()
    };
    // No options: the TIME_WAIT alone refuses it.
    check_tcp_case(
        &mut watcher,
        &netns,
        "127.0.0.1:7001".parse().unwrap(),
        (Opts::default(), false),
        Opts::default(),
    );
    // SO_REUSEADDR passes a TIME_WAIT that had it too, so a listener holds the port.
    check_tcp_case(
        &mut watcher,
        &netns,
        "127.0.0.1:7002".parse().unwrap(),
        (reuseaddr, true),
        reuseaddr,
    );
    // SO_REUSEPORT alone, against a listener without it.
    check_tcp_case(
        &mut watcher,
        &netns,
        "127.0.0.1:7003".parse().unwrap(),
        (reuseaddr, true),
        Opts {
            reuseport: true,
            ..Opts::default()
        },
    );
    // IPv6 with IPV6_V6ONLY.
    check_tcp_case(
        &mut watcher,
        &netns,
        "[::1]:7004".parse().unwrap(),
        (Opts::default(), false),
        Opts {
            v6only: Some(true),
            ..Opts::default()
        },
    );
    // SO_BINDTODEVICE: a device-bound socket still conflicts with an unbound TIME_WAIT.
    check_tcp_case(
        &mut watcher,
        &netns,
        "127.0.0.1:7005".parse().unwrap(),
        (Opts::default(), false),
        Opts {
            device: Some("lo"),
            ..Opts::default()
        },
    );
    assert_eq!(watcher.lost(), 0);
}

#[test]
fn a_failed_udp_bind_is_reported_and_a_successful_bind_is_not() {
    let netns = Netns::new();
    let Some(mut watcher) = watcher_for(module_path!(), &netns) else {
        return;
    };
    let addr: SocketAddr = "127.0.0.1:7101".parse().unwrap();
    let (tid, _holder) = netns.run(|| {
        let holder = UdpSocket::bind(addr).expect("first UDP bind");
        let refused = UdpSocket::bind(addr).expect_err("second UDP bind");
        assert_eq!(refused.kind(), ErrorKind::AddrInUse);
        (gettid(), holder)
    });
    let (binds, closes) = drain(&mut watcher);
    assert!(closes.is_empty(), "{closes:?}");
    assert_eq!(binds.len(), 1, "{binds:?}");
    assert_eq!(binds[0].protocol, Protocol::Udp);
    assert_eq!(binds[0].addr, addr);
    assert_eq!(binds[0].task.pid, tid);
    assert!(!binds[0].reuseaddr && !binds[0].reuseport && !binds[0].v6only);

    // Binds that succeed, TCP and UDP, leave nothing.
    netns.run(|| {
        let _tcp = bind_with("127.0.0.1:7102".parse().unwrap(), Opts::default()).unwrap();
        let _udp = UdpSocket::bind("[::1]:7102").unwrap();
    });
    let (binds, closes) = drain(&mut watcher);
    assert!(
        binds.is_empty() && closes.is_empty(),
        "{binds:?} {closes:?}"
    );
}

#[test]
fn binds_outside_the_scoped_namespace_are_not_seen() {
    let watched = Netns::new();
    let Some(mut watcher) = watcher_for(module_path!(), &watched) else {
        return;
    };
    let other = Netns::new();
    let addr: SocketAddr = "127.0.0.1:7201".parse().unwrap();
    other.run(|| {
        let _listener = listen_with(addr, Opts::default());
        assert!(bind_with(addr, Opts::default()).is_err());
    });
    let (binds, closes) = drain(&mut watcher);
    assert!(
        binds.is_empty() && closes.is_empty(),
        "{binds:?} {closes:?}"
    );
    // The same failure in the watched namespace is seen (the test can fail).
    watched.run(|| {
        let _listener = listen_with(addr, Opts::default());
        assert!(bind_with(addr, Opts::default()).is_err());
    });
    assert_eq!(drain(&mut watcher).0.len(), 1);
}

#[test]
fn a_port_scope_sees_only_that_port() {
    let netns = Netns::new();
    if !common::can_use_netns(module_path!()) {
        return;
    }
    let path = format!("/run/netns/{}", netns.name);
    let scope = WatchScope::netns(Path::new(&path)).unwrap().with_port(7402);
    let mut watcher = match Watcher::start(scope) {
        Ok(watcher) => watcher,
        Err(why) => {
            eprintln!("SKIP a_port_scope_sees_only_that_port: {why}");
            return;
        }
    };
    netns.run(|| {
        for port in [7401, 7402] {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            server_side_time_wait(addr, Opts::default());
            assert!(bind_with(addr, Opts::default()).is_err());
        }
    });
    let (binds, closes) = drain(&mut watcher);
    let ports: Vec<u16> = binds.iter().map(|failed| failed.addr.port()).collect();
    assert_eq!(ports, [7402]);
    let closed: Vec<u16> = closes.iter().map(|closed| closed.local.port()).collect();
    assert_eq!(closed, [7402]);
}

#[test]
fn a_burst_of_failed_binds_is_received_or_counted_lost() {
    let netns = Netns::new();
    let Some(mut watcher) = watcher_for(module_path!(), &netns) else {
        return;
    };
    // Twice what the 1 MiB ring holds undrained: some must be lost, and counted.
    const BURST: usize = 20_000;
    let addr: SocketAddr = "127.0.0.1:7301".parse().unwrap();
    netns.run(|| {
        let _listener = listen_with(addr, Opts::default());
        for _ in 0..BURST {
            let refused = bind_with(addr, Opts::default()).expect_err("port is held");
            assert_eq!(refused.kind(), ErrorKind::AddrInUse);
        }
    });
    let (binds, closes) = drain(&mut watcher);
    assert!(closes.is_empty());
    assert!(binds.iter().all(|failed| failed.addr == addr));
    let lost = watcher.lost();
    assert!(lost > 0, "a burst past the ring's size lost nothing?");
    assert_eq!(binds.len() as u64 + lost, BURST as u64);
}

fn program_exists(id: u32) -> bool {
    let out = Command::new("bpftool")
        .args(["prog", "show", "id", &id.to_string()])
        .output()
        .expect("run bpftool");
    out.status.success()
}

#[test]
fn dropping_the_watcher_leaves_no_program_behind() {
    let netns = Netns::new();
    let Some(watcher) = watcher_for(module_path!(), &netns) else {
        return;
    };
    if Command::new("bpftool").arg("version").output().is_err() {
        eprintln!("SKIP dropping_the_watcher: bpftool is not installed");
        return;
    }
    let ids = watcher.program_ids();
    assert_eq!(ids.len(), PROGRAM_NAMES.len(), "{ids:?}");
    for &id in &ids {
        let out = Command::new("bpftool")
            .args(["prog", "show", "id", &id.to_string()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            PROGRAM_NAMES.iter().any(|name| text.contains(name)),
            "{text}"
        );
    }
    drop(watcher);
    // The kernel frees a program once its last reference (link, fd) is gone,
    // after an RCU grace period: wait for that, bounded.
    let deadline = Instant::now() + Duration::from_secs(10);
    while ids.iter().any(|&id| program_exists(id)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<u32> = ids.into_iter().filter(|&id| program_exists(id)).collect();
    assert!(left.is_empty(), "programs still loaded: {left:?}");
}

#[test]
fn the_committed_object_matches_a_rebuild() {
    for tool in ["clang", "llvm-strip"] {
        if Command::new(tool).arg("--version").output().is_err() {
            eprintln!("SKIP the_committed_object_matches_a_rebuild: {tool} is not installed (apt-get install clang llvm libbpf-dev)");
            return;
        }
    }
    if !Path::new("/usr/include/bpf/bpf_helpers.h").exists() {
        eprintln!("SKIP the_committed_object_matches_a_rebuild: libbpf-dev is not installed");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("twi-bpf-rebuild-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rebuilt = dir.join("twi_watch.bpf.o");
    let out = Command::new(root.join("bpf/build.sh"))
        .arg(&rebuilt)
        .output()
        .expect("run bpf/build.sh");
    let bytes = std::fs::read(&rebuilt);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "bpf/build.sh failed: {out:?}");
    let committed = std::fs::read(root.join(OBJECT_PATH)).unwrap();
    let clang = Command::new("clang").arg("--version").output().unwrap();
    assert!(
        bytes.unwrap() == committed,
        "{OBJECT_PATH} differs from a rebuild: run bpf/build.sh and commit it (clang here: {})",
        String::from_utf8_lossy(&clang.stdout)
            .lines()
            .next()
            .unwrap_or("?")
    );
}

/// Set in the child run as nobody by `not_root_gets_the_not_root_cause`.
const AS_NOBODY: &str = "TWI_WATCH_TEST_AS_NOBODY";

#[test]
fn not_root_gets_the_not_root_cause() {
    if std::env::var_os(AS_NOBODY).is_some() {
        // The child: not root, so the kernel refuses and start says why.
        match Watcher::start(WatchScope::all_namespaces()) {
            Err(cause @ WatchUnavailable::NotRoot { euid: 65534, .. }) => {
                println!("cause: {cause}");
            }
            Err(other) => panic!("wrong cause: {other:?}"),
            Ok(_) => panic!("a watcher started as nobody"),
        }
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIP not_root_gets_the_not_root_cause: needs root to switch to nobody");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("setpriv")
        .args(common::NOBODY)
        .arg(exe)
        .args(["--exact", "not_root_gets_the_not_root_cause", "--nocapture"])
        .env(AS_NOBODY, "1")
        .output()
        .expect("run setpriv");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {out:?}");
    let cause = stdout
        .lines()
        .find_map(|line| line.strip_prefix("cause: "))
        .unwrap_or_else(|| panic!("the child did not run the check: {stdout}"));
    assert!(cause.starts_with("not root (uid 65534)"), "{cause}");
}
