//! Frames drawn into a TestBackend at a fixed `now`, compared with insta
//! snapshots (text only); color is checked on cell styles.

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use ratatui::Terminal;

use crate::tui::app::{App, Mode};
use crate::tui::test_fixtures::{
    established, failure, header, listen, request_8080, scenario, table, time_wait, udp,
};
use crate::tui::{Snapshot, TuiConfig};

/// The scenario on port 8080, read 250 ms before `now`, after a reading in
/// which nginx still owned the connection that is now the first TIME_WAIT.
fn scenario_app(color: bool) -> (App, Instant) {
    let mut config = TuiConfig::new("netlink");
    config.port = Some(8080);
    config.color = color;
    let mut app = App::new(config);
    let first_read = Instant::now();
    app.apply_reading(Ok(Snapshot {
        request: request_8080(),
        table: table(vec![established(
            "127.0.0.1:8080",
            "127.0.0.1:51234",
            Some((1234, "nginx")),
        )]),
        verdict: None,
        rule_context: None,
        header: header(),
        read_at: first_read,
        everywhere: None,
        pressure: None,
    }));
    let read_at = first_read + Duration::from_secs(1);
    app.apply_reading(Ok(scenario(read_at)));
    (app, read_at + Duration::from_millis(250))
}

fn draw(app: &mut App, now: Instant, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    terminal
        .draw(|frame| super::draw(frame, app, now))
        .expect("draw");
    terminal
}

fn key(app: &mut App, code: KeyCode) {
    app.handle_key(KeyEvent::new(code, KeyModifiers::NONE));
}

fn line_text(buffer: &Buffer, y: u16) -> String {
    (0..buffer.area.width)
        .map(|x| buffer[(x, y)].symbol())
        .collect()
}

#[test]
fn dashboard_80x24() {
    let (mut app, now) = scenario_app(false);
    insta::assert_snapshot!(draw(&mut app, now, 80, 24).backend());
}

#[test]
fn dashboard_200x60() {
    let (mut app, now) = scenario_app(false);
    insta::assert_snapshot!(draw(&mut app, now, 200, 60).backend());
}

#[test]
fn a_failed_reading_marks_the_screen_stale() {
    let (mut app, now) = scenario_app(false);
    app.apply_reading(Err(crate::Error::Netlink("ENOBUFS".to_string())));
    let text = draw(&mut app, now, 100, 24).backend().to_string();
    assert!(text.contains("✖ STALE"), "{text}");
    assert!(!text.contains("LIVE"), "{text}");
    assert!(
        text.contains("reading failed: sock_diag: ENOBUFS  (showing the last good reading)"),
        "{text}"
    );
    // The next good reading makes it live again.
    app.apply_reading(Ok(scenario(now)));
    let text = draw(&mut app, now, 100, 24).backend().to_string();
    assert!(text.contains("● LIVE") && !text.contains("STALE"), "{text}");
}

#[test]
fn countdowns_move_between_readings() {
    let (mut app, now) = scenario_app(false);
    let later = now + Duration::from_millis(5_300);
    let text = draw(&mut app, later, 80, 24).backend().to_string();
    // 41.65 s at the reading, 5.55 s later.
    assert!(text.contains("36.1s"), "{text}");
    let expired = draw(&mut app, now + Duration::from_secs(90), 80, 24)
        .backend()
        .to_string();
    assert!(expired.contains("0.0s"), "{expired}");
}

#[test]
fn process_names_are_drawn_escaped() {
    let (mut app, now) = scenario_app(false);
    for (width, height) in [(80, 24), (200, 60)] {
        let text = draw(&mut app, now, width, height).backend().to_string();
        assert!(text.contains("evil\\e[2Jname"), "{text}");
        assert!(!text.contains('\x1b'));
    }
}

#[test]
fn details_of_a_blocking_listener() {
    let (mut app, now) = scenario_app(false);
    // Among the listeners, 0.0.0.0:8080 sorts first.
    key(&mut app, KeyCode::Char('3'));
    key(&mut app, KeyCode::Enter);
    insta::assert_snapshot!(draw(&mut app, now, 80, 24).backend());
}

#[test]
fn details_of_a_socket_that_does_not_block() {
    let (mut app, now) = scenario_app(false);
    key(&mut app, KeyCode::Char('4'));
    key(&mut app, KeyCode::Enter);
    let text = draw(&mut app, now, 200, 60).backend().to_string();
    assert!(
        text.contains("Does not block: It is on port 22, not 8080."),
        "{text}"
    );
    assert!(text.contains("keepalive"), "{text}");
}

#[test]
fn help_overlay_80x24() {
    let (mut app, now) = scenario_app(false);
    key(&mut app, KeyCode::Char('?'));
    insta::assert_snapshot!(draw(&mut app, now, 80, 24).backend());
    // The keys of prompts and overlays follow: End shows the last table.
    key(&mut app, KeyCode::End);
    let end = draw(&mut app, now, 80, 24).backend().to_string();
    assert!(end.contains("When asked to destroy (F, d)"), "{end}");
    assert!(
        end.contains("n N Esc       keep them: destroy nothing"),
        "{end}"
    );
    assert!(!end.contains("choose the port to diagnose"), "{end}");
}

#[test]
fn no_port_chosen_and_port_prompt() {
    let mut config = TuiConfig::new("proc");
    config.color = false;
    let mut app = App::new(config);
    let read_at = Instant::now();
    let mut snapshot = scenario(read_at);
    snapshot.verdict = None;
    app.apply_reading(Ok(snapshot));
    key(&mut app, KeyCode::Char('p'));
    key(&mut app, KeyCode::Char('8'));
    key(&mut app, KeyCode::Char('0'));
    insta::assert_snapshot!(draw(&mut app, read_at, 80, 24).backend());
}

#[test]
fn blocker_rows_are_marked_with_and_without_color() {
    for color in [true, false] {
        let (mut app, now) = scenario_app(color);
        let terminal = draw(&mut app, now, 80, 24);
        let buffer = terminal.backend().buffer();
        let mut blockers = 0;
        let mut others = 0;
        for y in 0..buffer.area.height {
            let text = line_text(buffer, y);
            let state_cell = &buffer[(2, y)];
            if text.starts_with("! ") {
                blockers += 1;
                assert!(state_cell.modifier.contains(Modifier::BOLD), "{text}");
                let expected = if color { Color::LightRed } else { Color::Reset };
                assert_eq!(state_cell.fg, expected, "{text}");
            } else if text.starts_with("  LISTEN") || text.starts_with("  ESTABLISHED") {
                others += 1;
                assert_eq!(state_cell.fg, Color::Reset, "{text}");
            }
        }
        // Three in the port panel, three in the table.
        assert_eq!(blockers, 6, "color {color}");
        assert!(others >= 2);
        if !color {
            let colored = buffer
                .content()
                .iter()
                .any(|cell| cell.fg != Color::Reset || cell.bg != Color::Reset);
            assert!(!colored, "NO_COLOR draws no color at all");
        }
    }
}

#[test]
fn verdict_sentences_are_drawn_escaped() {
    let (mut app, now) = scenario_app(false);
    let snapshot = app.snapshot.as_mut().expect("snapshot");
    let verdict = snapshot.verdict.as_mut().expect("verdict");
    verdict.explanation = "held by \x1b]0;owned\x07".to_string();
    verdict.advice = vec!["kill \x1b[5m".to_string()];
    verdict.blockers[0].why = "why \x1b[1m".into();
    let text = draw(&mut app, now, 200, 60).backend().to_string();
    assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text}");
    assert!(text.contains("held by \\e]0;owned\\x07"), "{text}");
}

#[test]
fn tiny_terminals_do_not_panic() {
    for mode_key in [None, Some('?'), Some('p'), Some('/')] {
        for (width, height) in [(1, 1), (10, 3), (30, 8), (79, 12), (120, 40)] {
            let (mut app, now) = scenario_app(true);
            if let Some(c) = mode_key {
                key(&mut app, KeyCode::Char(c));
            }
            draw(&mut app, now, width, height);
            key(&mut app, KeyCode::Enter);
            draw(&mut app, now, width, height);
        }
    }
}

#[test]
fn details_judge_other_sockets_in_the_verdicts_rule_context() {
    // The bind names a device; only the collector's context knows its index
    // (3): a socket on device 5 is then certainly no conflict.
    let mut config = TuiConfig::new("netlink");
    config.port = Some(8080);
    config.options.device = Some("eth9".to_string());
    config.color = false;
    let mut app = App::new(config);
    let read_at = Instant::now();
    let mut snapshot = scenario(read_at);
    snapshot.request = app.request();
    let verdict = snapshot.verdict.as_mut().expect("verdict");
    verdict.bind.device = Some("eth9".to_string());
    if let Some(ctx) = snapshot.rule_context.as_mut() {
        ctx.bind_ifindex = Some(3);
    }
    let mut on_device = listen("10.0.0.5:8080", (77, "other"));
    on_device.bound_device = 5;
    snapshot.table.sockets.push(on_device);
    app.apply_reading(Ok(snapshot));
    key(&mut app, KeyCode::Char('/'));
    for c in "10.0.0.5:8080".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Enter);
    let text = draw(&mut app, read_at, 200, 60).backend().to_string();
    assert!(
        text.contains("Does not block: It is bound to device #5 and the bind to eth9"),
        "{text}"
    );
}

#[test]
fn explain_overlay_80x24_shows_the_whole_verdict_and_scrolls_to_its_end() {
    let (mut app, now) = scenario_app(false);
    let panel = draw(&mut app, now, 80, 24).backend().to_string();
    assert!(
        !panel.contains("Waiting does not help"),
        "the panel shows only the headline"
    );
    key(&mut app, KeyCode::Char('e'));
    insta::assert_snapshot!(draw(&mut app, now, 80, 24).backend());
    for _ in 0..50 {
        key(&mut app, KeyCode::Down);
    }
    let end = draw(&mut app, now, 80, 24).backend().to_string();
    assert!(end.contains("→ Set SO_REUSEADDR"), "{end}");
    // The scroll stopped at the last screenful: one key up moves at once.
    let Mode::Explain { scroll } = app.mode else {
        panic!("explain open");
    };
    key(&mut app, KeyCode::Up);
    assert_eq!(app.mode, Mode::Explain { scroll: scroll - 1 });
    // Home, then End reaches the real end at once.
    key(&mut app, KeyCode::Home);
    assert_eq!(app.mode, Mode::Explain { scroll: 0 });
    key(&mut app, KeyCode::End);
    let end = draw(&mut app, now, 80, 24).backend().to_string();
    assert!(end.contains("→ Set SO_REUSEADDR"), "{end}");
    assert_eq!(app.mode, Mode::Explain { scroll });
}

/// The scenario with `count` TIME_WAITs on port 8080 and no listener: the
/// verdict blames every one of them.
fn many_time_waits_app(count: u16) -> (App, Instant) {
    let (mut app, now) = scenario_app(false);
    let mut snapshot = scenario(now - Duration::from_millis(250));
    let verdict = snapshot.verdict.as_mut().expect("verdict");
    let template = verdict.blockers[0].clone();
    verdict.blockers = (0..count)
        .map(|i| {
            let mut blocker = template.clone();
            blocker.socket = time_wait(
                "127.0.0.1:8080",
                &format!("127.0.0.1:{}", 20_000 + i),
                1_000 + u64::from(i) * 3,
            );
            blocker
        })
        .collect();
    snapshot.table.sockets = verdict.blockers.iter().map(|b| b.socket.clone()).collect();
    app.apply_reading(Ok(snapshot));
    (app, now)
}

#[test]
fn free_port_confirmation_summarises_19k_blockers() {
    let (mut app, now) = many_time_waits_app(19_098);
    key(&mut app, KeyCode::Char('F'));
    let Mode::ConfirmFree {
        targets,
        whole_port,
    } = &app.mode
    else {
        panic!("asks first: {:?}", app.status);
    };
    assert_eq!((targets.len(), *whole_port), (19_098, true));
    insta::assert_snapshot!(draw(&mut app, now, 80, 24).backend());
}

#[test]
fn explain_summarises_many_blockers_and_end_reaches_what_to_do() {
    let (mut app, now) = many_time_waits_app(19_098);
    key(&mut app, KeyCode::Char('e'));
    let first = draw(&mut app, now, 100, 40).backend().to_string();
    assert!(
        first.contains("19098 × TIME_WAIT, expire in 0.8s to 58.1s"),
        "{first}"
    );
    assert!(first.contains("… and 19095 more"), "{first}");
    assert!(first.contains("What to do"), "{first}");
    key(&mut app, KeyCode::End);
    let end = draw(&mut app, now, 100, 40).backend().to_string();
    assert!(end.contains("→ Set SO_REUSEADDR"), "{end}");
}

/// The bottom line of every mode, from the mode's key table.
#[test]
fn hint_bar_per_mode() {
    let bottom = |app: &mut App, now| {
        let buffer = draw(app, now, 100, 30).backend().buffer().clone();
        line_text(&buffer, 29)
    };
    let (mut app, now) = scenario_app(false);
    let mut bars = vec![format!("normal:  {}", bottom(&mut app, now))];
    for (name, keys) in [
        ("port:    ", "p80"),
        ("filter:  ", "/ngx"),
        ("help:    ", "?"),
        ("details: ", "\n"),
        ("explain: ", "e"),
        ("destroy: ", "9d"),
    ] {
        let (mut app, now) = scenario_app(false);
        for c in keys.chars() {
            let code = if c == '\n' {
                KeyCode::Enter
            } else {
                KeyCode::Char(c)
            };
            key(&mut app, code);
        }
        bars.push(format!("{name}{}", bottom(&mut app, now)));
    }
    insta::assert_snapshot!(bars.join("\n"));
}

#[test]
fn free_asks_in_a_dialog_80x24() {
    let (mut app, now) = scenario_app(false);
    // The chosen port's sockets: the two TIME_WAITs, then the listener.
    key(&mut app, KeyCode::Char('9'));
    key(&mut app, KeyCode::Char('d'));
    insta::assert_snapshot!(draw(&mut app, now, 80, 24).backend());
}

#[test]
fn a_refused_free_says_why_in_the_bottom_line() {
    let (mut app, now) = scenario_app(false);
    key(&mut app, KeyCode::Char('9'));
    key(&mut app, KeyCode::End);
    key(&mut app, KeyCode::Char('d'));
    let buffer = draw(&mut app, now, 200, 60).backend().buffer().clone();
    let bottom = line_text(&buffer, 59);
    assert!(
        bottom.starts_with(
            "Not destroying LISTEN 0.0.0.0:8080 → *: it is held by live process 4321/evil\\e[2Jname; stop that process instead."
        ),
        "{bottom}"
    );
    assert!(bottom.trim_end().ends_with("? help"), "{bottom}");
    // F refuses too: the listener would keep the port blocked.
    key(&mut app, KeyCode::Char('F'));
    let buffer = draw(&mut app, now, 200, 60).backend().buffer().clone();
    let bottom = line_text(&buffer, 59);
    assert!(
        bottom.starts_with(
            "Not freeing port 8080: LISTEN 0.0.0.0:8080 → * is held by live process 4321/evil\\e[2Jname; stop that process instead."
        ),
        "{bottom}"
    );
}

#[test]
fn details_write_the_cookie_in_decimal_as_json_does() {
    let (mut app, now) = scenario_app(false);
    key(&mut app, KeyCode::Char('9'));
    let cookie = app
        .selected_socket()
        .and_then(|socket| socket.cookie)
        .expect("a time-wait with a cookie");
    key(&mut app, KeyCode::Enter);
    let text = draw(&mut app, now, 120, 40).backend().to_string();
    let line = text
        .lines()
        .find(|line| line.contains("cookie"))
        .unwrap_or_else(|| panic!("no cookie line:\n{text}"));
    assert!(line.contains(&format!(" {cookie} ")), "{line}");
    assert!(!line.contains("0x"), "{line}");
}

#[test]
fn udp_rows_show_their_protocol_and_ss_state_names() {
    let (mut app, now) = scenario_app(false);
    let mut reading = scenario(now - Duration::from_millis(250));
    let mut connected = udp("10.0.0.5:41234", (78, "statsd"));
    connected.state = crate::model::TcpState::Established;
    connected.remote = "10.0.0.9:8125".parse().expect("address");
    reading
        .table
        .sockets
        .push(udp("0.0.0.0:5353", (77, "avahi")));
    reading.table.sockets.push(connected);
    key(&mut app, KeyCode::Char('u'));
    key(&mut app, KeyCode::Char('u'));
    reading.request = app.request();
    app.apply_reading(Ok(reading));
    insta::assert_snapshot!(draw(&mut app, now, 100, 30).backend());
}

#[test]
fn owners_show_their_container_or_unit() {
    use crate::model::{Container, Runtime};
    let (mut app, now) = scenario_app(false);
    let mut reading = scenario(now - Duration::from_millis(250));
    let mut in_docker = listen("0.0.0.0:9000", (5150, "api"));
    in_docker.processes[0].container = Some(Container {
        runtime: Runtime::Docker,
        id: "3f4e2a1b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f".to_string(),
        pod_uid: None,
    });
    let mut in_unit = established("10.0.0.5:5432", "10.0.0.12:33010", Some((610, "postgres")));
    in_unit.processes[0].unit = Some("postgresql.service".to_string());
    reading.table.sockets.extend([in_docker, in_unit]);
    app.apply_reading(Ok(reading));
    let terminal = draw(&mut app, now, 120, 30);
    let screen: Vec<String> = (0..30)
        .map(|y| line_text(terminal.backend().buffer(), y))
        .collect();
    let row = |local: &str| {
        screen
            .iter()
            .find(|line| line.contains(local) && line.contains("pid"))
            .cloned()
            .unwrap_or_default()
    };
    assert!(
        row("0.0.0.0:9000").contains("pid 5150 api [docker 3f4e2a1b9c8d]"),
        "{screen:#?}"
    );
    assert!(
        row("10.0.0.5:5432").contains("pid 610 postgres [postgresql.service]"),
        "{screen:#?}"
    );
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn all_namespaces_name_each_row_and_the_blocking_namespaces() {
    let mut config = TuiConfig::new("netlink, all namespaces");
    config.port = Some(8080);
    config.color = false;
    config.all_namespaces = true;
    let mut app = App::new(config);
    let read_at = Instant::now();
    app.apply_reading(Ok(crate::tui::test_fixtures::everywhere_scenario(read_at)));
    let now = read_at + Duration::from_millis(250);
    let first = format!("{:?}", draw(&mut app, now, 100, 24).backend());
    assert!(first.contains("all namespaces (3)"), "{first}");
    assert!(
        first.contains("▸ blue docker 3f4e2a1b9c8d BLOCKED"),
        "{first}"
    );
    assert!(first.contains("net:[4026532300] BLOCKED"), "{first}");
    insta::assert_snapshot!(draw(&mut app, now, 100, 24).backend());
    key(&mut app, KeyCode::Char('n'));
    let next = format!("{:?}", draw(&mut app, now, 100, 24).backend());
    assert!(next.contains("▸ net:[4026532300] BLOCKED"), "{next}");
    assert!(next.contains("pid 5150 api"), "{next}");
    key(&mut app, KeyCode::Char('e'));
    let why = format!("{:?}", draw(&mut app, now, 120, 40).backend());
    assert!(why.contains("· netns net:[4026532300] "), "{why}");
}

#[test]
fn pressure_panel_lists_the_destinations_that_use_up_the_range() {
    let (mut app, now) = scenario_app(false);
    key(&mut app, KeyCode::Char('c'));
    assert!(app.pressure_open);
    let mut reading = scenario(now - Duration::from_millis(250));
    reading.request = app.request();
    reading.pressure = Some(Ok(crate::tui::test_fixtures::pressure()));
    app.apply_reading(Ok(reading));
    let terminal = draw(&mut app, now, 100, 40);
    let screen = format!("{:?}", terminal.backend());
    assert!(screen.contains("10.0.0.20:5432"), "{screen}");
    assert!(screen.contains("… and 1 more destination(s)"), "{screen}");
    assert!(screen.contains(" BLOCKED "), "the verdict stays: {screen}");
    insta::assert_snapshot!(terminal.backend());
    key(&mut app, KeyCode::Char('c'));
    let closed = format!("{:?}", draw(&mut app, now, 100, 40).backend());
    assert!(!closed.contains("10.0.0.20:5432"), "{closed}");
}

#[test]
fn failures_panel_lists_the_latest_and_shows_a_chosen_verdict() {
    let (mut app, now) = scenario_app(false);
    key(&mut app, KeyCode::Char('w'));
    let empty = format!("{:?}", draw(&mut app, now, 100, 30).backend());
    assert!(empty.contains("Bind failures (w closes"), "{empty}");
    assert!(empty.contains("none caught yet"), "{empty}");
    app.add_failure(failure(4100, "python3", false));
    app.add_failure(failure(4242, "nginx", true));
    let terminal = draw(&mut app, now, 100, 30);
    let screen = format!("{:?}", terminal.backend());
    let blocked = screen
        .lines()
        .find(|line| line.contains("pid 4242 nginx"))
        .unwrap_or_default();
    assert!(blocked.contains("16:40:05.242"), "{screen}");
    assert!(blocked.contains("127.0.0.1:8080"), "{screen}");
    assert!(blocked.contains(" BLOCKED "), "{screen}");
    let free = screen
        .lines()
        .find(|line| line.contains("pid 4100 python3"))
        .unwrap_or_default();
    assert!(free.contains(" free now "), "{screen}");
    insta::assert_snapshot!(terminal.backend());
    app.handle_key(KeyEvent::new(KeyCode::Char('W'), KeyModifiers::SHIFT));
    key(&mut app, KeyCode::Enter);
    let verdict = format!("{:?}", draw(&mut app, now, 120, 40).backend());
    assert!(
        verdict.contains("Failed bind · pid 4242 nginx"),
        "{verdict}"
    );
    assert!(verdict.contains("cmdline: nginx --port 8080"), "{verdict}");
    assert!(verdict.contains("What to do"), "{verdict}");
}

#[test]
fn header_says_when_the_failures_panel_is_off() {
    let mut config = TuiConfig::new("netlink");
    config.failures_off = Some("no kernel BTF".into());
    let mut app = App::new(config);
    let now = Instant::now();
    let header = line_text(draw(&mut app, now, 120, 24).backend().buffer(), 1);
    assert!(
        header.contains("bind failures: off — no kernel BTF"),
        "{header}"
    );
    key(&mut app, KeyCode::Char('w'));
    let screen = format!("{:?}", draw(&mut app, now, 120, 24).backend());
    assert!(screen.contains("off — no kernel BTF"), "{screen}");
}
