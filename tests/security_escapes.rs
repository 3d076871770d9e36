//! A process whose name and command line hold escape sequences, holding a
//! LISTEN socket: the human output shows them escaped (no ESC, BEL or C1
//! CSI byte on stdout), JSON carries them as valid JSON strings, and the
//! dashboard in tmux draws them as text without obeying them (the pane
//! title is not changed).
mod common;
mod support;

use std::time::Duration;

use common::{ChildGuard, Netns};
use support::{text, Tmux};

const PORT: u16 = 7443;
const CMDLINE_ARG: &str = "\u{1b}]0;pwned\u{7}";
const C1_ARG: &str = "\u{9b}31mcsi";

fn hostile(ns: &Netns) -> ChildGuard {
    let script = format!(
        r#"
import ctypes, socket, time
libc = ctypes.CDLL(None)
libc.prctl(15, b"\x1b[31mevil", 0, 0, 0)  # PR_SET_NAME
s = socket.socket()
s.bind(("127.0.0.1", {PORT}))
s.listen()
print("ready", flush=True)
time.sleep(120)
"#
    );
    let mut child = ns.spawn("python3", &["-c", &script, CMDLINE_ARG, C1_ARG]);
    assert_eq!(child.read_line(), "ready");
    child
}

fn assert_inert(bytes: &[u8], what: &str) {
    let shown = String::from_utf8_lossy(bytes);
    assert!(!bytes.contains(&0x1b), "{what}: ESC on stdout:\n{shown}");
    assert!(!bytes.contains(&0x07), "{what}: BEL on stdout:\n{shown}");
    assert!(
        !shown.contains('\u{9b}'),
        "{what}: C1 CSI on stdout:\n{shown}"
    );
}

#[test]
fn human_and_json_outputs_never_carry_the_escapes() {
    require_netns!();
    let ns = Netns::new();
    let child = hostile(&ns);
    let port = PORT.to_string();
    for args in [
        &["--port", &port, "--addr", "127.0.0.1"][..],
        &["--port", &port][..],
        &["--port", &port, "--no-probe"][..],
        &[][..],
        &["--state", "listen", "--source", "proc"][..],
    ] {
        let out = ns.tw_inspect(args);
        assert!(
            out.status.code().is_some_and(|c| c < 2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert_inert(&out.stdout, &format!("{args:?}"));
        assert_inert(&out.stderr, &format!("{args:?} stderr"));
        let shown = text(&out.stdout);
        assert!(
            shown.contains(&format!("{}/\\e[31mevil", child.pid())),
            "{args:?}: the name is not shown escaped:\n{shown}"
        );
    }

    for args in [&["--json"][..], &["--json", "--port", &port][..]] {
        let out = ns.tw_inspect(args);
        assert!(
            !out.stdout.contains(&0x1b) && !out.stdout.contains(&0x07),
            "{args:?}"
        );
        let raw = text(&out.stdout);
        assert!(raw.contains(r"\u001b[31mevil"), "{args:?}: {raw}");
        let doc = common::json(&out);
        let listener = doc["sockets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["local_port"] == PORT)
            .unwrap();
        let process = &listener["processes"][0];
        assert_eq!(process["comm"], "\u{1b}[31mevil");
        let cmdline = process["cmdline"].as_str().unwrap();
        assert!(
            cmdline.contains(CMDLINE_ARG) && cmdline.contains(C1_ARG),
            "{cmdline:?}"
        );
    }
}

#[test]
fn the_dashboard_draws_the_escapes_as_text() {
    require_netns!();
    let ns = Netns::new();
    let _child = hostile(&ns);
    let program = format!(
        "ip netns exec {} {} --tui --port {PORT}; echo EXITED $?; sleep 60",
        ns.name,
        common::BIN
    );
    let Some(tmux) = Tmux::start("escapes", &program) else {
        return;
    };
    let title_before = tmux.display("#{pane_title}");
    let screen = tmux.wait_for("evil", Duration::from_secs(15));
    assert!(
        screen.contains("\\e[31mevil"),
        "name not escaped:\n{screen}"
    );
    // The details of the selected socket show the command line too.
    tmux.keys(&["Enter"]);
    let details = tmux.wait_for("pwned", Duration::from_secs(5));
    assert!(
        details.contains("\\e]0;pwned\\x07"),
        "cmdline not shown escaped:\n{details}"
    );
    assert!(
        details.contains("\\u{9b}31mcsi"),
        "C1 not escaped:\n{details}"
    );
    let colored = tmux.capture(true);
    assert!(
        !colored.contains("\u{1b}[31mevil"),
        "the process's own color reached the pane:\n{colored:?}"
    );
    let title = tmux.display("#{pane_title}");
    assert!(!title.contains("pwned"), "pane title changed to {title:?}");
    assert_eq!(title, title_before);
    tmux.quit_cleanly();
}
