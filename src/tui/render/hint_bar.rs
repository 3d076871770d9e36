//! The bottom line: the key table's hints (after the last action's outcome,
//! if any), or the open prompt.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::Theme;
use crate::output::inert::inert;
use crate::tui::app::{App, Mode};
use crate::tui::keys::{Action, KEY_TABLE};

pub(super) fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let line = match &app.mode {
        Mode::Normal => match &app.status {
            None => hints(usize::from(area.width), theme),
            Some(status) => {
                // Already inert (see `App::status`).
                let shown = format!("{status} ");
                let room = usize::from(area.width).saturating_sub(shown.chars().count());
                let mut spans = vec![Span::styled(shown, theme.countdown())];
                spans.extend(hints(room, theme).spans);
                Line::from(spans)
            }
        },
        Mode::ConfirmFree { .. } => prompt("Destroy? ", "", "y destroy · n keep", theme),
        Mode::Explain { .. } => Line::from(vec![
            Span::styled("↑↓ PgUp PgDn", theme.key()),
            Span::raw(" scroll  "),
            Span::styled("Esc", theme.key()),
            Span::raw(" close"),
        ]),
        Mode::PortPrompt { input } => prompt("Port: ", input, "Enter choose · Esc cancel", theme),
        Mode::FilterPrompt { .. } => prompt(
            "Filter: ",
            &inert(&app.spec.text),
            "Enter keep · Esc cancel",
            theme,
        ),
        Mode::Help | Mode::Details { .. } => {
            Line::from(vec![Span::styled("Esc", theme.key()), Span::raw(" close")])
        }
    };
    frame.render_widget(Paragraph::new(line), area);
}

fn prompt(label: &'static str, input: &str, keys: &'static str, theme: &Theme) -> Line<'static> {
    Line::from(vec![
        Span::styled(label, theme.title()),
        Span::raw(input.to_string()),
        Span::styled("█", theme.accent()),
        Span::styled(format!("   {keys}"), theme.quiet()),
    ])
}

/// As many hints as fit `width`, in the table's order; the help hint always
/// fits, since it leads to all the others.
fn hints(width: usize, theme: &Theme) -> Line<'static> {
    let item = |binding: &crate::tui::keys::Binding| {
        binding.hint.map(|hint| {
            (
                binding.keys[0].label(),
                hint,
                binding.action == Action::Help,
            )
        })
    };
    let items: Vec<(String, &str, bool)> = KEY_TABLE.iter().filter_map(item).collect();
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
