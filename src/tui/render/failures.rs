//! The bind failures panel (`w`): the latest binds that failed with
//! EADDRINUSE as the kernel watcher caught them, newest first, one line
//! each (time, process, bind, BLOCKED or free, the first blocker); `W`
//! selects one and Enter shows its verdict, drawn like the explanation
//! overlay (`e`).

use std::net::SocketAddr;
use std::time::Instant;

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use super::port_panel::bind_text;
use super::{explain, Theme};
use crate::diagnosis::IntendedBind;
use crate::output::event::rfc3339_utc;
use crate::output::inert::inert;
use crate::session::FailureReport;
use crate::tui::app::{App, Mode};

/// Failures the panel shows at once; the selection scrolls through the rest.
pub(super) const SHOWN: usize = 6;

/// The panel's lines: one per failure shown, the selected one marked.
pub(super) fn lines(app: &App, theme: &Theme) -> Vec<Line<'static>> {
    if app.failures.is_empty() {
        let text = match &app.config.failures_off {
            Some(why) => format!("off — {}", inert(why)),
            None => "none caught yet".to_string(),
        };
        return vec![Line::styled(text, theme.quiet())];
    }
    let selected = match app.mode {
        Mode::Failures { selected }
        | Mode::FailureVerdict {
            index: selected, ..
        } => Some(selected),
        _ => None,
    };
    let first = selected.map_or(0, |selected| (selected + 1).saturating_sub(SHOWN));
    let mut lines: Vec<Line<'static>> = app
        .failures
        .iter()
        .enumerate()
        .skip(first)
        .take(SHOWN)
        .map(|(index, report)| {
            let line = failure_line(report, theme);
            if selected == Some(index) {
                line.style(theme.selected())
            } else {
                line
            }
        })
        .collect();
    let more = app.failures.len().saturating_sub(first + SHOWN);
    if more > 0 {
        lines.push(Line::styled(
            format!("… and {more} older (W to select)"),
            theme.quiet(),
        ));
    }
    lines
}

/// "18:40:01.123 tcp 127.0.0.1:7001 pid 4242 python3  BLOCKED  LISTEN
/// 127.0.0.1:7001 pid 4100 nc (+1)": the badge last but one, so that the
/// blocker is what a narrow screen cuts.
fn failure_line(report: &FailureReport, theme: &Theme) -> Line<'static> {
    let time = rfc3339_utc(report.time);
    // The time of day: the panel lives minutes, not days.
    let time = time.get(11..23).unwrap_or(&time).to_string();
    let mut spans = vec![
        Span::styled(format!("{time} "), theme.quiet()),
        Span::raw(format!("{} ", compact_bind(&report.bind))),
        Span::raw(format!("pid {} {}  ", report.pid, inert(&report.comm))),
    ];
    match &report.verdict {
        Err(why) => {
            spans.push(Span::styled("no verdict: ", theme.error()));
            spans.push(Span::raw(inert(why).into_owned()));
        }
        Ok(verdict) if verdict.blocked => {
            spans.push(Span::styled(" BLOCKED ", theme.blocked_badge()));
            if let Some(blocker) = verdict.blockers.first() {
                let socket = &blocker.socket;
                let mut text = format!(" {} {}", socket.state.name(), socket.local);
                if let Some(process) = socket.processes.first() {
                    text.push_str(&format!(" pid {} {}", process.pid, inert(&process.comm)));
                } else if let Some(Some(left_by)) = report.left_by.first() {
                    text.push_str(&format!(
                        " left by pid {} {}",
                        left_by.pid,
                        inert(&left_by.comm)
                    ));
                }
                if verdict.blockers.len() > 1 {
                    text.push_str(&format!(" (+{})", verdict.blockers.len() - 1));
                }
                spans.push(Span::raw(text));
            }
        }
        // Free again by the time it was judged: the blocker went first.
        Ok(_) => spans.push(Span::styled(" free now ", theme.free_badge())),
    }
    Line::from(spans)
}

pub(super) fn draw(frame: &mut Frame, area: Rect, lines: Vec<Line<'static>>, theme: &Theme) {
    let block = Block::default().borders(Borders::TOP).title(Span::styled(
        " Bind failures (w closes, W selects) ",
        theme.title(),
    ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    frame.render_widget(Paragraph::new(lines), inner);
}

/// One failure's verdict as the explanation overlay draws a verdict,
/// scrolled down by `scroll` lines; returns the scroll actually used.
pub(super) fn draw_verdict(
    frame: &mut Frame,
    area: Rect,
    report: &FailureReport,
    scroll: u16,
    now: Instant,
    theme: &Theme,
) -> u16 {
    let block = Block::bordered()
        .title(Span::styled(
            format!(
                " Failed bind · pid {} {} · {} ",
                report.pid,
                inert(&report.comm),
                bind_text(&report.bind)
            ),
            theme.title(),
        ))
        .title_bottom(Span::styled(
            " ↑↓ PgUp PgDn scroll · Esc back ",
            theme.quiet(),
        ));
    let inner = block.inner(area);
    let mut lines = vec![Line::styled(
        format!("judged at {}", rfc3339_utc(report.time)),
        theme.quiet(),
    )];
    if !report.cmdline.is_empty() {
        lines.push(Line::raw(format!("cmdline: {}", inert(&report.cmdline))));
    }
    match &report.verdict {
        // Its countdowns are as they were when it failed: read then.
        Ok(verdict) => lines.extend(explain::body(
            verdict,
            usize::from(inner.width),
            now,
            now,
            theme,
        )),
        Err(why) => lines.push(Line::from(vec![
            Span::styled("no verdict: ", theme.error()),
            Span::raw(inert(why).into_owned()),
        ])),
    }
    let last = lines.len().saturating_sub(usize::from(inner.height));
    let scroll = scroll.min(u16::try_from(last).unwrap_or(u16::MAX));
    frame.render_widget(Clear, area);
    frame.render_widget(Paragraph::new(lines).block(block).scroll((scroll, 0)), area);
    scroll
}

/// "tcp 127.0.0.1:7001", then only the options set: "+reuseaddr",
/// "+reuseport", "+v6only", "%eth0".
fn compact_bind(bind: &IntendedBind) -> String {
    let mut text = format!(
        "{} {}",
        bind.protocol.as_str(),
        SocketAddr::new(bind.addr, bind.port)
    );
    for (set, flag) in [
        (bind.reuseaddr, " +reuseaddr"),
        (bind.reuseport, " +reuseport"),
        (bind.v6only, " +v6only"),
    ] {
        if set {
            text.push_str(flag);
        }
    }
    if let Some(device) = &bind.device {
        text.push_str(&format!(" %{}", inert(device)));
    }
    text
}
