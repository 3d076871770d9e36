//! `--proc-root`: files captured in a namespace, read from the host. The
//! report gives no advice that acts on this host (--wait, --free are
//! rejected with --proc-root), counts its estimate from the capture, and
//! says when net/tcp6 is missing.
mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use common::{sockets, Netns};

struct Capture(PathBuf);

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// net/tcp and net/tcp6 of a namespace holding one server-side TIME_WAIT
/// on 9640, their modification time set `age` in the past.
fn captured(age: Duration) -> Capture {
    let ns = Netns::new();
    let addr: SocketAddr = "127.0.0.1:9640".parse().unwrap();
    ns.run(|| sockets::server_side_time_wait(addr, Default::default()));
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "twi-capture-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(dir.join("net")).unwrap();
    let captured_at = SystemTime::now() - age;
    for file in ["tcp", "tcp6"] {
        let text = ns.run(|| std::fs::read(format!("/proc/thread-self/net/{file}")).unwrap());
        let path = dir.join("net").join(file);
        std::fs::write(&path, text).unwrap();
        let handle = std::fs::File::options().write(true).open(&path).unwrap();
        handle.set_modified(captured_at).unwrap();
    }
    Capture(dir)
}

fn report(dir: &Path) -> Output {
    Command::new(common::BIN)
        .args(["--port", "9640", "--proc-root"])
        .arg(dir)
        .output()
        .unwrap()
}

#[test]
fn captured_reports_advise_nothing_this_host_cannot_do() {
    require_netns!();
    let capture = captured(Duration::from_secs(10));
    let out = report(&capture.0);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let advice = text.split("What to do").nth(1).expect("advice");
    assert!(!advice.contains("--wait"), "{text}");
    assert!(!advice.contains("--free"), "{text}");
    let second = text.lines().nth(1).unwrap_or_default();
    assert!(
        second.starts_with("free ~") && second.contains("after the capture (files modified "),
        "{second}"
    );
    assert!(
        second.contains("10s ago") || second.contains("11s ago"),
        "{second}"
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // An old capture: the estimate has passed on that host.
    let old = captured(Duration::from_secs(3600));
    let text = String::from_utf8_lossy(&report(&old.0).stdout).into_owned();
    assert!(text.contains("has likely freed since"), "{text}");
}

#[test]
fn a_missing_tcp6_is_said() {
    require_netns!();
    let capture = captured(Duration::ZERO);
    std::fs::remove_file(capture.0.join("net/tcp6")).unwrap();
    let out = report(&capture.0);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("tw-inspect: warning: ") && stderr.contains("net/tcp6 is missing"),
        "{stderr}"
    );
}
