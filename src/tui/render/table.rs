//! The connection table: only the visible slice of the computed rows is
//! built, so a frame costs the same with 100 or 100,000 sockets.

use std::time::Instant;

use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Cell, Row, Table};
use ratatui::Frame;

use super::{owner_text, peer_text, Theme};
use crate::duration::{seconds_text, whole_seconds};
use crate::model::{Protocol, ProtocolSet, Socket, TimerKind};
use crate::output::inert::inert;
use crate::tui::app::App;
use crate::tui::countdown;
use crate::tui::view::{namespace_label, protocols_text, state_text, SortColumn, STATE_PRESETS};

pub(super) fn draw(frame: &mut Frame, area: Rect, app: &mut App, now: Instant, theme: &Theme) {
    let block = Block::default()
        .borders(Borders::TOP)
        .title(Span::styled(title(app), theme.title()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    // One line goes to the column titles.
    app.page_rows = usize::from(inner.height.saturating_sub(1));
    app.cursor.fit(app.rows.len(), app.page_rows);
    let app = &*app;

    let (sort, descending) = app.sort();
    let arrow = if descending { "▼" } else { "▲" };
    let column_title = |column: SortColumn| {
        if column == sort {
            format!("{}{arrow}", column.title())
        } else {
            column.title().to_string()
        }
    };
    // TCP alone needs no protocol column: the title says "tcp", and 80
    // columns keep room for whole addresses.
    let with_protocol = app.spec.protocols != ProtocolSet::TCP;
    let protocol_title = with_protocol.then(|| "Proto".to_string());
    // --all-netns: which namespace each row is in.
    let with_namespace = app
        .snapshot
        .as_ref()
        .is_some_and(|s| s.everywhere.is_some());
    let namespace_title = with_namespace.then(|| "Netns".to_string());
    let header = Row::new(
        std::iter::once(String::new())
            .chain(namespace_title)
            .chain(protocol_title)
            .chain(SortColumn::ALL.into_iter().map(column_title))
            .map(Cell::from),
    )
    .style(theme.title());

    let read_at = app.snapshot.as_ref().map(|s| s.read_at);
    let first = app.cursor.offset;
    let rows = (first..first + app.page_rows).filter_map(|row| {
        let socket = app.socket_at(row)?;
        let blocks = app.blocker_of(socket).is_some();
        let mut style = if blocks {
            theme.blocker()
        } else {
            ratatui::style::Style::default()
        };
        if row == app.cursor.selected {
            style = style.patch(theme.selected());
        }
        let process = match (socket.processes.is_empty(), owner_text(socket, app)) {
            (_, None) => Cell::from(""),
            (false, Some(owner)) => Cell::from(owner),
            // A TIME_WAIT's "left by" is memory, not a live owner: quieter.
            (true, Some(left_by)) => Cell::from(Span::styled(left_by, theme.quiet())),
        };
        Some(
            Row::new(
                std::iter::once(Cell::from(if blocks { "!" } else { " " }))
                    .chain(with_namespace.then(|| {
                        Cell::from(
                            app.namespace_at(row)
                                .map(|view| namespace_label(&view.entry))
                                .unwrap_or_default(),
                        )
                    }))
                    .chain(with_protocol.then(|| Cell::from(protocol_text(socket.protocol))))
                    .chain([
                        Cell::from(state_text(socket)),
                        Cell::from(socket.local.to_string()),
                        Cell::from(peer_text(socket)),
                        Cell::from(timer_text(socket, read_at?, now)),
                        process,
                    ]),
            )
            .style(style),
        )
    });
    let widths = std::iter::once(Constraint::Length(1))
        .chain(with_namespace.then_some(Constraint::Fill(2)))
        .chain(with_protocol.then_some(Constraint::Length(5)))
        .chain([
            Constraint::Length(11),
            Constraint::Fill(2),
            Constraint::Fill(2),
            Constraint::Length(10),
            Constraint::Fill(3),
        ]);
    frame.render_widget(Table::new(rows, widths).header(header), inner);
}

fn title(app: &App) -> String {
    let total = app.snapshot.as_ref().map_or(0, |s| s.table.sockets.len());
    let mut title = format!(
        " Sockets {} of {total} · {} · states {}",
        app.rows.len(),
        protocols_text(app.spec.protocols),
        STATE_PRESETS[app.spec.preset].name
    );
    if !app.spec.text.is_empty() {
        title.push_str(&format!(" · filter \"{}\"", inert(&app.spec.text)));
    }
    if let Some(table) = app.snapshot.as_ref().map(|s| &s.table) {
        if table.owners_unseen > 0 {
            title.push_str(&format!(" · {} owners unseen", table.owners_unseen));
        }
        if table.skipped_rows > 0 {
            title.push_str(&format!(" · {} rows unreadable", table.skipped_rows));
        }
    }
    if let Some(everywhere) = app.snapshot.as_ref().and_then(|s| s.everywhere.as_ref()) {
        if !everywhere.warnings.is_empty() {
            title.push_str(&format!(
                " · {} namespace(s) unreadable",
                everywhere.warnings.len()
            ));
        }
    }
    title.push(' ');
    title
}

/// "41.7s tw", counting down from the reading; whole seconds from 100 s
/// on ("7100s keep") so the column stays narrow.
fn timer_text(socket: &Socket, read_at: Instant, now: Instant) -> String {
    let Some(timer) = socket.timer else {
        return String::new();
    };
    let kind = match timer.kind {
        TimerKind::Timewait => "tw",
        TimerKind::Keepalive => "keep",
        TimerKind::Retransmit => "rexmit",
        TimerKind::Probe => "probe",
    };
    let left = countdown::remaining_ms(timer.expires_ms, read_at, now);
    if left >= 100_000 {
        format!("{}s {kind}", whole_seconds(left))
    } else {
        format!("{} {kind}", seconds_text(left))
    }
}

/// "TCP", "UDP".
fn protocol_text(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
    }
}
