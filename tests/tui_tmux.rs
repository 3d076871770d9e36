//! The dashboard in a real terminal (tmux): a server-side TIME_WAIT on the
//! chosen port shows with its peer port and a countdown that goes down; `q`
//! ends the program and the terminal comes back. `F` then `y` destroys the
//! TIME_WAIT and the port turns FREE.
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{sockets, Netns};

struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self) -> Command {
        let mut command = Command::new("tmux");
        command.args(["-L", &self.socket]);
        command
    }

    fn capture(&self) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-t", "t"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn send(&self, keys: &str) {
        let status = self
            .cmd()
            .args(["send-keys", "-t", "t", keys])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Starts `tw-inspect --tui --port 9527` in `ns`, in a 120x40 window.
    fn start_dashboard(&self, ns: &Netns) {
        let program = format!(
            "ip netns exec {} {} --tui --port 9527; echo EXITED $?; sleep 60",
            ns.name,
            common::BIN
        );
        let status = self
            .cmd()
            .args([
                "new-session",
                "-d",
                "-s",
                "t",
                "-x",
                "120",
                "-y",
                "40",
                &program,
            ])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn wait_for(&self, what: &str, timeout: Duration) -> String {
        let started = Instant::now();
        loop {
            let screen = self.capture();
            if screen.contains(what) || started.elapsed() > timeout {
                return screen;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

/// The countdown of the TIME_WAIT row whose peer is `peer_port`, e.g. 57.3.
fn countdown(screen: &str, peer_port: u16) -> Option<f64> {
    screen
        .lines()
        .filter(|l| l.contains("TIME_WAIT") && l.contains(&format!(":{peer_port}")))
        .flat_map(str::split_whitespace)
        .filter(|w| w.ends_with('s') && w.contains('.'))
        .find_map(|w| w.trim_end_matches('s').parse::<f64>().ok())
}

fn tmux_missing() -> bool {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("SKIP: tmux is not installed");
        return true;
    }
    false
}

#[test]
fn dashboard_counts_down_a_blocking_time_wait_and_restores_the_terminal() {
    require_netns!();
    if tmux_missing() {
        return;
    }
    let ns = Netns::new();
    let client = ns.run(|| {
        sockets::server_side_time_wait("127.0.0.1:9527".parse().unwrap(), Default::default())
    });
    let tmux = Tmux {
        socket: format!("twi-{}", std::process::id()),
    };
    tmux.start_dashboard(&ns);

    let first = tmux.wait_for("BLOCKED", Duration::from_secs(10));
    let peer = format!(":{}", client.port());
    assert!(first.contains(&peer), "peer port not shown:\n{first}");
    let before =
        countdown(&first, client.port()).unwrap_or_else(|| panic!("no countdown:\n{first}"));
    std::thread::sleep(Duration::from_secs(2));
    let second = tmux.capture();
    let after =
        countdown(&second, client.port()).unwrap_or_else(|| panic!("no countdown:\n{second}"));
    assert!(
        after < before,
        "countdown did not go down: {before} then {after}"
    );

    tmux.send("q");
    let end = tmux.wait_for("EXITED", Duration::from_secs(5));
    assert!(
        end.contains("EXITED 0"),
        "program did not end cleanly:\n{end}"
    );
    // Back on the normal screen: the dashboard is gone from view.
    assert!(
        !end.contains("BLOCKED"),
        "alternate screen not left:\n{end}"
    );
}

#[test]
fn free_key_destroys_the_blocking_time_wait_after_confirmation() {
    require_netns!();
    if tmux_missing() {
        return;
    }
    let ns = Netns::new();
    let client = ns.run(|| {
        sockets::server_side_time_wait("127.0.0.1:9527".parse().unwrap(), Default::default())
    });
    let time_wait_on_port = |ns: &Netns| {
        ns.ss(&["-tanH"]).lines().any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.first() == Some(&"TIME-WAIT") && fields.get(3) == Some(&"127.0.0.1:9527")
        })
    };
    assert!(time_wait_on_port(&ns));
    let tmux = Tmux {
        socket: format!("twi-free-{}", std::process::id()),
    };
    tmux.start_dashboard(&ns);
    let blocked = tmux.wait_for("BLOCKED", Duration::from_secs(10));
    assert!(blocked.contains("BLOCKED"), "not blocked:\n{blocked}");

    // The only socket, so the selected row: the TIME_WAIT.
    tmux.send("F");
    let dialog = tmux.wait_for("late segments", Duration::from_secs(5));
    let four_tuple = format!("127.0.0.1:9527 → 127.0.0.1:{}", client.port());
    assert!(
        dialog.contains("TIME_WAIT guards against late segments") && dialog.contains(&four_tuple),
        "no confirmation naming the socket:\n{dialog}"
    );
    assert!(time_wait_on_port(&ns), "destroyed before the answer");

    tmux.send("y");
    let free = tmux.wait_for(" FREE ", Duration::from_secs(5));
    assert!(free.contains(" FREE "), "panel did not turn FREE:\n{free}");
    assert!(
        free.contains(&format!("Destroyed TIME_WAIT {four_tuple}.")),
        "no status line:\n{free}"
    );
    assert!(!time_wait_on_port(&ns), "ss still shows the TIME_WAIT");

    tmux.send("q");
    let end = tmux.wait_for("EXITED", Duration::from_secs(5));
    assert!(
        end.contains("EXITED 0"),
        "program did not end cleanly:\n{end}"
    );
}
