//! `--netns` and `--all-netns`: the port where the server runs, read from
//! another namespace, judged by the kernel's own bind() inside the server's.
mod common;

use std::net::SocketAddr;
use std::process::Output;

use common::{json, sockets, Netns};

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The namespace's inode, as `ls -l /run/netns/NAME` would show it.
fn inode(ns: &Netns) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/run/netns/{}", ns.name))
        .unwrap()
        .ino()
}

#[test]
fn a_time_wait_in_another_namespace_is_found_by_name_pid_and_path() {
    require_netns!();
    let server = Netns::new();
    let elsewhere = Netns::new();
    server.run(|| sockets::server_side_time_wait(addr("127.0.0.1:47101"), Default::default()));
    // Seen from elsewhere without --netns: nothing there.
    let out = elsewhere.tw_inspect(["--port", "47101", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let kernel_allows =
        server.run(|| sockets::kernel_allows(addr("0.0.0.0:47101"), Default::default()));
    assert!(
        !kernel_allows,
        "the restart fails in the server's namespace"
    );
    let holder = server.spawn("sleep", &["60"]);
    let path = format!("/run/netns/{}", server.name);
    for form in [server.name.clone(), holder.pid().to_string(), path] {
        let out = elsewhere.tw_inspect(["--port", "47101", "--json", "--netns", &form]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "--netns {form}: {}",
            stderr(&out)
        );
        let doc = json(&out);
        assert_eq!(doc["netns"]["inode"], inode(&server), "--netns {form}");
        let verdict = &doc["verdict"];
        assert_eq!(verdict["blocked"], true);
        assert_eq!(verdict["blockers"][0]["state"], "TIME_WAIT");
        // The probe ran in the server's namespace: the kernel's answer there.
        assert_eq!(verdict["probes"][0]["ok"], kernel_allows, "--netns {form}");
        assert_eq!(verdict["probes"][0]["errno"], "EADDRINUSE");
    }
    let out = elsewhere.tw_inspect(["--port", "47101", "--netns", &server.name]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("net:[{}]", inode(&server))),
        "{text}"
    );
}

#[test]
fn free_in_another_namespace_frees_the_port_there() {
    require_netns!();
    let server = Netns::new();
    let elsewhere = Netns::new();
    server.run(|| sockets::server_side_time_wait(addr("127.0.0.1:47102"), Default::default()));
    let listener = server.run(|| sockets::listen_with(addr("127.0.0.1:47103"), Default::default()));
    let out = elsewhere.tw_inspect([
        "--port",
        "47102",
        "--free",
        "--yes",
        "--json",
        "--netns",
        &server.name,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["destroyed"].as_array().unwrap().len(), 1);
    assert!(server.run(|| sockets::kernel_allows(addr("0.0.0.0:47102"), Default::default())));
    assert!(
        server.ss(&["-tlnH"]).contains(":47103"),
        "the listener elsewhere is untouched"
    );
    drop(listener);
}

#[test]
fn the_listing_of_another_namespace_equals_ss_there() {
    require_netns!();
    let server = Netns::new();
    let elsewhere = Netns::new();
    let _listener =
        server.run(|| sockets::listen_with(addr("127.0.0.1:47104"), Default::default()));
    server.run(|| sockets::server_side_time_wait(addr("127.0.0.1:47105"), Default::default()));
    let out = elsewhere.tw_inspect(["--json", "--netns", &server.name]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        common::local_endpoints(&json(&out)),
        server.ss_local_endpoints(&["-tanH"])
    );
}

#[test]
fn all_netns_finds_exactly_the_namespaces_that_hold_the_port() {
    require_netns!();
    let holding_tw = Netns::new();
    let holding_listener = Netns::new();
    let empty = Netns::new();
    holding_tw.run(|| sockets::server_side_time_wait(addr("127.0.0.1:47106"), Default::default()));
    let _listener =
        holding_listener.run(|| sockets::listen_with(addr("127.0.0.1:47106"), Default::default()));
    let out = empty.tw_inspect(["--port", "47106", "--all-netns", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc = json(&out);
    let found: Vec<u64> = doc["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ns| ns["netns"]["inode"].as_u64().unwrap())
        .collect();
    for (ns, state) in [(&holding_tw, "TIME_WAIT"), (&holding_listener, "LISTEN")] {
        let entry = doc["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["netns"]["inode"] == inode(ns))
            .unwrap_or_else(|| panic!("{} not found in {found:?}", ns.name));
        assert_eq!(entry["netns"]["name"], ns.name.as_str());
        assert_eq!(entry["sockets"][0]["state"], state);
        assert_eq!(entry["verdict"]["blocked"], true);
    }
    assert!(!found.contains(&inode(&empty)), "{found:?}");
    let mut sorted = found.clone();
    sorted.sort_unstable();
    assert_eq!(found, sorted, "in inode order");

    // The listing of every namespace includes the empty one, with counts.
    let out = empty.tw_inspect(["--all-netns", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc = json(&out);
    let empty_entry = doc["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["netns"]["inode"] == inode(&empty))
        .expect("every namespace is listed");
    assert_eq!(empty_entry["sockets"], serde_json::json!([]));
}

#[test]
fn bad_namespaces_are_one_line_and_exit_2() {
    require_netns!();
    let ns = Netns::new();
    let file = std::env::temp_dir().join(format!("twi-not-a-netns-{}", std::process::id()));
    std::fs::write(&file, "x").unwrap();
    let cases = [
        ("twi-no-such-namespace", "not found"),
        (file.to_str().unwrap(), "not a network namespace"),
        ("/proc/self/ns/mnt", "not a network namespace"),
        ("4194304", "no such process"),
    ];
    for (spec, says) in cases {
        let out = ns.tw_inspect(["--port", "47107", "--netns", spec]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "--netns {spec}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(says), "--netns {spec}: {err}");
        assert!(out.stdout.is_empty());
    }
    let _ = std::fs::remove_file(file);
}

#[test]
fn wait_in_another_namespace_ends_when_the_holder_there_closes() {
    require_netns!();
    let server = Netns::new();
    let elsewhere = Netns::new();
    let listener = server.run(|| sockets::listen_with(addr("127.0.0.1:47108"), Default::default()));
    // The same port is busy where tw-inspect runs: only the server's counts.
    let _decoy = elsewhere.run(|| sockets::listen_with(addr("0.0.0.0:47108"), Default::default()));
    let closer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(2));
        drop(listener);
    });
    let out = elsewhere.tw_inspect([
        "--port",
        "47108",
        "--wait",
        "--timeout",
        "20",
        "--netns",
        &server.name,
    ]);
    closer.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// The dashboard's reading of every namespace: each namespace's table, and
/// a verdict exactly where the port is used.
#[test]
fn the_dashboard_reading_of_every_namespace() {
    use tw_inspect::model::ProtocolSet;
    use tw_inspect::session::{BindOptions, BindSpec, Session};
    use tw_inspect::source::SourceChoice;
    require_netns!();
    let holding = Netns::new();
    let empty = Netns::new();
    let _listener =
        holding.run(|| sockets::listen_with(addr("127.0.0.1:47109"), Default::default()));
    let spec = BindSpec {
        port: 47109,
        options: BindOptions::default(),
    };
    let session = Session::new(SourceChoice::Auto, None, true);
    let survey = empty
        .run(|| session.check_table_everywhere(Some(&spec), ProtocolSet::TCP))
        .expect("survey");
    let of = |ns: &Netns| {
        survey
            .answers
            .iter()
            .find(|(entry, _)| entry.id.inode == inode(ns))
            .map(|(_, check)| check)
            .unwrap_or_else(|| panic!("{} not read", ns.name))
    };
    let held = of(&holding);
    assert!(held.table.sockets.iter().any(|s| s.local.port() == 47109));
    let (verdict, _) = held
        .verdict
        .as_ref()
        .expect("a verdict where the port is used");
    assert!(verdict.blocked);
    let quiet = of(&empty);
    assert!(quiet.table.sockets.is_empty());
    assert!(quiet.verdict.is_none());
}
