//! `--free` against real sockets: destroys exactly the TIME_WAIT that blocks
//! the intended bind, nothing else, and refuses what it must refuse.
mod common;

use std::net::{SocketAddr, TcpListener};

use common::{json, sockets, Netns};

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn ss_lines(ns: &Netns) -> Vec<String> {
    ns.ss(&["-tanH"]).lines().map(str::to_string).collect()
}

fn has_row(lines: &[String], state: &str, local: &str) -> bool {
    lines.iter().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.first() == Some(&state) && f.get(3) == Some(&local)
    })
}

#[test]
fn free_destroys_only_the_blocking_time_wait() {
    require_netns!();
    let ns = Netns::new();
    let _listener = ns.run(|| {
        sockets::server_side_time_wait(addr("127.0.0.1:9527"), sockets::Opts::default());
        sockets::server_side_time_wait(addr("127.0.0.1:9600"), sockets::Opts::default());
        TcpListener::bind("127.0.0.1:9700").unwrap()
    });
    let before = ss_lines(&ns);
    assert!(
        has_row(&before, "TIME-WAIT", "127.0.0.1:9527"),
        "{before:?}"
    );
    assert!(!ns.run(|| sockets::kernel_allows(addr("0.0.0.0:9527"), Default::default())));

    let out = ns.tw_inspect(["--port", "9527", "--free", "--yes", "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let doc = json(&out);
    let destroyed = doc["destroyed"].as_array().unwrap();
    assert_eq!(destroyed.len(), 1, "{doc:#}");
    assert_eq!(destroyed[0]["state"], "TIME_WAIT");
    assert_eq!(destroyed[0]["local_port"], 9527);
    assert_eq!(doc["verdict"]["blocked"], false);

    let after = ss_lines(&ns);
    assert!(!has_row(&after, "TIME-WAIT", "127.0.0.1:9527"), "{after:?}");
    assert!(
        has_row(&after, "TIME-WAIT", "127.0.0.1:9600"),
        "unrelated TIME_WAIT gone: {after:?}"
    );
    assert!(
        has_row(&after, "LISTEN", "127.0.0.1:9700"),
        "listener gone: {after:?}"
    );
    // The judge: a real plain bind now succeeds.
    assert!(ns.run(|| sockets::kernel_allows(addr("0.0.0.0:9527"), Default::default())));
}

#[test]
fn free_never_touches_a_live_listener() {
    require_netns!();
    let ns = Netns::new();
    let script = "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',9527))\ns.listen()\nprint('ready',flush=True)\ntime.sleep(120)";
    let mut server = ns.spawn("python3", &["-c", script]);
    assert_eq!(server.read_line(), "ready");
    let out = ns.tw_inspect(["--port", "9527", "--free", "--yes"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{}/python3", server.pid())),
        "{stderr}"
    );
    assert!(stderr.contains("not destroying anything"), "{stderr}");
    assert!(has_row(&ss_lines(&ns), "LISTEN", "127.0.0.1:9527"));
}

#[test]
fn free_refuses_without_a_terminal_or_privilege_and_dry_run_destroys_nothing() {
    require_netns!();
    let ns = Netns::new();
    ns.run(|| sockets::server_side_time_wait(addr("127.0.0.1:9527"), sockets::Opts::default()));

    // No terminal to ask on, no --yes: refuse.
    let out = ns.tw_inspect(["--port", "9527", "--free"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--yes"), "{stderr}");

    let out = ns.tw_inspect(["--port", "9527", "--free", "--dry-run"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("would destroy 1 socket"), "{stderr}");

    // An unprivileged user: SOCK_DESTROY needs CAP_NET_ADMIN.
    let out = ns
        .tw_inspect_as_nobody()
        .args(["--port", "9527", "--free", "--yes"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("CAP_NET_ADMIN"), "{stderr}");

    // Still there after all three.
    assert!(has_row(&ss_lines(&ns), "TIME-WAIT", "127.0.0.1:9527"));
}
