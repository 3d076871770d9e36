//! A streaming indenter: compact JSON in, serde_json's pretty layout out.

use std::io::{self, Write};

/// Indents compact JSON as it passes, the way serde_json's pretty printer
/// does: two spaces per level, `"key": value`, empty `[]` and `{}` on one
/// line. Streaming, so a listing of 100k sockets is never held twice.
pub(super) struct Indented<W: Write> {
    out: W,
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// An opening bracket not yet written: empty containers stay `[]`.
    /// Complete JSON always closes it.
    pending_open: Option<u8>,
}

impl<W: Write> Indented<W> {
    pub(super) fn new(out: W) -> Indented<W> {
        Indented {
            out,
            depth: 0,
            in_string: false,
            escaped: false,
            pending_open: None,
        }
    }

    fn newline(&mut self) -> io::Result<()> {
        self.out.write_all(b"\n")?;
        for _ in 0..self.depth {
            self.out.write_all(b"  ")?;
        }
        Ok(())
    }

    fn byte(&mut self, byte: u8) -> io::Result<()> {
        if self.in_string {
            if self.escaped {
                self.escaped = false;
            } else if byte == b'\\' {
                self.escaped = true;
            } else if byte == b'"' {
                self.in_string = false;
            }
            return self.out.write_all(&[byte]);
        }
        if let Some(open) = self.pending_open.take() {
            if matches!((open, byte), (b'[', b']') | (b'{', b'}')) {
                return self.out.write_all(&[open, byte]);
            }
            self.out.write_all(&[open])?;
            self.depth += 1;
            self.newline()?;
        }
        match byte {
            b'[' | b'{' => self.pending_open = Some(byte),
            b']' | b'}' => {
                self.depth = self.depth.saturating_sub(1);
                self.newline()?;
                self.out.write_all(&[byte])?;
            }
            b',' => {
                self.out.write_all(b",")?;
                self.newline()?;
            }
            b':' => self.out.write_all(b": ")?,
            b'"' => {
                self.in_string = true;
                self.out.write_all(b"\"")?;
            }
            _ => self.out.write_all(&[byte])?,
        }
        Ok(())
    }
}

impl<W: Write> Write for Indented<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        for &byte in buf {
            self.byte(byte)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn indented(compact: &str) -> String {
        let mut out = Vec::new();
        let mut indented = Indented::new(&mut out);
        indented.write_all(compact.as_bytes()).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Any JSON value: strings with escapes, brackets and commas inside
    /// strings, empty and nested containers.
    fn arb_json() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            "[\\PC\"\\\\{}\\[\\],:\\n]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 40, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(("[a-z\",:{]{0,6}", inner), 0..6)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn indented_is_serde_json_pretty(value in arb_json()) {
            let compact = serde_json::to_string(&value).unwrap();
            prop_assert_eq!(indented(&compact), serde_json::to_string_pretty(&value).unwrap());
        }
    }
}
