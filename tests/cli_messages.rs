//! What a new user reads when a command line is wrong: clap's whole message
//! on one line (the missing `--port`, the valid values), and the dashboard
//! asked for without a terminal. No root.
mod common;
mod support;

use std::process::Command;
use std::time::Duration;

use support::{assert_one_line_failure, output_within, text};

/// The one stderr line for `args`, after checking the failure contract.
fn message(args: &[&str]) -> String {
    let out = output_within(
        Command::new(common::BIN).args(args),
        Duration::from_secs(20),
    );
    assert_one_line_failure(&out, &format!("{args:?}"));
    text(&out.stderr)
}

#[test]
fn missing_port_is_named() {
    for args in [&["--wait"][..], &["--free"], &["--yes"], &["--dry-run"]] {
        let line = message(args);
        assert!(
            line.contains("not provided: --port <PORT>"),
            "{args:?}: {line}"
        );
        assert!(line.trim_end().ends_with("(see --help)"), "{line}");
        assert!(!line.contains("Usage"), "{line}");
    }
    // --timeout belongs to --wait (which needs a port) or --watch: both named.
    let line = message(&["--timeout", "5"]);
    assert!(line.contains("not provided: <--wait|--watch>"), "{line}");
}

#[test]
fn invalid_values_list_the_valid_ones() {
    let line = message(&["--source", "bogus"]);
    assert!(line.contains("'bogus'"), "{line}");
    assert!(
        line.contains("[possible values: auto, netlink, proc]"),
        "{line}"
    );
}

#[test]
fn clap_tips_come_through_on_the_same_line() {
    let line = message(&["--pot", "3"]);
    assert!(line.contains("'--pot'"), "{line}");
    assert!(
        line.contains("a similar argument exists: '--port'"),
        "{line}"
    );
}

#[test]
fn dashboard_without_a_terminal_says_so() {
    // stdin is /dev/null and stdout a pipe: neither is a terminal.
    let out = output_within(
        Command::new(common::BIN).arg("--tui"),
        Duration::from_secs(20),
    );
    assert_one_line_failure(&out, "--tui without a terminal");
    let line = text(&out.stderr);
    assert!(
        line.contains("the dashboard needs a terminal"),
        "no reason given: {line}"
    );
    assert!(
        !out.stderr.contains(&0x1b),
        "escape sequences written: {line:?}"
    );
}
