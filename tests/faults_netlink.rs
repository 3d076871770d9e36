//! sock_diag failing from the outside: an LD_PRELOAD shim (tests/support/
//! netlink_shim.c, built with gcc at test time) makes libc's socket() refuse
//! NETLINK_SOCK_DIAG, makes recv() on that socket fail, or marks the kernel's
//! real replies NLM_F_DUMP_INTR. The binary is run inside a fresh namespace
//! holding a known listener, so "still answers" means "answers correctly".
mod common;
mod support;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use common::Netns;
use support::{assert_one_line_failure, output_within, text, TempDir};

const PORT: u16 = 9531;

struct Faulty {
    ns: Netns,
    _listener: TcpListener,
    shim: PathBuf,
    log: TempDir,
}

impl Faulty {
    fn new() -> Option<Faulty> {
        let shim = support::netlink_shim()?;
        let ns = Netns::new();
        let listener = ns.run(|| TcpListener::bind(("127.0.0.1", PORT)).unwrap());
        Some(Faulty {
            ns,
            _listener: listener,
            shim,
            log: TempDir::new("shim-log"),
        })
    }

    fn log_path(&self) -> PathBuf {
        self.log.path().join("faults")
    }

    /// Runs tw-inspect in the namespace with the shim and `env` set.
    fn run(&self, env: &[(&str, &str)], args: &[&str]) -> Output {
        let _ = std::fs::remove_file(self.log_path());
        let mut command = self.ns.exec(common::BIN);
        command
            .args(args)
            .env("LD_PRELOAD", &self.shim)
            .env("TWI_SHIM_LOG", self.log_path());
        for (key, value) in env {
            command.env(key, value);
        }
        output_within(&mut command, Duration::from_secs(20))
    }

    /// How many faults of `kind` the shim injected in the last run: proof
    /// that the test exercised what it claims to.
    fn injected(&self, kind: &str) -> usize {
        std::fs::read_to_string(self.log_path())
            .unwrap_or_default()
            .lines()
            .filter(|l| *l == kind)
            .count()
    }
}

fn has_listener(doc: &serde_json::Value) -> bool {
    doc["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["state"] == "LISTEN" && s["local_port"] == PORT)
}

fn doc(out: &Output) -> serde_json::Value {
    common::json(out)
}

#[test]
fn no_sock_diag_falls_back_to_proc_with_one_warning() {
    require_netns!();
    let Some(f) = Faulty::new() else { return };
    // EPROTONOSUPPORT (module missing), EACCES/EPERM (seccomp, LSM),
    // EAFNOSUPPORT (netlink compiled out).
    for errno in ["93", "13", "1", "97"] {
        let env = [("TWI_SOCK_DIAG_SOCKET_ERRNO", errno)];
        let out = f.run(&env, &["--json", "--source", "auto"]);
        assert!(f.injected("socket") >= 1, "errno {errno}: shim not used");
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "errno {errno}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "errno {errno}: {stderr:?}");
        assert!(
            stderr.starts_with("tw-inspect: warning: sock_diag unavailable")
                && stderr.contains("/proc/net/tcp"),
            "errno {errno}: {stderr:?}"
        );
        let d = doc(&out);
        assert_eq!(d["source"], "proc", "errno {errno}");
        assert!(has_listener(&d), "errno {errno}: {d:#}");

        // The --port report falls back the same way, and still decides.
        let port = PORT.to_string();
        let out = f.run(&env, &["--port", &port, "--addr", "127.0.0.1"]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "errno {errno}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "errno {errno}: {stderr:?}");
        let report = text(&out.stdout);
        assert!(
            report.contains("BLOCKED") && report.contains("LISTEN"),
            "{report}"
        );

        // Asked for sock_diag only: one clear line, exit 2, nothing on stdout.
        let out = f.run(&env, &["--json", "--source", "netlink"]);
        assert_one_line_failure(&out, &format!("--source netlink, errno {errno}"));
        assert!(text(&out.stderr).contains("sock_diag unavailable"));
    }
}

#[test]
fn default_source_is_auto_and_falls_back_too() {
    require_netns!();
    let Some(f) = Faulty::new() else { return };
    let out = f.run(&[("TWI_SOCK_DIAG_SOCKET_ERRNO", "93")], &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr).lines().count(), 1);
    assert!(has_listener(&doc(&out)));
}

#[test]
fn one_eintr_on_receive_is_retried_silently() {
    require_netns!();
    let Some(f) = Faulty::new() else { return };
    for source in ["auto", "netlink"] {
        let env = [
            ("TWI_SOCK_DIAG_RECV_ERRNO", "4"),
            ("TWI_SOCK_DIAG_RECV_FAILS", "3"),
        ];
        let out = f.run(&env, &["--json", "--source", source]);
        assert_eq!(f.injected("recv"), 3, "{source}: shim not used");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{source}: {}",
            text(&out.stderr)
        );
        assert!(out.stderr.is_empty(), "{source}: {}", text(&out.stderr));
        let d = doc(&out);
        assert_eq!(d["source"], "netlink");
        assert!(has_listener(&d));
    }
}

#[test]
fn endless_eintr_ends_with_an_error_not_a_hang() {
    require_netns!();
    let Some(f) = Faulty::new() else { return };
    let env = [
        ("TWI_SOCK_DIAG_RECV_ERRNO", "4"),
        ("TWI_SOCK_DIAG_RECV_FAILS", "-1"),
    ];
    let out = f.run(&env, &["--json", "--source", "netlink"]);
    assert_one_line_failure(&out, "endless EINTR");
    assert!(text(&out.stderr).contains("EINTR"), "{}", text(&out.stderr));
}

#[test]
fn one_enobufs_redoes_the_dump() {
    require_netns!();
    let Some(f) = Faulty::new() else { return };
    for source in ["auto", "netlink"] {
        let env = [
            ("TWI_SOCK_DIAG_RECV_ERRNO", "105"),
            ("TWI_SOCK_DIAG_RECV_FAILS", "1"),
        ];
        let out = f.run(&env, &["--json", "--source", source]);
        assert_eq!(f.injected("recv"), 1, "{source}: shim not used");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{source}: {}",
            text(&out.stderr)
        );
        let d = doc(&out);
        assert_eq!(d["source"], "netlink");
        assert!(has_listener(&d), "{d:#}");
    }
}

#[test]
fn persistent_receive_errors_are_one_clear_line() {
    require_netns!();
    let Some(f) = Faulty::new() else { return };
    for (errno, name) in [("105", "ENOBUFS"), ("12", "ENOMEM"), ("11", "EAGAIN")] {
        for source in ["auto", "netlink"] {
            let env = [
                ("TWI_SOCK_DIAG_RECV_ERRNO", errno),
                ("TWI_SOCK_DIAG_RECV_FAILS", "-1"),
            ];
            let out = f.run(&env, &["--json", "--source", source]);
            assert!(f.injected("recv") >= 1, "{name} {source}: shim not used");
            assert_one_line_failure(&out, &format!("{name} {source}"));
            let stderr = text(&out.stderr);
            assert!(
                stderr.contains("sock_diag") && stderr.contains(name),
                "{stderr}"
            );
        }
    }
}

#[test]
fn an_interrupted_dump_is_read_again() {
    require_netns!();
    let Some(f) = Faulty::new() else { return };
    let port = PORT.to_string();
    // The first datagram of the first dump says NLM_F_DUMP_INTR.
    let out = f.run(
        &[("TWI_SOCK_DIAG_DUMP_INTR", "1")],
        &[
            "--json",
            "--source",
            "netlink",
            "--port",
            &port,
            "--addr",
            "127.0.0.1",
        ],
    );
    assert_eq!(f.injected("intr"), 1, "shim not used");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let d = doc(&out);
    // Read again from scratch: the listener once, not twice.
    let listeners = d["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] == "LISTEN")
        .count();
    assert_eq!(listeners, 1, "{d:#}");
    assert_eq!(d["verdict"]["blocked"], true);
}

#[test]
fn a_dump_that_is_always_interrupted_fails_clearly() {
    require_netns!();
    let Some(f) = Faulty::new() else { return };
    for source in ["auto", "netlink"] {
        let out = f.run(&[("TWI_SOCK_DIAG_DUMP_INTR", "-1")], &["--source", source]);
        assert!(f.injected("intr") >= 4, "{source}: shim not used");
        assert_one_line_failure(&out, &format!("always interrupted, {source}"));
        assert!(text(&out.stderr).contains("kept changing"));
    }
}

/// The dashboard under the same faults, in tmux.
fn dashboard(f: &Faulty, name: &str, env: &str, args: &str) -> Option<support::Tmux> {
    let program = format!(
        "env LD_PRELOAD={} {env} ip netns exec {} {} --tui --port {PORT} {args} 2>{}/stderr; echo EXITED $?; sleep 60",
        f.shim.display(),
        f.ns.name,
        common::BIN,
        f.log.path().display()
    );
    support::Tmux::start(name, &program)
}

#[test]
fn the_dashboard_falls_back_and_says_so_in_its_header() {
    require_netns!();
    let Some(f) = Faulty::new() else { return };
    let Some(tmux) = dashboard(&f, "nl-fallback", "TWI_SOCK_DIAG_SOCKET_ERRNO=93", "") else {
        return;
    };
    let screen = tmux.wait_for("BLOCKED", Duration::from_secs(15));
    assert!(screen.contains("sock_diag unavailable"), "{screen}");
    assert!(screen.contains("LISTEN"), "{screen}");
    // The fallback warning is not printed over the dashboard.
    assert!(!screen.contains("warning:"), "{screen}");
    tmux.quit_cleanly();
}

#[test]
fn the_dashboard_survives_sock_diag_breaking_mid_run() {
    require_netns!();
    let Some(f) = Faulty::new() else { return };
    // The first readings go through; from then on every receive fails.
    let env = "TWI_SOCK_DIAG_RECV_ERRNO=105 TWI_SOCK_DIAG_RECV_FAILS=-1 TWI_SOCK_DIAG_RECV_AFTER=6";
    let Some(tmux) = dashboard(&f, "nl-break", env, "--source netlink --interval 0.2") else {
        return;
    };
    let screen = tmux.wait_for("ENOBUFS", Duration::from_secs(15));
    assert!(
        screen.contains("ENOBUFS"),
        "the failed reading is not shown:\n{screen}"
    );
    assert!(!screen.contains("panicked"), "{screen}");
    // Ten more failed readings later, the failure is still on screen.
    std::thread::sleep(Duration::from_secs(2));
    let later = tmux.capture(false);
    assert!(later.contains("reading failed"), "{later}");
    assert!(
        later.contains("STALE") && !later.contains("LIVE"),
        "{later}"
    );
    tmux.quit_cleanly();
    let stderr = std::fs::read_to_string(f.log.path().join("stderr")).unwrap_or_default();
    assert!(!stderr.contains("panicked"), "{stderr}");
}
