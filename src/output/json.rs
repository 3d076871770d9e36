//! The JSON document, schema v1 (documented in README.md; scripts rely on
//! these names: add fields, never rename or remove them).
//!
//! Written by hand rather than derived: a port held by 100k sockets puts
//! 200k objects in the document (each socket, and again as a blocker), and
//! serde_json escapes every key of every one of them, which made it the
//! larger half of a port query's time. Keys here are fixed ASCII written as
//! they are; every text that comes from outside (process names and command
//! lines, device names, the prose) still goes through serde_json's escaping.
//! The indented form for a terminal is the compact one passed through
//! [`Indented`], so there is one writer for both.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr};

use serde::Serialize;

use crate::diagnosis::{Blocker, Probe, Verdict};
use crate::model::{counts_by_state, Socket, SocketTable};
use crate::output::device_name;

pub const SCHEMA_VERSION: u32 = 1;

/// Writes the schema-v1 document for a table (and the verdict with `--port`):
/// indented for a person at a terminal, compact for a pipe.
pub fn write(
    out: &mut impl Write,
    table: &SocketTable,
    port: Option<u16>,
    verdict: Option<&Verdict>,
    pretty: bool,
) -> io::Result<()> {
    let document = Document {
        table,
        port,
        verdict,
        destroyed: None,
    };
    document.write(out, pretty)
}

/// The `--free` document: the table and verdict after, and what was
/// destroyed (`"destroyed"`: socket objects as in `"sockets"`).
pub fn write_with_destroyed(
    out: &mut impl Write,
    table: &SocketTable,
    verdict: &Verdict,
    destroyed: &[Socket],
    pretty: bool,
) -> io::Result<()> {
    let document = Document {
        table,
        port: Some(verdict.bind.port),
        verdict: Some(verdict),
        destroyed: Some(destroyed),
    };
    document.write(out, pretty)
}

struct Document<'a> {
    table: &'a SocketTable,
    port: Option<u16>,
    verdict: Option<&'a Verdict>,
    destroyed: Option<&'a [Socket]>,
}

impl Document<'_> {
    fn write(&self, out: &mut impl Write, pretty: bool) -> io::Result<()> {
        if pretty {
            self.write_compact(&mut Json(Indented::new(&mut *out)))?;
        } else {
            self.write_compact(&mut Json(&mut *out))?;
        }
        out.write_all(b"\n")
    }

    fn write_compact<W: Write>(&self, json: &mut Json<W>) -> io::Result<()> {
        json.raw("{\"schema_version\":")?;
        json.number(SCHEMA_VERSION)?;
        json.raw(",\"source\":\"")?;
        json.raw(self.table.source.as_str())?;
        json.raw("\"")?;
        if let Some(port) = self.port {
            json.raw(",\"port\":")?;
            json.number(port)?;
        }
        json.raw(",\"sockets\":")?;
        json.sockets(&self.table.sockets)?;
        json.raw(",\"counts\":{")?;
        for (i, (state, count)) in counts_by_state(&self.table.sockets).into_iter().enumerate() {
            json.raw(if i == 0 { "\"" } else { ",\"" })?;
            json.raw(state.name())?;
            json.raw("\":")?;
            json.number(count)?;
        }
        // Sockets with an inode whose process could not be seen.
        json.raw("},\"owners_unseen\":")?;
        json.number(self.table.owners_unseen)?;
        // Rows of a /proc file that could not be parsed.
        json.raw(",\"skipped_rows\":")?;
        json.number(self.table.skipped_rows)?;
        if let Some(verdict) = self.verdict {
            json.raw(",\"verdict\":")?;
            json.verdict(verdict)?;
        }
        if let Some(destroyed) = self.destroyed {
            json.raw(",\"destroyed\":")?;
            json.sockets(destroyed)?;
        }
        json.raw("}")
    }
}

/// A compact JSON writer over any output.
struct Json<W>(W);

impl<W: Write> Json<W> {
    /// Text that is already JSON (fixed keys and punctuation, names from
    /// closed sets, digits): written as is.
    fn raw(&mut self, text: &str) -> io::Result<()> {
        self.0.write_all(text.as_bytes())
    }

    fn number(&mut self, n: impl itoa::Integer) -> io::Result<()> {
        self.raw(itoa::Buffer::new().format(n))
    }

    fn optional_number(&mut self, n: Option<impl itoa::Integer>) -> io::Result<()> {
        match n {
            Some(n) => self.number(n),
            None => self.raw("null"),
        }
    }

    /// Any serde value: strings escaped, as serde_json writes them.
    fn value(&mut self, value: &(impl Serialize + ?Sized)) -> io::Result<()> {
        serde_json::to_writer(&mut self.0, value).map_err(io::Error::from)
    }

    fn sockets(&mut self, sockets: &[Socket]) -> io::Result<()> {
        self.raw("[")?;
        for (i, socket) in sockets.iter().enumerate() {
            if i > 0 {
                self.raw(",")?;
            }
            self.socket_fields(socket)?;
            self.raw("}")?;
        }
        self.raw("]")
    }

    /// A socket object without its closing brace (a blocker adds fields).
    fn socket_fields(&mut self, socket: &Socket) -> io::Result<()> {
        self.raw("{\"family\":\"")?;
        self.raw(socket.family.as_str())?;
        self.raw("\",\"state\":\"")?;
        self.raw(socket.state.name())?;
        self.raw("\",\"local_addr\":")?;
        self.address(socket.local.ip())?;
        self.raw(",\"local_port\":")?;
        self.number(socket.local.port())?;
        self.raw(",\"remote_addr\":")?;
        self.address(socket.remote.ip())?;
        self.raw(",\"remote_port\":")?;
        self.number(socket.remote.port())?;
        self.raw(",\"timer\":")?;
        match socket.timer {
            Some(timer) => {
                self.raw("\"")?;
                self.raw(timer.kind.as_str())?;
                self.raw("\"")?;
            }
            None => self.raw("null")?,
        }
        self.raw(",\"expires_ms\":")?;
        self.optional_number(socket.timer.map(|t| t.expires_ms))?;
        self.raw(",\"retransmits\":")?;
        self.number(socket.timer.map_or(0, |t| t.retransmits))?;
        self.raw(",\"rx_queue\":")?;
        self.number(socket.rx_queue)?;
        self.raw(",\"tx_queue\":")?;
        self.number(socket.tx_queue)?;
        self.raw(",\"uid\":")?;
        self.number(socket.uid)?;
        self.raw(",\"inode\":")?;
        self.number(socket.inode)?;
        // SO_BINDTODEVICE interface, by name where it resolves.
        self.raw(",\"device\":")?;
        match device_name(socket.bound_device) {
            Some(name) => self.value(&name)?,
            None => self.raw("null")?,
        }
        // A decimal string: cookies do not fit a JSON number's exact range.
        self.raw(",\"cookie\":")?;
        match socket.cookie {
            Some(cookie) => {
                self.raw("\"")?;
                self.number(cookie)?;
                self.raw("\"")?;
            }
            None => self.raw("null")?,
        }
        self.raw(",\"processes\":")?;
        if socket.processes.is_empty() {
            // Every TIME_WAIT: no owner.
            return self.raw("[]");
        }
        self.value(&socket.processes)
    }

    /// An address in its plain text form. std's IPv4 formatting is slow for
    /// 200k addresses; IPv6 text never needs escaping.
    fn address(&mut self, ip: IpAddr) -> io::Result<()> {
        self.raw("\"")?;
        match ip {
            IpAddr::V4(addr) => self.raw(Ipv4Text::new(addr).as_str())?,
            IpAddr::V6(addr) => write!(self.0, "{addr}")?,
        }
        self.raw("\"")
    }

    fn verdict(&mut self, verdict: &Verdict) -> io::Result<()> {
        self.raw("{\"bind\":")?;
        self.value(&verdict.bind)?;
        self.raw(",\"blocked\":")?;
        self.value(&verdict.blocked)?;
        self.raw(",\"refused\":")?;
        self.value(&verdict.refused)?;
        self.raw(",\"free_in_ms\":")?;
        self.optional_number(verdict.free_in_ms)?;
        self.raw(",\"blockers\":[")?;
        for (i, blocker) in verdict.blockers.iter().enumerate() {
            if i > 0 {
                self.raw(",")?;
            }
            self.blocker(blocker)?;
        }
        self.raw("],\"probes\":")?;
        self.value(
            &verdict
                .probes
                .iter()
                .map(ProbeJson::new)
                .collect::<Vec<_>>(),
        )?;
        self.raw(",\"explanation\":")?;
        self.value(&verdict.explanation)?;
        self.raw(",\"advice\":")?;
        self.value(&verdict.advice)?;
        self.raw("}")
    }

    /// A socket object plus the rules' reasoning.
    fn blocker(&mut self, blocker: &Blocker) -> io::Result<()> {
        self.socket_fields(&blocker.socket)?;
        self.raw(",\"reason\":")?;
        self.value(&blocker.reason)?;
        self.raw(",\"conflict\":")?;
        self.value(&blocker.conflict)?;
        self.raw(",\"why\":")?;
        self.value(&*blocker.why)?;
        self.raw("}")
    }
}

/// Indents compact JSON as it passes, the way serde_json's pretty printer
/// does: two spaces per level, `"key": value`, empty `[]` and `{}` on one
/// line. Streaming, so a listing of 100k sockets is never held twice.
struct Indented<W: Write> {
    out: W,
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// An opening bracket not yet written: empty containers stay `[]`.
    /// Complete JSON always closes it.
    pending_open: Option<u8>,
}

impl<W: Write> Indented<W> {
    fn new(out: W) -> Indented<W> {
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

#[derive(Serialize)]
struct ProbeJson<'a> {
    #[serde(flatten)]
    bind: &'a crate::diagnosis::IntendedBind,
    question: &'a str,
    ok: bool,
    errno: Option<&'a str>,
}

impl ProbeJson<'_> {
    fn new(probe: &Probe) -> ProbeJson<'_> {
        ProbeJson {
            bind: &probe.bind,
            question: &probe.question,
            ok: probe.ok,
            errno: probe.errno.as_deref(),
        }
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

    fn compact(table: &SocketTable, verdict: Option<&Verdict>) -> String {
        let mut out = Vec::new();
        write(&mut out, table, Some(9527), verdict, false).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn awkward_table() -> SocketTable {
        use crate::testing::{listener, owned_by, time_wait};
        let mut bound = owned_by(
            listener("[::ffff:10.0.0.1]:9527"),
            7,
            "quote\"back\\slash\u{1b}[1m",
        );
        bound.processes[0].cmdline = "tab\tnewline\nünïcode \u{7f}".to_string();
        bound.bound_device = u32::MAX; // no such interface: shown as "if4294967295"
        bound.cookie = Some(u64::MAX);
        SocketTable {
            source: crate::model::SourceKind::Netlink,
            sockets: vec![time_wait("255.255.255.255:9527", "0.0.0.0:1", 0), bound],
            skipped_rows: 3,
            owners_unseen: 1,
        }
    }

    fn verdict_blaming(sockets: &[Socket]) -> Verdict {
        use crate::diagnosis::{Conflict, Reason};
        let mut bind = crate::testing::bind("[::]:9527");
        bind.device = Some("eth\"0".to_string());
        Verdict {
            blockers: sockets
                .iter()
                .map(|socket| Blocker {
                    socket: socket.clone(),
                    reason: Reason::TimeWait,
                    conflict: Conflict::Unknown,
                    why: "why \u{1b}[1m \"quoted\"".into(),
                })
                .collect(),
            probes: vec![Probe {
                bind: bind.clone(),
                question: "intended".to_string(),
                ok: false,
                errno: Some("EADDRINUSE".to_string()),
            }],
            bind,
            blocked: true,
            refused: Some("EACCES".to_string()),
            free_in_ms: None,
            explanation: "line\nbreak\u{0}".to_string(),
            advice: vec!["a".to_string(), "b\\".to_string()],
        }
    }

    /// The hand-written output is exactly what serde_json writes for the
    /// same value: valid, compact, escaped where it must be.
    #[test]
    fn compact_output_is_canonical_json() {
        let table = awkward_table();
        let verdict = verdict_blaming(&table.sockets);
        for verdict in [None, Some(&verdict)] {
            let text = compact(&table, verdict);
            let value: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(serde_json::to_string(&value).unwrap() + "\n", text);
        }
    }

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

    #[test]
    fn pretty_document_is_the_compact_one_indented() {
        let table = awkward_table();
        let verdict = verdict_blaming(&table.sockets);
        let mut pretty = Vec::new();
        write(&mut pretty, &table, Some(9527), Some(&verdict), true).unwrap();
        let pretty = String::from_utf8(pretty).unwrap();
        let value: serde_json::Value = serde_json::from_str(&pretty).unwrap();
        assert_eq!(pretty, serde_json::to_string_pretty(&value).unwrap() + "\n");
        assert_eq!(
            value,
            serde_json::from_str::<serde_json::Value>(&compact(&table, Some(&verdict))).unwrap()
        );
    }

    /// Key order is the README's, object by object.
    #[test]
    fn keys_in_schema_order() {
        let table = awkward_table();
        let verdict = verdict_blaming(&table.sockets);
        let value: serde_json::Value =
            serde_json::from_str(&compact(&table, Some(&verdict))).unwrap();
        let keys = |value: &serde_json::Value| -> Vec<String> {
            value.as_object().unwrap().keys().cloned().collect()
        };
        let socket_keys = [
            "family",
            "state",
            "local_addr",
            "local_port",
            "remote_addr",
            "remote_port",
            "timer",
            "expires_ms",
            "retransmits",
            "rx_queue",
            "tx_queue",
            "uid",
            "inode",
            "device",
            "cookie",
            "processes",
        ];
        assert_eq!(
            keys(&value),
            [
                "schema_version",
                "source",
                "port",
                "sockets",
                "counts",
                "owners_unseen",
                "skipped_rows",
                "verdict"
            ]
        );
        assert_eq!(keys(&value["sockets"][1]), socket_keys);
        assert_eq!(
            keys(&value["verdict"]),
            [
                "bind",
                "blocked",
                "refused",
                "free_in_ms",
                "blockers",
                "probes",
                "explanation",
                "advice"
            ]
        );
        let blocker_keys: Vec<&str> = socket_keys
            .into_iter()
            .chain(["reason", "conflict", "why"])
            .collect();
        assert_eq!(keys(&value["verdict"]["blockers"][0]), blocker_keys);
        assert_eq!(value["sockets"][1]["cookie"], "18446744073709551615");
        assert_eq!(value["sockets"][1]["local_addr"], "::ffff:10.0.0.1");
        assert_eq!(value["sockets"][0]["local_addr"], "255.255.255.255");
        assert_eq!(value["sockets"][1]["device"], "if4294967295");
        assert_eq!(
            value["counts"],
            serde_json::json!({"TIME_WAIT": 1, "LISTEN": 1})
        );
    }
}
