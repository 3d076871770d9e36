//! The CLI's listing and JSON against real sockets in a fresh namespace, with
//! `ss` as the outside witness; and bad input, which needs no kernel.
mod common;

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener, TcpStream};

use common::{json, sockets, Netns};
use serde_json::Value;

fn stderr_line(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_one_line_error(args: &[&str]) {
    let out = std::process::Command::new(common::BIN)
        .args(args)
        .output()
        .unwrap();
    let stderr = stderr_line(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "{args:?}: not one line: {stderr:?}"
    );
    assert!(out.stdout.is_empty(), "{args:?}: wrote to stdout");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
}

#[test]
fn bad_flags_get_one_line_and_exit_2() {
    assert_one_line_error(&["--port", "70000"]);
    assert_one_line_error(&["--port", "abc"]);
    assert_one_line_error(&["--port", "0"]);
    assert_one_line_error(&["--state", "sleepy"]);
    assert_one_line_error(&["--source", "carrier-pigeon"]);
    assert_one_line_error(&["--port", "80", "--addr", "300.1.1.1"]);
    assert_one_line_error(&["--port", "80", "--wait", "--timeout", "soon"]);
    assert_one_line_error(&["--interval", "-3"]);
    assert_one_line_error(&["--no-such-flag"]);
}

#[test]
fn missing_proc_root_is_one_line_and_exit_2() {
    assert_one_line_error(&["--proc-root", "/nonexistent/tw-inspect", "--json"]);
    let empty = tempdir("empty-root");
    assert_one_line_error(&["--proc-root", empty.to_str().unwrap(), "--json"]);
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tw-inspect-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn sockets_of(doc: &Value) -> &Vec<Value> {
    doc["sockets"].as_array().expect("sockets array")
}

#[test]
fn restart_case_shows_server_side_time_wait_from_both_sources() {
    require_netns!();
    let ns = Netns::new();
    let addr: SocketAddr = "127.0.0.1:9527".parse().unwrap();
    let client = ns.run(|| sockets::server_side_time_wait(addr, sockets::Opts::default()));
    for source in ["netlink", "proc"] {
        let out = ns.tw_inspect(["--port", "9527", "--json", "--no-probe", "--source", source]);
        let doc = json(&out);
        assert_eq!(doc["schema_version"], 1);
        assert_eq!(doc["source"], source);
        assert_eq!(doc["port"], 9527);
        let tw: Vec<&Value> = sockets_of(&doc)
            .iter()
            .filter(|s| s["state"] == "TIME_WAIT")
            .collect();
        assert_eq!(tw.len(), 1, "{source}: {doc:#}");
        let tw = tw[0];
        assert_eq!(tw["local_port"], 9527);
        assert_eq!(tw["local_addr"], "127.0.0.1");
        assert_eq!(tw["remote_port"], client.port());
        assert_eq!(tw["timer"], "timewait");
        assert_eq!(tw["inode"], 0);
        assert_eq!(tw["processes"].as_array().unwrap().len(), 0);
        let expires = tw["expires_ms"].as_u64().unwrap();
        assert!(
            expires > 0 && expires <= 60_000,
            "{source}: expires_ms {expires}"
        );
        assert_eq!(doc["counts"]["TIME_WAIT"], 1);
        // The restart case blocks a plain bind.
        assert_eq!(
            out.status.code(),
            Some(1),
            "{source}: {}",
            stderr_line(&out)
        );
    }
}

/// A python3 listener inside the namespace; prints "ready" once listening.
fn python_listener(ns: &Netns, port: u16) -> common::ChildGuard {
    let script = format!(
        "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',{port}))\ns.listen()\nprint('ready',flush=True)\ntime.sleep(120)"
    );
    let mut child = ns.spawn("python3", &["-c", &script]);
    assert_eq!(child.read_line(), "ready");
    child
}

#[test]
fn listener_row_names_its_process() {
    require_netns!();
    let ns = Netns::new();
    let server = python_listener(&ns, 8080);
    for source in ["netlink", "proc"] {
        let out = ns.tw_inspect(["--port", "8080", "--json", "--no-probe", "--source", source]);
        let doc = json(&out);
        let listen = sockets_of(&doc)
            .iter()
            .find(|s| s["state"] == "LISTEN")
            .unwrap_or_else(|| panic!("{source}: no LISTEN: {doc:#}"));
        let processes = listen["processes"].as_array().unwrap();
        assert!(
            processes
                .iter()
                .any(|p| p["pid"] == server.pid() && p["comm"] == "python3"),
            "{source}: {listen:#}"
        );
        assert!(processes[0]["cmdline"].as_str().unwrap().contains("socket"));
        assert_eq!(out.status.code(), Some(1));
    }
    // The human table names it too.
    let out = ns.tw_inspect(["--port", "8080", "--no-probe"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("{}/python3", server.pid())),
        "{text}"
    );
    assert!(text.contains("LISTEN"), "{text}");
}

/// (state, local, remote) as `ss -tanH` prints them, normalised.
fn ss_set(ns: &Netns) -> BTreeSet<(String, String, String)> {
    ns.ss(&["-tanH"])
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let state = match *f.first()? {
                "ESTAB" => "ESTABLISHED".to_string(),
                other => other.replace('-', "_"),
            };
            // FIN-WAIT-2 → FIN_WAIT2, SYN-RECV → SYN_RECV, etc.
            let state = state.replace("WAIT_2", "WAIT2").replace("WAIT_1", "WAIT1");
            Some((state, norm_ss_addr(f.get(3)?), norm_ss_addr(f.get(4)?)))
        })
        .collect()
}

fn norm_ss_addr(text: &str) -> String {
    let (host, port) = text.rsplit_once(':').unwrap();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = match host {
        "*" => "::".to_string(),
        other => other.parse::<std::net::IpAddr>().unwrap().to_string(),
    };
    // ss prints a LISTEN socket's peer port 0 as `*`.
    let port = if port == "*" { "0" } else { port };
    format!("{host}|{port}")
}

fn json_set(doc: &Value) -> BTreeSet<(String, String, String)> {
    sockets_of(doc)
        .iter()
        .map(|s| {
            (
                s["state"].as_str().unwrap().to_string(),
                format!("{}|{}", s["local_addr"].as_str().unwrap(), s["local_port"]),
                format!(
                    "{}|{}",
                    s["remote_addr"].as_str().unwrap(),
                    s["remote_port"]
                ),
            )
        })
        .collect()
}

#[test]
fn full_listing_matches_ss_from_both_sources() {
    require_netns!();
    let ns = Netns::new();
    let _kept = ns.run(|| {
        let mut kept: Vec<Box<dyn std::any::Any + Send>> = Vec::new();
        let v4 = TcpListener::bind("127.0.0.1:7000").unwrap();
        let v6 = TcpListener::bind("[::1]:7001").unwrap();
        for listener in [&v4, &v6] {
            for _ in 0..150 {
                let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
                let (server, _) = listener.accept().unwrap();
                kept.push(Box::new((client, server)));
            }
        }
        for i in 0..100u16 {
            let addr: SocketAddr = format!("127.0.0.{}:{}", 1 + i % 3, 7100 + i)
                .parse()
                .unwrap();
            sockets::server_side_time_wait(addr, sockets::Opts::default());
        }
        kept.push(Box::new(v4));
        kept.push(Box::new(v6));
        kept
    });
    let expected = ss_set(&ns);
    assert!(
        expected.len() > 700,
        "scenario too small: {}",
        expected.len()
    );
    for source in ["netlink", "proc"] {
        let out = ns.tw_inspect(["--json", "--source", source]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr_line(&out));
        let got = json_set(&json(&out));
        let missing: Vec<_> = expected.difference(&got).take(5).collect();
        let extra: Vec<_> = got.difference(&expected).take(5).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{source}: missing {missing:?} extra {extra:?}"
        );
    }
}

#[test]
fn state_filter_and_human_counts() {
    require_netns!();
    let ns = Netns::new();
    let _listener = ns.run(|| {
        sockets::server_side_time_wait("127.0.0.1:9000".parse().unwrap(), sockets::Opts::default());
        TcpListener::bind("127.0.0.1:9001").unwrap()
    });
    let out = ns.tw_inspect(["--json", "--state", "time-wait"]);
    let doc = json(&out);
    assert!(sockets_of(&doc).iter().all(|s| s["state"] == "TIME_WAIT"));
    assert_eq!(sockets_of(&doc).len(), 1);
    let out = ns.tw_inspect(["--state", "listen", "--state", "time-wait"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("2 sockets: TIME_WAIT 1, LISTEN 1"), "{text}");
    assert!(text.contains("timewait "), "{text}");
    assert!(!text.contains('\x1b'), "color in a pipe: {text:?}");
}
