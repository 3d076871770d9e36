//! `--generate`: the man page renders with `man -l`, and the bash
//! completion, sourced into a real bash, completes the flags and their
//! values. No root.
mod common;
mod support;

use std::process::Command;
use std::time::Duration;

use support::{output_within, text, TempDir};

fn generated(what: &str) -> String {
    let out = output_within(
        Command::new(common::BIN).args(["--generate", what]),
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn the_man_page_renders() {
    let dir = TempDir::new("man");
    let page = dir.path().join("tw-inspect.1");
    std::fs::write(&page, generated("man")).unwrap();
    if Command::new("man").arg("--version").output().is_err() {
        eprintln!("SKIP: man is not installed (man-db); the page was generated but not rendered");
        return;
    }
    let out = output_within(
        Command::new("man")
            .arg("-l")
            .arg(&page)
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .env("MANWIDTH", "100"),
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "man -l: {}", text(&out.stderr));
    // Justified text: compare with runs of spaces collapsed.
    let rendered = text(&out.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(rendered.contains("NAME"), "{rendered}");
    assert!(rendered.contains("tw-inspect - "), "{rendered}");
    for flag in [
        "--port <PORT>",
        "--proc-root <DIR>",
        "--verbose",
        "--generate",
    ] {
        assert!(rendered.contains(flag), "{flag} missing:\n{rendered}");
    }
    // No roff left unrendered.
    assert!(!rendered.contains("\\fB"), "{rendered}");
}

/// What bash's programmable completion offers for `words`, the last being
/// the word under the cursor.
fn bash_completes(script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let current = words.len() - 1;
    let previous = if current > 0 { words[current - 1] } else { "" };
    let program = format!(
        "source '{}'\n\
         function=$(complete -p tw-inspect | sed -E 's/.* -F ([^ ]+) .*/\\1/')\n\
         COMP_WORDS=({})\n\
         COMP_CWORD={current}\n\
         \"$function\" tw-inspect '{}' '{previous}'\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        quoted.join(" "),
        words[current]
    );
    let out = output_within(
        Command::new("bash").args(["--norc", "--noprofile", "-c", &program]),
        Duration::from_secs(20),
    );
    assert!(out.status.success(), "bash: {}", text(&out.stderr));
    text(&out.stdout).lines().map(str::to_string).collect()
}

#[test]
fn bash_completes_the_flags_and_their_values() {
    if Command::new("bash").arg("--version").output().is_err() {
        eprintln!("SKIP: bash is not installed");
        return;
    }
    let dir = TempDir::new("completion");
    let script = dir.path().join("tw-inspect.bash");
    std::fs::write(&script, generated("bash")).unwrap();
    assert_eq!(bash_completes(&script, &["tw-inspect", "--po"]), ["--port"]);
    let all = bash_completes(&script, &["tw-inspect", "--"]);
    for flag in ["--port", "--state", "--free", "--wait", "--verbose"] {
        assert!(all.iter().any(|w| w == flag), "{flag} not offered: {all:?}");
    }
    assert_eq!(
        bash_completes(&script, &["tw-inspect", "--source", ""]),
        ["auto", "netlink", "proc"]
    );
}

#[test]
fn zsh_and_fish_scripts_are_generated() {
    assert!(generated("zsh").contains("#compdef tw-inspect"));
    assert!(generated("fish").contains("complete -c tw-inspect"));
}
