//! Cost of a refresh and a frame on a synthetic table of 100k sockets.
//! Prints timings; asserts none (machines differ). Run it optimised:
//! `cargo test --release --lib tui::perf -- --ignored --nocapture`

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use crate::diagnosis::{Blocker, Conflict, Reason, Verdict};
use crate::model::{Socket, TcpState, Timer, TimerKind};
use crate::tui::app::App;
use crate::tui::test_fixtures::{
    bind_8080, header, process, request_8080, rule_context, socket, table,
};
use crate::tui::{render, Snapshot, TuiConfig};

const SOCKETS: usize = 100_000;

/// 100k sockets: a third TIME_WAIT (some on port 8080), the rest
/// connections owned by a thousand processes, plus listeners.
fn synthetic(read_at: Instant, generation: u64) -> Snapshot {
    let sockets: Vec<Socket> = (0..SOCKETS)
        .map(|i| {
            let client = SocketAddr::from((
                Ipv4Addr::new(10, (i >> 16) as u8, (i >> 8) as u8, i as u8),
                40_000 + (i % 20_000) as u16,
            ));
            let port = if i % 500 == 0 { 8080 } else { 443 };
            let local = SocketAddr::from((Ipv4Addr::new(10, 0, 0, 1), port));
            let mut s = socket(TcpState::Established, "0.0.0.0:0", "0.0.0.0:0");
            s.local = local;
            s.remote = client;
            // Sockets move from ESTABLISHED to TIME_WAIT across generations.
            if (i as u64 + generation) % 3 == 0 {
                s.state = TcpState::TimeWait;
                s.timer = Some(Timer {
                    kind: TimerKind::Timewait,
                    expires_ms: (i as u64 * 7) % 60_000,
                    retransmits: 0,
                });
            } else {
                s.processes = vec![process(1_000 + (i % 1_000) as u32, "worker")];
            }
            s
        })
        .collect();
    let blockers = sockets
        .iter()
        .filter(|s| s.local.port() == 8080 && s.state == TcpState::TimeWait)
        .map(|s| Blocker {
            socket: s.clone(),
            reason: Reason::TimeWait,
            conflict: Conflict::Yes,
            why: "TIME_WAIT on the port".into(),
        })
        .collect();
    Snapshot {
        request: request_8080(),
        verdict: Some(Verdict {
            bind: bind_8080(),
            blocked: true,
            refused: None,
            free_in_ms: Some(59_000),
            blockers,
            probes: vec![],
            explanation: String::new(),
            client_time_waits: 0,
            advice: vec![],
        }),
        rule_context: Some(rule_context()),
        table: table(sockets),
        header: header(),
        read_at,
        everywhere: None,
        pressure: None,
    }
}

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let value = f();
    let took = start.elapsed();
    println!("{what:<40} {:>8.2} ms", took.as_secs_f64() * 1000.0);
    (value, took)
}

#[test]
#[ignore = "timing report; run with --release --ignored --nocapture"]
fn refresh_and_frame_with_100k_sockets() {
    let mut config = TuiConfig::new("synthetic");
    config.port = Some(8080);
    let mut app = App::new(config);
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).expect("test terminal");
    for generation in 0..3 {
        let snapshot = synthetic(Instant::now(), generation);
        let (_, refresh) = timed("refresh (left-by, counts, filter+sort)", || {
            app.apply_reading(Ok(snapshot))
        });
        let now = Instant::now();
        let (_, frame) = timed("frame 200x60", || {
            terminal
                .draw(|f| render::draw(f, &mut app, now))
                .expect("draw")
        });
        println!(
            "generation {generation}: refresh + frame {:.2} ms, {} rows, {} owners remembered",
            (refresh + frame).as_secs_f64() * 1000.0,
            app.rows.len(),
            app.left_by.len()
        );
    }
    // Where a refresh's time goes.
    let snapshot = synthetic(Instant::now(), 3);
    let mut left_by = crate::tui::left_by::LeftBy::default();
    timed("  left-by memory, first reading", || {
        left_by.update(&snapshot.table)
    });
    timed("  left-by memory, next reading", || {
        left_by.update(&snapshot.table)
    });
    timed("  counts by state", || {
        crate::model::counts_by_state(&snapshot.table.sockets)
    });
    for column in crate::tui::view::SortColumn::ALL {
        let spec = crate::tui::view::ViewSpec {
            sort: column,
            ..Default::default()
        };
        timed(&format!("  rows sorted by {}", column.title()), || {
            crate::tui::view::compute_rows(&snapshot.table.sockets, &spec, Some(8080), &left_by)
        });
    }
    timed("  dropping a reading", || drop(snapshot));

    let now = Instant::now();
    let press = |app: &mut App, c: char| {
        app.handle_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    };
    timed("sort by process (s x4)", || {
        for _ in 0..4 {
            press(&mut app, 's');
        }
    });
    press(&mut app, '/');
    timed("text filter, first key \"1\"", || press(&mut app, '1'));
    timed("text filter, next keys \"0.1.\" (narrowing)", || {
        for c in "0.1.".chars() {
            press(&mut app, c);
        }
    });
    let snapshot = synthetic(Instant::now(), 4);
    timed("refresh with the filter on", || {
        app.apply_reading(Ok(snapshot))
    });
    timed("frame 200x60 at 10 fps, per frame", || {
        terminal
            .draw(|f| render::draw(f, &mut app, now))
            .expect("draw")
    });
}
