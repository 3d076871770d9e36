//! Sockets by state, and the TIME_WAIT count over the readings (sparkline).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Sparkline};
use ratatui::Frame;

use super::Theme;
use crate::model::TcpState;
use crate::tui::app::App;

pub(super) fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, wide: bool) {
    let total: usize = app.counts.iter().map(|(_, n)| n).sum();
    let now = app.time_wait_history.back().copied().unwrap_or(0);
    let max = app.time_wait_history.iter().copied().max().unwrap_or(0);
    let trend = format!(" {now} now, max {max} ");
    if wide {
        let block = Block::default().borders(Borders::TOP).title(Span::styled(
            format!(" {total} sockets by state "),
            theme.title(),
        ));
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let [list_area, spark_area] = inner.layout(&Layout::horizontal([
            Constraint::Length(22),
            Constraint::Min(0),
        ]));
        let lines: Vec<Line> = app
            .counts
            .iter()
            .map(|(state, n)| {
                Line::from(format!("{:<13}{n:>8}", state.name())).style(state_style(*state, theme))
            })
            .collect();
        frame.render_widget(Paragraph::new(lines), list_area);
        let spark_block = Block::default().borders(Borders::LEFT).title(Span::styled(
            format!(" TIME_WAIT over time:{trend}"),
            theme.quiet(),
        ));
        let spark_inner = spark_block.inner(spark_area);
        frame.render_widget(spark_block, spark_area);
        draw_sparkline(frame, spark_inner, app, theme);
    } else {
        let [counts_line, spark_line] = area.layout(&Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
        ]));
        let mut spans = vec![Span::styled(format!("{total} sockets "), theme.title())];
        for (state, n) in &app.counts {
            spans.push(Span::styled(
                format!(" {} {n}", state.name()),
                state_style(*state, theme),
            ));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), counts_line);
        let [label, bars, numbers] = spark_line.layout(&Layout::horizontal([
            Constraint::Length(10),
            Constraint::Min(0),
            Constraint::Length(trend.len() as u16),
        ]));
        frame.render_widget(Paragraph::new("TIME_WAIT ").style(theme.quiet()), label);
        draw_sparkline(frame, bars, app, theme);
        frame.render_widget(Paragraph::new(trend).style(theme.quiet()), numbers);
    }
}

/// The newest readings that fit, oldest on the left.
fn draw_sparkline(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let history = &app.time_wait_history;
    let skip = history.len().saturating_sub(usize::from(area.width));
    let data: Vec<u64> = history.iter().skip(skip).copied().collect();
    frame.render_widget(
        Sparkline::default().data(data).style(theme.sparkline()),
        area,
    );
}

fn state_style(state: TcpState, theme: &Theme) -> ratatui::style::Style {
    if state == TcpState::TimeWait {
        theme.countdown()
    } else {
        ratatui::style::Style::default()
    }
}
