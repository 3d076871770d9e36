//! Thousands of blockers: the human report leads with the verdict and
//! summarises alike sockets (the JSON keeps every one, `--verbose` lists
//! them all), and `--free --dry-run` does not print a line per socket.
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

use common::{json, Netns};

const TIME_WAITS: usize = 5000;

/// Leaves `count` server-side TIME_WAITs on `addr`: the server closes each
/// accepted connection first. Call inside the namespace.
fn server_side_time_waits(addr: SocketAddr, count: usize) {
    let listener = TcpListener::bind(addr).unwrap();
    for _ in 0..count {
        let mut client = TcpStream::connect(addr).unwrap();
        let (server, _) = listener.accept().unwrap();
        drop(server);
        // The client reads the server's FIN before it closes: the server's
        // side is the one left in TIME_WAIT.
        let mut byte = [0u8; 1];
        assert_eq!(client.read(&mut byte).unwrap(), 0);
        let _ = client.flush();
    }
}

fn lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn thousands_of_time_waits_make_a_short_report() {
    require_netns!();
    let ns = Netns::new();
    let port = 9620;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // A wide ephemeral range: fewer client ports reused while their old
    // connection's TIME_WAIT lives (a SYN may recycle it).
    let widened = ns
        .exec("sysctl")
        .args(["-qw", "net.ipv4.ip_local_port_range=10000 65000"])
        .status()
        .unwrap();
    assert!(widened.success());
    ns.run(|| server_side_time_waits(addr, TIME_WAITS + TIME_WAITS / 8));
    let witness = ns.ss(&["-tanH", "state", "time-wait", &format!("sport = :{port}")]);
    let on_port = witness.lines().count();
    assert!(
        on_port >= TIME_WAITS,
        "only {on_port} TIME_WAITs on the port"
    );

    let out = ns.tw_inspect(["--port", &port.to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let report = lines(&out.stdout);
    assert!(
        report.len() < 60,
        "{} lines for {on_port} blockers:\n{}",
        report.len(),
        report[..80.min(report.len())].join("\n")
    );
    assert!(
        report[0].starts_with("bind 0.0.0.0:") && report[0].ends_with("BLOCKED"),
        "the verdict is not first: {:?}",
        report[0]
    );
    let text = report.join("\n");
    assert!(
        text.contains(&format!("{} more TIME_WAIT, all blocking", on_port - 3)),
        "{text}"
    );
    assert!(text.contains("peers 127.0.0.1, ports "), "{text}");
    assert!(
        text.contains(&format!("{on_port} TIME_WAIT sockets")),
        "{text}"
    );
    assert!(text.contains(&format!("{on_port} sockets: TIME_WAIT {on_port}")));

    let out = ns.tw_inspect(["--port", &port.to_string(), "--verbose"]);
    let verbose = lines(&out.stdout);
    assert!(
        verbose.len() > 2 * on_port,
        "--verbose: {} lines",
        verbose.len()
    );

    let out = ns.tw_inspect(["--port", &port.to_string(), "--json"]);
    let doc = json(&out);
    assert_eq!(
        doc["verdict"]["blockers"].as_array().unwrap().len(),
        on_port
    );
    assert_eq!(doc["sockets"].as_array().unwrap().len(), on_port);

    // The listing is what was asked for: every socket.
    let out = ns.tw_inspect(["--state", "time-wait"]);
    assert!(lines(&out.stdout).len() > on_port);

    let out = ns.tw_inspect(["--port", &port.to_string(), "--free", "--dry-run"]);
    let stderr = lines(&out.stderr);
    if stderr
        .iter()
        .any(|l| l.contains("needs the sock_diag source"))
    {
        eprintln!("SKIP the --free part: no sock_diag here");
        return;
    }
    assert!(
        stderr.len() < 10,
        "--free --dry-run: {} lines on stderr",
        stderr.len()
    );
    assert!(
        stderr[0].contains(&format!("would destroy {on_port} socket(s)")),
        "{stderr:?}"
    );
    assert!(
        stderr.iter().any(|l| l.contains("more TIME_WAIT")),
        "{stderr:?}"
    );
}
