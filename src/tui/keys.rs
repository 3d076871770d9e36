//! The one key table per mode: key handling, the help overlay and the hint
//! bar all read it, so they cannot disagree. [`App::handle_key`] acts on a
//! key only through [`action_for`]: a key missing from its mode's table does
//! nothing.
//!
//! [`App::handle_key`]: crate::tui::app::App::handle_key

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// Which table a key is looked up in: one per screen state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyMode {
    Normal,
    PortPrompt,
    FilterPrompt,
    Help,
    Details,
    Explain,
    Confirm,
    Failures,
    FailureVerdict,
}

impl KeyMode {
    /// Every mode, in the order the help overlay lists them.
    pub const ALL: [KeyMode; 9] = [
        KeyMode::Normal,
        KeyMode::PortPrompt,
        KeyMode::FilterPrompt,
        KeyMode::Explain,
        KeyMode::Help,
        KeyMode::Details,
        KeyMode::Confirm,
        KeyMode::Failures,
        KeyMode::FailureVerdict,
    ];

    /// The help overlay's heading for this mode's keys.
    pub fn title(self) -> &'static str {
        match self {
            KeyMode::Normal => "Keys",
            KeyMode::PortPrompt => "In the port prompt (p)",
            KeyMode::FilterPrompt => "In the filter prompt (/)",
            KeyMode::Help => "In this help",
            KeyMode::Details => "In the details (Enter)",
            KeyMode::Explain => "In the explanation (e)",
            KeyMode::Confirm => "When asked to destroy (F, d)",
            KeyMode::Failures => "In the bind failures (W)",
            KeyMode::FailureVerdict => "In a failure's verdict (Enter)",
        }
    }

    /// This mode's key table.
    pub fn table(self) -> &'static [Binding] {
        match self {
            KeyMode::Normal => NORMAL_KEYS,
            KeyMode::PortPrompt => PORT_PROMPT_KEYS,
            KeyMode::FilterPrompt => FILTER_PROMPT_KEYS,
            KeyMode::Help => HELP_KEYS,
            KeyMode::Details => DETAILS_KEYS,
            KeyMode::Explain => EXPLAIN_KEYS,
            KeyMode::Confirm => CONFIRM_KEYS,
            KeyMode::Failures => FAILURES_KEYS,
            KeyMode::FailureVerdict => FAILURE_VERDICT_KEYS,
        }
    }
}

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Quit,
    ChoosePort,
    ToggleReuseAddr,
    /// The table's protocols: tcp, udp, all.
    NextProtocols,
    /// The intended bind's protocol: TCP or UDP.
    ToggleBindProtocol,
    /// With --all-netns: the port panel shows the next namespace on the port.
    NextNamespace,
    /// Opens or closes the client-side pressure panel.
    TogglePressure,
    /// Opens or closes the bind failures panel.
    ToggleFailures,
    /// Selects among the bind failures (opens their panel).
    PickFailure,
    EditFilter,
    NextSortColumn,
    ReverseSort,
    /// Index into `view::STATE_PRESETS`.
    StatePreset(usize),
    NextStatePreset,
    TogglePause,
    LongerInterval,
    ShorterInterval,
    /// The row above, or in an overlay the line above.
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
    Details,
    Explain,
    /// Destroy every destroyable blocker of the port (asks first).
    FreePort,
    /// Destroy the selected blocker only (asks first).
    DestroySelected,
    Help,
    /// A character typed into a prompt.
    Type(char),
    Erase,
    /// Enter in a prompt.
    Accept,
    /// Esc in a prompt: back as it was.
    Cancel,
    /// Closes an overlay.
    Close,
    Yes,
    No,
}

/// A key, or a family of keys, as the table lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyPattern {
    Char(char),
    Ctrl(char),
    Code(KeyCode),
    /// 1 to 9; the digit picks the state preset.
    Digit,
    /// 0 to 9, typed into a prompt.
    AnyDigit,
    /// Any character without Ctrl or Alt, typed into a prompt.
    AnyChar,
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
            (KeyPattern::Code(want), got) if plain && want == got => Some(action),
            (KeyPattern::Digit, KeyCode::Char(digit @ '1'..='9')) if plain => {
                Some(Action::StatePreset(usize::from(digit as u8 - b'1')))
            }
            (KeyPattern::AnyDigit, KeyCode::Char(digit @ '0'..='9')) if plain => {
                Some(Action::Type(digit))
            }
            (KeyPattern::AnyChar, KeyCode::Char(c)) if plain => Some(Action::Type(c)),
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
            KeyPattern::AnyDigit => "0-9".to_string(),
            KeyPattern::AnyChar => "text".to_string(),
            KeyPattern::Code(code) => match code {
                KeyCode::Esc => "Esc".to_string(),
                KeyCode::Tab => "Tab".to_string(),
                KeyCode::Enter => "Enter".to_string(),
                KeyCode::Backspace => "Bksp".to_string(),
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

/// One row of a key table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Binding {
    pub keys: &'static [KeyPattern],
    pub action: Action,
    /// The help overlay's description.
    pub help: &'static str,
    /// The hint bar's word; None keeps the binding out of the hint bar.
    pub hint: Option<&'static str>,
}

use KeyPattern::{AnyChar, AnyDigit, Char, Code, Ctrl, Digit};

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

/// Ctrl-C quits from every mode; listed first, so that a prompt never takes
/// it for text.
const INTERRUPT: Binding = bind(&[Ctrl('c')], Action::Quit, "quit", None);

pub(crate) const NORMAL_KEYS: &[Binding] = &[
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
        &[Char('U')],
        Action::ToggleBindProtocol,
        "toggle the intended bind's protocol: TCP or UDP",
        None,
    ),
    bind(
        &[Char('n')],
        Action::NextNamespace,
        "--all-netns: show the next namespace's verdict on the port",
        None,
    ),
    bind(
        &[Char('c')],
        Action::TogglePressure,
        "client side: local ports used by each destination (open/close)",
        Some("clients"),
    ),
    bind(
        &[Char('w')],
        Action::ToggleFailures,
        "bind failures the kernel watcher caught (open/close)",
        None,
    ),
    bind(
        &[Char('W')],
        Action::PickFailure,
        "choose a bind failure to see its verdict",
        None,
    ),
    bind(
        &[Char('e')],
        Action::Explain,
        "the verdict in full: explanation, probes, advice",
        Some("explain"),
    ),
    bind(
        &[Char('F')],
        Action::FreePort,
        "free the port: destroy all its TIME_WAIT blockers (asks first)",
        Some("free port"),
    ),
    bind(
        &[Char('d')],
        Action::DestroySelected,
        "destroy the selected TIME_WAIT blocker only (asks first)",
        None,
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
        &[Char('u')],
        Action::NextProtocols,
        "show tcp, udp or all sockets in the table",
        Some("proto"),
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

pub(crate) const PORT_PROMPT_KEYS: &[Binding] = &[
    INTERRUPT,
    bind(&[AnyDigit], Action::Type('0'), "type the port", None),
    bind(
        &[Code(KeyCode::Backspace)],
        Action::Erase,
        "erase a digit",
        None,
    ),
    bind(
        &[Code(KeyCode::Enter)],
        Action::Accept,
        "diagnose this port",
        Some("choose"),
    ),
    bind(
        &[Code(KeyCode::Esc)],
        Action::Cancel,
        "keep the port as it was",
        Some("cancel"),
    ),
];

pub(crate) const FILTER_PROMPT_KEYS: &[Binding] = &[
    INTERRUPT,
    bind(&[AnyChar], Action::Type(' '), "filters as you type", None),
    bind(
        &[Code(KeyCode::Backspace)],
        Action::Erase,
        "erase a character",
        None,
    ),
    bind(
        &[Code(KeyCode::Enter)],
        Action::Accept,
        "keep this filter",
        Some("keep"),
    ),
    bind(
        &[Code(KeyCode::Esc)],
        Action::Cancel,
        "back to the filter before",
        Some("cancel"),
    ),
];

/// The keys that scroll a text overlay, by line, page or to either end.
const SCROLL_KEYS: [Binding; 6] = [
    bind(
        &[Code(KeyCode::Up), Char('k')],
        Action::Up,
        "scroll up a line",
        None,
    ),
    bind(
        &[Code(KeyCode::Down), Char('j')],
        Action::Down,
        "scroll down a line",
        Some("scroll"),
    ),
    bind(
        &[Code(KeyCode::PageUp)],
        Action::PageUp,
        "scroll up a page",
        None,
    ),
    bind(
        &[Code(KeyCode::PageDown)],
        Action::PageDown,
        "scroll down a page",
        None,
    ),
    bind(
        &[Code(KeyCode::Home), Char('g')],
        Action::Home,
        "to the top",
        None,
    ),
    bind(
        &[Code(KeyCode::End), Char('G')],
        Action::End,
        "to the end",
        Some("end"),
    ),
];

pub(crate) const HELP_KEYS: &[Binding] = &[
    INTERRUPT,
    bind(&[Char('q')], Action::Quit, "quit", Some("quit")),
    bind(
        &[Code(KeyCode::Esc), Code(KeyCode::Enter), Char('?')],
        Action::Close,
        "close",
        Some("close"),
    ),
    SCROLL_KEYS[0],
    SCROLL_KEYS[1],
    SCROLL_KEYS[2],
    SCROLL_KEYS[3],
    SCROLL_KEYS[4],
    SCROLL_KEYS[5],
];

pub(crate) const DETAILS_KEYS: &[Binding] = &[
    INTERRUPT,
    bind(&[Char('q')], Action::Quit, "quit", Some("quit")),
    bind(
        &[Code(KeyCode::Esc), Code(KeyCode::Enter), Char('?')],
        Action::Close,
        "close",
        Some("close"),
    ),
];

pub(crate) const EXPLAIN_KEYS: &[Binding] = &[
    INTERRUPT,
    bind(&[Char('q')], Action::Quit, "quit", Some("quit")),
    bind(
        &[Code(KeyCode::Esc), Code(KeyCode::Enter), Char('e')],
        Action::Close,
        "close",
        Some("close"),
    ),
    SCROLL_KEYS[0],
    SCROLL_KEYS[1],
    SCROLL_KEYS[2],
    SCROLL_KEYS[3],
    SCROLL_KEYS[4],
    SCROLL_KEYS[5],
];

pub(crate) const CONFIRM_KEYS: &[Binding] = &[
    INTERRUPT,
    bind(
        &[Char('y'), Char('Y')],
        Action::Yes,
        "destroy",
        Some("destroy"),
    ),
    bind(
        &[Char('n'), Char('N'), Code(KeyCode::Esc)],
        Action::No,
        "keep them: destroy nothing",
        Some("keep"),
    ),
];

pub(crate) const FAILURES_KEYS: &[Binding] = &[
    INTERRUPT,
    bind(&[Char('q')], Action::Quit, "quit", Some("quit")),
    bind(
        &[Code(KeyCode::Up), Char('k')],
        Action::Up,
        "the failure above (newer)",
        None,
    ),
    bind(
        &[Code(KeyCode::Down), Char('j')],
        Action::Down,
        "the failure below (older)",
        Some("select"),
    ),
    bind(
        &[Code(KeyCode::Enter)],
        Action::Details,
        "its verdict, judged when it failed",
        Some("verdict"),
    ),
    bind(
        &[Code(KeyCode::Esc), Char('W')],
        Action::Close,
        "back to the table",
        Some("back"),
    ),
];

pub(crate) const FAILURE_VERDICT_KEYS: &[Binding] = &[
    INTERRUPT,
    bind(&[Char('q')], Action::Quit, "quit", Some("quit")),
    bind(
        &[Code(KeyCode::Esc), Code(KeyCode::Enter)],
        Action::Close,
        "back to the failures",
        Some("close"),
    ),
    SCROLL_KEYS[0],
    SCROLL_KEYS[1],
    SCROLL_KEYS[2],
    SCROLL_KEYS[3],
    SCROLL_KEYS[4],
    SCROLL_KEYS[5],
];

/// The action `mode`'s table gives `key`, if any. Releases are ignored (some
/// terminals report them).
pub(crate) fn action_for(mode: KeyMode, key: &KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    mode.table().iter().find_map(|binding| {
        binding
            .keys
            .iter()
            .find_map(|pattern| pattern.resolve(key, binding.action))
    })
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

    fn normal(code: KeyCode, modifiers: KeyModifiers) -> Option<Action> {
        action_for(KeyMode::Normal, &press(code, modifiers))
    }

    #[test]
    fn keys_map_to_their_actions() {
        let none = KeyModifiers::NONE;
        assert_eq!(normal(KeyCode::Char('q'), none), Some(Action::Quit));
        assert_eq!(normal(KeyCode::Esc, none), Some(Action::Quit));
        assert_eq!(
            normal(KeyCode::Char('c'), KeyModifiers::CONTROL),
            Some(Action::Quit)
        );
        // Plain c is the pressure panel, not Ctrl-C.
        assert_eq!(
            normal(KeyCode::Char('c'), none),
            Some(Action::TogglePressure)
        );
        assert_eq!(
            normal(KeyCode::Char('u'), none),
            Some(Action::NextProtocols)
        );
        assert_eq!(
            normal(KeyCode::Char('U'), KeyModifiers::SHIFT),
            Some(Action::ToggleBindProtocol)
        );
        assert_eq!(
            normal(KeyCode::Char('n'), none),
            Some(Action::NextNamespace)
        );
        assert_eq!(
            normal(KeyCode::Char('S'), KeyModifiers::SHIFT),
            Some(Action::ReverseSort)
        );
        assert_eq!(
            normal(KeyCode::Char('3'), none),
            Some(Action::StatePreset(2))
        );
        assert_eq!(normal(KeyCode::Char('0'), none), None);
        assert_eq!(
            normal(KeyCode::Char('F'), KeyModifiers::SHIFT),
            Some(Action::FreePort)
        );
        assert_eq!(
            normal(KeyCode::Char('d'), none),
            Some(Action::DestroySelected)
        );
        assert_eq!(normal(KeyCode::Char('f'), none), None);
        assert_eq!(normal(KeyCode::Char(' '), none), Some(Action::TogglePause));
        assert_eq!(normal(KeyCode::PageDown, none), Some(Action::PageDown));
        // Ctrl-p is not p.
        assert_eq!(normal(KeyCode::Char('p'), KeyModifiers::CONTROL), None);
    }

    #[test]
    fn prompts_take_text_but_not_ctrl_c() {
        let none = KeyModifiers::NONE;
        let filter = |code, modifiers| action_for(KeyMode::FilterPrompt, &press(code, modifiers));
        assert_eq!(filter(KeyCode::Char('q'), none), Some(Action::Type('q')));
        assert_eq!(
            filter(KeyCode::Char('c'), KeyModifiers::CONTROL),
            Some(Action::Quit)
        );
        assert_eq!(filter(KeyCode::Char('x'), KeyModifiers::ALT), None);
        let port = |code| action_for(KeyMode::PortPrompt, &press(code, none));
        assert_eq!(port(KeyCode::Char('0')), Some(Action::Type('0')));
        assert_eq!(port(KeyCode::Char('x')), None);
        assert_eq!(port(KeyCode::Esc), Some(Action::Cancel));
    }

    #[test]
    fn releases_are_ignored() {
        let mut key = press(KeyCode::Char('q'), KeyModifiers::NONE);
        key.kind = KeyEventKind::Release;
        assert_eq!(action_for(KeyMode::Normal, &key), None);
    }

    #[test]
    fn no_key_is_bound_twice_in_a_mode() {
        for mode in KeyMode::ALL {
            let patterns: Vec<KeyPattern> = mode
                .table()
                .iter()
                .flat_map(|b| b.keys.iter().copied())
                .collect();
            for (i, pattern) in patterns.iter().enumerate() {
                assert!(
                    !patterns[i + 1..].contains(pattern),
                    "{pattern:?} bound twice in {mode:?}"
                );
            }
        }
    }

    #[test]
    fn labels_read_as_keys() {
        assert_eq!(keys_label(&NORMAL_KEYS[0]), "q Esc Ctrl-C");
        assert_eq!(Char(' ').label(), "Space");
        assert_eq!(Digit.label(), "1-9");
        assert_eq!(AnyDigit.label(), "0-9");
    }
}
