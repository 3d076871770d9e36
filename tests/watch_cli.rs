//! `tw-inspect --watch` end to end: the watcher runs inside a fresh
//! namespace (so its default scope is that namespace and nothing else on
//! the host shows), a separate process started after it is attached leaves
//! a TIME_WAIT, the test's restart fails in the namespace, and the event on
//! stdout must name the restart, its options, the TIME_WAIT and its closer.
//! The kernel's own bind() (which failed with EADDRINUSE) is the judge.

mod common;
mod support;

use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::process::{ChildStderr, Command, Stdio};
use std::time::{Duration, Instant};

use common::sockets::{bind_udp, bind_with, listen_with, Opts};
use common::{ChildGuard, Netns, BIN};

/// A server on HOST:PORT (SO_REUSEADDR when the third argument is 1)
/// accepts one client and closes first; once the client closes too, its
/// side is a TIME_WAIT. Prints its pid and the client's address.
const CLOSING_SERVER: &str = r#"
import os, socket, sys
host, port, reuse = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
family = socket.AF_INET6 if ":" in host else socket.AF_INET
server = socket.socket(family, socket.SOCK_STREAM)
if reuse:
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((host, port))
server.listen(1)
client = socket.socket(family, socket.SOCK_STREAM)
client.connect((host, port))
accepted, _ = server.accept()
accepted.close()
assert client.recv(1) == b""
peer = client.getsockname()
client.close()
server.close()
print(os.getpid(), peer[0], peer[1], flush=True)
"#;

/// A running `tw-inspect --watch` inside the namespace, attached.
struct Watch {
    child: ChildGuard,
    stderr: BufReader<ChildStderr>,
    /// stderr lines read while waiting for the "watching" line.
    seen: String,
}

/// Starts the watcher in `netns` and waits until its programs are
/// attached; None (with SKIP printed) when the kernel refuses them.
fn start_watch(test: &str, netns: &Netns, args: &[&str]) -> Option<Watch> {
    let child = netns
        .exec(BIN)
        .arg("--watch")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tw-inspect --watch");
    let mut child = ChildGuard(child);
    let mut stderr = BufReader::new(child.0.stderr.take().expect("piped stderr"));
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = stderr.read_line(&mut line).expect("read watcher stderr");
        if n == 0 {
            panic!("the watcher ended before attaching: {seen}");
        }
        if line.contains("--watch cannot run") {
            eprintln!("SKIP {test}: the watcher cannot run here: {line}");
            return None;
        }
        seen.push_str(&line);
        if line.contains("tw-inspect: watching") {
            return Some(Watch {
                child,
                stderr,
                seen,
            });
        }
    }
}

impl Watch {
    /// Waits for it to end by itself (--count / --timeout): stdout, all of
    /// stderr, and whether it exited 0.
    fn finish(mut self) -> (String, String, bool) {
        let mut stdout = String::new();
        self.child
            .0
            .stdout
            .take()
            .expect("piped stdout")
            .read_to_string(&mut stdout)
            .expect("read watcher stdout");
        self.stderr
            .read_to_string(&mut self.seen)
            .expect("read watcher stderr");
        let status = self.child.0.wait().expect("wait for watcher");
        (stdout, std::mem::take(&mut self.seen), status.success())
    }
}

/// Runs the closing server in the namespace: (its pid, the client's address).
fn closing_server(netns: &Netns, addr: SocketAddr, reuseaddr: bool) -> (u32, SocketAddr) {
    let out = netns
        .exec("python3")
        .args(["-c", CLOSING_SERVER])
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .arg(if reuseaddr { "1" } else { "0" })
        .output()
        .expect("run python3");
    assert!(out.status.success(), "closing server failed: {out:?}");
    let text = support::text(&out.stdout);
    let fields: Vec<&str> = text.split_whitespace().collect();
    let [pid, host, port] = fields[..] else {
        panic!("closing server printed {text:?}");
    };
    let ip: std::net::IpAddr = host.parse().unwrap();
    (
        pid.parse().unwrap(),
        SocketAddr::new(ip, port.parse().unwrap()),
    )
}

fn python3_available(test: &str) -> bool {
    if Command::new("python3").arg("-V").output().is_err() {
        eprintln!("SKIP {test}: python3 is not installed");
        return false;
    }
    true
}

/// One case: a server that closes first (and, for options that pass its
/// TIME_WAIT, a listener like it holding the port), then the restart with
/// `opts` fails; the one event must describe it.
fn check_time_wait_case(test: &str, addr: SocketAddr, server: Opts, listener: bool, opts: Opts) {
    if !common::can_use_netns(test) || !python3_available(test) {
        return;
    }
    let netns = Netns::new();
    let Some(watch) = start_watch(test, &netns, &["--json", "--count", "1", "--timeout", "20"])
    else {
        return;
    };
    let (closer, client) = closing_server(&netns, addr, server.reuseaddr);
    let (_listener, refused) = netns.run(|| {
        let listener = listener.then(|| listen_with(addr, server));
        (
            listener,
            bind_with(addr, opts).expect_err("the restart must fail"),
        )
    });
    assert_eq!(refused.kind(), ErrorKind::AddrInUse, "{refused}");
    let (stdout, stderr, ok) = watch.finish();
    assert!(ok, "the watcher failed: {stderr}");
    let event = one_event(&stdout, &stderr);
    check_bind(&event, "tcp", addr, opts);
    let verdict = &event["verdict"];
    assert_eq!(verdict["blocked"], true, "{event}");
    let blockers = verdict["blockers"].as_array().unwrap();
    let time_wait = blockers
        .iter()
        .find(|b| b["reason"] == "time_wait" && b["remote_port"] == client.port())
        .unwrap_or_else(|| panic!("no blocker names the TIME_WAIT to {client}: {event}"));
    assert_eq!(time_wait["local_port"], addr.port());
    assert_eq!(time_wait["left_by"]["pid"], closer, "{event}");
    assert!(time_wait["left_by"]["at"].is_string(), "{event}");
    if listener {
        assert!(
            blockers.iter().any(|b| b["reason"] == "listen"),
            "the listener is not named: {event}"
        );
    }
    assert!(stderr.contains("1 failed binds, 0 lost"), "{stderr}");
}

/// Exactly one JSON document on stdout.
fn one_event(stdout: &str, stderr: &str) -> serde_json::Value {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "one event expected:\n{stdout}\nstderr: {stderr}"
    );
    let event: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(event["schema_version"], 1);
    assert_eq!(event["event"], "bind_failed");
    event
}

/// The event is the test's restart: its pid, its namespace, its bind.
fn check_bind(event: &serde_json::Value, protocol: &str, addr: SocketAddr, opts: Opts) {
    assert_eq!(event["pid"], std::process::id(), "{event}");
    assert_eq!(event["uid"], 0);
    assert!(event["netns"]["name"]
        .as_str()
        .is_some_and(|name| name.starts_with("twi-test-")));
    let bind = &event["bind"];
    assert_eq!(bind["protocol"], protocol, "{event}");
    assert_eq!(bind["addr"], addr.ip().to_string(), "{event}");
    assert_eq!(bind["port"], addr.port());
    assert_eq!(bind["reuseaddr"], opts.reuseaddr, "{event}");
    assert_eq!(bind["reuseport"], opts.reuseport, "{event}");
    assert_eq!(bind["v6only"], opts.v6only == Some(true), "{event}");
    // The verdict judged that very bind.
    assert_eq!(event["verdict"]["bind"]["port"], addr.port());
    assert_eq!(event["verdict"]["bind"]["reuseaddr"], opts.reuseaddr);
}

#[test]
fn a_plain_restart_names_the_time_wait_and_who_left_it() {
    check_time_wait_case(
        module_path!(),
        "127.0.0.1:7101".parse().unwrap(),
        Opts::default(),
        false,
        Opts::default(),
    );
}

#[test]
fn a_reuseaddr_restart_is_reported_with_its_option() {
    let reuseaddr = Opts {
        reuseaddr: true,
        ..Opts::default()
    };
    check_time_wait_case(
        module_path!(),
        "127.0.0.1:7102".parse().unwrap(),
        reuseaddr,
        true,
        reuseaddr,
    );
}

#[test]
fn a_reuseport_restart_is_reported_with_its_option() {
    check_time_wait_case(
        module_path!(),
        "127.0.0.1:7103".parse().unwrap(),
        Opts {
            reuseaddr: true,
            ..Opts::default()
        },
        true,
        Opts {
            reuseport: true,
            ..Opts::default()
        },
    );
}

#[test]
fn an_ipv6_v6only_restart_is_reported_with_its_option() {
    check_time_wait_case(
        module_path!(),
        "[::1]:7104".parse().unwrap(),
        Opts::default(),
        false,
        Opts {
            v6only: Some(true),
            ..Opts::default()
        },
    );
}

#[test]
fn a_failed_udp_bind_is_reported_with_its_holder_and_not_the_probes() {
    let test = module_path!();
    if !common::can_use_netns(test) {
        return;
    }
    let netns = Netns::new();
    // Room for a second event: the verdict's own probe bind fails too, and
    // must not be reported.
    let Some(watch) = start_watch(test, &netns, &["--json", "--count", "2", "--timeout", "5"])
    else {
        return;
    };
    let addr: SocketAddr = "127.0.0.1:7105".parse().unwrap();
    let (_holder, refused): (OwnedFd, std::io::Error) = netns.run(|| {
        let holder = bind_udp(addr, Opts::default()).expect("the holder binds");
        (
            holder,
            bind_udp(addr, Opts::default()).expect_err("the second bind must fail"),
        )
    });
    assert_eq!(refused.kind(), ErrorKind::AddrInUse, "{refused}");
    let (stdout, stderr, ok) = watch.finish();
    assert!(ok, "{stderr}");
    let event = one_event(&stdout, &stderr);
    check_bind(&event, "udp", addr, Opts::default());
    assert_eq!(event["verdict"]["blocked"], true, "{event}");
    let blocker = &event["verdict"]["blockers"][0];
    assert_eq!(blocker["protocol"], "udp", "{event}");
    assert_eq!(blocker["local_port"], addr.port());
    assert_eq!(blocker["left_by"], serde_json::Value::Null);
    let probes = event["verdict"]["probes"].as_array().unwrap();
    assert!(
        probes.iter().any(|probe| probe["errno"] == "EADDRINUSE"),
        "a probe failed as the bind did (and was not reported): {event}"
    );
}

#[test]
fn a_successful_bind_is_no_event() {
    let test = module_path!();
    if !common::can_use_netns(test) {
        return;
    }
    let netns = Netns::new();
    let Some(watch) = start_watch(test, &netns, &["--json", "--count", "1", "--timeout", "3"])
    else {
        return;
    };
    let bound = netns.run(|| bind_with("127.0.0.1:7106".parse().unwrap(), Opts::default()));
    assert!(bound.is_ok(), "the bind must succeed: {bound:?}");
    let (stdout, stderr, ok) = watch.finish();
    assert!(ok, "{stderr}");
    assert_eq!(stdout, "", "no event for a bind that worked");
    assert!(stderr.contains("0 failed binds, 0 lost"), "{stderr}");
}

#[test]
fn the_human_line_names_the_bind_and_its_closer() {
    let test = module_path!();
    if !common::can_use_netns(test) || !python3_available(test) {
        return;
    }
    let netns = Netns::new();
    let Some(watch) = start_watch(test, &netns, &["--count", "1", "--timeout", "20"]) else {
        return;
    };
    let addr: SocketAddr = "127.0.0.1:7107".parse().unwrap();
    let (closer, _) = closing_server(&netns, addr, false);
    let refused = netns.run(|| bind_with(addr, Opts::default()).expect_err("must fail"));
    assert_eq!(refused.kind(), ErrorKind::AddrInUse);
    let (stdout, stderr, ok) = watch.finish();
    assert!(ok, "{stderr}");
    let first = stdout.lines().next().unwrap_or_default();
    assert!(
        first.contains(&format!(
            "(pid {}, uid 0) could not bind 127.0.0.1:7107",
            std::process::id()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("blocked by TIME_WAIT 127.0.0.1:7107"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("left by pid {closer} ")),
        "{stdout}"
    );
}

#[test]
fn not_root_is_one_line_and_exit_2() {
    if Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("SKIP not_root: setpriv is not installed");
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIP not_root: needs root to drop to another user");
        return;
    }
    let out = support::output_within(
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN])
            .args(["--watch", "--timeout", "5"]),
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = support::text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("tw-inspect: --watch cannot run: not root (uid 65534)"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

/// The program ids the process holds (its /proc/PID/fdinfo `prog_id:` lines).
fn program_ids_of(pid: u32) -> Vec<u32> {
    let mut ids = Vec::new();
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return ids;
    };
    for entry in entries.flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        for line in text.lines() {
            if let Some(id) = line.strip_prefix("prog_id:") {
                if let Ok(id) = id.trim().parse() {
                    ids.push(id);
                }
            }
        }
    }
    ids.sort_unstable();
    ids.dedup();
    ids
}

fn program_exists(id: u32) -> bool {
    Command::new("bpftool")
        .args(["prog", "show", "id", &id.to_string()])
        .output()
        .expect("run bpftool")
        .status
        .success()
}

#[test]
fn ctrl_c_ends_it_with_the_programs_detached() {
    let test = module_path!();
    if !common::can_use_netns(test) {
        return;
    }
    if Command::new("bpftool").arg("version").output().is_err() {
        eprintln!("SKIP {test}: bpftool is not installed");
        return;
    }
    let netns = Netns::new();
    let Some(mut watch) = start_watch(test, &netns, &["--timeout", "60"]) else {
        return;
    };
    let pid = watch.child.pid();
    let ids = program_ids_of(pid);
    assert_eq!(ids.len(), 2, "the watcher holds its two programs: {ids:?}");
    assert!(ids.iter().all(|&id| program_exists(id)));
    // SAFETY: kill(2) on the pid of our own child, not yet reaped.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGINT) }, 0);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = watch.child.0.try_wait().expect("wait for watcher") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the watcher did not end on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let mut stderr = String::new();
    watch.stderr.read_to_string(&mut stderr).unwrap();
    assert!(stderr.contains("0 failed binds, 0 lost"), "{stderr}");
    // Freeing a program may trail its last fd's close by an RCU grace period.
    let gone = |id: &u32| {
        let started = Instant::now();
        while program_exists(*id) && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(100));
        }
        !program_exists(*id)
    };
    assert!(ids.iter().all(gone), "programs left attached: {ids:?}");
}

#[test]
fn a_burst_of_failed_binds_is_reported_or_counted_lost() {
    let test = module_path!();
    if !common::can_use_netns(test) {
        return;
    }
    let netns = Netns::new();
    let Some(watch) = start_watch(test, &netns, &["--json", "--timeout", "15"]) else {
        return;
    };
    // Twice what the 1 MiB ring holds undrained: whatever the watcher could
    // not take in time must show in the lost count.
    const BURST: u64 = 20_000;
    let addr: SocketAddr = "127.0.0.1:7108".parse().unwrap();
    netns.run(|| {
        let _holder = bind_udp(addr, Opts::default()).expect("the holder binds");
        for _ in 0..BURST {
            let refused = bind_udp(addr, Opts::default()).expect_err("the port is held");
            assert_eq!(refused.kind(), ErrorKind::AddrInUse);
        }
    });
    let (stdout, stderr, ok) = watch.finish();
    assert!(ok, "{stderr}");
    let reported = stdout.lines().count() as u64;
    let summary = stderr
        .lines()
        .find(|line| line.ends_with(" lost"))
        .unwrap_or_else(|| panic!("no summary: {stderr}"));
    let numbers: Vec<u64> = summary
        .split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect();
    let [in_summary, lost] = numbers[..] else {
        panic!("summary {summary:?}");
    };
    assert_eq!(in_summary, reported, "{summary}");
    // Every failed bind of the test is reported or counted lost, and nothing
    // else (the watcher's own probes, which fail too, are left out in the
    // kernel, so they take no room in the ring either).
    assert_eq!(reported + lost, BURST, "{summary}");
    if lost > 0 {
        assert!(stderr.contains("events lost so far"), "{stderr}");
    }
    let first: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(first["bind"]["protocol"], "udp");
    assert_eq!(first["verdict"]["blocked"], true);
}

#[test]
fn netns_flag_scopes_the_watch_from_outside() {
    let test = module_path!();
    if !common::can_use_netns(test) {
        return;
    }
    let netns = Netns::new();
    let addr: SocketAddr = "127.0.0.1:7109".parse().unwrap();
    // Run from the test's own namespace: only --netns points it there.
    let child = Command::new(BIN)
        .args(["--watch", "--json", "--count", "1", "--timeout", "20"])
        .args(["--netns", &netns.name, "--port", "7109"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tw-inspect --watch");
    let mut child = ChildGuard(child);
    let mut stderr = BufReader::new(child.0.stderr.take().expect("piped stderr"));
    let mut seen = String::new();
    while !seen.contains("tw-inspect: watching") {
        if stderr.read_line(&mut seen).expect("read stderr") == 0 {
            panic!("the watcher ended before attaching: {seen}");
        }
        if seen.contains("--watch cannot run") {
            eprintln!("SKIP {test}: the watcher cannot run here: {seen}");
            return;
        }
    }
    assert!(seen.contains(&netns.name), "{seen}");
    let watch = Watch {
        child,
        stderr,
        seen,
    };
    let _held = netns.run(|| {
        // Another port first: outside the --port scope, no event.
        let other: SocketAddr = "127.0.0.1:7110".parse().unwrap();
        let _other_holder = bind_udp(other, Opts::default()).unwrap();
        assert!(bind_udp(other, Opts::default()).is_err());
        let holder = bind_udp(addr, Opts::default()).unwrap();
        assert!(bind_udp(addr, Opts::default()).is_err());
        holder
    });
    let (stdout, stderr, ok) = watch.finish();
    assert!(ok, "{stderr}");
    let event = one_event(&stdout, &stderr);
    check_bind(&event, "udp", addr, Opts::default());
    assert_eq!(event["netns"]["name"], netns.name.as_str());
}
