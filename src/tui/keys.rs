//! The one key table: key handling, the help overlay and the hint bar all
//! read it, so they cannot disagree.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// What a key asks for in the normal (no prompt, no overlay) mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Quit,
    ChoosePort,
    ToggleReuseAddr,
    EditFilter,
    NextSortColumn,
    ReverseSort,
    /// Index into `view::STATE_PRESETS`.
    StatePreset(usize),
    NextStatePreset,
    TogglePause,
    LongerInterval,
    ShorterInterval,
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
    Details,
    Explain,
    Free,
    Help,
}

/// A key, or a family of keys, as the table lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyPattern {
    Char(char),
    Ctrl(char),
    Code(KeyCode),
    /// 1 to 9; the digit picks the state preset.
    Digit,
}

impl KeyPattern {
    /// The action for `key`, when this pattern matches it.
    fn resolve(self, key: &KeyEvent, action: Action) -> Option<Action> {
        let plain = !key
            .modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
        match (self, key.code) {
            (KeyPattern::Char(want), KeyCode::Char(got)) if plain && want == got => Some(action),
            (KeyPattern::Ctrl(want), KeyCode::Char(got))
                if key.modifiers.contains(KeyModifiers::CONTROL)
                    && want.eq_ignore_ascii_case(&got) =>
            {
                Some(action)
            }
            (KeyPattern::Code(want), got) if want == got => Some(action),
            (KeyPattern::Digit, KeyCode::Char(digit @ '1'..='9')) if plain => {
                Some(Action::StatePreset(usize::from(digit as u8 - b'1')))
            }
            _ => None,
        }
    }

    /// How the help and the hint bar spell this key.
    pub fn label(self) -> String {
        match self {
            KeyPattern::Char(' ') => "Space".to_string(),
            KeyPattern::Char(c) => c.to_string(),
            KeyPattern::Ctrl(c) => format!("Ctrl-{}", c.to_ascii_uppercase()),
            KeyPattern::Digit => "1-9".to_string(),
            KeyPattern::Code(code) => match code {
                KeyCode::Esc => "Esc".to_string(),
                KeyCode::Tab => "Tab".to_string(),
                KeyCode::Enter => "Enter".to_string(),
                KeyCode::Up => "↑".to_string(),
                KeyCode::Down => "↓".to_string(),
                KeyCode::PageUp => "PgUp".to_string(),
                KeyCode::PageDown => "PgDn".to_string(),
                KeyCode::Home => "Home".to_string(),
                KeyCode::End => "End".to_string(),
                other => other.to_string(),
            },
        }
    }
}

/// One row of the key table.
#[derive(Debug)]
pub(crate) struct Binding {
    pub keys: &'static [KeyPattern],
    pub action: Action,
    /// The help overlay's description.
    pub help: &'static str,
    /// The hint bar's word; None keeps the binding out of the hint bar.
    pub hint: Option<&'static str>,
}

use KeyPattern::{Char, Code, Ctrl, Digit};

const fn bind(
    keys: &'static [KeyPattern],
    action: Action,
    help: &'static str,
    hint: Option<&'static str>,
) -> Binding {
    Binding {
        keys,
        action,
        help,
        hint,
    }
}

pub(crate) const KEY_TABLE: &[Binding] = &[
    bind(
        &[Char('q'), Code(KeyCode::Esc), Ctrl('c')],
        Action::Quit,
        "quit (Esc first closes a prompt or an overlay)",
        Some("quit"),
    ),
    bind(
        &[Char('p')],
        Action::ChoosePort,
        "choose the port to diagnose",
        Some("port"),
    ),
    bind(
        &[Char('r')],
        Action::ToggleReuseAddr,
        "toggle SO_REUSEADDR of the intended bind",
        Some("reuseaddr"),
    ),
    bind(
        &[Char('e')],
        Action::Explain,
        "the verdict in full: explanation, probes, advice",
        Some("explain"),
    ),
    bind(
        &[Char('F')],
        Action::Free,
        "destroy the selected TIME_WAIT blocker (asks first)",
        Some("free"),
    ),
    bind(
        &[Char('/')],
        Action::EditFilter,
        "filter rows by text: address, port, pid, process",
        Some("filter"),
    ),
    bind(
        &[Char('s')],
        Action::NextSortColumn,
        "sort by the next column",
        Some("sort"),
    ),
    bind(
        &[Char('S')],
        Action::ReverseSort,
        "reverse the sort direction",
        None,
    ),
    bind(
        &[Digit],
        Action::StatePreset(0),
        "show only a state (list below)",
        None,
    ),
    bind(
        &[Code(KeyCode::Tab)],
        Action::NextStatePreset,
        "next state filter",
        Some("states"),
    ),
    bind(
        &[Char(' ')],
        Action::TogglePause,
        "pause or resume reading",
        Some("pause"),
    ),
    bind(
        &[Char('+')],
        Action::LongerInterval,
        "read less often",
        None,
    ),
    bind(
        &[Char('-')],
        Action::ShorterInterval,
        "read more often",
        None,
    ),
    bind(
        &[Code(KeyCode::Up), Char('k')],
        Action::Up,
        "select the row above",
        None,
    ),
    bind(
        &[Code(KeyCode::Down), Char('j')],
        Action::Down,
        "select the row below",
        None,
    ),
    bind(
        &[Code(KeyCode::PageUp)],
        Action::PageUp,
        "one page up",
        None,
    ),
    bind(
        &[Code(KeyCode::PageDown)],
        Action::PageDown,
        "one page down",
        None,
    ),
    bind(
        &[Code(KeyCode::Home), Char('g')],
        Action::Home,
        "first row",
        None,
    ),
    bind(
        &[Code(KeyCode::End), Char('G')],
        Action::End,
        "last row",
        None,
    ),
    bind(
        &[Code(KeyCode::Enter)],
        Action::Details,
        "details of the selected socket, and why it blocks or not",
        Some("details"),
    ),
    bind(&[Char('?')], Action::Help, "this help", Some("help")),
];

/// The action the key table gives `key`, if any. Releases are ignored (some
/// terminals report them).
pub(crate) fn action_for(key: &KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    KEY_TABLE.iter().find_map(|binding| {
        binding
            .keys
            .iter()
            .find_map(|pattern| pattern.resolve(key, binding.action))
    })
}

/// True for Ctrl-C, which quits from any mode.
pub(crate) fn is_interrupt(key: &KeyEvent) -> bool {
    key.modifiers.contains(KeyModifiers::CONTROL) && matches!(key.code, KeyCode::Char('c' | 'C'))
}

/// All the keys of a binding, as the help shows them: "q Esc Ctrl-C".
pub(crate) fn keys_label(binding: &Binding) -> String {
    binding
        .keys
        .iter()
        .map(|key| key.label())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn keys_map_to_their_actions() {
        let none = KeyModifiers::NONE;
        assert_eq!(
            action_for(&press(KeyCode::Char('q'), none)),
            Some(Action::Quit)
        );
        assert_eq!(action_for(&press(KeyCode::Esc, none)), Some(Action::Quit));
        assert_eq!(
            action_for(&press(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(action_for(&press(KeyCode::Char('c'), none)), None);
        assert_eq!(
            action_for(&press(KeyCode::Char('S'), KeyModifiers::SHIFT)),
            Some(Action::ReverseSort)
        );
        assert_eq!(
            action_for(&press(KeyCode::Char('3'), none)),
            Some(Action::StatePreset(2))
        );
        assert_eq!(action_for(&press(KeyCode::Char('0'), none)), None);
        assert_eq!(
            action_for(&press(KeyCode::Char('F'), KeyModifiers::SHIFT)),
            Some(Action::Free)
        );
        assert_eq!(action_for(&press(KeyCode::Char('f'), none)), None);
        assert_eq!(
            action_for(&press(KeyCode::Char(' '), none)),
            Some(Action::TogglePause)
        );
        assert_eq!(
            action_for(&press(KeyCode::PageDown, none)),
            Some(Action::PageDown)
        );
        // Ctrl-p is not p.
        assert_eq!(
            action_for(&press(KeyCode::Char('p'), KeyModifiers::CONTROL)),
            None
        );
    }

    #[test]
    fn releases_are_ignored() {
        let mut key = press(KeyCode::Char('q'), KeyModifiers::NONE);
        key.kind = KeyEventKind::Release;
        assert_eq!(action_for(&key), None);
    }

    #[test]
    fn no_key_is_bound_twice() {
        let patterns: Vec<KeyPattern> = KEY_TABLE
            .iter()
            .flat_map(|b| b.keys.iter().copied())
            .collect();
        for (i, pattern) in patterns.iter().enumerate() {
            assert!(
                !patterns[i + 1..].contains(pattern),
                "{pattern:?} bound twice"
            );
        }
    }

    #[test]
    fn labels_read_as_keys() {
        assert_eq!(keys_label(&KEY_TABLE[0]), "q Esc Ctrl-C");
        assert_eq!(Char(' ').label(), "Space");
        assert_eq!(Digit.label(), "1-9");
    }
}
