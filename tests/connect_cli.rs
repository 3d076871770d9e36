//! `--connect` through the CLI: a narrowed port range full of TIME_WAITs to
//! one destination, judged by what the kernel's own connect() and bind(0)
//! then do inside the test's namespace (to its own loopback listeners).
mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Output;

use common::{json, sockets, Netns};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn sysctl(ns: &Netns, setting: &str) {
    let status = ns.exec("sysctl").args(["-qw", setting]).status().unwrap();
    assert!(status.success(), "sysctl {setting}");
}

/// A namespace whose 10-port range is all TIME_WAIT towards 127.0.0.1:80
/// (the client closed first), with listeners on :80 and :81.
fn exhausted() -> (Netns, TcpListener, TcpListener) {
    let ns = Netns::new();
    sysctl(&ns, "net.ipv4.ip_local_port_range=40000 40009");
    sysctl(&ns, "net.ipv4.tcp_tw_reuse=0");
    let (eighty, eighty_one) = ns.run(|| {
        let eighty = TcpListener::bind("127.0.0.1:80").unwrap();
        let eighty_one = TcpListener::bind("127.0.0.1:81").unwrap();
        for _ in 0..10 {
            let client = TcpStream::connect("127.0.0.1:80").unwrap();
            let (accepted, _) = eighty.accept().unwrap();
            drop(client); // the client closes first: TIME_WAIT on its port
            use std::io::Read;
            let _ = (&accepted).read(&mut [0u8; 1]);
            drop(accepted);
        }
        (eighty, eighty_one)
    });
    // tcp_tw_reuse_delay (1 s) passes, so a reuse verdict would be "now".
    std::thread::sleep(std::time::Duration::from_millis(1200));
    (ns, eighty, eighty_one)
}

fn kernel_connect(ns: &Netns, to: &str) -> Result<(), i32> {
    let to: SocketAddr = to.parse().unwrap();
    ns.run(|| {
        TcpStream::connect(to)
            .map(drop)
            .map_err(|e| e.raw_os_error().unwrap_or(0))
    })
}

#[test]
fn an_exhausted_range_fails_connect_to_that_destination_only() {
    require_netns!();
    let (ns, _eighty, _eighty_one) = exhausted();

    let out = ns.tw_inspect(["--connect", "127.0.0.1:80", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc = json(&out);
    let verdict = &doc["verdict"];
    assert_eq!(verdict["errno"], "EADDRNOTAVAIL");
    assert_eq!(verdict["range"], serde_json::json!([40000, 40009]));
    assert_eq!(verdict["time_wait_same_tuple"], 10);
    assert_eq!(verdict["reusable_now"], 0);
    assert_eq!(verdict["tw_reuse"], 0);
    assert_eq!(doc["connect"]["local_addr"], "127.0.0.1");
    let advice = verdict["advice"].to_string();
    assert!(advice.contains("tcp_tw_reuse"), "{advice}");
    assert!(!advice.contains("tcp_tw_recycle") && !advice.contains("tcp_fin_timeout"));

    let out = ns.tw_inspect(["--connect", "127.0.0.1:81", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["verdict"]["shared"], 10);

    // bind(0) before connect avoids every port in use; NO_PORT leaves the
    // choice to connect(), which shares ports across destinations.
    let out = ns.tw_inspect(["--connect", "127.0.0.1:81", "--bind-zero", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["verdict"]["errno"], "EADDRINUSE");
    assert_eq!(doc["verdict"]["probe"]["errno"], "EADDRINUSE");
    let out = ns.tw_inspect([
        "--connect",
        "127.0.0.1:81",
        "--bind-zero",
        "--no-port",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // The kernel's answer, last (a successful connect takes a port).
    let bind_zero = ns.run(|| {
        sockets::bind_with("127.0.0.1:0".parse().unwrap(), Default::default())
            .map(drop)
            .map_err(|e| e.raw_os_error())
    });
    assert_eq!(bind_zero, Err(Some(libc::EADDRINUSE)));
    assert_eq!(
        kernel_connect(&ns, "127.0.0.1:80"),
        Err(libc::EADDRNOTAVAIL)
    );
    assert_eq!(kernel_connect(&ns, "127.0.0.1:81"), Ok(()));
}

#[test]
fn tw_reuse_one_lets_connect_take_a_time_wait_over() {
    require_netns!();
    let (ns, _eighty, _eighty_one) = exhausted();
    sysctl(&ns, "net.ipv4.tcp_tw_reuse=1");
    let out = ns.tw_inspect(["--connect", "127.0.0.1:80", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let verdict = &json(&out)["verdict"];
    assert_eq!(verdict["reusable_now"], 10);
    assert_eq!(verdict["tw_reuse"], 1);
    assert_eq!(kernel_connect(&ns, "127.0.0.1:80"), Ok(()));
}

#[test]
fn the_pressure_view_names_the_destination_eating_the_ports() {
    require_netns!();
    let (ns, _eighty, _eighty_one) = exhausted();
    let out = ns.tw_inspect(["--connect", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc = json(&out);
    let top = &doc["pressure"]["destinations"][0];
    assert_eq!(top["remote_addr"], "127.0.0.1");
    assert_eq!(top["remote_port"], 80);
    assert_eq!(top["time_wait"], 10);
    assert_eq!(top["share"], 1.0);
    let out = ns.tw_inspect(["--connect"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("127.0.0.1:80") && text.contains("100.0%"),
        "{text}"
    );
    // Not a destination: one line, exit 2.
    let out = ns.tw_inspect(["--connect", "localhost:80"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
}
