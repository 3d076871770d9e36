//! Output tests on a fixture table: the human report's layout and the JSON
//! schema's names, without a kernel.

use crate::diagnosis::{Blocker, Conflict, IntendedBind, Probe, ProbeKind, Reason, Verdict};
use crate::errno::Errno;
use crate::model::{Process, Socket, SocketTable, SourceKind, StateSet, TcpState};
use crate::output::{human, json};
use crate::testing;

fn time_wait() -> Socket {
    Socket {
        cookie: Some(u64::MAX - 1),
        ..testing::time_wait("127.0.0.1:9527", "127.0.0.1:36650", 43_210)
    }
}

fn listener_with_hostile_name() -> Socket {
    Socket {
        inode: 123_456,
        uid: 1000,
        processes: vec![Process {
            pid: 4242,
            comm: "evil\x1b[2J".to_string(),
            cmdline: "evil --title \x1b]0;pwned\x07".to_string(),
            ..Process::default()
        }],
        ..testing::listener("[::]:9527")
    }
}

fn table() -> SocketTable {
    SocketTable {
        source: SourceKind::Netlink,
        sockets: vec![time_wait(), listener_with_hostile_name()],
        skipped_rows: 0,
        owners_unseen: 2,
    }
}

fn bind() -> IntendedBind {
    testing::bind("0.0.0.0:9527")
}

fn verdict() -> Verdict {
    Verdict {
        bind: bind(),
        blocked: true,
        refused: None,
        free_in_ms: Some(43_210),
        blockers: vec![Blocker {
            socket: time_wait(),
            reason: Reason::TimeWait,
            conflict: Conflict::Yes,
            why: "a TIME_WAIT on the same address and port".into(),
        }],
        probes: vec![Probe {
            bind: bind(),
            kind: ProbeKind::Intended,
            ok: false,
            errno: Some(Errno::EADDRINUSE),
        }],
        explanation: "The old server closed first.".to_string(),
        client_time_waits: 0,
        advice: vec!["tw-inspect --port 9527 --wait".to_string()],
    }
}

fn render(f: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut out = Vec::new();
    f(&mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn listing_is_aligned_counted_and_inert() {
    let text = render(|out| {
        human::write_listing(
            out,
            &table(),
            human::Style {
                color: false,
                verbose: false,
            },
        )
        .unwrap()
    });
    insta::assert_snapshot!(text);
    assert!(!text.contains('\x1b'));
}

#[test]
fn report_marks_blockers_without_color() {
    let text = render(|out| {
        human::write_report(
            out,
            &table(),
            &verdict(),
            human::Style {
                color: false,
                verbose: false,
            },
            human::ReportScope::default(),
        )
        .unwrap()
    });
    insta::assert_snapshot!(text);
    let blocker_line = text.lines().find(|l| l.contains("36650")).unwrap();
    assert!(blocker_line.starts_with('!'), "{blocker_line}");
}

#[test]
fn color_never_lets_process_escapes_through() {
    let text = render(|out| {
        human::write_report(
            out,
            &table(),
            &verdict(),
            human::Style {
                color: true,
                verbose: false,
            },
            human::ReportScope::default(),
        )
        .unwrap()
    });
    assert!(text.contains("\x1b["), "color was asked for");
    assert!(
        !text.contains("\x1b[2J"),
        "process escape reached the terminal"
    );
    assert!(text.contains("evil\\e[2J"));
}

#[test]
fn json_keeps_the_v1_names_and_escapes_control_bytes() {
    let text =
        render(|out| json::write_report(out, &table(), &verdict(), None, None, false).unwrap());
    assert!(!text.contains('\x1b'), "raw escape byte in JSON");
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["source"], "netlink");
    assert_eq!(doc["port"], 9527);
    assert_eq!(doc["counts"]["TIME_WAIT"], 1);
    assert_eq!(doc["owners_unseen"], 2);
    let tw = &doc["sockets"][0];
    for (key, value) in [
        ("family", "ipv4"),
        ("state", "TIME_WAIT"),
        ("local_addr", "127.0.0.1"),
        ("remote_addr", "127.0.0.1"),
        ("timer", "timewait"),
        ("cookie", "18446744073709551614"),
    ] {
        assert_eq!(tw[key], value, "{key}");
    }
    assert_eq!(tw["local_port"], 9527);
    assert_eq!(tw["remote_port"], 36650);
    assert_eq!(tw["expires_ms"], 43210);
    assert_eq!(tw["processes"], serde_json::json!([]));
    let listen = &doc["sockets"][1];
    assert_eq!(listen["local_addr"], "::");
    assert_eq!(listen["remote_port"], 0);
    assert_eq!(listen["timer"], serde_json::Value::Null);
    assert_eq!(listen["processes"][0]["comm"], "evil\x1b[2J");
    let verdict = &doc["verdict"];
    assert_eq!(verdict["blocked"], true);
    assert_eq!(verdict["refused"], serde_json::Value::Null);
    assert_eq!(verdict["free_in_ms"], 43210);
    assert_eq!(verdict["bind"]["addr"], "0.0.0.0");
    assert_eq!(verdict["bind"]["reuseaddr"], false);
    assert_eq!(verdict["blockers"][0]["reason"], "time_wait");
    assert_eq!(verdict["blockers"][0]["remote_port"], 36650);
    assert_eq!(verdict["probes"][0]["errno"], "EADDRINUSE");
    assert_eq!(verdict["probes"][0]["ok"], false);
    assert_eq!(verdict["probes"][0]["port"], 9527);
    assert_eq!(verdict["advice"][0], "tw-inspect --port 9527 --wait");
}

#[test]
fn json_without_port_has_no_port_or_verdict() {
    let text = render(|out| json::write_listing(out, &table(), None, true).unwrap());
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(doc.get("port").is_none());
    assert!(doc.get("verdict").is_none());
}

fn plain_report(table: &SocketTable, verdict: &Verdict, shown: StateSet) -> String {
    let scope = human::ReportScope {
        shown,
        captured_at: None,
    };
    render(|out| human::write_report(out, table, verdict, human::Style::default(), scope).unwrap())
}

#[test]
fn captured_estimates_count_from_the_capture() {
    use std::time::{Duration, SystemTime};
    let captured = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_058_723);
    assert_eq!(human::utc_text(captured), "2026-11-30 17:12:03 UTC");
    assert_eq!(
        human::utc_text(SystemTime::UNIX_EPOCH),
        "1970-01-01 00:00:00 UTC"
    );
    let soon = human::captured_free_text(61_000, captured, captured + Duration::from_secs(20));
    assert_eq!(
        soon,
        "free ~61.0s after the capture (files modified 2026-11-30 17:12:03 UTC, 20s ago): about 41.0s from now"
    );
    let later = human::captured_free_text(61_000, captured, captured + Duration::from_secs(300));
    assert!(
        later.contains("5m00s ago): on that host the port has likely freed since"),
        "{later}"
    );
}

#[test]
fn state_filter_shows_less_but_says_what_it_left_out() {
    let listener = testing::listener("0.0.0.0:9527");
    let table = SocketTable {
        sockets: vec![listener.clone()],
        owners_unseen: 0,
        ..table()
    };
    let verdict = Verdict {
        free_in_ms: None,
        blockers: vec![Blocker {
            socket: listener,
            reason: Reason::Listen,
            conflict: Conflict::Yes,
            why: "a listener".into(),
        }],
        ..verdict()
    };
    let text = plain_report(&table, &verdict, [TcpState::TimeWait].into_iter().collect());
    assert!(!text.contains("no TCP socket uses port"), "{text}");
    assert!(
        text.contains("1 socket on the port not shown (--state filters what is shown, not what is judged): LISTEN 1"),
        "{text}"
    );
    // Every state shown: nothing to say.
    let text = plain_report(&table, &verdict, StateSet::all());
    assert!(!text.contains("not shown"), "{text}");
    assert!(text.contains("! LISTEN"), "{text}");
}

#[test]
fn refusals_are_not_called_blocked() {
    for (errno, headline) in [
        (Errno::EADDRNOTAVAIL, "CANNOT BIND: no such address"),
        (Errno::ENODEV, "CANNOT BIND: no such device"),
        (Errno::EACCES, "CANNOT BIND: permission denied"),
        (Errno::EADDRINUSE, "BLOCKED"),
    ] {
        let verdict = Verdict {
            refused: (errno != Errno::EADDRINUSE).then_some(errno),
            ..verdict()
        };
        let text = plain_report(&table(), &verdict, StateSet::all());
        let first = text.lines().next().unwrap();
        assert!(
            first.ends_with(&format!(": {headline}")),
            "{errno}: {first}"
        );
    }
}
