//! Output into a pipe whose reader goes away (`tw-inspect --json | head -c1`):
//! the program ends quietly, no panic and no error line, with exit 0 for a
//! listing and the verdict's code with --port. And a closed stderr pipe does
//! not turn a clean error (exit 2) into a panic (101). The tables come from a
//! generated --proc-root capture, megabytes of output, so the writes really
//! hit EPIPE; no root needed.
mod common;
mod support;

use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{text, TempDir};

const TCP_HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";

/// 40k TIME_WAITs on 127.0.0.1:4242 (they block a bind there) and 40k on
/// 127.0.0.2:4243 (they do not block 127.0.0.1:4243).
fn big_capture() -> TempDir {
    let dir = TempDir::new("pipe");
    std::fs::create_dir_all(dir.path().join("net")).unwrap();
    let mut body = String::from(TCP_HEADER);
    body.push('\n');
    for i in 0..80_000usize {
        let (ip, port) = if i % 2 == 0 {
            ("0100007F", 4242)
        } else {
            ("0200007F", 4243)
        };
        let _ = writeln!(
            body,
            "{i:4}: {ip}:{port:04X} 0100007F:{:04X} 06 00000000:00000000 03:{:08X} 00000000     0        0 0 3 00000000c3d940c5",
            10_000 + i % 50_000,
            500 + i % 5000
        );
    }
    std::fs::write(dir.path().join("net/tcp"), body).unwrap();
    // An IPv6 table with no row: a missing one is warned about on stderr.
    let tcp6_header = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
    std::fs::write(dir.path().join("net/tcp6"), tcp6_header).unwrap();
    dir
}

/// Runs the binary, reads `keep` bytes of its stdout, closes the pipe, and
/// returns (exit code, stderr).
fn cut_short(root: &Path, args: &[&str], keep: usize) -> (Option<i32>, String) {
    let mut child = Command::new(common::BIN)
        .arg("--proc-root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = vec![0u8; keep];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout); // the reader goes away
    let mut stderr = child.stderr.take().unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?}: still running after the reader left");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = Vec::new();
    stderr.read_to_end(&mut err).unwrap();
    (status.code(), text(&err))
}

#[test]
fn a_listing_into_a_closed_pipe_ends_quietly_with_exit_0() {
    let root = big_capture();
    for args in [&["--json"][..], &[][..], &["--state", "time-wait"][..]] {
        for keep in [1, 70_000] {
            let (code, stderr) = cut_short(root.path(), args, keep);
            assert_eq!(stderr, "", "{args:?}: stderr not empty");
            assert_eq!(code, Some(0), "{args:?}");
        }
    }
}

#[test]
fn a_report_into_a_closed_pipe_keeps_the_verdicts_exit_code() {
    let root = big_capture();
    // Blocked: exit 1 even though the report was cut short.
    for args in [
        &["--port", "4242", "--addr", "127.0.0.1", "--json"][..],
        &["--port", "4242", "--addr", "127.0.0.1"][..],
    ] {
        let (code, stderr) = cut_short(root.path(), args, 1);
        assert_eq!(stderr, "", "{args:?}");
        assert_eq!(
            code,
            Some(1),
            "{args:?}: a cut-short report must not say free"
        );
    }
    // Free: exit 0.
    for args in [
        &["--port", "4243", "--addr", "127.0.0.1", "--json"][..],
        &["--port", "4243", "--addr", "127.0.0.1"][..],
    ] {
        let (code, stderr) = cut_short(root.path(), args, 1);
        assert_eq!(stderr, "", "{args:?}");
        assert_eq!(code, Some(0), "{args:?}");
    }
}

#[test]
fn through_a_shell_pipeline_with_head() {
    let root = big_capture();
    let script = format!(
        "{} --proc-root {} --json | head -c1 >/dev/null; echo \"${{PIPESTATUS[0]}}\"",
        common::BIN,
        root.path().display()
    );
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    assert_eq!(text(&out.stdout).trim(), "0");
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn a_closed_stderr_pipe_does_not_turn_an_error_into_a_panic() {
    for args in [
        &["--proc-root", "/nonexistent/tw-inspect"][..],
        &["--port", "70000"][..],
        &["--no-such-flag"][..],
    ] {
        let mut child = Command::new(common::BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stderr.take()); // nobody reads the error line
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(2), "{args:?}: {status:?}");
    }
}
