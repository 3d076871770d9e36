//! `--wait` watches the port: it returns when a real bind succeeds (one
//! ~60 s test on a real TIME_WAIT), at once for a live holder, and on timeout.
mod common;

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use common::{sockets, Netns};

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

#[test]
fn wait_returns_when_the_time_wait_expires() {
    require_netns!();
    let ns = Netns::new();
    ns.run(|| sockets::server_side_time_wait(addr("127.0.0.1:9527"), sockets::Opts::default()));
    let started = Instant::now();
    let out = ns.tw_inspect(["--port", "9527", "--wait", "--timeout", "90", "--json"]);
    let waited = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // The judge, right after: a plain bind succeeds.
    assert!(ns.run(|| sockets::kernel_allows(addr("0.0.0.0:9527"), Default::default())));
    assert!(
        waited > Duration::from_secs(50) && waited < Duration::from_secs(75),
        "waited {waited:?}"
    );
    // Not a terminal: no countdown, one line when the wait starts and one
    // when it ends, with the time waited.
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].starts_with("tw-inspect: waiting for 0.0.0.0:9527"),
        "{stderr}"
    );
    assert!(lines[0].contains("1 TIME_WAIT"), "{stderr}");
    assert!(lines[1].contains("is free after"), "{stderr}");
    assert_eq!(common::json(&out)["verdict"]["blocked"], false);
}

#[test]
fn wait_fails_at_once_for_a_live_listener() {
    require_netns!();
    let ns = Netns::new();
    let _listener = ns.run(|| TcpListener::bind("127.0.0.1:9527").unwrap());
    let started = Instant::now();
    let out = ns.tw_inspect(["--port", "9527", "--wait"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(stderr.contains("will not free by itself"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("LISTEN"), "{stdout}");
}

/// A deploy script gives the old server's graceful shutdown time with
/// --timeout: the wait outlives the listener and ends when it closes.
#[test]
fn wait_with_a_timeout_outlives_a_listener_that_closes() {
    require_netns!();
    let ns = Netns::new();
    let listener = ns.run(|| TcpListener::bind("127.0.0.1:9527").unwrap());
    let closer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(3));
        drop(listener);
    });
    let started = Instant::now();
    let out = ns.tw_inspect(["--port", "9527", "--wait", "--timeout", "30"]);
    let waited = started.elapsed();
    closer.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(waited >= Duration::from_secs(3), "{waited:?}");
    assert!(stderr.contains("held by a process"), "{stderr}");
    assert!(stderr.contains("is free after"), "{stderr}");
}

#[test]
fn wait_times_out_with_exit_1() {
    require_netns!();
    let ns = Netns::new();
    ns.run(|| sockets::server_side_time_wait(addr("127.0.0.1:9527"), sockets::Opts::default()));
    let started = Instant::now();
    let out = ns.tw_inspect(["--port", "9527", "--wait", "--timeout", "1.5"]);
    let waited = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(8),
        "{waited:?}"
    );
    assert!(stderr.contains("gave up after"), "{stderr}");
}
