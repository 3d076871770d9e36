//! The help overlay, written from every mode's key table and the state
//! presets; scrolls like the explain overlay.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

use super::Theme;
use crate::tui::keys::{keys_label, Binding, KeyMode, KeyPattern};
use crate::tui::view::STATE_PRESETS;

/// Draws the overlay scrolled down by `scroll` lines; returns the scroll
/// actually used (never past the last screenful).
pub(super) fn draw(frame: &mut Frame, area: Rect, scroll: u16, theme: &Theme) -> u16 {
    // Ctrl-C quits from every mode: the normal table says so once.
    let shown = |mode: KeyMode, binding: &Binding| {
        mode == KeyMode::Normal || binding.keys != [KeyPattern::Ctrl('c')]
    };
    let key_width = KeyMode::ALL
        .iter()
        .flat_map(|&mode| mode.table().iter())
        .map(|b| keys_label(b).chars().count())
        .max()
        .unwrap_or(0);
    let row = |binding: &Binding| {
        let keys = keys_label(binding);
        let pad = key_width.saturating_sub(keys.chars().count());
        Line::from(vec![
            Span::styled(format!("{keys}{}", " ".repeat(pad)), theme.key()),
            Span::raw(format!("  {}", binding.help)),
        ])
    };
    let mut lines: Vec<Line> = KeyMode::Normal.table().iter().map(row).collect();
    let presets: Vec<String> = STATE_PRESETS
        .iter()
        .enumerate()
        .map(|(index, preset)| format!("{} {}", index + 1, preset.name))
        .collect();
    lines.push(Line::from(vec![
        Span::styled("States: ", theme.title()),
        Span::raw(presets.join(" · ")),
    ]));
    for mode in KeyMode::ALL.into_iter().skip(1) {
        lines.push(Line::raw(""));
        lines.push(Line::styled(mode.title(), theme.title()));
        lines.extend(
            mode.table()
                .iter()
                .filter(|binding| shown(mode, binding))
                .map(row),
        );
    }
    let block = Block::bordered()
        .title(Span::styled(" Keys ", theme.title()))
        .title(Span::styled(
            " ! marks the sockets that block the intended bind ",
            theme.quiet(),
        ))
        .title_bottom(Span::styled(" ↓ more · Esc close ", theme.quiet()));
    let inner = block.inner(area);
    // Rows are short enough not to wrap from 60 columns on: one line each.
    let last = lines.len().saturating_sub(usize::from(inner.height));
    let scroll = scroll.min(u16::try_from(last).unwrap_or(u16::MAX));
    frame.render_widget(Clear, area);
    frame.render_widget(Paragraph::new(lines).block(block).scroll((scroll, 0)), area);
    scroll
}
