//! The client-side pressure panel (`c`): how much of the local port range
//! each destination uses, most TIME_WAITs first — "which backend is eating
//! my ports" when connect() fails with EADDRNOTAVAIL.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use super::Theme;
use crate::diagnosis::connect::PortPressure;
use crate::output::inert::inert;
use crate::tui::app::App;

/// Destinations listed at most; the rest are counted.
const TOP_DESTINATIONS: usize = 5;

/// Cells of the share gauge.
const GAUGE_CELLS: usize = 10;

/// The panel's lines: the range's totals, then the top destinations.
pub(super) fn lines(app: &App, theme: &Theme) -> Vec<Line<'static>> {
    let reading = app.snapshot.as_ref().and_then(|s| s.pressure.as_ref());
    match reading {
        None => vec![Line::styled("Reading the local port range…", theme.quiet())],
        Some(Err(error)) => vec![Line::from(vec![
            Span::styled("reading failed: ", theme.error()),
            Span::raw(inert(error).into_owned()),
        ])],
        Some(Ok(pressure)) => pressure_lines(pressure, theme),
    }
}

fn pressure_lines(pressure: &PortPressure, theme: &Theme) -> Vec<Line<'static>> {
    let (low, high) = pressure.range;
    let label = |text: &'static str| Span::styled(text, theme.quiet());
    let mut lines = vec![Line::from(vec![
        label("range "),
        Span::raw(format!("{low}-{high}")),
        label("  usable "),
        Span::raw(pressure.usable.to_string()),
        label("  reserved "),
        Span::raw(pressure.reserved.to_string()),
        label("  in use "),
        Span::raw(pressure.used.to_string()),
        label("  free "),
        Span::raw(pressure.free.to_string()),
        label("  held by bind()/listeners "),
        Span::raw(pressure.held.to_string()),
    ])];
    if pressure.destinations.is_empty() {
        lines.push(Line::styled(
            "no outgoing connection uses the range",
            theme.quiet(),
        ));
        return lines;
    }
    lines.push(Line::styled(
        // The gauge and the percentage below it.
        format!(
            "{:<width$}  {:>9}  {:>5}  {:>5}  Destination",
            "share of range",
            "TIME_WAIT",
            "live",
            "ports",
            width = GAUGE_CELLS + 7
        ),
        theme.title(),
    ));
    for destination in pressure.destinations.iter().take(TOP_DESTINATIONS) {
        let share = destination.share.clamp(0.0, 1.0);
        // At least one cell for any use, so a small share still shows.
        let filled = ((share * GAUGE_CELLS as f64).ceil() as usize).min(GAUGE_CELLS);
        lines.push(Line::from(vec![
            Span::styled("█".repeat(filled), theme.countdown()),
            Span::styled("░".repeat(GAUGE_CELLS - filled), theme.quiet()),
            Span::raw(format!(
                " {:>5.1}%  {:>9}  {:>5}  {:>5}  {}",
                share * 100.0,
                destination.time_wait,
                destination.live,
                destination.ports,
                destination.remote
            )),
        ]));
    }
    let more = pressure.destinations.len().saturating_sub(TOP_DESTINATIONS);
    if more > 0 {
        lines.push(Line::styled(
            format!("… and {more} more destination(s)"),
            theme.quiet(),
        ));
    }
    lines
}

pub(super) fn draw(frame: &mut Frame, area: Rect, lines: Vec<Line<'static>>, theme: &Theme) {
    let block = Block::default().borders(Borders::TOP).title(Span::styled(
        " Client side: local ports by destination (c closes) ",
        theme.title(),
    ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    frame.render_widget(Paragraph::new(lines), inner);
}
