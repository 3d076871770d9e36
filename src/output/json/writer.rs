//! The compact JSON writer the schema is written with: fixed keys as raw
//! text, numbers through itoa, strings escaped as serde_json escapes them.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr};

/// A compact JSON writer over any output. It gathers text in a buffer of
/// its own and hands it on in big pieces: a document of 100k sockets is
/// millions of small writes, too many to make each a call on `out`.
pub(super) struct Json<W: Write> {
    out: W,
    pending: Vec<u8>,
}

/// Bytes gathered before they are handed on.
const HAND_ON_AT: usize = 1 << 15;

impl<W: Write> Json<W> {
    pub(super) fn new(out: W) -> Json<W> {
        Json {
            out,
            pending: Vec::with_capacity(HAND_ON_AT + 1024),
        }
    }

    /// Hands on what is gathered; a document is written only once this
    /// has been called.
    pub(super) fn finish(mut self) -> io::Result<()> {
        self.hand_on()
    }

    fn hand_on(&mut self) -> io::Result<()> {
        self.out.write_all(&self.pending)?;
        self.pending.clear();
        Ok(())
    }

    fn gathered(&mut self) -> io::Result<()> {
        if self.pending.len() >= HAND_ON_AT {
            self.hand_on()?;
        }
        Ok(())
    }

    /// Text that is already JSON (fixed keys and punctuation, names from
    /// closed sets, digits): written as is.
    pub(super) fn raw(&mut self, text: &str) -> io::Result<()> {
        self.pending.extend_from_slice(text.as_bytes());
        self.gathered()
    }

    pub(super) fn number(&mut self, n: impl itoa::Integer) -> io::Result<()> {
        self.raw(itoa::Buffer::new().format(n))
    }

    pub(super) fn optional_number(&mut self, n: Option<impl itoa::Integer>) -> io::Result<()> {
        match n {
            Some(n) => self.number(n),
            None => self.raw("null"),
        }
    }

    /// A string, escaped as serde_json escapes it (control characters,
    /// quotes and backslashes; everything else as UTF-8).
    pub(super) fn string(&mut self, text: &str) -> io::Result<()> {
        serde_json::to_writer(&mut self.pending, text).map_err(io::Error::from)?;
        self.gathered()
    }

    pub(super) fn optional_string(&mut self, text: Option<&str>) -> io::Result<()> {
        match text {
            Some(text) => self.string(text),
            None => self.raw("null"),
        }
    }

    pub(super) fn boolean(&mut self, value: bool) -> io::Result<()> {
        self.raw(if value { "true" } else { "false" })
    }

    /// A value from a closed set of names that need no escaping.
    pub(super) fn name(&mut self, name: &str) -> io::Result<()> {
        self.raw("\"")?;
        self.raw(name)?;
        self.raw("\"")
    }

    /// `[a,b,...]`, each element written by `each`.
    pub(super) fn array<T>(
        &mut self,
        items: &[T],
        mut each: impl FnMut(&mut Self, &T) -> io::Result<()>,
    ) -> io::Result<()> {
        self.raw("[")?;
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.raw(",")?;
            }
            each(self, item)?;
        }
        self.raw("]")
    }

    /// An address in its plain text form. std's IPv4 formatting is slow for
    /// 200k addresses; IPv6 text never needs escaping.
    pub(super) fn address(&mut self, ip: IpAddr) -> io::Result<()> {
        self.raw("\"")?;
        match ip {
            IpAddr::V4(addr) => self.raw(Ipv4Text::new(addr).as_str())?,
            IpAddr::V6(addr) => write!(self.pending, "{addr}")?,
        }
        self.raw("\"")
    }
}

/// Dotted-quad text of an IPv4 address, on the stack.
struct Ipv4Text {
    bytes: [u8; 15],
    len: usize,
}

impl Ipv4Text {
    fn new(addr: Ipv4Addr) -> Ipv4Text {
        let mut text = Ipv4Text {
            bytes: [0; 15],
            len: 0,
        };
        for (i, octet) in addr.octets().into_iter().enumerate() {
            if i > 0 {
                text.push(b'.');
            }
            if octet >= 100 {
                text.push(b'0' + octet / 100);
            }
            if octet >= 10 {
                text.push(b'0' + octet / 10 % 10);
            }
            text.push(b'0' + octet % 10);
        }
        text
    }

    fn push(&mut self, byte: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = byte;
            self.len += 1;
        }
    }

    fn as_str(&self) -> &str {
        // Only ASCII digits and dots were pushed.
        std::str::from_utf8(self.bytes.get(..self.len).unwrap_or_default()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn ipv4_text_is_std_display(bits in any::<u32>()) {
            let addr = Ipv4Addr::from(bits);
            let text = Ipv4Text::new(addr);
            prop_assert_eq!(text.as_str(), addr.to_string());
        }
    }

    #[test]
    fn ipv4_text_edges() {
        for text in [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.100.9",
            "127.0.0.1",
            "1.20.199.0",
        ] {
            let addr: Ipv4Addr = text.parse().unwrap();
            assert_eq!(Ipv4Text::new(addr).as_str(), text);
        }
    }
}
