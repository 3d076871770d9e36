//! Drawing: one file per screen region. Every region reads [`App`] and a
//! fixed `now`, so a frame is a pure function of state and time.

mod confirm;
mod counts;
mod details;
mod explain;
mod failures;
mod header;
mod help;
mod hint_bar;
mod port_panel;
mod pressure;
mod summary;
mod table;
mod theme;

#[cfg(test)]
mod tests;

use std::time::Instant;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::Frame;

use crate::tui::app::{App, Mode};
pub(crate) use theme::Theme;

/// From this size on the port panel and the counts sit side by side: the
/// panel then still has the width of a blocker's whole line.
const WIDE: (u16, u16) = (160, 50);

/// Draws the whole screen. Takes `&mut App` only to keep the table's
/// selection visible in the rows this frame has room for (and an overlay's
/// scroll within its text).
pub(crate) fn draw(frame: &mut Frame, app: &mut App, now: Instant) {
    let theme = Theme::new(app.config.color);
    let area = frame.area();
    let [header_area, body, hint_area] = area.layout(&Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(0),
        Constraint::Length(1),
    ]));
    header::draw(frame, header_area, app, &theme);

    let wide = area.width >= WIDE.0 && area.height >= WIDE.1;
    let table_area = if wide {
        let panel_width = body.width * 62 / 100;
        let panel = port_panel::lines(app, now, &theme, panel_width, room(body.height));
        // The counts list every state present, under a title line.
        let top_height = (panel.len() + 1).max(app.counts.len() + 1).max(5) as u16;
        let [top, table_area] = body.layout(&Layout::vertical([
            Constraint::Length(top_height),
            Constraint::Min(0),
        ]));
        let [panel_area, counts_area] = top.layout(&Layout::horizontal([
            Constraint::Length(panel_width),
            Constraint::Min(0),
        ]));
        port_panel::draw(frame, panel_area, app, panel, &theme);
        counts::draw(frame, counts_area, app, &theme, true);
        table_area
    } else {
        let panel = port_panel::lines(
            app,
            now,
            &theme,
            body.width,
            room(body.height.saturating_sub(2)),
        );
        let [counts_area, panel_area, table_area] = body.layout(&Layout::vertical([
            Constraint::Length(2),
            Constraint::Length(panel.len() as u16 + 1),
            Constraint::Min(0),
        ]));
        counts::draw(frame, counts_area, app, &theme, false);
        port_panel::draw(frame, panel_area, app, panel, &theme);
        table_area
    };
    let table_area = if app.pressure_open {
        let lines = pressure::lines(app, &theme);
        let [pressure_area, table_area] = table_area.layout(&Layout::vertical([
            Constraint::Length(lines.len() as u16 + 1),
            Constraint::Min(0),
        ]));
        pressure::draw(frame, pressure_area, lines, &theme);
        table_area
    } else {
        table_area
    };
    let table_area = if app.failures_open {
        let lines = failures::lines(app, &theme);
        let [failures_area, table_area] = table_area.layout(&Layout::vertical([
            Constraint::Length(lines.len() as u16 + 1),
            Constraint::Min(0),
        ]));
        failures::draw(frame, failures_area, lines, &theme);
        table_area
    } else {
        table_area
    };
    table::draw(frame, table_area, app, now, &theme);
    hint_bar::draw(frame, hint_area, app, &theme);

    let mut shown_scroll = None;
    match &app.mode {
        // Help takes the full height when it must.
        Mode::Help { scroll } => {
            let area = area.centered(
                Constraint::Length(area.width.min(78)),
                Constraint::Length(area.height.min(26)),
            );
            shown_scroll = Some(help::draw(frame, area, *scroll, &theme));
        }
        Mode::Details { socket, gone } => details::draw(
            frame,
            popup_area(area, 100, 32),
            app,
            socket,
            *gone,
            now,
            &theme,
        ),
        Mode::Explain { scroll } => {
            let area = popup_area(area, 110, 40);
            shown_scroll = Some(explain::draw(frame, area, app, *scroll, now, &theme));
        }
        Mode::ConfirmFree {
            targets,
            whole_port,
        } => confirm::draw(frame, area, app, targets, *whole_port, now, &theme),
        Mode::FailureVerdict { index, scroll } => {
            if let Some(report) = app.failures.get(*index) {
                let area = popup_area(area, 110, 40);
                shown_scroll = Some(failures::draw_verdict(
                    frame, area, report, *scroll, now, &theme,
                ));
            }
        }
        Mode::Normal
        | Mode::PortPrompt { .. }
        | Mode::FilterPrompt { .. }
        | Mode::Failures { .. } => {}
    }
    // Scrolling past the end would only hide the text.
    if let (
        Some(shown),
        Mode::Explain { scroll } | Mode::Help { scroll } | Mode::FailureVerdict { scroll, .. },
    ) = (shown_scroll, &mut app.mode)
    {
        *scroll = shown;
    }
}

/// The port panel's share of `height` rows (panel and table together): the
/// essentials may take two fifths, the reasoning and advice only what
/// leaves the table two thirds. One row goes to the panel's title.
fn room(height: u16) -> port_panel::Room {
    let height = usize::from(height);
    port_panel::Room {
        essential: (height * 2 / 5).max(5) - 1,
        roomy: (height / 3).saturating_sub(1),
    }
}

/// A centred popup at most `width` x `height`, leaving a margin on small screens.
fn popup_area(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width.saturating_sub(2));
    let height = height.min(area.height.saturating_sub(2));
    area.centered(Constraint::Length(width), Constraint::Length(height))
}

pub(super) use crate::tui::view::peer_text;

/// Who holds the socket: its process with its container or unit, or for a
/// TIME_WAIT the process that left it; escaped, since process names are
/// untrusted.
pub(super) fn owner_text(socket: &crate::model::Socket, app: &App) -> Option<String> {
    use crate::output::human::workload_text;
    use crate::output::inert::inert;
    if let Some(process) = socket.processes.first() {
        let more = match socket.processes.len() {
            1 => String::new(),
            n => format!(" +{}", n - 1),
        };
        // Where it runs: "[docker 3f4e2a1b9c8d]", "[nginx.service]".
        let workload = workload_text(process)
            .map(|workload| format!(" [{workload}]"))
            .unwrap_or_default();
        return Some(format!(
            "pid {} {}{workload}{more}",
            process.pid,
            inert(&process.comm)
        ));
    }
    app.left_by
        .of(socket)
        .map(|owner| format!("left by pid {} {}", owner.pid, inert(&owner.comm)))
}
