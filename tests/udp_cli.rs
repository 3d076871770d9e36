//! UDP through the CLI: which socket holds a UDP port, whether SO_REUSEADDR
//! or SO_REUSEPORT gets past it, judged by the kernel's real UDP bind(); a
//! TCP report that says a UDP socket uses the port too.
mod common;

use std::net::SocketAddr;
use std::process::Output;
use std::time::Duration;

use common::sockets::{self, Opts};
use common::{json, Netns};

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn reuseaddr() -> Opts {
    Opts {
        reuseaddr: true,
        ..Opts::default()
    }
}

#[test]
fn a_udp_holder_blocks_a_udp_bind_and_the_kernel_agrees() {
    require_netns!();
    let ns = Netns::new();
    let _held = ns.run(|| sockets::bind_udp(addr("0.0.0.0:47201"), Opts::default()).unwrap());
    let kernel_blocked =
        ns.run(|| sockets::bind_udp(addr("0.0.0.0:47201"), Opts::default()).is_err());
    assert!(kernel_blocked);
    let out = ns.tw_inspect(["--port", "47201", "--udp", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc = json(&out);
    let verdict = &doc["verdict"];
    assert_eq!(verdict["bind"]["protocol"], "udp");
    assert_eq!(verdict["blocked"], true);
    assert_eq!(verdict["blockers"][0]["protocol"], "udp");
    assert_eq!(verdict["blockers"][0]["state"], "CLOSE");
    assert_eq!(verdict["probes"][0]["errno"], "EADDRINUSE");

    // The same port for a TCP bind: free, and the report says why the user
    // may have looked.
    let kernel_allows_tcp =
        ns.run(|| sockets::kernel_allows(addr("0.0.0.0:47201"), Default::default()));
    assert!(kernel_allows_tcp);
    let out = ns.tw_inspect(["--port", "47201"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("a UDP socket (")
            && text.contains("also uses port 47201; it does not block a TCP bind"),
        "{text}"
    );
}

#[test]
fn reuseaddr_on_both_sides_shares_a_udp_port() {
    require_netns!();
    let ns = Netns::new();
    let _held = ns.run(|| sockets::bind_udp(addr("0.0.0.0:47202"), reuseaddr()).unwrap());
    let kernel_allows = ns.run(|| sockets::bind_udp(addr("0.0.0.0:47202"), reuseaddr()).is_ok());
    assert!(kernel_allows);
    let out = ns.tw_inspect(["--port", "47202", "--udp", "--reuseaddr", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["verdict"]["blocked"], false);

    // Without SO_REUSEADDR: blocked, and the advice names SO_REUSEADDR,
    // because the probe with it succeeded.
    let out = ns.tw_inspect(["--port", "47202", "--udp", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc = json(&out);
    let advice = doc["verdict"]["advice"].to_string();
    assert!(advice.contains("SO_REUSEADDR"), "{advice}");
    assert!(advice.contains("multicast"), "{advice}");
}

#[test]
fn free_refuses_for_udp_and_names_the_holder() {
    require_netns!();
    let ns = Netns::new();
    let _held = ns.run(|| sockets::bind_udp(addr("0.0.0.0:47203"), Opts::default()).unwrap());
    let out = ns.tw_inspect(["--port", "47203", "--udp", "--free", "--yes"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("UDP has none"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn wait_works_for_udp_once_the_holder_closes() {
    require_netns!();
    let ns = Netns::new();
    let held = ns.run(|| sockets::bind_udp(addr("0.0.0.0:47204"), Opts::default()).unwrap());
    let closer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(2));
        drop(held);
    });
    let out = ns.tw_inspect(["--port", "47204", "--udp", "--wait", "--timeout", "20"]);
    closer.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn the_udp_listing_equals_ss() {
    require_netns!();
    let ns = Netns::new();
    let _a = ns.run(|| sockets::bind_udp(addr("127.0.0.1:47205"), Opts::default()).unwrap());
    let _b = ns.run(|| sockets::bind_udp(addr("[::1]:47206"), Opts::default()).unwrap());
    let _tcp = ns.run(|| sockets::listen_with(addr("127.0.0.1:47207"), Opts::default()));
    let out = ns.tw_inspect(["--udp", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc = json(&out);
    assert!(doc["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["protocol"] == "udp"));
    assert_eq!(
        common::local_endpoints(&doc),
        ns.ss_local_endpoints(&["-uanH"])
    );
    // --proto all lists both; a bind is one or the other.
    let out = ns.tw_inspect(["--proto", "all", "--json"]);
    assert_eq!(json(&out)["sockets"].as_array().unwrap().len(), 3);
    let out = ns.tw_inspect(["--proto", "all", "--port", "47205"]);
    assert_eq!(out.status.code(), Some(2));
}
