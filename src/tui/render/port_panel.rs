//! The chosen port: BLOCKED or FREE for the intended bind, each blocker with
//! its four-tuple, owner and (for a TIME_WAIT) the 2MSL countdown, when the
//! port frees, and what the probes said. All of it is the verdict's. Its
//! sentences may quote process names, so they too are drawn through `inert`.

use std::net::SocketAddr;
use std::time::Instant;

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

use super::{owner_text, peer_text, Theme};
use crate::diagnosis::{Blocker, Conflict, IntendedBind, Reason, Verdict};
use crate::output::inert::inert;
use crate::tui::app::App;
use crate::tui::countdown;

/// Blocker lines the compact layout shows before "… and N more".
const COMPACT_BLOCKERS: usize = 4;

/// Rows the compact layout gives the panel: the title border, the status
/// line, the blockers (capped) and the probes.
pub(super) fn compact_height(app: &App) -> u16 {
    let blockers = app.verdict().map_or(0, |v| v.blockers.len());
    let blocker_lines = if blockers > COMPACT_BLOCKERS + 1 {
        COMPACT_BLOCKERS + 1
    } else {
        blockers
    };
    let probes_line = usize::from(app.verdict().is_some());
    (2 + blocker_lines + probes_line) as u16
}

pub(super) fn draw(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    now: Instant,
    theme: &Theme,
    wide: bool,
) {
    let title = match app.intended_bind() {
        Some(bind) => format!(" Port {} · bind {} ", bind.port, bind_text(&bind)),
        None => " Port ".to_string(),
    };
    let block = Block::default()
        .borders(Borders::TOP)
        .title(Span::styled(title, theme.title()));
    let inner = block.inner(area);
    frame.render_widget(block, area);

    let lines = match (app.port, app.snapshot.as_ref(), app.verdict()) {
        (None, _, _) => vec![Line::from(vec![
            Span::raw("No port chosen: press "),
            Span::styled("p", theme.key()),
            Span::raw(" and type the port whose bind() fails."),
        ])],
        (Some(_), None, _) => vec![Line::styled("Reading…", theme.quiet())],
        (Some(_), Some(_), None) => vec![Line::styled(
            "Reading the verdict for this bind…",
            theme.quiet(),
        )],
        (Some(_), Some(snapshot), Some(verdict)) => {
            let elapsed_from = snapshot.read_at;
            verdict_lines(
                app,
                verdict,
                elapsed_from,
                now,
                theme,
                wide,
                usize::from(inner.height),
            )
        }
    };
    let mut paragraph = Paragraph::new(lines);
    if wide {
        paragraph = paragraph.wrap(Wrap { trim: false });
    }
    frame.render_widget(paragraph, inner);
}

fn verdict_lines(
    app: &App,
    verdict: &Verdict,
    read_at: Instant,
    now: Instant,
    theme: &Theme,
    wide: bool,
    height: usize,
) -> Vec<Line<'static>> {
    let mut lines = vec![status_line(verdict, read_at, now, theme)];
    // A FREE status line already carries the explanation.
    if wide && verdict.blocked {
        lines.push(Line::raw(inert(&verdict.explanation).into_owned()));
    }
    let advice_lines = if wide { verdict.advice.len().min(3) } else { 0 };
    let lines_per_blocker = if wide { 2 } else { 1 };
    // Room left for blockers once status, explanation, probes and advice have theirs.
    let room = height.saturating_sub(lines.len() + 1 + advice_lines);
    let shown = if verdict.blockers.len() * lines_per_blocker <= room {
        verdict.blockers.len()
    } else if wide {
        room.saturating_sub(1) / lines_per_blocker
    } else {
        COMPACT_BLOCKERS.min(room.saturating_sub(1))
    };
    for blocker in &verdict.blockers[..shown] {
        lines.push(blocker_line(app, blocker, read_at, now, theme, wide));
        if wide {
            lines.push(Line::styled(
                format!("    {}", inert(&blocker.why)),
                theme.quiet(),
            ));
        }
    }
    if shown < verdict.blockers.len() {
        lines.push(Line::styled(
            format!(
                "  … and {} more: press 9 to list the port's sockets",
                verdict.blockers.len() - shown
            ),
            theme.quiet(),
        ));
    }
    lines.push(probes_line(verdict, theme));
    for advice in verdict.advice.iter().take(advice_lines) {
        lines.push(Line::from(vec![
            Span::styled("→ ", theme.accent()),
            Span::raw(inert(advice).into_owned()),
        ]));
    }
    lines
}

fn status_line(verdict: &Verdict, read_at: Instant, now: Instant, theme: &Theme) -> Line<'static> {
    if !verdict.blocked {
        return Line::from(vec![
            Span::styled(" FREE ", theme.free_badge()),
            Span::raw(format!(" {}", inert(&verdict.explanation))),
        ]);
    }
    let when = match verdict.free_in_ms {
        Some(ms) => match countdown::remaining_ms(ms, read_at, now) {
            0 => " should be free now; the next reading will tell".to_string(),
            left => format!(
                " free in ~{} s (an estimate: the kernel's timer fires a little late)",
                countdown::whole_seconds(left)
            ),
        },
        None => " will not free by itself: a live socket holds the port".to_string(),
    };
    Line::from(vec![
        Span::styled(" BLOCKED ", theme.blocked_badge()),
        Span::styled(when, theme.countdown()),
    ])
}

fn blocker_line(
    app: &App,
    blocker: &Blocker,
    read_at: Instant,
    now: Instant,
    theme: &Theme,
    wide: bool,
) -> Line<'static> {
    let socket = &blocker.socket;
    let gauge_cells = if wide { 20 } else { 8 };
    let timer = match socket.time_wait_remaining_ms() {
        Some(ms) => {
            let left = countdown::remaining_ms(ms, read_at, now);
            format!(
                "{:>6} {} ",
                countdown::seconds_text(left),
                countdown::lifetime_gauge(left, gauge_cells)
            )
        }
        None => format!(
            "{:<width$}",
            reason_text(blocker.reason),
            width = gauge_cells + 8
        ),
    };
    let maybe = if blocker.conflict == Conflict::Unknown {
        " (maybe)"
    } else {
        ""
    };
    let mut spans = vec![
        Span::styled(format!("! {:<10} ", socket.state.name()), theme.blocker()),
        Span::styled(timer, theme.countdown()),
        Span::raw(format!("{} → {}{maybe}", socket.local, peer_text(socket))),
    ];
    if let Some(owner) = owner_text(socket, app) {
        spans.push(Span::styled(format!("  {owner}"), theme.accent()));
    }
    Line::from(spans)
}

fn probes_line(verdict: &Verdict, theme: &Theme) -> Line<'static> {
    if verdict.probes.is_empty() {
        return Line::styled("probes: none made", theme.quiet());
    }
    let mut spans = vec![Span::styled("probes:", theme.quiet())];
    for (index, probe) in verdict.probes.iter().enumerate() {
        let separator = if index == 0 { " " } else { " · " };
        let answer = if probe.ok {
            "ok".to_string()
        } else {
            probe.errno.clone().unwrap_or_else(|| "failed".to_string())
        };
        spans.push(Span::raw(format!("{separator}{} ", inert(&probe.question))));
        spans.push(Span::styled(
            answer,
            if probe.ok {
                theme.accent()
            } else {
                theme.blocker()
            },
        ));
    }
    Line::from(spans)
}

/// What kind of hold a blocker without a timer has.
fn reason_text(reason: Reason) -> &'static str {
    match reason {
        Reason::TimeWait => "time-wait",
        Reason::Listen => "listener",
        Reason::Bound => "bound",
        Reason::Connected => "connection",
    }
}

/// "0.0.0.0:8080 SO_REUSEADDR off SO_REUSEPORT off".
pub(super) fn bind_text(bind: &IntendedBind) -> String {
    let on_off = |flag: bool| if flag { "on" } else { "off" };
    let mut text = format!(
        "{} SO_REUSEADDR {} SO_REUSEPORT {}",
        SocketAddr::new(bind.addr, bind.port),
        on_off(bind.reuseaddr),
        on_off(bind.reuseport)
    );
    if bind.addr.is_ipv6() && bind.v6only {
        text.push_str(" IPV6_V6ONLY");
    }
    if let Some(device) = &bind.device {
        text.push_str(&format!(" dev {}", inert(device)));
    }
    text
}
