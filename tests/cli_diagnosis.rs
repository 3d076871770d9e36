//! The `--port` verdict through the CLI, judged by the kernel's answer to the
//! same bind (the library-level matrix is tests/diagnosis_matrix.rs).
mod common;

use std::net::SocketAddr;

use common::{json, sockets, Netns};

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

#[test]
fn client_closed_first_is_free_and_says_so() {
    require_netns!();
    let ns = Netns::new();
    let client = ns.run(|| sockets::client_side_time_wait(addr("127.0.0.1:9527")));
    assert!(ns.run(|| sockets::kernel_allows(addr("0.0.0.0:9527"), Default::default())));
    let out = ns.tw_inspect(["--port", "9527", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let doc = json(&out);
    let verdict = &doc["verdict"];
    assert_eq!(verdict["blocked"], false);
    assert_eq!(verdict["blockers"].as_array().unwrap().len(), 0);
    assert_eq!(verdict["probes"][0]["ok"], true);
    let explanation = verdict["explanation"].as_str().unwrap();
    assert!(
        explanation.contains(&client.port().to_string()),
        "{explanation}"
    );
    assert!(
        explanation.to_lowercase().contains("client"),
        "{explanation}"
    );
}

#[test]
fn captured_tables_are_judged_by_rules_alone() {
    require_netns!();
    let ns = Netns::new();
    ns.run(|| sockets::server_side_time_wait(addr("127.0.0.1:9527"), Default::default()));
    let dir = std::env::temp_dir().join(format!("twi-captured-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("net")).unwrap();
    for file in ["tcp", "tcp6"] {
        let text = ns.run(|| std::fs::read(format!("/proc/thread-self/net/{file}")).unwrap());
        std::fs::write(dir.join("net").join(file), text).unwrap();
    }
    // Read on the host (not in the namespace): the files alone decide.
    let out = std::process::Command::new(common::BIN)
        .args(["--port", "9527", "--json", "--proc-root"])
        .arg(&dir)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = json(&out);
    assert_eq!(doc["source"], "proc");
    let verdict = &doc["verdict"];
    assert_eq!(verdict["probes"], serde_json::json!([]));
    assert_eq!(verdict["blockers"][0]["reason"], "time_wait");
    assert!(verdict["explanation"]
        .as_str()
        .unwrap()
        .contains("rules alone"));
}

#[test]
fn reuseaddr_on_both_sides_is_free_and_on_new_side_only_is_blocked() {
    require_netns!();
    let ns = Netns::new();
    let reuse = sockets::Opts {
        reuseaddr: true,
        ..Default::default()
    };
    ns.run(|| {
        sockets::server_side_time_wait(addr("127.0.0.1:9527"), reuse);
        sockets::server_side_time_wait(addr("127.0.0.1:9528"), Default::default());
    });
    let both = ns.tw_inspect(["--port", "9527", "--reuseaddr", "--json"]);
    assert_eq!(
        json(&both)["verdict"]["blocked"],
        !ns.run(|| sockets::kernel_allows(addr("0.0.0.0:9527"), reuse))
    );
    assert_eq!(both.status.code(), Some(0));
    let new_only = ns.tw_inspect(["--port", "9528", "--reuseaddr", "--json"]);
    assert!(!ns.run(|| sockets::kernel_allows(addr("0.0.0.0:9528"), reuse)));
    assert_eq!(new_only.status.code(), Some(1));
    let doc = json(&new_only);
    let explanation = doc["verdict"]["explanation"].as_str().unwrap();
    assert!(
        explanation.contains("did not set SO_REUSEADDR"),
        "{explanation}"
    );
}
