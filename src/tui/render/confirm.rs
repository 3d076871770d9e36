//! The question before F (the whole port) or d (the selected socket)
//! destroys time-wait blockers: which sockets (summarised when there are
//! many), what TIME_WAIT is for, and whether the port will be free
//! afterwards.

use std::time::Instant;

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

use super::summary::{self, EXAMPLES};
use super::{peer_text, Theme};
use crate::diagnosis::free::TIME_WAIT_CAUTION;
use crate::model::Socket;
use crate::tui::app::App;
use crate::tui::keys::KeyMode;

/// Draws the question centred in `area` (the whole screen).
pub(super) fn draw(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    targets: &[Socket],
    whole_port: bool,
    now: Instant,
    theme: &Theme,
) {
    let width = area.width.min(76);
    // Wrapped here, so that the dialog is exactly as high as its text.
    let wrap = |text: String| -> Vec<String> {
        textwrap::wrap(&text, usize::from(width.saturating_sub(2)).max(8))
            .into_iter()
            .map(|line| line.into_owned())
            .collect()
    };
    let read_at = app.snapshot.as_ref().map(|snapshot| snapshot.read_at);
    let socket_line = |socket: &Socket| {
        Line::styled(
            format!(
                "  {} {} → {}",
                socket.state.name(),
                socket.local,
                peer_text(socket)
            ),
            theme.blocker(),
        )
    };
    let mut lines = Vec::new();
    if whole_port {
        let port = app.verdict().map(|v| v.bind.port).unwrap_or_default();
        lines.push(Line::raw(format!(
            "Free port {port}: destroy its {} blocking socket(s) with SOCK_DESTROY?",
            targets.len()
        )));
        for group in summary::groups(targets.iter().map(|s| (s, None))) {
            let expiry = read_at
                .and_then(|read_at| group.expiry_text(read_at, now))
                .map(|text| format!(", {text}"))
                .unwrap_or_default();
            lines.push(Line::styled(
                format!("{} × {}{expiry}", group.members.len(), group.state.name()),
                theme.countdown(),
            ));
            lines.extend(group.members.iter().take(EXAMPLES).map(|s| socket_line(s)));
            let more = group.members.len().saturating_sub(EXAMPLES);
            if more > 0 {
                lines.push(Line::styled(format!("  … and {more} more"), theme.quiet()));
            }
        }
    } else {
        lines.push(Line::raw("Destroy this socket now with SOCK_DESTROY?"));
        for socket in targets {
            let left = read_at
                .and_then(|read_at| {
                    summary::groups([(socket, None)])
                        .first()
                        .and_then(|group| group.expiry_text(read_at, now))
                })
                .map(|text| format!(", {text}"))
                .unwrap_or_default();
            let mut line = socket_line(socket);
            line.spans.push(Span::styled(left, theme.blocker()));
            lines.push(line);
        }
    }
    lines.push(Line::raw(""));
    let caution =
        format!("{TIME_WAIT_CAUTION} Destroy only when those connections are over for good.");
    lines.extend(wrap(caution).into_iter().map(Line::raw));
    let others = app
        .verdict()
        .map_or(0, |v| v.blockers.len().saturating_sub(targets.len()));
    if others > 0 {
        let note = format!(
            "{others} other socket(s) also block the bind: the port stays blocked (F frees them all)."
        );
        lines.extend(
            wrap(note)
                .into_iter()
                .map(|line| Line::styled(line, theme.countdown())),
        );
    }
    lines.push(Line::raw(""));
    lines.push(super::hint_bar::hints(
        KeyMode::Confirm,
        usize::from(width),
        theme,
    ));
    let area = super::popup_area(area, width, lines.len() as u16 + 2);
    let block = Block::bordered().title(Span::styled(" Free the port? ", theme.title()));
    frame.render_widget(Clear, area);
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
