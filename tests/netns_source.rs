//! source::netns against real network namespaces: opening by name, pid and
//! path (checked against `ip netns identify` and the /proc/PID/ns/net link),
//! the errors, sockets made by `Netns::run` living in the namespace (`ss -N`
//! and a real bind() as witnesses), sysctls read inside it, and
//! `all_namespaces` finding named, process-held and bind-mount-only ones.
mod common;

use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use common::sockets::{self, Opts};
use common::{ChildGuard, Netns as TestNetns};
use tw_inspect::model::{Protocol, Query};
use tw_inspect::source::netlink;
use tw_inspect::source::netns::{
    all_namespaces, DeniedAction, Netns, NetnsError, NetnsInfo, NetnsSpec,
};

/// N of the `net:[N]` link /proc/PID/ns/net points to: what `ls -l` shows.
fn link_inode(pid: &str) -> u64 {
    let target = fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    let text = target.to_string_lossy();
    text.strip_prefix("net:[")
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected link {text}"))
}

/// A process in `ns` (sleep, via sh so it says when it is in): killed by pid on drop.
fn sleeper_in(ns: &TestNetns) -> ChildGuard {
    let mut child = ns.spawn("sh", &["-c", "echo ready; exec sleep 60"]);
    assert_eq!(child.read_line(), "ready");
    child
}

/// A process in a namespace of its own that has no name (unshare -n).
fn unnamed_sleeper() -> ChildGuard {
    let child = Command::new("unshare")
        .args(["-n", "sh", "-c", "echo ready; exec sleep 60"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn unshare");
    let mut child = ChildGuard(child);
    assert_eq!(child.read_line(), "ready");
    child
}

fn has_unshare(test: &str) -> bool {
    let found = Command::new("unshare")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        eprintln!("SKIP {test}: unshare (util-linux) is not installed");
    }
    found
}

#[test]
fn name_pid_and_path_open_the_same_namespace() {
    require_netns!();
    let ns = TestNetns::new();
    let child = sleeper_in(&ns);
    let pid = child.pid().to_string();
    let witness_inode = link_inode(&pid);
    let identify = Command::new("ip")
        .args(["netns", "identify", &pid])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&identify.stdout).trim(),
        ns.name,
        "ip netns identify"
    );

    let path = format!("/run/netns/{}", ns.name);
    for text in [ns.name.as_str(), pid.as_str(), path.as_str()] {
        let spec = NetnsSpec::parse(text);
        let opened = Netns::open(&spec).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(opened.inode(), witness_inode, "{text}");
        assert_eq!(opened.name(), Some(ns.name.as_str()), "{text}");
        assert_eq!(opened.spec(), &spec);
        assert!(!opened.is_current(), "{text}");
    }
    assert!(matches!(NetnsSpec::parse(&pid), NetnsSpec::Pid(_)));
    assert!(matches!(NetnsSpec::parse(&path), NetnsSpec::Path(_)));

    let current = Netns::current().unwrap();
    assert!(current.is_current());
    assert_eq!(current.inode(), link_inode("self"));
    assert_ne!(current.inode(), witness_inode);
    // Seen from inside the namespace, it is the current one and `current` is not.
    let inside = Netns::open(&NetnsSpec::parse(&ns.name)).unwrap();
    let (inside_is_current, host_is_current) = inside
        .run(|| (inside.is_current(), current.is_current()))
        .unwrap();
    assert!(inside_is_current);
    assert!(!host_is_current);
}

#[test]
fn errors_name_the_subject_and_the_cause() {
    require_netns!();
    let file = std::env::temp_dir().join(format!("twi-netns-regular-{}", std::process::id()));
    fs::write(&file, "not a namespace").unwrap();
    let regular = Netns::open(&NetnsSpec::Path(file.clone()));
    fs::remove_file(&file).unwrap();
    match regular {
        Err(NetnsError::NotNetns { spec }) => assert_eq!(spec, NetnsSpec::Path(file.clone())),
        other => panic!("regular file: {other:?}"),
    }

    // A FIFO would block a plain open(O_RDONLY) until a writer came.
    let fifo = std::env::temp_dir().join(format!("twi-netns-fifo-{}", std::process::id()));
    let fifo_c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo_c.as_ptr(), 0o600) }, 0);
    let fifo_open = Netns::open(&NetnsSpec::Path(fifo.clone()));
    fs::remove_file(&fifo).unwrap();
    assert!(
        matches!(fifo_open, Err(NetnsError::NotNetns { .. })),
        "{fifo_open:?}"
    );

    let mnt = Netns::open(&NetnsSpec::parse("/proc/self/ns/mnt")).unwrap_err();
    assert!(matches!(mnt, NetnsError::NotNetns { .. }), "{mnt:?}");
    assert_eq!(
        mnt.to_string(),
        "/proc/self/ns/mnt: not a network namespace"
    );

    let directory = Netns::open(&NetnsSpec::parse("/proc/self/ns")).unwrap_err();
    assert!(
        matches!(directory, NetnsError::NotNetns { .. }),
        "{directory:?}"
    );

    // Pids are below pid_max: pid_max itself never exists.
    let pid_max: u32 = fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let gone = Netns::open(&NetnsSpec::parse(&pid_max.to_string())).unwrap_err();
    assert!(
        matches!(gone, NetnsError::ProcessExited { pid } if pid == pid_max),
        "{gone:?}"
    );
    assert_eq!(gone.to_string(), format!("pid {pid_max}: no such process"));

    let name = format!("twi-no-such-{}", std::process::id());
    let missing = Netns::open(&NetnsSpec::parse(&name)).unwrap_err();
    assert!(
        matches!(missing, NetnsError::NotFound { .. }),
        "{missing:?}"
    );
    assert_eq!(
        missing.to_string(),
        format!("netns \"{name}\": not found (no /run/netns/{name})")
    );
    let missing_path = Netns::open(&NetnsSpec::parse("/run/twi-no/such")).unwrap_err();
    assert!(
        matches!(missing_path, NetnsError::NotFound { .. }),
        "{missing_path:?}"
    );
}

/// As nobody (on one thread: the raw syscall leaves the others root), opening
/// another user's /proc/PID/ns/net is refused (EACCES) and so is entering an
/// already open namespace (setns: EPERM, threads inherit the credentials).
#[test]
fn without_privilege_opening_and_entering_are_refused() {
    require_netns!();
    let ns = TestNetns::new();
    let child = sleeper_in(&ns);
    let opened = Netns::open(&NetnsSpec::parse(&ns.name)).unwrap();
    let pid = child.pid();
    let (open_error, run_error) = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                const NOBODY: libc::c_long = 65534;
                // SAFETY: changes only this thread's credentials; it ends here.
                let rc = unsafe { libc::syscall(libc::SYS_setresuid, NOBODY, NOBODY, NOBODY) };
                assert_eq!(rc, 0, "setresuid: {}", std::io::Error::last_os_error());
                (
                    Netns::open(&NetnsSpec::Pid(pid)).unwrap_err(),
                    opened.run(|| ()).unwrap_err(),
                )
            })
            .join()
            .unwrap()
    });
    assert!(
        matches!(
            open_error,
            NetnsError::PermissionDenied {
                action: DeniedAction::Opening,
                ..
            }
        ),
        "{open_error:?}"
    );
    assert_eq!(
        open_error.to_string(),
        format!("pid {pid}: permission denied opening it (needs root or the process's owner)")
    );
    assert!(
        matches!(
            run_error,
            NetnsError::PermissionDenied {
                action: DeniedAction::Entering,
                ..
            }
        ),
        "{run_error:?}"
    );
    let as_root = opened.read_sysctl(Path::new("/proc/sys/net/ipv4/ip_unprivileged_port_start"));
    assert!(as_root.is_ok(), "this thread is still root: {as_root:?}");
}

/// Sockets made in `run` live in the namespace: `ss -N A` lists the
/// listener, another namespace's `ss` does not, a bind() of its address in A
/// fails with EADDRINUSE while the same bind where the caller is succeeds.
/// The caller sits in namespace B so no host socket is ever made.
#[test]
fn run_makes_sockets_in_the_namespace() {
    require_netns!();
    let a = TestNetns::new();
    let b = TestNetns::new();
    let netns_a = Netns::open(&NetnsSpec::parse(&a.name)).unwrap();
    let listener: TcpListener = netns_a
        .run(|| sockets::listen_with("127.0.0.1:0".parse().unwrap(), Opts::default()))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let needle = format!("127.0.0.1:{port} ");
    let in_a = a.ss(&["-tlnH"]);
    assert!(in_a.contains(&needle), "ss -N A: {in_a}");
    let via_ss_n = Command::new("ss")
        .args(["-N", &a.name, "-tlnH"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&via_ss_n.stdout).contains(&needle));
    let in_b = b.ss(&["-tlnH"]);
    assert!(!in_b.contains(&needle), "ss -N B: {in_b}");

    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let (bind_in_a, bind_here, here_is_b) = b.run(|| {
        let netns_b = Netns::open(&NetnsSpec::parse(&b.name)).unwrap();
        // The current namespace runs f right on this thread.
        let here = netns_b
            .run(|| {
                (
                    sockets::bind_with(addr, Opts::default()),
                    netns_b.is_current(),
                )
            })
            .unwrap();
        let in_a = netns_a
            .run(|| sockets::bind_with(addr, Opts::default()))
            .unwrap();
        (in_a, here.0, here.1)
    });
    assert_eq!(
        bind_in_a.unwrap_err().raw_os_error(),
        Some(libc::EADDRINUSE)
    );
    assert!(bind_here.is_ok(), "{bind_here:?}");
    assert!(here_is_b);

    // sock_diag made inside A sees A's table.
    let query = Query {
        port: Some(port),
        ..Query::everything()
    };
    let seen = netns_a
        .run(|| netlink::read_sockets(Protocol::Tcp, &query))
        .unwrap()
        .unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].local, addr);
    drop(listener);
}

#[test]
fn a_panic_in_run_reaches_the_caller() {
    require_netns!();
    let a = TestNetns::new();
    let netns_a = Netns::open(&NetnsSpec::parse(&a.name)).unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        netns_a.run(|| panic!("inside")).unwrap();
    }));
    let payload = caught.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"inside"));
}

const UNPRIVILEGED_PORT_START: &str = "/proc/sys/net/ipv4/ip_unprivileged_port_start";

/// /proc/sys/net belongs to the namespace of the thread that opens the file,
/// at open time: a file opened in A reads A's value even when read from the
/// host's thread, and one opened on the host's thread reads the host's.
#[test]
fn sysctls_are_read_in_the_namespace() {
    require_netns!();
    let a = TestNetns::new();
    let host_value: u32 = fs::read_to_string(UNPRIVILEGED_PORT_START)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let value = if host_value == 777 { 778 } else { 777 };
    let set = a
        .exec("sysctl")
        .arg(format!("net.ipv4.ip_unprivileged_port_start={value}"))
        .output()
        .unwrap();
    assert!(set.status.success(), "{set:?}");
    a.exec("sysctl")
        .arg("net.ipv4.ip_local_port_range=40000 40100")
        .output()
        .unwrap();

    let netns_a = Netns::open(&NetnsSpec::parse(&a.name)).unwrap();
    let read = netns_a
        .read_sysctl(Path::new(UNPRIVILEGED_PORT_START))
        .unwrap();
    assert_eq!(read.trim(), value.to_string());
    let context = netns_a.kernel_context().unwrap();
    assert_eq!(context.ip_unprivileged_port_start, Some(value));
    assert_eq!(context.ip_local_port_range, Some((40000, 40100)));
    // /proc/thread-self/net is the namespace's too: its TIME_WAIT count.
    assert_eq!(context.time_wait_count, Some(0), "a fresh namespace");
    netns_a
        .run(|| sockets::client_side_time_wait("127.0.0.1:0".parse().unwrap()))
        .unwrap();
    assert_eq!(netns_a.kernel_context().unwrap().time_wait_count, Some(1));

    // The kernel rule itself: who opened the file decides, not who reads it.
    let opened_in_a = netns_a
        .run(|| fs::File::open(UNPRIVILEGED_PORT_START).unwrap())
        .unwrap();
    let opened_here = fs::File::open(UNPRIVILEGED_PORT_START).unwrap();
    let read_all = |mut file: fs::File| {
        use std::io::Read;
        let mut text = String::new();
        file.read_to_string(&mut text).unwrap();
        text.trim().parse::<u32>().unwrap()
    };
    assert_eq!(read_all(opened_in_a), value);
    assert_eq!(read_all(opened_here), host_value);
    let missing = netns_a.read_sysctl(Path::new("/proc/sys/net/ipv4/twi_no_such"));
    assert_eq!(missing.unwrap_err().kind(), std::io::ErrorKind::NotFound);
}

fn find(namespaces: &[NetnsInfo], inode: u64) -> &NetnsInfo {
    let matching: Vec<&NetnsInfo> = namespaces.iter().filter(|n| n.inode == inode).collect();
    assert_eq!(matching.len(), 1, "net:[{inode}] in {namespaces:?}");
    matching[0]
}

fn inode_of(path: impl AsRef<Path>) -> u64 {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).unwrap().ino()
}

/// Named with a process, named only (bind mount, no process), unnamed with
/// a process: each found once with its name and pids, and each can be
/// entered; once its last process is gone an unnamed one is `Gone`.
#[test]
fn all_namespaces_finds_named_held_and_mounted_ones() {
    require_netns!();
    if !has_unshare(module_path!()) {
        return;
    }
    let named = TestNetns::new();
    let in_named = sleeper_in(&named);
    let mounted_only = TestNetns::new();
    let mut unnamed = unnamed_sleeper();
    let unnamed_pid = unnamed.pid();
    let unnamed_inode = link_inode(&unnamed_pid.to_string());

    let scan = all_namespaces().unwrap();
    let namespaces = &scan.namespaces;
    assert!(namespaces.windows(2).all(|w| w[0].inode < w[1].inode));

    let named_inode = link_inode(&in_named.pid().to_string());
    assert_eq!(named_inode, inode_of(format!("/run/netns/{}", named.name)));
    let info = find(namespaces, named_inode);
    assert_eq!(info.name.as_deref(), Some(named.name.as_str()));
    assert_eq!(info.pids, vec![in_named.pid()]);

    let mounted_inode = inode_of(format!("/run/netns/{}", mounted_only.name));
    let info = find(namespaces, mounted_inode);
    assert_eq!(info.name.as_deref(), Some(mounted_only.name.as_str()));
    assert!(info.pids.is_empty(), "{info:?}");

    let unnamed_info = find(namespaces, unnamed_inode).clone();
    assert_eq!(unnamed_info.name, None);
    assert_eq!(unnamed_info.pids, vec![unnamed_pid]);

    let own = find(namespaces, link_inode("self"));
    assert!(own.pids.contains(&std::process::id()));

    for inode in [named_inode, mounted_inode, unnamed_inode] {
        let opened = find(namespaces, inode).open().unwrap();
        assert_eq!(opened.inode(), inode);
        let entered = opened.run(|| link_inode("thread-self")).unwrap();
        assert_eq!(entered, inode);
    }

    let _ = unnamed.0.kill();
    let _ = unnamed.0.wait();
    match unnamed_info.open() {
        Err(NetnsError::Gone { inode }) => assert_eq!(inode, unnamed_inode),
        other => panic!("after its process exited: {other:?}"),
    }
    assert_eq!(
        NetnsError::Gone {
            inode: unnamed_inode
        }
        .to_string(),
        format!("net:[{unnamed_inode}]: namespace gone (its processes exited)")
    );
}

/// 100 namespaces (50 named, 50 held by a process only): all found by one
/// scan, each entered and read with sock_diag. Prints the cost of the scan
/// and of the walk (no timing is asserted).
#[test]
fn all_namespaces_on_a_hundred() {
    require_netns!();
    if !has_unshare(module_path!()) {
        return;
    }
    let named: Vec<TestNetns> = (0..50).map(|_| TestNetns::new()).collect();
    let held: Vec<ChildGuard> = (0..50).map(|_| unnamed_sleeper()).collect();
    let mut expected: Vec<u64> = named
        .iter()
        .map(|ns| inode_of(format!("/run/netns/{}", ns.name)))
        .chain(
            held.iter()
                .map(|child| link_inode(&child.pid().to_string())),
        )
        .collect();
    expected.sort_unstable();
    expected.dedup();
    assert_eq!(expected.len(), 100);

    let started = Instant::now();
    let scan = all_namespaces().unwrap();
    let scan_time = started.elapsed();
    let found: Vec<&NetnsInfo> = scan
        .namespaces
        .iter()
        .filter(|info| expected.binary_search(&info.inode).is_ok())
        .collect();
    assert_eq!(found.len(), 100);

    let query = Query {
        port: Some(80),
        ..Query::everything()
    };
    let started = Instant::now();
    for info in &found {
        let (entered, sockets) = info
            .open()
            .unwrap()
            .run(|| {
                (
                    link_inode("thread-self"),
                    netlink::read_sockets(Protocol::Tcp, &query),
                )
            })
            .unwrap();
        assert_eq!(entered, info.inode);
        let sockets = sockets.unwrap();
        assert!(sockets.is_empty(), "fresh namespace: {sockets:?}");
    }
    let walk_time = started.elapsed();
    eprintln!(
        "all_namespaces over {} namespaces ({} processes): scan {:?}; open + enter + sock_diag of 100: {:?}",
        scan.namespaces.len(),
        scan.namespaces.iter().map(|n| n.pids.len()).sum::<usize>(),
        scan_time,
        walk_time
    );
    drop(held);
    drop(named);
}

/// Paths with a '/' that are not under /run/netns still learn their name.
#[test]
fn a_path_elsewhere_learns_the_name_by_inode() {
    require_netns!();
    let ns = TestNetns::new();
    let child = sleeper_in(&ns);
    let path = PathBuf::from(format!("/proc/{}/ns/net", child.pid()));
    let opened = Netns::open(&NetnsSpec::Path(path)).unwrap();
    assert_eq!(opened.name(), Some(ns.name.as_str()));
}
