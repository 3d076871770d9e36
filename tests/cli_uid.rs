//! `--uid`: SO_REUSEPORT shares a port only within one uid, so the server's
//! uid decides, not the caller's. A root-owned SO_REUSEPORT listener in a
//! namespace, judged for a bind as root and as another uid; the kernel's
//! own bind, made by a thread switched to that uid, is the judge.
mod common;

use std::net::SocketAddr;

use common::{json, sockets, Netns};

const NOBODY: u32 = 65534;

/// Binds `addr` with SO_REUSEPORT as `uid` (a thread of its own, switched by
/// the raw setresuid(2), which changes only that thread): true when the
/// kernel accepts. Call inside the namespace.
fn kernel_allows_as(uid: u32, addr: SocketAddr) -> bool {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                // SAFETY: a raw syscall with integer arguments; it changes
                // only this thread, which ends right after.
                let rc = unsafe {
                    libc::syscall(
                        libc::SYS_setresuid,
                        libc::c_ulong::from(uid),
                        libc::c_ulong::from(uid),
                        libc::c_ulong::from(uid),
                    )
                };
                assert_eq!(rc, 0, "setresuid: {}", std::io::Error::last_os_error());
                let opts = sockets::Opts {
                    reuseport: true,
                    ..Default::default()
                };
                match sockets::bind_with(addr, opts) {
                    Ok(_) => true,
                    Err(error) => {
                        assert_eq!(error.raw_os_error(), Some(libc::EADDRINUSE));
                        false
                    }
                }
            })
            .join()
            .unwrap()
    })
}

#[test]
fn the_servers_uid_decides_so_reuseport() {
    require_netns!();
    let ns = Netns::new();
    let addr: SocketAddr = "127.0.0.1:9650".parse().unwrap();
    let reuseport = sockets::Opts {
        reuseport: true,
        ..Default::default()
    };
    let _listener = ns.run(|| sockets::listen_with(addr, reuseport));
    // The judge: another uid is refused, the listener's own uid shares.
    assert!(!ns.run(|| kernel_allows_as(NOBODY, addr)));
    assert!(ns.run(|| kernel_allows_as(0, addr)));

    let base = [
        "--port",
        "9650",
        "--addr",
        "127.0.0.1",
        "--reuseport",
        "--json",
    ];
    let out = ns.tw_inspect(base);
    assert_eq!(out.status.code(), Some(0), "as root: {out:?}");

    let nobody = NOBODY.to_string();
    let out = ns.tw_inspect(base.iter().copied().chain(["--uid", nobody.as_str()]));
    assert_eq!(out.status.code(), Some(1), "as uid {NOBODY}: {out:?}");
    let doc = json(&out);
    let verdict = &doc["verdict"];
    assert_eq!(verdict["blocked"], true);
    // Probed as that uid, not decided by the rules alone.
    assert_eq!(verdict["probes"][0]["question"], "the intended bind");
    assert_eq!(verdict["probes"][0]["errno"], "EADDRINUSE");
    let why = verdict["blockers"][0]["why"].as_str().unwrap();
    assert!(
        why.contains(&format!("the bind runs as uid {NOBODY}")),
        "{why}"
    );

    // Without probes the rules alone agree.
    let out = ns.tw_inspect(
        base.iter()
            .copied()
            .chain(["--uid", nobody.as_str(), "--no-probe"]),
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");

    // A user name works as well as a number.
    let out = ns.tw_inspect(base.iter().copied().chain(["--uid", "root"]));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn a_caller_that_cannot_switch_uid_does_not_probe_as_itself() {
    require_netns!();
    if std::process::Command::new("setpriv")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIP: setpriv (util-linux) is not installed");
        return;
    }
    let ns = Netns::new();
    let addr: SocketAddr = "127.0.0.1:9651".parse().unwrap();
    let reuseport = sockets::Opts {
        reuseport: true,
        ..Default::default()
    };
    let _listener = ns.run(|| sockets::listen_with(addr, reuseport));
    // As nobody, asking about a server running as root: a probe as nobody
    // would be refused where root's bind succeeds.
    assert!(ns.run(|| kernel_allows_as(0, addr)));
    let out = ns
        .tw_inspect_as_nobody()
        .args([
            "--port",
            "9651",
            "--addr",
            "127.0.0.1",
            "--reuseport",
            "--uid",
            "0",
            "--json",
        ])
        .output()
        .unwrap();
    // Undecided by the rules (the listener's SO_REUSEPORT is not in the
    // table) and not probed: blocked, with the reason.
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let doc = json(&out);
    assert_eq!(doc["verdict"]["probes"], serde_json::json!([]));
    let advice = doc["verdict"]["advice"].to_string();
    assert!(advice.contains("so that it can probe as uid 0"), "{advice}");
    let explanation = doc["verdict"]["explanation"].as_str().unwrap();
    assert!(
        explanation.contains("cannot switch to it (that needs CAP_SETUID)"),
        "{explanation}"
    );
}
