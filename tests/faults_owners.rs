//! Processes that come and go during the owner scan: a churner forks
//! short-lived children that each open a listening socket and exit at once,
//! while tw-inspect runs again and again. Never an error or a panic; every
//! socket with an inode either names its owner or is counted as unseen; and
//! the long-lived holder is always found.
mod common;

use std::time::{Duration, Instant};

use common::{json, Netns};
use serde_json::Value;

const CHURNER: &str = r#"
import os, socket, sys, time, random
keep = socket.socket()
keep.bind(("127.0.0.1", 7777))
keep.listen()
print("ready", flush=True)
end = time.time() + 60
children = 0
while time.time() < end:
    pid = os.fork()
    if pid == 0:
        try:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            s.listen()
            c = socket.create_connection(("127.0.0.1", 7777))
            time.sleep(random.random() * 0.004)
        finally:
            os._exit(0)
    children += 1
    # Reap whatever has ended; keep up to ~20 alive at a time.
    while True:
        try:
            done, _ = os.waitpid(-1, os.WNOHANG if children < 20 else 0)
        except ChildProcessError:
            break
        if done == 0:
            break
        children -= 1
"#;

fn check(doc: &Value, churner: u32, what: &str) {
    let sockets = doc["sockets"].as_array().unwrap();
    let ownerless = sockets
        .iter()
        .filter(|s| s["inode"] != 0 && s["processes"].as_array().unwrap().is_empty())
        .count();
    assert_eq!(
        doc["owners_unseen"].as_u64().unwrap() as usize,
        ownerless,
        "{what}: owners_unseen must count exactly the ownerless sockets"
    );
    let keep = sockets
        .iter()
        .find(|s| s["state"] == "LISTEN" && s["local_port"] == 7777)
        .unwrap_or_else(|| panic!("{what}: the long-lived listener is missing"));
    assert!(
        keep["processes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["pid"] == churner),
        "{what}: the long-lived holder was not found: {keep:#}"
    );
    for socket in sockets {
        for process in socket["processes"].as_array().unwrap() {
            assert!(process["pid"].as_u64().unwrap() > 0, "{what}: {process}");
        }
    }
}

#[test]
fn owner_scan_survives_processes_exiting_mid_scan() {
    require_netns!();
    let ns = Netns::new();
    let mut churner = ns.spawn("python3", &["-c", CHURNER]);
    assert_eq!(churner.read_line(), "ready");
    let pid = churner.pid();
    // `ip netns exec` execs python: the pid is python's.
    let started = Instant::now();
    let mut runs = 0;
    let mut saw_children = false;
    while runs < 4 || (started.elapsed() < Duration::from_secs(8) && runs < 10) {
        for args in [
            &["--json", "--source", "netlink"][..],
            &["--json", "--source", "proc"][..],
            &["--json", "--port", "7777", "--addr", "127.0.0.1"][..],
        ] {
            let out = ns.tw_inspect(args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.is_empty(), "{args:?}: {stderr}");
            let expected = if args.contains(&"--port") { 1 } else { 0 };
            assert_eq!(out.status.code(), Some(expected), "{args:?}");
            let doc = json(&out);
            check(&doc, pid, &format!("{args:?}"));
            saw_children |= doc["sockets"].as_array().unwrap().len() > 2;
        }
        // The human output goes through the same scan.
        let out = ns.tw_inspect(["--port", "7777", "--addr", "127.0.0.1"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stderr.is_empty());
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(report.contains(&format!("{pid}/python3")), "{report}");
        runs += 1;
    }
    assert!(saw_children, "the churner's sockets were never seen");
}
