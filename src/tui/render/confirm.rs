//! The question before F destroys a time-wait blocker: which socket, what
//! TIME_WAIT is for, and whether the port will be free afterwards.

use std::time::Instant;

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

use super::{peer_text, Theme};
use crate::diagnosis::free::TIME_WAIT_CAUTION;
use crate::duration::seconds_text;
use crate::model::Socket;
use crate::tui::app::App;
use crate::tui::countdown;

/// Draws the question centred in `area` (the whole screen).
pub(super) fn draw(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    socket: &Socket,
    now: Instant,
    theme: &Theme,
) {
    let left = match (socket.time_wait_remaining_ms(), app.snapshot.as_ref()) {
        (Some(ms), Some(snapshot)) => format!(
            ", {} left",
            seconds_text(countdown::remaining_ms(ms, snapshot.read_at, now))
        ),
        _ => String::new(),
    };
    let width = area.width.min(76);
    // Wrapped here, so that the dialog is exactly as high as its text.
    let wrap = |text: String| -> Vec<String> {
        textwrap::wrap(&text, usize::from(width.saturating_sub(2)).max(8))
            .into_iter()
            .map(|line| line.into_owned())
            .collect()
    };
    let mut lines = vec![
        Line::raw("Destroy this socket now with SOCK_DESTROY?"),
        Line::styled(
            format!(
                "  {} {} → {}{left}",
                socket.state.name(),
                socket.local,
                peer_text(socket)
            ),
            theme.blocker(),
        ),
        Line::raw(""),
    ];
    let caution =
        format!("{TIME_WAIT_CAUTION} Destroy it only when that connection is over for good.");
    lines.extend(wrap(caution).into_iter().map(Line::raw));
    let others = app
        .verdict()
        .map_or(0, |v| v.blockers.len().saturating_sub(1));
    if others > 0 {
        let note = format!("{others} other socket(s) also block the bind: the port stays blocked.");
        lines.extend(
            wrap(note)
                .into_iter()
                .map(|line| Line::styled(line, theme.countdown())),
        );
    }
    lines.push(Line::raw(""));
    lines.push(Line::from(vec![
        Span::styled("y", theme.key()),
        Span::raw(" destroy   "),
        Span::styled("n", theme.key()),
        Span::raw(" keep it"),
    ]));
    let area = super::popup_area(area, width, lines.len() as u16 + 2);
    let block = Block::bordered().title(Span::styled(" Free the port? ", theme.title()));
    frame.render_widget(Clear, area);
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
