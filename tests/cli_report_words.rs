//! The report's words against the kernel: `--state` filters what is shown,
//! never what is judged; a bind refused before any socket is looked at is
//! not called BLOCKED; one form for durations; no advice repeated.
mod common;

use std::net::SocketAddr;

use common::{sockets, Netns};

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn state_filter_does_not_hide_the_listener_that_blocks() {
    require_netns!();
    let ns = Netns::new();
    let _listener = ns.run(|| sockets::listen_with(addr("0.0.0.0:9630"), Default::default()));
    assert!(!ns.run(|| sockets::kernel_allows(addr("0.0.0.0:9630"), Default::default())));
    let out = ns.tw_inspect(["--port", "9630", "--state", "time-wait"]);
    assert_eq!(out.status.code(), Some(1));
    let report = stdout(&out);
    assert!(
        !report.contains("no TCP socket uses port"),
        "contradicts the verdict:\n{report}"
    );
    assert!(
        report.contains("1 socket on the port not shown (--state filters what is shown, not what is judged): LISTEN 1"),
        "{report}"
    );
}

#[test]
fn refused_binds_say_why_in_the_headline() {
    require_netns!();
    let ns = Netns::new();
    // 192.0.2.1 (TEST-NET-1) is no address of the namespace.
    assert!(!ns.run(|| sockets::kernel_allows(addr("192.0.2.1:9631"), Default::default())));
    let out = ns.tw_inspect(["--port", "9631", "--addr", "192.0.2.1"]);
    assert_eq!(out.status.code(), Some(1));
    let report = stdout(&out);
    let first = report.lines().next().unwrap_or_default();
    assert!(first.ends_with(": CANNOT BIND: no such address"), "{first}");
    let out = ns.tw_inspect(["--port", "9631", "--dev", "twi-nosuch"]);
    let report = stdout(&out);
    let first = report.lines().next().unwrap_or_default();
    assert!(first.ends_with(": CANNOT BIND: no such device"), "{first}");
}

#[test]
fn one_form_for_the_time_left_and_one_line_per_holder() {
    require_netns!();
    let ns = Netns::new();
    ns.run(|| sockets::server_side_time_wait(addr("127.0.0.1:9632"), Default::default()));
    let out = ns.tw_inspect(["--port", "9632"]);
    assert_eq!(out.status.code(), Some(1));
    let report = stdout(&out);
    let figure = report
        .split("free in ~")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no estimate:\n{report}"));
    assert!(figure.ends_with('s') && figure.contains('.'), "{figure}");
    // The prose wraps: compare with the lines joined.
    let joined = report.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        joined.contains(&format!("Wait about {figure}:")),
        "another form than {figure}:\n{report}"
    );
    let whole = figure.split('.').next().unwrap();
    assert!(
        !joined.contains(&format!("about {whole} s")),
        "two forms:\n{report}"
    );

    // Two listeners of one process: one line of advice names both.
    let _v4 = ns.run(|| sockets::listen_with(addr("127.0.0.1:9633"), Default::default()));
    let _v6 = ns.run(|| sockets::listen_with(addr("[::1]:9633"), Default::default()));
    let out = ns.tw_inspect(["--port", "9633", "--addr", "::"]);
    let report = stdout(&out);
    assert_eq!(report.matches("Stop pid").count(), 1, "{report}");
    let joined = report.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        joined.contains("holds LISTEN 127.0.0.1:9633 and LISTEN [::1]:9633")
            || joined.contains("holds LISTEN [::1]:9633 and LISTEN 127.0.0.1:9633"),
        "{report}"
    );
}

#[test]
fn bracketed_and_scoped_addresses_are_accepted() {
    require_netns!();
    let ns = Netns::new();
    let out = ns.tw_inspect(["--port", "9634", "--addr", "[::1]", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc = common::json(&out);
    assert_eq!(doc["verdict"]["bind"]["addr"], "::1");
    // The scope is the device the bind is made on (SO_BINDTODEVICE).
    let out = ns.tw_inspect(["--port", "9634", "--addr", "fe80::1%lo", "--json"]);
    assert_ne!(out.status.code(), Some(2), "{out:?}");
    let doc = common::json(&out);
    assert_eq!(doc["verdict"]["bind"]["addr"], "fe80::1");
    assert_eq!(doc["verdict"]["bind"]["device"], "lo");
}
