//! The bottom line: the current mode's hints from its key table (after the
//! last action's outcome, if any), behind the open prompt if there is one.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::Theme;
use crate::output::inert::inert;
use crate::tui::app::{App, Mode};
use crate::tui::keys::{Action, KeyMode};

pub(super) fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let width = usize::from(area.width);
    let mode = app.mode.key_mode();
    let lead = match &app.mode {
        Mode::Normal => app.status.as_ref().map(|status| {
            // Already inert (see `App::status`).
            vec![Span::styled(format!("{status} "), theme.countdown())]
        }),
        Mode::PortPrompt { input } => Some(prompt("Port: ", input, theme)),
        Mode::FilterPrompt { .. } => Some(prompt("Filter: ", &inert(&app.spec.text), theme)),
        Mode::ConfirmFree { targets, .. } => Some(vec![Span::styled(
            format!("Destroy {} socket(s)? ", targets.len()),
            theme.title(),
        )]),
        Mode::Failures { .. } => Some(vec![Span::styled("Bind failures ", theme.title())]),
        Mode::Help { .. }
        | Mode::Details { .. }
        | Mode::Explain { .. }
        | Mode::FailureVerdict { .. } => None,
    };
    let mut spans = lead.unwrap_or_default();
    let used: usize = spans.iter().map(|span| span.content.chars().count()).sum();
    spans.extend(hints(mode, width.saturating_sub(used), theme).spans);
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn prompt(label: &'static str, input: &str, theme: &Theme) -> Vec<Span<'static>> {
    vec![
        Span::styled(label, theme.title()),
        Span::raw(input.to_string()),
        Span::styled("█", theme.accent()),
        Span::raw("  "),
    ]
}

/// As many of `mode`'s hints as fit `width`, in the table's order; the help
/// hint always fits, since it leads to all the others.
pub(super) fn hints(mode: KeyMode, width: usize, theme: &Theme) -> Line<'static> {
    let items: Vec<(String, &str, bool)> = mode
        .table()
        .iter()
        .filter_map(|binding| {
            binding.hint.map(|hint| {
                (
                    binding.keys[0].label(),
                    hint,
                    binding.action == Action::Help,
                )
            })
        })
        .collect();
    let cost = |(key, hint, _): &(String, &str, bool)| key.chars().count() + hint.len() + 3;
    let mut room = width.saturating_sub(items.iter().filter(|i| i.2).map(cost).sum());
    let mut spans = Vec::new();
    for item in &items {
        if !item.2 {
            if cost(item) > room {
                continue;
            }
            room -= cost(item);
        }
        spans.push(Span::styled(format!(" {}", item.0), theme.key()));
        spans.push(Span::raw(format!(" {} ", item.1)));
    }
    Line::from(spans)
}
