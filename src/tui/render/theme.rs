//! Styles, with color or without (NO_COLOR): without it, blocking rows
//! still stand out by their `!` marker and bold text.

use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone, Copy)]
pub(crate) struct Theme {
    color: bool,
}

impl Theme {
    pub fn new(color: bool) -> Theme {
        Theme { color }
    }

    fn colored(self, style: Style) -> Style {
        if self.color {
            style
        } else {
            Style::default()
        }
    }

    pub fn title(self) -> Style {
        Style::default().add_modifier(Modifier::BOLD)
    }

    /// A table row or panel line of a socket that blocks the intended bind.
    pub fn blocker(self) -> Style {
        self.colored(Style::default().fg(Color::LightRed))
            .add_modifier(Modifier::BOLD)
    }

    pub fn selected(self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }

    pub fn blocked_badge(self) -> Style {
        self.colored(Style::default().fg(Color::White).bg(Color::Red))
            .add_modifier(Modifier::BOLD)
    }

    pub fn free_badge(self) -> Style {
        self.colored(Style::default().fg(Color::Black).bg(Color::Green))
            .add_modifier(Modifier::BOLD)
    }

    pub fn countdown(self) -> Style {
        self.colored(Style::default().fg(Color::Yellow))
    }

    pub fn quiet(self) -> Style {
        self.colored(Style::default().fg(Color::DarkGray))
    }

    pub fn accent(self) -> Style {
        self.colored(Style::default().fg(Color::Cyan))
    }

    pub fn error(self) -> Style {
        self.colored(Style::default().fg(Color::LightRed))
            .add_modifier(Modifier::BOLD)
    }

    pub fn key(self) -> Style {
        self.colored(Style::default().fg(Color::Cyan))
            .add_modifier(Modifier::BOLD)
    }

    /// The sparkline's bars.
    pub fn sparkline(self) -> Style {
        self.colored(Style::default().fg(Color::Yellow))
    }
}
