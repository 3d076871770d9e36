//! Untrusted text (process names, command lines) made inert for a terminal:
//! a process can put escape sequences in its name, and they must not reach
//! the terminal. JSON needs none of this: serde_json escapes control bytes.

use std::borrow::Cow;

/// Returns `text` with every control character written as a visible escape
/// (`\e`, `\n`, `\t`, `\x07`, `\u{9b}`...), so the terminal prints it rather
/// than obeying it. Backslashes are doubled so the result is unambiguous.
pub fn inert(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() || c == '\\') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\x1b' => out.push_str("\\e"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 && c.is_control() => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        assert!(matches!(inert("nginx -g daemon off;"), Cow::Borrowed(_)));
    }

    #[test]
    fn escape_sequences_become_visible() {
        assert_eq!(inert("evil\x1b[2J\x07"), "evil\\e[2J\\x07");
        assert_eq!(inert("a\nb\tc\r"), "a\\nb\\tc\\r");
        // C1 control CSI (U+009B) also starts sequences on some terminals.
        assert_eq!(inert("x\u{9b}31m"), "x\\u{9b}31m");
        assert_eq!(inert("back\\slash"), "back\\\\slash");
    }

    #[test]
    fn result_never_holds_a_control_character() {
        let all: String = (0u32..0x2000).filter_map(char::from_u32).collect();
        assert!(!inert(&all).chars().any(|c| c.is_control()));
    }
}
