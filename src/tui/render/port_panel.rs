//! The chosen port, essentials first: BLOCKED or FREE and when it frees,
//! the explanation's first sentence (`e` shows all of it), one line per
//! blocker (four-tuple, owner, and for a time-wait the 2MSL countdown and
//! gauge) and what the probes said. Where the screen has room, each
//! blocker's reasoning and the advice follow. Every line is one row, so the
//! layout knows the panel's height before drawing. All of it is the
//! verdict's; its sentences may quote process names, so they are drawn
//! through `inert`.

use std::net::SocketAddr;
use std::time::Instant;

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use super::{owner_text, peer_text, Theme};
use crate::diagnosis::{Blocker, Conflict, IntendedBind, Probe, Reason, Verdict};
use crate::duration::{seconds_text, whole_seconds};
use crate::model::Protocol;
use crate::output::inert::inert;
use crate::tui::app::App;
use crate::tui::countdown;
use crate::tui::view::{labelled_state, namespace_label};

/// How many rows the panel's lines may take (its title border aside).
#[derive(Debug, Clone, Copy)]
pub(super) struct Room {
    /// For the essentials: blockers beyond it are counted, not listed.
    pub essential: usize,
    /// For the reasoning and advice too; they come all-or-nothing per kind.
    pub roomy: usize,
}

/// The panel's lines for `width` columns within `room`.
pub(super) fn lines(
    app: &App,
    now: Instant,
    theme: &Theme,
    width: u16,
    room: Room,
) -> Vec<Line<'static>> {
    match (app.port, app.snapshot.as_ref(), app.verdict()) {
        (None, _, _) => vec![Line::from(vec![
            Span::raw("No port chosen: press "),
            Span::styled("p", theme.key()),
            Span::raw(" and type the port whose bind() fails."),
        ])],
        (Some(_), None, _) => vec![Line::styled("Reading…", theme.quiet())],
        (Some(port), Some(snapshot), None)
            if snapshot.everywhere.is_some()
                && app.answers_current_bind()
                && app.namespaces_on_port().next().is_none() =>
        {
            vec![Line::from(vec![
                Span::styled(" FREE ", theme.free_badge()),
                Span::raw(format!(
                    " no namespace has a socket on port {port}: bind() succeeds in each"
                )),
            ])]
        }
        (Some(_), Some(_), None) => vec![Line::styled(
            "Reading the verdict for this bind…",
            theme.quiet(),
        )],
        (Some(_), Some(snapshot), Some(verdict)) => {
            let namespaces = namespaces_line(app, theme);
            let room = Room {
                essential: room.essential.saturating_sub(namespaces.len()),
                roomy: room.roomy.saturating_sub(namespaces.len()),
            };
            let mut lines = namespaces;
            lines.extend(verdict_lines(
                app,
                verdict,
                snapshot.read_at,
                now,
                theme,
                usize::from(width),
                room,
            ));
            lines
        }
    }
}

/// With `--all-netns`: every namespace that uses the port with its
/// verdict, the one shown first and marked ▸; `n` shows the next.
/// "▸ blue BLOCKED · red FREE  (n: next)".
fn namespaces_line(app: &App, theme: &Theme) -> Vec<Line<'static>> {
    let Some(picked) = app.picked() else {
        return Vec::new();
    };
    let mut spans = vec![Span::styled("netns ", theme.quiet())];
    for (index, view) in app.namespaces_on_port().enumerate() {
        if index > 0 {
            spans.push(Span::styled(" · ", theme.quiet()));
        }
        let shown = view.entry.id.inode == picked.entry.id.inode;
        let blocked = view.verdict.as_ref().is_some_and(|(v, _)| v.blocked);
        let name = format!(
            "{}{}",
            if shown { "▸ " } else { "" },
            namespace_label(&view.entry)
        );
        spans.push(if shown {
            Span::styled(name, theme.title())
        } else {
            Span::raw(name)
        });
        spans.push(if blocked {
            Span::styled(" BLOCKED", theme.blocker())
        } else {
            Span::raw(" FREE")
        });
    }
    if app.namespaces_on_port().nth(1).is_some() {
        spans.push(Span::styled("  (n: next)", theme.quiet()));
    }
    vec![Line::from(spans)]
}

pub(super) fn draw(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    lines: Vec<Line<'static>>,
    theme: &Theme,
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
    frame.render_widget(Paragraph::new(lines), inner);
}

fn verdict_lines(
    app: &App,
    verdict: &Verdict,
    read_at: Instant,
    now: Instant,
    theme: &Theme,
    width: usize,
    room: Room,
) -> Vec<Line<'static>> {
    let headline = inert(first_sentence(&verdict.explanation)).into_owned();
    let mut head = Vec::new();
    if verdict.blocked {
        head.push(status_line(verdict, read_at, now, theme));
        head.push(Line::raw(one_line(&headline, width)));
    } else {
        let badge = " FREE ";
        head.push(Line::from(vec![
            Span::styled(badge, theme.free_badge()),
            Span::raw(format!(
                " {}",
                one_line(&headline, width.saturating_sub(badge.len() + 1))
            )),
        ]));
    }
    let probes = probe_lines(verdict, width, theme);

    let count = verdict.blockers.len();
    let left = room.essential.saturating_sub(head.len() + probes.len());
    // Never less than one listed blocker, or one "… and N more" line.
    let listed = if count <= left.max(1) {
        count
    } else {
        left.saturating_sub(1).max(1)
    };
    let mut essentials = head.len() + listed + usize::from(listed < count) + probes.len();
    let reasons = listed == count && essentials + count <= room.roomy;
    if reasons {
        essentials += count;
    }
    let advice_fits = essentials + verdict.advice.len() <= room.roomy;

    let gauge_cells = if width >= 110 { 20 } else { 8 };
    let mut lines = head;
    for blocker in &verdict.blockers[..listed] {
        lines.push(blocker_line(app, blocker, read_at, now, theme, gauge_cells));
        if reasons {
            let why = inert(&blocker.why).into_owned();
            lines.push(Line::styled(
                format!("    {}", one_line(&why, width.saturating_sub(4))),
                theme.quiet(),
            ));
        }
    }
    if listed < count {
        lines.push(Line::styled(
            format!(
                "  … and {} more: press 9 to list the port's sockets",
                count - listed
            ),
            theme.quiet(),
        ));
    }
    lines.extend(probes);
    if advice_fits {
        for advice in &verdict.advice {
            let advice = inert(advice).into_owned();
            lines.push(Line::from(vec![
                Span::styled("→ ", theme.accent()),
                Span::raw(one_line(&advice, width.saturating_sub(2))),
            ]));
        }
    }
    lines
}

/// BLOCKED and when the port frees (the explanation says why it is an
/// estimate), or FREE.
pub(super) fn status_line(
    verdict: &Verdict,
    read_at: Instant,
    now: Instant,
    theme: &Theme,
) -> Line<'static> {
    if !verdict.blocked {
        return Line::from(vec![
            Span::styled(" FREE ", theme.free_badge()),
            Span::raw(" nothing stops this bind now"),
        ]);
    }
    let when = match verdict.free_in_ms {
        Some(ms) => match countdown::remaining_ms(ms, read_at, now) {
            0 => " should be free now; the next reading will tell".to_string(),
            left => format!(" free in ~{} s", whole_seconds(left)),
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
    gauge_cells: usize,
) -> Line<'static> {
    let socket = &blocker.socket;
    let timer = match socket.time_wait_remaining_ms() {
        Some(ms) => {
            let left = countdown::remaining_ms(ms, read_at, now);
            format!(
                "{:>6} {} ",
                seconds_text(left),
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
        Span::styled(
            format!("! {:<10} ", labelled_state(socket)),
            theme.blocker(),
        ),
        Span::styled(timer, theme.countdown()),
        Span::raw(format!("{} → {}{maybe}", socket.local, peer_text(socket))),
    ];
    if let Some(owner) = owner_text(socket, app) {
        spans.push(Span::styled(format!("  {owner}"), theme.accent()));
    }
    Line::from(spans)
}

/// "probes: intended EADDRINUSE · +SO_REUSEADDR EADDRINUSE · 10.0.0.5 ok",
/// on as many lines as `width` needs.
fn probe_lines(verdict: &Verdict, width: usize, theme: &Theme) -> Vec<Line<'static>> {
    const LABEL: &str = "probes:";
    if verdict.probes.is_empty() {
        return vec![Line::styled(format!("{LABEL} none made"), theme.quiet())];
    }
    let mut lines = Vec::new();
    let mut spans = vec![Span::styled(LABEL, theme.quiet())];
    let mut used = LABEL.len();
    for (index, probe) in verdict.probes.iter().enumerate() {
        let label = probe_label(probe, &verdict.bind);
        let answer = if probe.ok {
            "ok".to_string()
        } else {
            probe
                .errno
                .map_or_else(|| "failed".to_string(), |errno| errno.to_string())
        };
        let separator = if index == 0 { " " } else { " · " };
        let cost = separator.chars().count() + label.chars().count() + 1 + answer.len();
        if index > 0 && used + cost > width {
            lines.push(Line::from(std::mem::take(&mut spans)));
            spans.push(Span::raw(" ".repeat(LABEL.len())));
            used = LABEL.len();
        }
        spans.push(Span::raw(format!("{separator}{label} ")));
        spans.push(Span::styled(
            answer,
            if probe.ok {
                theme.accent()
            } else {
                theme.blocker()
            },
        ));
        used += cost;
    }
    lines.push(Line::from(spans));
    lines
}

/// How a probe differs from the intended bind: "intended", "+SO_REUSEADDR",
/// "+SO_REUSEPORT -SO_REUSEADDR", "10.0.0.5"; the probe's question when it
/// differs otherwise.
fn probe_label(probe: &Probe, intended: &IntendedBind) -> String {
    if probe.bind == *intended {
        return "intended".to_string();
    }
    let mut parts = Vec::new();
    if probe.bind.addr != intended.addr {
        parts.push(probe.bind.addr.to_string());
    }
    for (name, now, before) in [
        ("SO_REUSEADDR", probe.bind.reuseaddr, intended.reuseaddr),
        ("SO_REUSEPORT", probe.bind.reuseport, intended.reuseport),
    ] {
        if now != before {
            parts.push(format!("{}{name}", if now { "+" } else { "-" }));
        }
    }
    // Flags turned on read first: they are the question asked.
    parts.sort_by_key(|part| part.starts_with('-'));
    let same_otherwise = IntendedBind {
        addr: intended.addr,
        reuseaddr: intended.reuseaddr,
        reuseport: intended.reuseport,
        ..probe.bind.clone()
    } == *intended;
    if parts.is_empty() || !same_otherwise {
        return probe.kind.question().to_string();
    }
    parts.join(" ")
}

/// The explanation's first sentence: up to the first ". " that a capital
/// follows (addresses and "e.g." do not end it), or all of it.
pub(super) fn first_sentence(text: &str) -> &str {
    text.match_indices(". ")
        .find(|(at, _)| {
            text[at + 2..]
                .chars()
                .next()
                .is_some_and(|c| c.is_uppercase())
        })
        .map_or(text, |(at, _)| &text[..=at])
}

/// `text` on one line of `width` columns: cut at a word with "…" when longer.
fn one_line(text: &str, width: usize) -> String {
    if textwrap::core::display_width(text) <= width {
        return text.to_string();
    }
    let first = textwrap::wrap(text, width.saturating_sub(1).max(1))
        .into_iter()
        .next()
        .unwrap_or_default();
    format!("{}…", first.trim_end())
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

/// "0.0.0.0:8080 SO_REUSEADDR off SO_REUSEPORT off"; "UDP 0.0.0.0:5353 …".
pub(super) fn bind_text(bind: &IntendedBind) -> String {
    let on_off = |flag: bool| if flag { "on" } else { "off" };
    let mut text = format!(
        "{}{} SO_REUSEADDR {} SO_REUSEPORT {}",
        match bind.protocol {
            Protocol::Tcp => "",
            Protocol::Udp => "UDP ",
        },
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnosis::ProbeKind;
    use crate::tui::test_fixtures::bind_8080;

    #[test]
    fn first_sentence_ends_at_a_capital_after_a_full_stop() {
        assert_eq!(
            first_sentence("bind() to 127.0.0.1:80 fails. The old server closed first."),
            "bind() to 127.0.0.1:80 fails."
        );
        assert_eq!(
            first_sentence("Use e.g. another port."),
            "Use e.g. another port."
        );
        assert_eq!(first_sentence(""), "");
    }

    #[test]
    fn long_text_is_cut_at_a_word() {
        assert_eq!(one_line("short", 10), "short");
        assert_eq!(one_line("a TIME_WAIT holds it", 12), "a TIME_WAIT…");
    }

    #[test]
    fn probes_are_labelled_by_what_they_change() {
        let probe = |bind: IntendedBind| Probe {
            bind,
            kind: ProbeKind::SpecificAddress,
            ok: false,
            errno: None,
        };
        let intended = bind_8080();
        assert_eq!(probe_label(&probe(intended.clone()), &intended), "intended");
        let reuseport_only = IntendedBind {
            reuseport: true,
            ..intended.clone()
        };
        let with_both = IntendedBind {
            reuseaddr: true,
            ..reuseport_only.clone()
        };
        let reuseaddr_only = IntendedBind {
            reuseaddr: true,
            ..intended.clone()
        };
        assert_eq!(
            probe_label(&probe(reuseaddr_only), &reuseport_only),
            "+SO_REUSEADDR -SO_REUSEPORT"
        );
        assert_eq!(
            probe_label(&probe(with_both), &intended),
            "+SO_REUSEADDR +SO_REUSEPORT"
        );
        let elsewhere = IntendedBind {
            addr: "10.0.0.5".parse().expect("address"),
            ..intended.clone()
        };
        assert_eq!(probe_label(&probe(elsewhere), &intended), "10.0.0.5");
        let on_device = IntendedBind {
            device: Some("eth0".to_string()),
            reuseaddr: true,
            ..intended.clone()
        };
        assert_eq!(
            probe_label(&probe(on_device), &intended),
            ProbeKind::SpecificAddress.question()
        );
    }
}
