//! A socket held by many processes: a pre-fork server (a parent that
//! listens, then forks workers that keep the fd) in a namespace. Every
//! holder is named, as `ss -tlnp` names them, and the advice stops what
//! ends them all rather than one worker.
mod common;

use std::collections::BTreeSet;

use common::{json, Netns};

/// Worker pids the pre-fork server printed: killed by pid when dropped (the
/// server's own guard kills only the parent).
struct Workers(Vec<u32>);

impl Drop for Workers {
    fn drop(&mut self) {
        for pid in &self.0 {
            // SAFETY: kill has no memory preconditions; these are our children's children.
            unsafe { libc::kill(*pid as i32, libc::SIGKILL) };
        }
    }
}

/// The pids `ss -p` gives for the listener on `port`.
fn ss_pids(ns: &Netns, port: u16) -> BTreeSet<u32> {
    let text = ns.ss(&["-tlnpH", &format!("sport = :{port}")]);
    text.split("pid=")
        .skip(1)
        .map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().unwrap()
        })
        .collect()
}

#[test]
fn every_holder_of_a_pre_fork_server_is_named() {
    require_netns!();
    let ns = Netns::new();
    let port = 9610;
    // Its own process group, as daemons have: the advice can name the group.
    let code = format!(
        "import os, socket, sys, time\n\
         os.setpgid(0, 0)\n\
         s = socket.socket()\n\
         s.bind(('0.0.0.0', {port}))\n\
         s.listen()\n\
         pids = []\n\
         for _ in range(3):\n\
         \x20   pid = os.fork()\n\
         \x20   if pid == 0:\n\
         \x20       time.sleep(120)\n\
         \x20       os._exit(0)\n\
         \x20   pids.append(pid)\n\
         print('ready', *pids, flush=True)\n\
         time.sleep(120)"
    );
    let mut server = ns.spawn("python3", &["-c", &code]);
    let line = server.read_line();
    let workers = Workers(
        line.strip_prefix("ready ")
            .unwrap_or_else(|| panic!("server said {line:?}"))
            .split(' ')
            .map(|pid| pid.parse().unwrap())
            .collect(),
    );
    let mut expected: BTreeSet<u32> = workers.0.iter().copied().collect();
    expected.insert(server.pid());
    assert_eq!(expected.len(), 4);
    assert_eq!(ss_pids(&ns, port), expected, "the witness disagrees");

    let out = ns.tw_inspect(["--port", &port.to_string(), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let doc = json(&out);
    let listener = doc["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["state"] == "LISTEN")
        .expect("the listener");
    let named: BTreeSet<u32> = listener["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_u64().unwrap() as u32)
        .collect();
    assert_eq!(named, expected, "JSON processes");

    let out = ns.tw_inspect(["--port", &port.to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let report = String::from_utf8_lossy(&out.stdout);
    for pid in &expected {
        assert!(
            report.contains(&format!("{pid}/python")),
            "pid {pid} missing from the report:\n{report}"
        );
    }
    let parent = server.pid();
    assert!(
        report.contains(&format!("Stop pid {parent} python")),
        "the advice does not name the parent:\n{report}"
    );
    assert!(
        report.contains(&format!("kill -- -{parent}")),
        "the advice does not name the process group:\n{report}"
    );
    assert!(report.contains("4 processes"), "{report}");
    assert_eq!(
        report.matches("Stop pid").count(),
        1,
        "one line of advice for one set of holders:\n{report}"
    );
}
