//! Captured /proc/net/tcp{,6} files that are truncated, garbled, binary,
//! empty, not files at all, or huge, read with `--proc-root`. The contract:
//! either an answer whose rows are all true and whose skipped rows are
//! counted (human note, JSON `skipped_rows`), or exit 2 with one line and
//! nothing on stdout. Never a wrong row, a panic or a hang. No root needed.
mod common;
mod support;

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;
use support::{assert_one_line_failure, output_within, text, TempDir};

const TCP_HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     ";
const TCP6_HEADER: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";

/// A LISTEN row on 127.0.0.1:`port` in the kernel's format (17 fields).
fn listen_row(sl: usize, port: u16, inode: u64) -> String {
    format!(
        "{sl:4}: 0100007F:{port:04X} 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 {inode} 1 00000000aaea7a9c 100 0 0 10 0"
    )
}

/// A TIME_WAIT mini-socket on 127.0.0.1:`port`, peer port `peer`, with
/// `ticks` USER_HZ ticks left (12 fields).
fn time_wait_row(sl: usize, port: u16, peer: u16, ticks: u32) -> String {
    format!(
        "{sl:4}: 0100007F:{port:04X} 0100007F:{peer:04X} 06 00000000:00000000 03:{ticks:08X} 00000000     0        0 0 3 00000000c3d940c5"
    )
}

/// DIR/net/tcp with `tcp` (bytes) and, if given, DIR/net/tcp6.
fn root_with(name: &str, tcp: &[u8], tcp6: Option<&[u8]>) -> TempDir {
    let dir = TempDir::new(name);
    std::fs::create_dir_all(dir.path().join("net")).unwrap();
    std::fs::write(dir.path().join("net/tcp"), tcp).unwrap();
    if let Some(tcp6) = tcp6 {
        std::fs::write(dir.path().join("net/tcp6"), tcp6).unwrap();
    }
    dir
}

fn run(root: &Path, extra: &[&str]) -> Output {
    let mut command = Command::new(common::BIN);
    command.arg("--proc-root").arg(root).args(extra);
    output_within(&mut command, Duration::from_secs(60))
}

fn json_ok(root: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    let out = run(root, &args);
    // 1: a --port verdict of "blocked".
    let expected = if extra.contains(&"--port") { 1 } else { 0 };
    assert_eq!(out.status.code(), Some(expected), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    common::json(&out)
}

fn sockets(doc: &Value) -> &Vec<Value> {
    doc["sockets"].as_array().unwrap()
}

/// The fields a row must not get wrong.
fn key(s: &Value) -> String {
    format!(
        "{} {}:{} {}:{} {} {} {}",
        s["state"],
        s["local_addr"],
        s["local_port"],
        s["remote_addr"],
        s["remote_port"],
        s["expires_ms"],
        s["inode"],
        s["timer"]
    )
}

#[test]
fn empty_binary_and_foreign_files_fail_with_one_line() {
    let mut random = vec![0u8; 64 * 1024];
    let mut x: u32 = 0x1234_5678;
    for byte in random.iter_mut() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *byte = x as u8;
    }
    type Case = (&'static str, Vec<u8>, Option<Vec<u8>>);
    let cases: Vec<Case> = vec![
        ("empty tcp", Vec::new(), None),
        ("blank line", b"\n".to_vec(), None),
        ("binary tcp", random.clone(), None),
        ("NULs", vec![0u8; 5000], None),
        ("udp table", b"   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n".to_vec(), None),
        ("tcp6 header in tcp", format!("{TCP6_HEADER}\n").into_bytes(), None),
        ("good tcp, empty tcp6", format!("{TCP_HEADER}\n").into_bytes(), Some(Vec::new())),
        ("good tcp, binary tcp6", format!("{TCP_HEADER}\n").into_bytes(), Some(random)),
        ("header cut short", TCP_HEADER.as_bytes()[..40].to_vec(), None),
    ];
    for (what, tcp, tcp6) in cases {
        let root = root_with("bad", &tcp, tcp6.as_deref());
        for args in [&["--json"][..], &[][..], &["--port", "80"][..]] {
            let out = run(root.path(), args);
            assert_one_line_failure(&out, &format!("{what} {args:?}"));
            assert!(
                text(&out.stderr).contains("not a /proc/net/tcp"),
                "{what}: {}",
                text(&out.stderr)
            );
        }
    }
}

#[test]
fn not_regular_files_fail_fast_instead_of_hanging() {
    // A FIFO blocks open() forever; /dev/zero and /dev/urandom never end.
    let fifo = TempDir::new("fifo");
    std::fs::create_dir_all(fifo.path().join("net")).unwrap();
    let path = std::ffi::CString::new(fifo.path().join("net/tcp").to_str().unwrap()).unwrap();
    // SAFETY: path is a valid NUL-terminated string.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    let out = run(fifo.path(), &["--json"]);
    assert_one_line_failure(&out, "FIFO");

    for device in ["/dev/zero", "/dev/urandom", "/dev/null"] {
        let root = TempDir::new("dev");
        std::fs::create_dir_all(root.path().join("net")).unwrap();
        std::os::unix::fs::symlink(device, root.path().join("net/tcp")).unwrap();
        let out = run(root.path(), &["--json"]);
        assert_one_line_failure(&out, device);
    }

    // net/tcp a directory.
    let root = TempDir::new("dir");
    std::fs::create_dir_all(root.path().join("net/tcp")).unwrap();
    assert_one_line_failure(&run(root.path(), &["--json"]), "directory");
    // A dangling link.
    let root = TempDir::new("dangling");
    std::fs::create_dir_all(root.path().join("net")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/tcp", root.path().join("net/tcp")).unwrap();
    assert_one_line_failure(&run(root.path(), &["--json"]), "dangling link");
}

#[test]
fn a_sparse_file_of_zeros_ends_quickly() {
    // 8 GiB of zeros without a newline, after a valid header and row: the
    // reader must give up on the endless line, not chew through it.
    let root = TempDir::new("sparse");
    std::fs::create_dir_all(root.path().join("net")).unwrap();
    let path = root.path().join("net/tcp");
    let head = format!("{TCP_HEADER}\n{}\n", listen_row(0, 80, 1));
    std::fs::write(&path, &head).unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(8 << 30).unwrap();
    let mut command = Command::new(common::BIN);
    command.arg("--proc-root").arg(root.path()).arg("--json");
    let out = output_within(&mut command, Duration::from_secs(20));
    assert_one_line_failure(&out, "sparse zeros");
    assert!(
        text(&out.stderr).contains("line of more than"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_truncated_last_row_is_counted_not_guessed() {
    let mut body = format!("{TCP_HEADER}\n");
    for i in 0..5u16 {
        let _ = writeln!(
            body,
            "{}",
            listen_row(i.into(), 8000 + i, 100 + u64::from(i))
        );
    }
    // The capture was cut in the middle of the last row (no newline).
    let last = time_wait_row(5, 9000, 40000, 0x1000);
    body.push_str(&last[..60]);
    let root = root_with("truncated", body.as_bytes(), Some(TCP6_HEADER.as_bytes()));
    let doc = json_ok(root.path(), &[]);
    assert_eq!(sockets(&doc).len(), 5, "{doc:#}");
    assert_eq!(doc["skipped_rows"], 1);
    assert!(sockets(&doc).iter().all(|s| s["state"] == "LISTEN"));

    let out = run(root.path(), &[]);
    assert_eq!(out.status.code(), Some(0));
    let report = text(&out.stdout);
    assert!(
        report.contains("note: 1 unparsable row(s) of the /proc table were skipped"),
        "{report}"
    );
    // With --port, the report carries the note as well.
    let out = run(root.path(), &["--port", "8001", "--addr", "127.0.0.1"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("1 unparsable row(s)"));
}

#[test]
fn every_prefix_and_corruption_of_a_row_is_skipped_or_exact() {
    // Each valid row, cut at every length and with each byte replaced by
    // junk: every line the program keeps must say exactly what the
    // original row says; the others are counted.
    let originals = [
        listen_row(0, 0x2537, 19239),
        time_wait_row(1, 0x55F0, 0xBC36, 0x172E),
    ];
    let mut body = format!("{TCP_HEADER}\n");
    let mut lines = 0;
    for row in &originals {
        for cut in 1..row.len() {
            body.push_str(&row[..cut]);
            body.push('\n');
            // A blank line (the sl field's padding) is neither.
            if !row[..cut].trim().is_empty() {
                lines += 1;
            }
        }
        for (at, _) in row.char_indices() {
            for junk in ["G", "\u{0}", "\u{1b}", "é", "-"] {
                let mut bad = row.clone();
                bad.replace_range(at..at + 1, junk);
                body.push_str(&bad);
                body.push('\n');
                lines += 1;
            }
        }
    }
    let root = root_with("mutations", body.as_bytes(), Some(TCP6_HEADER.as_bytes()));
    let doc = json_ok(root.path(), &[]);
    let good = json_ok(
        root_with(
            "originals",
            format!("{TCP_HEADER}\n{}\n{}\n", originals[0], originals[1]).as_bytes(),
            Some(TCP6_HEADER.as_bytes()),
        )
        .path(),
        &[],
    );
    let allowed: Vec<String> = sockets(&good).iter().map(key).collect();
    assert_eq!(allowed.len(), 2);
    for socket in sockets(&doc) {
        assert!(allowed.contains(&key(socket)), "a wrong row: {socket:#}");
    }
    let kept = sockets(&doc).len();
    assert_eq!(
        kept + doc["skipped_rows"].as_u64().unwrap() as usize,
        lines,
        "every line is a socket or a skipped row"
    );
    assert!(doc["skipped_rows"].as_u64().unwrap() > 0);
}

#[test]
fn binary_garbage_between_rows_is_counted() {
    let mut body = format!("{TCP_HEADER}\n").into_bytes();
    let mut x: u32 = 0xdead_beef;
    let mut expected = Vec::new();
    for i in 0..50u16 {
        body.extend_from_slice(listen_row(i.into(), 7000 + i, 500 + u64::from(i)).as_bytes());
        body.push(b'\n');
        expected.push(7000 + i);
        // A burst of random bytes, newlines and NULs included, and a very
        // long line now and then.
        for _ in 0..200 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            body.push(x as u8);
        }
        body.push(b'\n');
        if i % 10 == 0 {
            body.extend(std::iter::repeat_n(b'7', 5000));
            body.push(b'\n');
        }
    }
    let root = root_with(
        "binary-body",
        &body,
        Some(format!("{TCP6_HEADER}\n\u{0}\u{ff}\n").as_bytes()),
    );
    let doc = json_ok(root.path(), &[]);
    let mut ports: Vec<u64> = sockets(&doc)
        .iter()
        .map(|s| s["local_port"].as_u64().unwrap())
        .collect();
    ports.sort_unstable();
    let expected: Vec<u64> = expected.into_iter().map(u64::from).collect();
    assert_eq!(ports, expected);
    assert!(
        doc["skipped_rows"].as_u64().unwrap() >= 55,
        "{}",
        doc["skipped_rows"]
    );
    let out = run(root.path(), &[]);
    assert_eq!(out.status.code(), Some(0));
    let report = text(&out.stdout);
    assert!(report.contains("unparsable row(s)"), "{report}");
    assert!(!report.contains('\u{1b}') && !report.contains('\u{0}'));
}

#[test]
fn a_huge_capture_of_200k_rows_works() {
    let mut body = String::with_capacity(200_000 * 160);
    body.push_str(TCP_HEADER);
    body.push('\n');
    let rows = 200_000usize;
    let mut on_port = 0;
    for i in 0..rows {
        let port = 1024 + (i % 60_000) as u16;
        if port == 4242 {
            on_port += 1;
        }
        if i % 2 == 0 {
            body.push_str(&listen_row(i, port, 10_000 + i as u64));
        } else {
            body.push_str(&time_wait_row(
                i,
                port,
                30_000 + (i % 20_000) as u16,
                100 + (i % 6000) as u32,
            ));
        }
        body.push('\n');
    }
    let root = root_with(
        "huge",
        body.as_bytes(),
        Some(format!("{TCP6_HEADER}\n").as_bytes()),
    );
    let doc = json_ok(root.path(), &[]);
    assert_eq!(sockets(&doc).len(), rows);
    assert_eq!(doc["skipped_rows"], 0);
    assert_eq!(doc["counts"]["LISTEN"], rows / 2);
    assert_eq!(doc["counts"]["TIME_WAIT"], rows / 2);

    let doc = json_ok(root.path(), &["--port", "4242", "--addr", "127.0.0.1"]);
    assert_eq!(sockets(&doc).len(), on_port);
    assert_eq!(doc["verdict"]["blocked"], true);

    let out = run(root.path(), &["--state", "time-wait"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(report.contains(&format!("{} sockets: TIME_WAIT {}", rows / 2, rows / 2)));
}
