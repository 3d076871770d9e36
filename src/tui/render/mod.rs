//! Drawing: one file per screen region. Every region reads [`App`] and a
//! fixed `now`, so a frame is a pure function of state and time.

mod counts;
mod details;
mod header;
mod help;
mod hint_bar;
mod port_panel;
mod table;
mod theme;

#[cfg(test)]
mod tests;

use std::time::Instant;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::Frame;

use crate::tui::app::{App, Mode};
pub(crate) use theme::Theme;

/// From this size on, the port panel and the counts sit side by side and
/// get room for every blocker's reasoning.
const WIDE: (u16, u16) = (120, 40);

/// Draws the whole screen. Takes `&mut App` only to keep the table's
/// selection visible in the rows this frame has room for.
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
        let [top, table_area] = body.layout(&Layout::vertical([
            Constraint::Length(16),
            Constraint::Min(0),
        ]));
        let [panel, counts_area] = top.layout(&Layout::horizontal([
            Constraint::Percentage(62),
            Constraint::Percentage(38),
        ]));
        port_panel::draw(frame, panel, app, now, &theme, true);
        counts::draw(frame, counts_area, app, &theme, true);
        table_area
    } else {
        let panel_height = port_panel::compact_height(app);
        let [counts_area, panel, table_area] = body.layout(&Layout::vertical([
            Constraint::Length(2),
            Constraint::Length(panel_height),
            Constraint::Min(0),
        ]));
        counts::draw(frame, counts_area, app, &theme, false);
        port_panel::draw(frame, panel, app, now, &theme, false);
        table_area
    };
    table::draw(frame, table_area, app, now, &theme);
    hint_bar::draw(frame, hint_area, app, &theme);

    match &app.mode {
        // Help takes the full height when it must: every key has to show at 80x24.
        Mode::Help => help::draw(
            frame,
            area.centered(
                Constraint::Length(area.width.min(78)),
                Constraint::Length(area.height.min(26)),
            ),
            &theme,
        ),
        Mode::Details { socket, gone } => details::draw(
            frame,
            popup_area(area, 100, 32),
            app,
            socket,
            *gone,
            now,
            &theme,
        ),
        _ => {}
    }
}

/// A centred popup at most `width` x `height`, leaving a margin on small screens.
fn popup_area(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width.saturating_sub(2));
    let height = height.min(area.height.saturating_sub(2));
    area.centered(Constraint::Length(width), Constraint::Length(height))
}

/// The peer as `ss` writes an unconnected one: "*".
pub(super) fn peer_text(socket: &crate::model::Socket) -> String {
    if socket.remote.port() == 0 && socket.remote.ip().is_unspecified() {
        "*".to_string()
    } else {
        socket.remote.to_string()
    }
}

/// Who holds the socket: its process, or for a TIME_WAIT the process that
/// left it; escaped, since process names are untrusted.
pub(super) fn owner_text(socket: &crate::model::Socket, app: &App) -> Option<String> {
    use crate::output::inert::inert;
    if let Some(process) = socket.processes.first() {
        let more = match socket.processes.len() {
            1 => String::new(),
            n => format!(" +{}", n - 1),
        };
        return Some(format!(
            "pid {} {}{more}",
            process.pid,
            inert(&process.comm)
        ));
    }
    app.left_by
        .of(socket)
        .map(|owner| format!("left by pid {} {}", owner.pid, inert(&owner.comm)))
}
