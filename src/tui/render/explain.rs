//! The verdict in full (key `e`): the explanation the panel only heads,
//! the blockers' reasoning (alike blockers summarised, so that "What to do"
//! is never 19k lines away), each probe's question and answer, and the
//! advice. Wrapped here so the scroll can stop at the last line.

use std::time::Instant;

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

use super::port_panel::{bind_text, status_line};
use super::summary::{self, EXAMPLES};
use super::{peer_text, Theme};
use crate::diagnosis::Verdict;
use crate::output::inert::inert;
use crate::tui::app::App;

/// Draws the overlay scrolled down by `scroll` lines; returns the scroll
/// actually used (never past the last screenful).
pub(super) fn draw(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    scroll: u16,
    now: Instant,
    theme: &Theme,
) -> u16 {
    let (Some(verdict), Some(snapshot)) = (app.verdict(), app.snapshot.as_ref()) else {
        return 0;
    };
    let block = Block::bordered()
        .title(Span::styled(
            format!(
                " Why · bind {}{} ",
                bind_text(&verdict.bind),
                in_namespace(app)
            ),
            theme.title(),
        ))
        .title_bottom(Span::styled(
            " ↑↓ PgUp PgDn scroll · Esc close ",
            theme.quiet(),
        ));
    let inner = block.inner(area);
    let mut lines = vec![status_line(verdict, snapshot.read_at, now, theme)];
    lines.extend(body(
        verdict,
        usize::from(inner.width),
        snapshot.read_at,
        now,
        theme,
    ));
    let last = lines.len().saturating_sub(usize::from(inner.height));
    let scroll = scroll.min(u16::try_from(last).unwrap_or(u16::MAX));
    frame.render_widget(Clear, area);
    frame.render_widget(Paragraph::new(lines).block(block).scroll((scroll, 0)), area);
    scroll
}

/// The verdict's lines below its status line (the failures overlay shows
/// them too).
pub(super) fn body(
    verdict: &Verdict,
    width: usize,
    read_at: Instant,
    now: Instant,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let wrap = |text: &str, first: &str, rest: &str| -> Vec<String> {
        let options = textwrap::Options::new(width.max(8))
            .initial_indent(first)
            .subsequent_indent(rest);
        textwrap::wrap(&inert(text), options)
            .into_iter()
            .map(|line| line.into_owned())
            .collect()
    };
    let heading = |text: &'static str| Line::styled(text, theme.title());
    let mut lines = vec![Line::raw("")];
    lines.extend(
        wrap(&verdict.explanation, "", "")
            .into_iter()
            .map(Line::raw),
    );
    if !verdict.blockers.is_empty() {
        lines.push(Line::raw(""));
        lines.push(heading("Blockers"));
        let blockers = verdict
            .blockers
            .iter()
            .map(|blocker| (&blocker.socket, Some(blocker.why.as_ref())));
        for group in summary::groups(blockers) {
            let expiry = group
                .expiry_text(read_at, now)
                .map(|text| format!(", {text}"))
                .unwrap_or_default();
            let count = group.members.len();
            if count > 1 {
                lines.push(Line::styled(
                    format!("{count} × {}{expiry}", group.state.name()),
                    theme.countdown(),
                ));
            }
            for socket in group.members.iter().take(EXAMPLES) {
                lines.push(Line::styled(
                    format!(
                        "! {} {} → {}",
                        socket.state.name(),
                        socket.local,
                        peer_text(socket)
                    ),
                    theme.blocker(),
                ));
            }
            if let Some(more) = count.checked_sub(EXAMPLES).filter(|more| *more > 0) {
                lines.push(Line::styled(format!("  … and {more} more"), theme.quiet()));
            }
            let why = group.why.unwrap_or_default();
            lines.extend(wrap(why, "  ", "  ").into_iter().map(Line::raw));
        }
    }
    lines.push(Line::raw(""));
    lines.push(heading("Probes (real bind() calls, closed at once)"));
    if verdict.probes.is_empty() {
        lines.push(Line::styled("  none made", theme.quiet()));
    }
    for probe in &verdict.probes {
        let answer = match (&probe.errno, probe.ok) {
            (_, true) => "ok".to_string(),
            (Some(errno), false) => errno.to_string(),
            (None, false) => "failed".to_string(),
        };
        lines.push(Line::from(vec![
            Span::raw(format!("  {}: ", probe.kind.question())),
            Span::styled(
                answer,
                if probe.ok {
                    theme.accent()
                } else {
                    theme.blocker()
                },
            ),
        ]));
    }
    if !verdict.advice.is_empty() {
        lines.push(Line::raw(""));
        lines.push(heading("What to do"));
        for advice in &verdict.advice {
            lines.extend(wrap(advice, "→ ", "  ").into_iter().map(Line::raw));
        }
    }
    lines
}

/// " · netns blue" when the verdict is one namespace's of `--all-netns`.
fn in_namespace(app: &App) -> String {
    let everywhere = app
        .snapshot
        .as_ref()
        .is_some_and(|s| s.everywhere.is_some());
    match app.picked().filter(|_| everywhere) {
        Some(view) => format!(
            " · netns {}",
            crate::tui::view::namespace_label(&view.entry)
        ),
        None => String::new(),
    }
}
