//! Bad input at the command line: every flag is validated before anything is
//! read, and a bad one ends the program with exit 2, one line on stderr,
//! nothing on stdout and no panic. The line never carries a control
//! character from the input (a value can hold an escape sequence). No root.
mod common;
mod support;

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::process::Command;
use std::time::Duration;

use support::{assert_one_line_failure, output_within};

fn rejected(args: &[OsString]) {
    let what = format!("{args:?}");
    let out = output_within(
        Command::new(common::BIN).args(args),
        Duration::from_secs(20),
    );
    assert_one_line_failure(&out, &what);
    let stderr = &out.stderr[..out.stderr.len() - 1];
    assert!(
        !stderr.iter().any(|b| b.is_ascii_control()),
        "{what}: a control character reached the terminal: {:?}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn bad(args: &[&str]) {
    let args: Vec<OsString> = args.iter().map(OsString::from).collect();
    rejected(&args);
}

#[test]
fn ports_are_validated() {
    for port in [
        "",
        "-1",
        "0",
        "65536",
        "70000",
        "0x50",
        " 80",
        "80 ",
        "1e3",
        "8O",
        "99999999999999999999",
        "٨٠",
        "+",
        "80,81",
    ] {
        bad(&["--port", port]);
    }
    bad(&["--port"]);
    bad(&["--port", "80", "--port", "81"]);
    bad(&["80"]); // no positional arguments
}

#[test]
fn addresses_are_validated() {
    for addr in [
        "",
        "1.2.3",
        "256.1.1.1",
        "::g",
        "fe80::1%",
        "fe80::1%2",
        "127.0.0.1%lo",
        "localhost",
        "127.0.0.1:80",
        "[::1",
        "[127.0.0.1]:80",
        "0x7f000001",
        "127.1",
    ] {
        bad(&["--port", "80", "--addr", addr]);
    }
    bad(&["--addr", "127.0.0.1"]); // needs --port
                                   // IPV6_V6ONLY means nothing to an IPv4 socket: said, not ignored.
    bad(&["--port", "80", "--addr", "127.0.0.1", "--v6only"]);
    bad(&["--port", "80", "--v6only"]);
    // The scope names the device: another --dev contradicts it.
    bad(&["--port", "80", "--addr", "fe80::1%lo", "--dev", "eth0"]);
}

#[test]
fn durations_are_validated() {
    for timeout in [
        "", "0", "-0", "-1", "inf", "NaN", "1e400", "86401", "1s", "1,5", "0x10",
    ] {
        bad(&["--port", "80", "--wait", "--timeout", timeout]);
    }
    bad(&["--port", "80", "--timeout", "5"]); // needs --wait
    for interval in [
        "", "0", "0.05", "0.099", "60.5", "61", "-1", "inf", "nan", "abc", "1e-3",
    ] {
        bad(&["--interval", interval]);
    }
    bad(&["--interval"]);
}

#[test]
fn sources_and_states_are_validated() {
    for source in ["", "NETLINK", "sock_diag", "procfs", "auto,proc"] {
        bad(&["--source", source]);
    }
    for state in [
        "",
        "-",
        "sleepy",
        "TIME",
        "time-wait,listen",
        "all",
        "7",
        "06",
    ] {
        bad(&["--state", state]);
    }
}

#[test]
fn device_names_are_validated() {
    for dev in [
        "",
        " ",
        "a b",
        "a/b",
        ".:",
        "eth0:1",
        "sixteen-chars-xx",
        "lo\n",
        "lo\t",
        "\u{1b}[31mred",
        "a\u{0}b",
    ] {
        // An argument cannot hold a NUL; Command refuses it before exec.
        if dev.contains('\u{0}') {
            continue;
        }
        bad(&["--port", "80", "--dev", dev]);
    }
    bad(&["--dev", "lo"]); // needs --port
}

#[test]
fn flags_that_do_not_go_together() {
    for args in [
        &["--wait"][..],
        &["--free"][..],
        &["--reuseaddr"][..],
        &["--reuseport"][..],
        &["--v6only"][..],
        &["--port", "80", "--yes"][..],
        &["--port", "80", "--dry-run"][..],
        &["--port", "80", "--free", "--wait"][..],
        &["--port", "80", "--free", "--tui"][..],
        &["--port", "80", "--wait", "--tui"][..],
        &["--port", "80", "--wait", "--no-probe"][..],
        &["--port", "80", "--wait", "--proc-root", "/proc"][..],
        &["--port", "80", "--free", "--proc-root", "/proc"][..],
        &["--json", "--tui"][..],
        &["--json", "--json"][..],
        &["--no-such-flag"][..],
        &["-p", "80"][..],
    ] {
        bad(args);
    }
}

#[test]
fn escape_sequences_in_values_are_not_echoed_raw() {
    let hostile = "\u{1b}]0;pwned\u{7}\u{1b}[2J";
    bad(&["--port", hostile]);
    bad(&["--port", "80", "--addr", hostile]);
    bad(&["--state", hostile]);
    bad(&["--source", hostile]);
    bad(&["--interval", hostile]);
    bad(&[hostile]);
    bad(&[&format!("--{hostile}")]);
    // A --proc-root that does not exist is named in the error line.
    bad(&["--json", "--proc-root", &format!("/nonexistent/{hostile}")]);
    // C1 controls (U+009B is a CSI on some terminals).
    bad(&["--port", "\u{9b}31m"]);
}

#[test]
fn arguments_that_are_not_utf8() {
    let raw = |bytes: &[u8]| OsString::from_vec(bytes.to_vec());
    rejected(&[OsString::from("--port"), raw(b"8\xff0")]);
    rejected(&[OsString::from("--state"), raw(b"\xfe\xff")]);
    rejected(&[
        OsString::from("--port"),
        OsString::from("80"),
        OsString::from("--dev"),
        raw(b"et\xffh0"),
    ]);
    // A path may be any bytes: a missing one is still one clean line.
    rejected(&[
        OsString::from("--json"),
        OsString::from("--proc-root"),
        raw(b"/nonexistent/\xff\x1b[31m"),
    ]);
}

#[test]
fn help_and_version_exit_0() {
    for flag in ["--help", "--version", "-h", "-V"] {
        let out = Command::new(common::BIN).arg(flag).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{flag}");
        assert!(!out.stdout.is_empty());
    }
}
