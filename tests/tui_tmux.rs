//! The dashboard in a real terminal (tmux): a server-side TIME_WAIT on the
//! chosen port shows with its peer port and a countdown that goes down; `q`
//! ends the program and the terminal comes back. `d` then `y` destroys the
//! selected TIME_WAIT; `F` then `y` destroys all the port's TIME_WAITs at
//! once, and the port turns FREE. A UDP holder blocks a UDP bind, and the
//! table shows its UDP row.
mod common;
mod support;

use std::time::Duration;

use common::{sockets, Netns};
use support::Tmux;

/// `tw-inspect --tui --port 9527` in `ns`, in a private tmux server; the
/// pane prints "EXITED <code>" when the program ends. None when no tmux.
fn start_dashboard(name: &str, ns: &Netns) -> Option<Tmux> {
    start_dashboard_with(name, ns, "--tui --port 9527")
}

/// `tw-inspect ARGS` in `ns`, as [`start_dashboard`].
fn start_dashboard_with(name: &str, ns: &Netns, args: &str) -> Option<Tmux> {
    let program = format!(
        "ip netns exec {} {} {args}; echo EXITED $?; sleep 60",
        ns.name,
        common::BIN
    );
    Tmux::start(name, &program)
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

#[test]
fn dashboard_counts_down_a_blocking_time_wait_and_restores_the_terminal() {
    require_netns!();
    let ns = Netns::new();
    let client = ns.run(|| {
        sockets::server_side_time_wait("127.0.0.1:9527".parse().unwrap(), Default::default())
    });
    let Some(tmux) = start_dashboard("countdown", &ns) else {
        return;
    };

    let first = tmux.wait_for("BLOCKED", Duration::from_secs(10));
    let peer = format!(":{}", client.port());
    assert!(first.contains(&peer), "peer port not shown:\n{first}");
    let before =
        countdown(&first, client.port()).unwrap_or_else(|| panic!("no countdown:\n{first}"));
    std::thread::sleep(Duration::from_secs(2));
    let second = tmux.capture(false);
    let after =
        countdown(&second, client.port()).unwrap_or_else(|| panic!("no countdown:\n{second}"));
    assert!(
        after < before,
        "countdown did not go down: {before} then {after}"
    );

    let end = tmux.quit_cleanly();
    // Back on the normal screen: the dashboard is gone from view.
    assert!(
        !end.contains("BLOCKED"),
        "alternate screen not left:\n{end}"
    );
}

#[test]
fn d_destroys_the_selected_time_wait_after_confirmation() {
    require_netns!();
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
    let Some(tmux) = start_dashboard("free", &ns) else {
        return;
    };
    let blocked = tmux.wait_for("BLOCKED", Duration::from_secs(10));
    assert!(blocked.contains("BLOCKED"), "not blocked:\n{blocked}");

    // The only socket, so the selected row: the TIME_WAIT.
    tmux.keys(&["d"]);
    let dialog = tmux.wait_for("late segments", Duration::from_secs(5));
    let four_tuple = format!("127.0.0.1:9527 → 127.0.0.1:{}", client.port());
    assert!(
        dialog.contains("TIME_WAIT guards against late segments") && dialog.contains(&four_tuple),
        "no confirmation naming the socket:\n{dialog}"
    );
    assert!(time_wait_on_port(&ns), "destroyed before the answer");

    tmux.keys(&["y"]);
    // The status line comes at once; the panel turns FREE with the reading
    // that follows.
    let status = tmux.wait_for("Destroyed TIME_WAIT", Duration::from_secs(10));
    assert!(
        status.contains(&format!("Destroyed TIME_WAIT {four_tuple}.")),
        "no status line:\n{status}"
    );
    let free = tmux.wait_for(" FREE ", Duration::from_secs(10));
    assert!(free.contains(" FREE "), "panel did not turn FREE:\n{free}");
    assert!(!time_wait_on_port(&ns), "ss still shows the TIME_WAIT");

    tmux.quit_cleanly();
}

/// The port's TIME_WAITs in `ns`, as `ss` lists them.
fn time_waits_on(ns: &Netns, local: &str) -> usize {
    ns.ss(&["-tanH"])
        .lines()
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.first() == Some(&"TIME-WAIT") && fields.get(3) == Some(&local)
        })
        .count()
}

#[test]
fn free_port_key_destroys_every_time_wait_of_the_port_after_one_confirmation() {
    require_netns!();
    let ns = Netns::new();
    let reuse = sockets::Opts {
        reuseaddr: true,
        ..Default::default()
    };
    let (_elsewhere, clients) = ns.run(|| {
        let elsewhere = sockets::listen_with("127.0.0.1:9600".parse().unwrap(), reuse);
        let clients: Vec<_> = (0..4)
            .map(|_| sockets::server_side_time_wait("127.0.0.1:9527".parse().unwrap(), reuse))
            .collect();
        (elsewhere, clients)
    });
    assert_eq!(time_waits_on(&ns, "127.0.0.1:9527"), 4);
    let Some(tmux) = start_dashboard("free-port", &ns) else {
        return;
    };
    let blocked = tmux.wait_for("BLOCKED", Duration::from_secs(10));
    assert!(blocked.contains("BLOCKED"), "not blocked:\n{blocked}");

    tmux.keys(&["F"]);
    let dialog = tmux.wait_for("late segments", Duration::from_secs(5));
    assert!(
        dialog.contains("Free port 9527: destroy its 4 blocking socket(s)")
            && dialog.contains("4 × TIME_WAIT, expire in")
            && dialog.contains(&format!("127.0.0.1:9527 → 127.0.0.1:{}", clients[0].port())),
        "no one confirmation for the whole port:\n{dialog}"
    );
    assert_eq!(
        time_waits_on(&ns, "127.0.0.1:9527"),
        4,
        "destroyed before the answer"
    );

    tmux.keys(&["y"]);
    let free = tmux.wait_for(" FREE ", Duration::from_secs(5));
    assert!(free.contains(" FREE "), "panel did not turn FREE:\n{free}");
    assert!(
        free.contains("Destroyed 4 socket(s)."),
        "no status line:\n{free}"
    );
    assert_eq!(
        time_waits_on(&ns, "127.0.0.1:9527"),
        0,
        "ss still shows TIME_WAITs"
    );
    let listening = ns.ss(&["-tlnH"]);
    assert!(
        listening.contains("127.0.0.1:9600"),
        "the listener elsewhere was touched:\n{listening}"
    );

    tmux.quit_cleanly();
}

/// The dashboard line of the UDP socket on `local`: "UDP   UNCONN  local".
fn udp_row<'a>(screen: &'a str, local: &str) -> Option<&'a str> {
    screen.lines().find(|line| {
        let words: Vec<&str> = line.trim_start_matches('!').split_whitespace().collect();
        words.starts_with(&["UDP", "UNCONN", local])
    })
}

#[test]
fn udp_holder_blocks_a_udp_bind_and_shows_as_a_udp_row() {
    require_netns!();
    let ns = Netns::new();
    let _holder =
        ns.run(|| sockets::bind_udp("0.0.0.0:9527".parse().unwrap(), Default::default()).unwrap());
    // The kernel's own answer: a second plain UDP bind fails.
    assert!(
        !ns.run(|| sockets::bind_udp("0.0.0.0:9527".parse().unwrap(), Default::default()).is_ok())
    );
    let Some(tmux) = start_dashboard_with("udp", &ns, "--tui --udp --port 9527") else {
        return;
    };
    let blocked = tmux.wait_for("BLOCKED", Duration::from_secs(10));
    assert!(
        blocked.contains("bind UDP 0.0.0.0:9527"),
        "the panel does not judge a UDP bind:\n{blocked}"
    );
    let row = udp_row(&blocked, "0.0.0.0:9527").unwrap_or_else(|| panic!("no UDP row:\n{blocked}"));
    assert!(row.starts_with('!'), "the UDP holder is not marked:\n{row}");
    assert!(
        row.contains(&format!("pid {}", std::process::id())),
        "the holder's pid is missing:\n{row}"
    );

    // u twice: all, then tcp; the tcp table has no UDP row.
    tmux.keys(&["u", "u"]);
    tmux.wait_for("· tcp ·", Duration::from_secs(5));
    // The next reading still reads UDP, for the verdict.
    let tcp_only = tmux.wait_for("BLOCKED", Duration::from_secs(10));
    assert!(tcp_only.contains("· tcp ·"), "{tcp_only}");
    assert!(udp_row(&tcp_only, "0.0.0.0:9527").is_none(), "{tcp_only}");
    assert!(
        tcp_only.contains("BLOCKED"),
        "the UDP verdict stays:\n{tcp_only}"
    );

    tmux.quit_cleanly();
}

#[test]
fn all_netns_dashboard_names_each_namespace_that_holds_the_port() {
    require_netns!();
    let (blue, red, observer) = (Netns::new(), Netns::new(), Netns::new());
    let port = 9533;
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let _blue_listener = blue.run(|| sockets::listen_with(addr, Default::default()));
    let _red_listener = red.run(|| sockets::listen_with(addr, Default::default()));
    // The kernel's own answer in each: the port is taken there.
    assert!(!blue.run(|| sockets::kernel_allows(addr, Default::default())));
    assert!(!red.run(|| sockets::kernel_allows(addr, Default::default())));
    let args = format!("--tui --all-netns --port {port}");
    let Some(tmux) = start_dashboard_with("all-netns", &observer, &args) else {
        return;
    };
    tmux.wait_for("BLOCKED", Duration::from_secs(20));
    // Other namespaces of the host (other tests') fill the table: show only
    // the port's rows.
    tmux.keys(&["/"]);
    tmux.keys(&[&port.to_string()]);
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for(&format!("filter \"{port}\""), Duration::from_secs(10));
    assert!(screen.contains("all namespaces ("), "header:\n{screen}");
    // Both namespaces in the port panel's list and as the rows' namespace.
    for ns in [&blue, &red] {
        let row = screen.lines().find(|line| {
            line.starts_with('!') && line.contains(&ns.name) && line.contains(&format!("{addr}"))
        });
        assert!(row.is_some(), "no blocking row in {}:\n{screen}", ns.name);
        assert!(
            screen.contains(&format!("{} BLOCKED", ns.name)),
            "{} not listed as blocking:\n{screen}",
            ns.name
        );
    }
    assert!(
        !screen.contains(&format!("{} BLOCKED", observer.name)),
        "the observer holds nothing:\n{screen}"
    );

    // n moves the panel's verdict to the next namespace on the port.
    let shown = |screen: &str| {
        [&blue, &red]
            .into_iter()
            .find(|ns| screen.contains(&format!("▸ {}", ns.name)))
            .map(|ns| ns.name.clone())
    };
    let before = shown(&screen).unwrap_or_else(|| panic!("none marked:\n{screen}"));
    tmux.keys(&["n"]);
    let mut after = None;
    for _ in 0..50 {
        after = shown(&tmux.capture(false)).filter(|name| *name != before);
        if after.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(after.is_some(), "n did not pick another namespace");

    tmux.quit_cleanly();
}

/// The dashboard runs the kernel watcher: a TIME_WAIT left by a process
/// gone before any reading names it (the kernel's record); a process in
/// its namespace whose bind() fails shows in the bind failures panel (`w`) with its pid and
/// its blocker, and `W` then Enter shows its verdict. When the watcher
/// cannot run here the header must say so instead.
#[test]
fn failures_panel_lists_a_bind_that_failed_in_the_namespace() {
    require_netns!();
    if std::process::Command::new("python3")
        .arg("-V")
        .output()
        .is_err()
    {
        eprintln!("SKIP failures_panel: python3 is not installed");
        return;
    }
    let ns = Netns::new();
    let _holder =
        ns.run(|| sockets::listen_with("127.0.0.1:9531".parse().unwrap(), Default::default()));
    let Some(tmux) = start_dashboard_with("failures", &ns, "--tui") else {
        return;
    };
    let first = tmux.wait_for("LIVE", Duration::from_secs(10));
    if let Some(line) = first.lines().find(|l| l.contains("bind failures: off")) {
        eprintln!("SKIP failures_panel: the watcher cannot run here: {line}");
        tmux.keys(&["q"]);
        return;
    }
    // A connection its server closes first, in a process that is gone
    // before the next reading: only the kernel's record can name who left
    // the TIME_WAIT.
    let out = ns
        .exec("python3")
        .args([
            "-c",
            "import os, socket, time\n\
             l = socket.socket()\n\
             l.bind(('127.0.0.1', 9532)); l.listen()\n\
             c = socket.create_connection(('127.0.0.1', 9532)); a, _ = l.accept()\n\
             a.close(); time.sleep(0.1); c.close(); print(os.getpid())",
        ])
        .output()
        .expect("run python3");
    let closer = support::text(&out.stdout).trim().to_string();
    let left = tmux.wait_for(
        &format!("left by pid {closer} python3"),
        Duration::from_secs(10),
    );
    assert!(
        left.lines()
            .any(|l| l.contains("TIME_WAIT") && l.contains(&format!("left by pid {closer}"))),
        "{left}"
    );

    tmux.keys(&["w"]);
    tmux.wait_for("Bind failures (w closes", Duration::from_secs(5));
    // The kernel's own answer: this bind fails with EADDRINUSE.
    let out = ns
        .exec("python3")
        .args([
            "-c",
            "import errno, os, socket\n\
             s = socket.socket()\n\
             try:\n    s.bind(('127.0.0.1', 9531)); print(os.getpid(), 'bound')\n\
             except OSError as e:\n    print(os.getpid(), errno.errorcode[e.errno])",
        ])
        .output()
        .expect("run python3");
    let text = support::text(&out.stdout);
    let [pid, outcome] = text.split_whitespace().collect::<Vec<_>>()[..] else {
        panic!("python3 printed {text:?}");
    };
    assert_eq!(outcome, "EADDRINUSE", "the bind did not fail");
    let listed = tmux.wait_for(&format!("pid {pid} python3"), Duration::from_secs(10));
    let line = listed
        .lines()
        .find(|l| l.contains(&format!("pid {pid} python3")))
        .unwrap_or_default();
    assert!(line.contains("tcp 127.0.0.1:9531"), "{listed}");
    assert!(line.contains("BLOCKED"), "{listed}");
    assert!(line.contains("LISTEN 127.0.0.1:9531"), "{listed}");

    tmux.keys(&["W", "Enter"]);
    let verdict = tmux.wait_for("Failed bind · pid", Duration::from_secs(5));
    assert!(
        verdict.contains(&format!("Failed bind · pid {pid} python3")),
        "{verdict}"
    );
    tmux.quit_cleanly();
}

/// As nobody the kernel refuses the watcher: the dashboard runs anyway and
/// its header says the bind failures panel is off, and why.
#[test]
fn dashboard_without_the_watcher_says_so_in_its_header() {
    require_netns!();
    if std::process::Command::new("setpriv")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIP header_off: setpriv (util-linux) is not installed");
        return;
    }
    let ns = Netns::new();
    let program = format!(
        "ip netns exec {} setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all -- {} --tui; echo EXITED $?; sleep 60",
        ns.name,
        common::BIN
    );
    let Some(tmux) = Tmux::start("header-off", &program) else {
        return;
    };
    let screen = tmux.wait_for("LIVE", Duration::from_secs(10));
    assert!(
        screen.contains("bind failures: off — not root (uid 65534)"),
        "{screen}"
    );
    tmux.keys(&["w"]);
    let panel = tmux.wait_for("Bind failures (w closes", Duration::from_secs(5));
    assert!(panel.contains("off — not root"), "{panel}");
    tmux.quit_cleanly();
}
