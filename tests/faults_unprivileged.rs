//! tw-inspect run as nobody (setpriv, no capabilities) inside a namespace
//! where root holds the sockets: the owners it cannot see are said to be
//! unseen, never shown as "no process"; and a port below
//! ip_unprivileged_port_start is reported as EACCES, not as a socket conflict.
mod common;

use std::net::TcpListener;
use std::process::Output;

use common::{json, Netns};

fn as_nobody(ns: &Netns, args: &[&str]) -> Output {
    ns.tw_inspect_as_nobody()
        .args(args)
        .output()
        .expect("run setpriv")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn usable(test: &str) -> bool {
    if std::process::Command::new("setpriv")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIP {test}: setpriv (util-linux) is not installed");
        return false;
    }
    true
}

#[test]
fn owners_of_roots_sockets_are_hidden_and_said_so() {
    require_netns!();
    if !usable("owners") {
        return;
    }
    let ns = Netns::new();
    let _listener = ns.run(|| TcpListener::bind("127.0.0.1:8080").unwrap());
    // As root the owner (this test process) is found...
    let root = json(&ns.tw_inspect(["--json"]));
    assert_eq!(root["owners_unseen"], 0, "{root:#}");
    let pid = std::process::id();
    assert!(root["sockets"][0]["processes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["pid"] == pid));
    for source in ["auto", "proc"] {
        // ...as nobody it is not, and the document says so.
        let out = as_nobody(&ns, &["--json", "--source", source]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{source}: {}",
            text(&out.stderr)
        );
        assert!(out.stderr.is_empty(), "{source}: {}", text(&out.stderr));
        let doc = json(&out);
        assert_eq!(doc["owners_unseen"], 1, "{source}: {doc:#}");
        assert_eq!(doc["sockets"][0]["processes"].as_array().unwrap().len(), 0);
        // The human listing says it plainly.
        let out = as_nobody(&ns, &["--source", source]);
        let listing = text(&out.stdout);
        assert!(
            listing.contains("note: the owning process of 1 socket(s) could not be seen"),
            "{source}: {listing}"
        );
    }
    // The --port report: the owner is "not visible", not absent.
    let out = as_nobody(&ns, &["--port", "8080", "--addr", "127.0.0.1"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(report.contains("could not be seen"), "{report}");
    assert!(report.contains("owner not visible"), "{report}");
}

#[test]
fn a_privileged_port_is_eacces_not_a_socket_conflict() {
    require_netns!();
    if !usable("eacces") {
        return;
    }
    let ns = Netns::new();
    let start = ns
        .exec("cat")
        .arg("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .output()
        .unwrap();
    assert_eq!(
        text(&start.stdout).trim(),
        "1024",
        "test assumes the default"
    );
    let _listener = ns.run(|| TcpListener::bind("127.0.0.1:79").unwrap());

    let out = as_nobody(&ns, &["--port", "79", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let doc = json(&out);
    let verdict = &doc["verdict"];
    assert_eq!(verdict["blocked"], true);
    let intended = &verdict["probes"][0];
    assert_eq!(intended["question"], "the intended bind");
    assert_eq!(intended["errno"], "EACCES", "{verdict:#}");
    assert_eq!(verdict["refused"], "EACCES");
    // Only the intended bind is probed: counterfactual flags cannot help.
    assert_eq!(verdict["probes"].as_array().unwrap().len(), 1);
    let explanation = verdict["explanation"].as_str().unwrap();
    assert!(
        explanation.starts_with("Port 79 is below net.ipv4.ip_unprivileged_port_start")
            && explanation.contains("EACCES before any conflict"),
        "{explanation}"
    );
    assert!(verdict["advice"][0]
        .as_str()
        .unwrap()
        .contains("CAP_NET_BIND_SERVICE"));

    let out = as_nobody(&ns, &["--port", "79"]);
    assert_eq!(out.status.code(), Some(1));
    let report = text(&out.stdout);
    let head: Vec<&str> = report.lines().take(2).collect();
    assert_eq!(
        head[1],
        "bind() itself is refused with EACCES, before any conflict with a socket is checked",
        "the headline must not lead with the socket:\n{report}"
    );
    assert!(!report.contains("a live process holds it"), "{report}");
    assert!(report.contains("FAIL  EACCES"), "{report}");

    // Without probes the rules still know: uid 65534, no capability.
    let out = as_nobody(&ns, &["--port", "79", "--json", "--no-probe"]);
    let doc = json(&out);
    let explanation = doc["verdict"]["explanation"].as_str().unwrap();
    assert!(explanation.contains("EACCES"), "{explanation}");
    assert_eq!(
        doc["verdict"]["refused"], "EACCES",
        "machine-readable without probes"
    );

    // A free low port: still EACCES, with no blocker invented.
    let out = as_nobody(&ns, &["--port", "81", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let doc = json(&out);
    assert_eq!(doc["verdict"]["blockers"].as_array().unwrap().len(), 0);
    assert_eq!(doc["verdict"]["probes"][0]["errno"], "EACCES");
    let out = as_nobody(&ns, &["--port", "81"]);
    let report = text(&out.stdout);
    assert!(report.contains("refused with EACCES"), "{report}");

    // And root, with the capability, sees the plain conflict.
    let out = ns.tw_inspect(["--port", "79", "--json"]);
    let doc = json(&out);
    assert_eq!(doc["verdict"]["probes"][0]["errno"], "EADDRINUSE");
    assert_eq!(doc["verdict"]["refused"], serde_json::Value::Null);
}

#[test]
fn free_without_cap_net_admin_is_one_clear_line_and_destroys_nothing() {
    require_netns!();
    if !usable("free") {
        return;
    }
    let ns = Netns::new();
    ns.run(|| {
        common::sockets::server_side_time_wait(
            "127.0.0.1:9527".parse().unwrap(),
            Default::default(),
        )
    });
    let out = as_nobody(&ns, &["--port", "9527", "--free", "--yes"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("EPERM") || stderr.contains("CAP_NET_ADMIN"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    // The TIME_WAIT is still there.
    assert!(ns.ss(&["-tanH", "state", "time-wait"]).contains(":9527"));
}
