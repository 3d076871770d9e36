//! The dashboard gives the terminal back however it is stopped: SIGTERM,
//! SIGINT, SIGHUP by pid, Ctrl-C typed in the pane, a SIGTERM that lands
//! right after start, and a panic on either thread. Checked in tmux: the program's exit is printed by the
//! shell, the alternate screen is left, the cursor is visible, and the tty
//! settings (`stty -g`, read inside the pane) are what they were before.
mod common;
mod support;

use std::time::{Duration, Instant};

use common::{sockets, Netns};
use support::{TempDir, Tmux};

struct Run {
    tmux: Tmux,
    dir: TempDir,
}

/// Starts the dashboard in a tmux pane whose shell records `stty -g`
/// before and after, and the dashboard's pid (ip netns exec execs it).
fn start(ns: &Netns, name: &str) -> Option<Run> {
    start_with(ns, name, "")
}

/// [`start`] with environment assignments for the dashboard.
fn start_with(ns: &Netns, name: &str, env: &str) -> Option<Run> {
    let dir = TempDir::new(name);
    let d = dir.path().display();
    let program = format!(
        "stty -g > {d}/before; sh -c 'echo $$ > {d}/pid.tmp && mv {d}/pid.tmp {d}/pid; exec env {env} ip netns exec {} {} --tui --port 9527 --interval 0.3'; echo EXITED $?; stty -g > {d}/after; sleep 60",
        ns.name,
        common::BIN
    );
    let tmux = Tmux::start(name, &program)?;
    Some(Run { tmux, dir })
}

impl Run {
    fn pid(&self) -> i32 {
        let started = Instant::now();
        loop {
            if let Ok(text) = std::fs::read_to_string(self.dir.path().join("pid")) {
                return text.trim().parse().unwrap();
            }
            assert!(started.elapsed() < Duration::from_secs(10), "no pid file");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn kill(&self, signal: i32) {
        // SAFETY: kill(2) on the pid of the dashboard this test started.
        assert_eq!(unsafe { libc::kill(self.pid(), signal) }, 0);
    }

    /// Waits for the program to end and checks the terminal is restored.
    /// `codes`: the exits accepted ("EXITED 0"; 143 is SIGTERM's default
    /// action, before the dashboard has touched the terminal).
    fn assert_restored(&self, how: &str, codes: &[&str]) {
        let end = self.assert_restored_after(how, codes);
        assert!(!end.contains("panicked"), "{how}:\n{end}");
    }

    /// [`Self::assert_restored`] without the no-panic check; the pane's text.
    fn assert_restored_after(&self, how: &str, codes: &[&str]) -> String {
        let end = self.tmux.wait_for("EXITED", Duration::from_secs(10));
        assert!(
            codes.iter().any(|c| end.contains(&format!("EXITED {c}\n"))),
            "{how}: did not end cleanly:\n{end}"
        );
        assert!(
            !end.contains("BLOCKED"),
            "{how}: alternate screen not left:\n{end}"
        );
        assert_eq!(self.tmux.display("#{alternate_on}"), "0", "{how}");
        assert_eq!(
            self.tmux.display("#{cursor_flag}"),
            "1",
            "{how}: cursor hidden"
        );
        let started = Instant::now();
        let after = loop {
            if let Ok(after) = std::fs::read_to_string(self.dir.path().join("after")) {
                if !after.is_empty() {
                    break after;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{how}: no stty after"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let before = std::fs::read_to_string(self.dir.path().join("before")).unwrap();
        assert_eq!(before, after, "{how}: tty settings not restored");
        end
    }
}

fn scenario() -> Netns {
    let ns = Netns::new();
    ns.run(|| {
        sockets::server_side_time_wait("127.0.0.1:9527".parse().unwrap(), Default::default())
    });
    ns
}

#[test]
fn signals_and_ctrl_c_restore_the_terminal() {
    require_netns!();
    let ns = scenario();
    for (how, signal) in [
        ("SIGTERM", Some(libc::SIGTERM)),
        ("SIGINT", Some(libc::SIGINT)),
        ("SIGHUP", Some(libc::SIGHUP)),
        ("Ctrl-C", None),
    ] {
        let Some(run) = start(&ns, &how.to_lowercase().replace('-', "")) else {
            return;
        };
        let screen = run.tmux.wait_for("BLOCKED", Duration::from_secs(15));
        assert!(
            screen.contains("BLOCKED"),
            "{how}: dashboard not up:\n{screen}"
        );
        assert_eq!(run.tmux.display("#{alternate_on}"), "1", "{how}");
        match signal {
            Some(signal) => run.kill(signal),
            None => run.tmux.keys(&["C-c"]),
        }
        run.assert_restored(how, &["0"]);
    }
}

#[test]
fn sigterm_right_after_start_restores_the_terminal() {
    require_netns!();
    let ns = scenario();
    for delay_ms in [0u64, 10, 40, 120] {
        let Some(run) = start(&ns, &format!("early{delay_ms}")) else {
            return;
        };
        let pid = run.pid();
        std::thread::sleep(Duration::from_millis(delay_ms));
        // Before exec the pid may still be sh or ip: their default action is
        // to die, and the check below then sees a non-zero exit. Wait until
        // the dashboard itself runs.
        let started = Instant::now();
        loop {
            let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
            if exe.is_some_and(|e| e.ends_with("tw-inspect")) {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "never exec'd");
            std::thread::sleep(Duration::from_millis(1));
        }
        run.kill(libc::SIGTERM);
        run.assert_restored(&format!("SIGTERM {delay_ms} ms after exec"), &["0", "143"]);
    }
}

#[test]
fn a_panic_on_either_thread_restores_the_terminal() {
    require_netns!();
    if !cfg!(debug_assertions) {
        eprintln!("SKIP: a release build has no TW_INSPECT_TEST_PANIC switch");
        return;
    }
    let ns = scenario();
    // The collector's panic stops the dashboard (exit 2, one line saying
    // why); the main thread's ends the process with Rust's panic code, 101.
    for (thread, code) in [("collector", "2"), ("main", "101")] {
        let Some(run) = start_with(
            &ns,
            &format!("panic-{thread}"),
            &format!("TW_INSPECT_TEST_PANIC={thread}"),
        ) else {
            return;
        };
        let end = run.assert_restored_after(thread, &[code]);
        // The panic message is printed after the terminal is back, so it is
        // on the normal screen, not lost with the alternate one.
        assert!(
            end.contains(&format!("TW_INSPECT_TEST_PANIC={thread}")),
            "{thread}:\n{end}"
        );
    }
}

/// A terminal that goes away (ssh dropped, the tmux pane killed) ends the
/// dashboard: it must not live on, spinning on a dead tty.
#[test]
fn a_terminal_that_hangs_up_ends_the_dashboard() {
    require_netns!();
    let ns = scenario();
    let Some(run) = start(&ns, "hangup") else {
        return;
    };
    let screen = run.tmux.wait_for("BLOCKED", Duration::from_secs(15));
    assert!(screen.contains("BLOCKED"), "dashboard not up:\n{screen}");
    let pid = run.pid();
    // Closes the pane's pty: the kernel hangs up its session.
    let killed = run.tmux.cmd().args(["kill-pane", "-t", "0"]).status();
    assert!(killed.is_ok_and(|s| s.success()));
    let started = Instant::now();
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        if started.elapsed() > Duration::from_secs(5) {
            // Leave nothing behind, then fail.
            // SAFETY: kill(2) on the pid of the dashboard this test started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            panic!("the dashboard outlived its terminal by 5 s: {stat}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
