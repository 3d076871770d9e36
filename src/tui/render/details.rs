//! Every field of the selected socket, and why it does or does not block
//! the intended bind, in the verdict's words.

use std::time::Instant;

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::port_panel::bind_text;
use super::{peer_text, Theme};
use crate::diagnosis::{assess, Conflict};
use crate::duration::seconds_text;
use crate::model::Socket;
use crate::output::inert::inert;
use crate::tui::app::App;
use crate::tui::countdown;

pub(super) fn draw(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    socket: &Socket,
    gone: bool,
    now: Instant,
    theme: &Theme,
) {
    let Some(snapshot) = app.snapshot.as_ref() else {
        return;
    };
    let field = |name: &str, value: String| {
        Line::from(vec![
            Span::styled(format!("{name:<14}"), theme.quiet()),
            Span::raw(value),
        ])
    };
    let optional = |value: Option<String>| value.unwrap_or_else(|| "-".to_string());
    let mut lines = vec![
        field("state", crate::tui::view::labelled_state(socket)),
        field("family", socket.family.as_str().to_string()),
        field("local", socket.local.to_string()),
        field("peer", peer_text(socket)),
        field(
            "timer",
            optional(socket.timer.map(|timer| {
                let left = countdown::remaining_ms(timer.expires_ms, snapshot.read_at, now);
                format!(
                    "{} {} left ({} ms at the reading), {} retransmits",
                    timer.kind.as_str(),
                    seconds_text(left),
                    timer.expires_ms,
                    timer.retransmits
                )
            })),
        ),
        field(
            "queues",
            format!("rx {} tx {}", socket.rx_queue, socket.tx_queue),
        ),
        field("uid", socket.uid.to_string()),
        field("inode", socket.inode.to_string()),
        field("cookie", optional(socket.cookie.map(|c| c.to_string()))),
        field(
            "bound device",
            match socket.bound_device {
                0 => "-".to_string(),
                index => format!("ifindex {index}"),
            },
        ),
        field("v6only", optional(socket.v6only.map(|v| v.to_string()))),
    ];
    for process in &socket.processes {
        lines.push(field(
            "process",
            format!(
                "pid {} {}: {}",
                process.pid,
                inert(&process.comm),
                inert(&process.cmdline)
            ),
        ));
    }
    if socket.processes.is_empty() {
        let owner = app
            .left_by
            .of(socket)
            .map(|owner| format!("none; left by pid {} {}", owner.pid, inert(&owner.comm)));
        lines.push(field("process", optional(owner)));
    }
    lines.push(Line::raw(""));
    if gone {
        lines.push(Line::styled(
            "Gone from the table since a later reading: the fields above are its last.",
            theme.error(),
        ));
    } else {
        lines.extend(assessment(app, socket, theme));
    }

    let block = Block::bordered().title(Span::styled(" Socket details ", theme.title()));
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}

/// Why this socket blocks the intended bind or not. The reasoning is the
/// verdict's: a blocker's own words, and for any other socket what
/// `assess` says in the rule context the verdict was judged in.
fn assessment(app: &App, socket: &Socket, theme: &Theme) -> Vec<Line<'static>> {
    let Some(bind) = app.intended_bind() else {
        return vec![Line::styled(
            "No port chosen: press p to see whether this socket blocks a bind.",
            theme.quiet(),
        )];
    };
    let against = Line::from(vec![
        Span::styled("Against the bind ", theme.title()),
        Span::raw(bind_text(&bind)),
    ]);
    let Some((verdict, ctx)) = app.judged() else {
        return vec![
            against,
            Line::styled("Waiting for the verdict…", theme.quiet()),
        ];
    };
    if let Some(blocker) = app.blocker_of(socket) {
        let how = if blocker.conflict == Conflict::Unknown {
            "MAY BLOCK"
        } else {
            "BLOCKS"
        };
        return vec![
            against,
            Line::from(vec![
                Span::styled(format!("! {how}: "), theme.blocker()),
                Span::raw(inert(&blocker.why).into_owned()),
            ]),
        ];
    }
    let rules = assess(&verdict.bind, socket, ctx);
    let why = inert(&rules.why).into_owned();
    let answer = match rules.conflict {
        Conflict::No => Line::raw(format!("Does not block: {why}")),
        // Not counted although the rules could not clear it: only the
        // kernel's acceptance of the probe bind settles that.
        Conflict::Yes | Conflict::Unknown => Line::raw(format!(
            "Does not block: the kernel accepted the probe bind. The rules alone say: {why}"
        )),
    };
    vec![against, answer]
}
