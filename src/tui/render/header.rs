//! Two lines: where and how the dashboard reads, then the sysctls that
//! decide how TIME_WAITs behave (or why the last reading failed).

use std::time::Duration;

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::Theme;
use crate::output::inert::inert;
use crate::tui::app::App;

pub(super) fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let header = app.snapshot.as_ref().map(|s| &s.header);
    let label = |text: &'static str| Span::styled(text, theme.quiet());
    let fact = |value: Option<&String>| -> String {
        value.map_or_else(|| "?".to_string(), |v| inert(v).into_owned())
    };
    let mut source = inert(&app.config.source).into_owned();
    if let Some(snapshot) = &app.snapshot {
        if let Some(everywhere) = &snapshot.everywhere {
            source.push_str(&format!(" ({})", everywhere.namespaces.len()));
        }
        let read_from = snapshot.table.source.as_str();
        if read_from != source {
            source = format!("{source} → {read_from}");
        }
    }
    // After a failed reading the screen still shows the last good one:
    // "LIVE" would be a lie.
    let (state, state_style) = if app.paused {
        ("‖ PAUSED", theme.error())
    } else if app.error.is_some() {
        ("✖ STALE", theme.error())
    } else {
        ("● LIVE", theme.accent())
    };
    let first = Line::from(vec![
        Span::styled("tw-inspect ", theme.title()),
        Span::styled(state, state_style),
        label(" every "),
        Span::raw(interval_text(app.interval)),
        label("  host "),
        Span::raw(fact(header.and_then(|h| h.host.as_ref()))),
        label("  kernel "),
        Span::raw(fact(header.and_then(|h| h.kernel.as_ref()))),
        label("  source "),
        Span::raw(source),
    ]);
    let second = match &app.error {
        Some(error) => Line::from(vec![
            Span::styled("reading failed: ", theme.error()),
            Span::raw(inert(error).into_owned()),
            label(if app.snapshot.is_some() {
                "  (showing the last good reading)"
            } else {
                ""
            }),
        ]),
        None => {
            let sysctl = header.map(|h| &h.sysctl);
            let value = |text: Option<String>| text.unwrap_or_else(|| "?".to_string());
            Line::from(vec![
                label("tcp_tw_reuse "),
                Span::raw(value(
                    sysctl.and_then(|k| k.tcp_tw_reuse).map(|v| v.to_string()),
                )),
                label("  tcp_max_tw_buckets "),
                Span::raw(value(
                    sysctl
                        .and_then(|k| k.tcp_max_tw_buckets)
                        .map(|v| v.to_string()),
                )),
                label("  ip_local_port_range "),
                Span::raw(value(
                    sysctl
                        .and_then(|k| k.ip_local_port_range)
                        .map(|(low, high)| format!("{low} {high}")),
                )),
            ])
        }
    };
    let mut second = second;
    // Item 4 of the watcher: the dashboard says when it runs without it.
    if let Some(why) = &app.config.failures_off {
        second.push_span(Span::styled("  bind failures: off — ", theme.error()));
        second.push_span(Span::raw(inert(why).into_owned()));
    }
    frame.render_widget(Paragraph::new(vec![first, second]), area);
}

/// "1s", "500ms".
fn interval_text(interval: Duration) -> String {
    let ms = interval.as_millis();
    if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}
