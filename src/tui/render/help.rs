//! The help overlay, written from the key table and the state presets.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use super::Theme;
use crate::tui::keys::{keys_label, KEY_TABLE};
use crate::tui::view::STATE_PRESETS;

pub(super) fn draw(frame: &mut Frame, area: Rect, theme: &Theme) {
    let key_width = KEY_TABLE
        .iter()
        .map(|b| keys_label(b).chars().count())
        .max()
        .unwrap_or(0);
    let mut lines: Vec<Line> = KEY_TABLE
        .iter()
        .map(|binding| {
            let keys = keys_label(binding);
            let pad = key_width - keys.chars().count();
            Line::from(vec![
                Span::styled(format!("{keys}{}", " ".repeat(pad)), theme.key()),
                Span::raw(format!("  {}", binding.help)),
            ])
        })
        .collect();
    let presets: Vec<String> = STATE_PRESETS
        .iter()
        .enumerate()
        .map(|(index, preset)| format!("{} {}", index + 1, preset.name))
        .collect();
    lines.push(Line::from(vec![
        Span::styled("States: ", theme.title()),
        Span::raw(presets.join(" · ")),
    ]));
    // No bottom border: at 80x24 every key needs that row.
    let block = Block::default()
        .borders(Borders::TOP | Borders::LEFT | Borders::RIGHT)
        .title(Span::styled(" Keys ", theme.title()))
        .title(Span::styled(
            " ! marks the sockets that block the intended bind ",
            theme.quiet(),
        ));
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(ratatui::widgets::Wrap { trim: false }),
        area,
    );
}
