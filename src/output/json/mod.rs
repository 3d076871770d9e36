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

mod connect;
mod event;
mod indent;
mod writer;

pub use connect::{write_connect, ConnectDocument};

use std::io::{self, Write};

use crate::diagnosis::{Blocker, Conflict, IntendedBind, Probe, Reason, Verdict};
use crate::model::{counts_by_state, Container, NamespaceId, Process, Socket, SocketTable};
use crate::output::device_name;
use crate::session::NamespaceEntry;
use indent::Indented;
use writer::Json;

pub use event::write_event;

pub const SCHEMA_VERSION: u32 = 1;

/// Writes the schema-v1 listing document of the namespace `netns` (None:
/// files captured elsewhere): indented for a person at a terminal, compact
/// for a pipe.
pub fn write_listing(
    out: &mut impl Write,
    table: &SocketTable,
    netns: Option<&NamespaceId>,
    pretty: bool,
) -> io::Result<()> {
    let document = Document {
        table,
        netns,
        port: None,
        verdict: None,
        destroyed: None,
    };
    write_document(out, pretty, |json| document.write(json))
}

/// Writes the `--port` document: the port's sockets and the verdict; with
/// `--free`, also what was destroyed (`"destroyed"`: socket objects as in
/// `"sockets"`).
pub fn write_report(
    out: &mut impl Write,
    table: &SocketTable,
    verdict: &Verdict,
    destroyed: Option<&[Socket]>,
    netns: Option<&NamespaceId>,
    pretty: bool,
) -> io::Result<()> {
    let document = Document {
        table,
        netns,
        port: Some(verdict.bind.port),
        verdict: Some(verdict),
        destroyed,
    };
    write_document(out, pretty, |json| document.write(json))
}

/// One namespace's part of an `--all-netns` document: who it is, its
/// sockets, and with `--port` its verdict.
pub struct NamespacePart<'a> {
    pub entry: &'a NamespaceEntry,
    pub table: &'a SocketTable,
    pub verdict: Option<&'a Verdict>,
}

/// Writes the `--all-netns` document: `"namespaces"` in inode order, each
/// with its `"netns"` (inode, name, pids, container), sockets, counts and,
/// with `--port`, verdict; `"warnings"` for namespaces that could not be read.
pub fn write_survey(
    out: &mut impl Write,
    source: &str,
    port: Option<u16>,
    parts: &[NamespacePart],
    warnings: &[String],
    pretty: bool,
) -> io::Result<()> {
    write_document(out, pretty, |json| {
        json.raw("{\"schema_version\":")?;
        json.number(SCHEMA_VERSION)?;
        json.raw(",\"source\":")?;
        json.name(source)?;
        if let Some(port) = port {
            json.raw(",\"port\":")?;
            json.number(port)?;
        }
        json.raw(",\"namespaces\":")?;
        json.array(parts, |json, part| {
            json.raw("{\"netns\":")?;
            json.namespace_entry(part.entry)?;
            json.raw(",")?;
            json.table_fields(part.table)?;
            if let Some(verdict) = part.verdict {
                json.raw(",\"verdict\":")?;
                json.verdict(verdict)?;
            }
            json.raw("}")
        })?;
        json.raw(",\"warnings\":")?;
        json.array(warnings, |json, warning| json.string(warning))?;
        json.raw("}")
    })
}

/// A document, indented or compact, and its final newline.
fn write_document<O: Write>(
    out: &mut O,
    pretty: bool,
    body: impl FnOnce(&mut Json<&mut dyn Write>) -> io::Result<()>,
) -> io::Result<()> {
    if pretty {
        let mut indented = Indented::new(&mut *out);
        let mut json = Json::new(&mut indented as &mut dyn Write);
        body(&mut json)?;
        json.finish()?;
    } else {
        let mut json = Json::new(&mut *out as &mut dyn Write);
        body(&mut json)?;
        json.finish()?;
    }
    out.write_all(b"\n")
}

struct Document<'a> {
    table: &'a SocketTable,
    netns: Option<&'a NamespaceId>,
    port: Option<u16>,
    verdict: Option<&'a Verdict>,
    destroyed: Option<&'a [Socket]>,
}

impl Document<'_> {
    fn write<W: Write>(&self, json: &mut Json<W>) -> io::Result<()> {
        json.raw("{\"schema_version\":")?;
        json.number(SCHEMA_VERSION)?;
        json.raw(",\"source\":")?;
        json.name(self.table.source.as_str())?;
        // The namespace read: null for files captured on another host.
        json.raw(",\"netns\":")?;
        json.optional_namespace_id(self.netns)?;
        if let Some(port) = self.port {
            json.raw(",\"port\":")?;
            json.number(port)?;
        }
        json.raw(",")?;
        json.table_fields(self.table)?;
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

/// The schema's objects, one writer each, keys in the README's order.
impl<W: Write> Json<W> {
    /// `"sockets"`, `"counts"`, `"owners_unseen"`, `"skipped_rows"`.
    fn table_fields(&mut self, table: &SocketTable) -> io::Result<()> {
        self.raw("\"sockets\":")?;
        self.sockets(&table.sockets)?;
        self.raw(",\"counts\":{")?;
        for (i, (state, count)) in counts_by_state(&table.sockets).into_iter().enumerate() {
            self.raw(if i == 0 { "\"" } else { ",\"" })?;
            self.raw(state.name())?;
            self.raw("\":")?;
            self.number(count)?;
        }
        // Sockets with an inode whose process could not be seen.
        self.raw("},\"owners_unseen\":")?;
        self.number(table.owners_unseen)?;
        // Rows of a /proc file that could not be parsed.
        self.raw(",\"skipped_rows\":")?;
        self.number(table.skipped_rows)
    }

    fn namespace_id_fields(&mut self, id: &NamespaceId) -> io::Result<()> {
        self.raw("\"inode\":")?;
        self.number(id.inode)?;
        self.raw(",\"name\":")?;
        self.optional_string(id.name.as_deref())
    }

    fn optional_namespace_id(&mut self, id: Option<&NamespaceId>) -> io::Result<()> {
        let Some(id) = id else {
            return self.raw("null");
        };
        self.raw("{")?;
        self.namespace_id_fields(id)?;
        self.raw("}")
    }

    fn namespace_entry(&mut self, entry: &NamespaceEntry) -> io::Result<()> {
        self.raw("{")?;
        self.namespace_id_fields(&entry.id)?;
        self.raw(",\"pids\":")?;
        self.array(&entry.pids, |json, pid| json.number(*pid))?;
        self.raw(",\"container\":")?;
        self.optional_container(entry.container.as_ref())?;
        self.raw("}")
    }

    fn optional_container(&mut self, container: Option<&Container>) -> io::Result<()> {
        let Some(container) = container else {
            return self.raw("null");
        };
        self.raw("{\"runtime\":")?;
        self.name(container.runtime.as_str())?;
        self.raw(",\"id\":")?;
        self.string(&container.id)?;
        self.raw(",\"pod_uid\":")?;
        self.optional_string(container.pod_uid.as_deref())?;
        self.raw("}")
    }

    fn sockets(&mut self, sockets: &[Socket]) -> io::Result<()> {
        self.array(sockets, |json, socket| {
            json.socket_fields(socket)?;
            json.raw("}")
        })
    }

    /// A socket object without its closing brace (a blocker adds fields).
    fn socket_fields(&mut self, socket: &Socket) -> io::Result<()> {
        self.raw("{\"protocol\":")?;
        self.name(socket.protocol.as_str())?;
        self.raw(",\"family\":")?;
        self.name(socket.family.as_str())?;
        self.raw(",\"state\":")?;
        self.name(socket.state.name())?;
        self.raw(",\"local_addr\":")?;
        self.address(socket.local.ip())?;
        self.raw(",\"local_port\":")?;
        self.number(socket.local.port())?;
        self.raw(",\"remote_addr\":")?;
        self.address(socket.remote.ip())?;
        self.raw(",\"remote_port\":")?;
        self.number(socket.remote.port())?;
        self.raw(",\"timer\":")?;
        match socket.timer {
            Some(timer) => self.name(timer.kind.as_str())?,
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
        self.optional_string(device_name(socket.bound_device).as_deref())?;
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
        self.array(&socket.processes, Self::process)
    }

    fn process(&mut self, process: &Process) -> io::Result<()> {
        self.raw("{\"pid\":")?;
        self.number(process.pid)?;
        self.raw(",\"comm\":")?;
        self.string(&process.comm)?;
        self.raw(",\"cmdline\":")?;
        self.string(&process.cmdline)?;
        self.raw(",\"unit\":")?;
        self.optional_string(process.unit.as_deref())?;
        self.raw(",\"container\":")?;
        self.optional_container(process.container.as_ref())?;
        self.raw("}")
    }

    fn verdict(&mut self, verdict: &Verdict) -> io::Result<()> {
        self.verdict_with(verdict, Self::blocker)
    }

    /// The verdict object, each blocker written by `blocker` (the watch
    /// event adds `left_by` to them).
    fn verdict_with(
        &mut self,
        verdict: &Verdict,
        blocker: impl FnMut(&mut Self, &Blocker) -> io::Result<()>,
    ) -> io::Result<()> {
        self.raw("{\"bind\":{")?;
        self.bind_fields(&verdict.bind)?;
        self.raw("},\"blocked\":")?;
        self.boolean(verdict.blocked)?;
        self.raw(",\"refused\":")?;
        match verdict.refused {
            Some(errno) => self.string(&errno.to_string())?,
            None => self.raw("null")?,
        }
        self.raw(",\"free_in_ms\":")?;
        self.optional_number(verdict.free_in_ms)?;
        self.raw(",\"blockers\":")?;
        self.array(&verdict.blockers, blocker)?;
        self.raw(",\"probes\":")?;
        self.array(&verdict.probes, Self::probe)?;
        self.raw(",\"client_time_waits\":")?;
        self.number(verdict.client_time_waits)?;
        self.raw(",\"explanation\":")?;
        self.string(&verdict.explanation)?;
        self.raw(",\"advice\":")?;
        self.array(&verdict.advice, |json, line| json.string(line))?;
        self.raw("}")
    }

    /// The bind's keys without braces: the bind object, and a probe's first keys.
    fn bind_fields(&mut self, bind: &IntendedBind) -> io::Result<()> {
        self.raw("\"protocol\":")?;
        self.name(bind.protocol.as_str())?;
        self.raw(",\"addr\":")?;
        self.address(bind.addr)?;
        self.raw(",\"port\":")?;
        self.number(bind.port)?;
        self.raw(",\"reuseaddr\":")?;
        self.boolean(bind.reuseaddr)?;
        self.raw(",\"reuseport\":")?;
        self.boolean(bind.reuseport)?;
        self.raw(",\"v6only\":")?;
        self.boolean(bind.v6only)?;
        self.raw(",\"device\":")?;
        self.optional_string(bind.device.as_deref())
    }

    /// A socket object plus the rules' reasoning.
    fn blocker(&mut self, blocker: &Blocker) -> io::Result<()> {
        self.blocker_fields(blocker)?;
        self.raw("}")
    }

    /// A blocker object without its closing brace.
    fn blocker_fields(&mut self, blocker: &Blocker) -> io::Result<()> {
        self.socket_fields(&blocker.socket)?;
        self.raw(",\"reason\":")?;
        self.name(match blocker.reason {
            Reason::TimeWait => "time_wait",
            Reason::Listen => "listen",
            Reason::Bound => "bound",
            Reason::Connected => "connected",
        })?;
        self.raw(",\"conflict\":")?;
        self.name(match blocker.conflict {
            Conflict::Yes => "yes",
            Conflict::No => "no",
            Conflict::Unknown => "unknown",
        })?;
        self.raw(",\"why\":")?;
        self.string(&blocker.why)
    }

    /// The bind it made, then the question, the outcome and the errno.
    fn probe(&mut self, probe: &Probe) -> io::Result<()> {
        self.raw("{")?;
        self.bind_fields(&probe.bind)?;
        self.raw(",\"question\":")?;
        self.string(probe.kind.question())?;
        self.raw(",\"ok\":")?;
        self.boolean(probe.ok)?;
        self.raw(",\"errno\":")?;
        match probe.errno {
            Some(errno) => self.string(&errno.to_string())?,
            None => self.raw("null")?,
        }
        self.raw("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnosis::ProbeKind;
    use crate::errno::Errno;

    fn compact(table: &SocketTable, verdict: Option<&Verdict>) -> String {
        let mut out = Vec::new();
        match verdict {
            Some(verdict) => write_report(
                &mut out,
                table,
                verdict,
                Some(&table.sockets),
                Some(&blue()),
                false,
            ),
            None => write_listing(&mut out, table, None, false),
        }
        .unwrap();
        String::from_utf8(out).unwrap()
    }

    fn blue() -> NamespaceId {
        NamespaceId {
            inode: 4026531840,
            name: Some("blue".to_string()),
        }
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
                kind: ProbeKind::Intended,
                ok: false,
                errno: Some(Errno::EADDRINUSE),
            }],
            bind,
            blocked: true,
            refused: Some(Errno::EACCES),
            free_in_ms: None,
            explanation: "line\nbreak\u{0}".to_string(),
            client_time_waits: 0,
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

    #[test]
    fn pretty_document_is_the_compact_one_indented() {
        let table = awkward_table();
        let verdict = verdict_blaming(&table.sockets);
        let mut pretty = Vec::new();
        write_report(
            &mut pretty,
            &table,
            &verdict,
            Some(&table.sockets),
            Some(&blue()),
            true,
        )
        .unwrap();
        let pretty = String::from_utf8(pretty).unwrap();
        let value: serde_json::Value = serde_json::from_str(&pretty).unwrap();
        assert_eq!(pretty, serde_json::to_string_pretty(&value).unwrap() + "\n");
        assert_eq!(
            value,
            serde_json::from_str::<serde_json::Value>(&compact(&table, Some(&verdict))).unwrap()
        );
    }

    /// The `--all-netns` document: canonical JSON, keys in order, every
    /// namespace object whole.
    #[test]
    fn survey_keys_in_schema_order() {
        use crate::model::Runtime;
        let table = awkward_table();
        let verdict = verdict_blaming(&table.sockets);
        let entries = [
            NamespaceEntry {
                id: blue(),
                pids: vec![7, 42],
                container: Some(Container {
                    runtime: Runtime::Docker,
                    id: "ab\"c".to_string(),
                    pod_uid: None,
                }),
            },
            NamespaceEntry {
                id: NamespaceId {
                    inode: 1,
                    name: None,
                },
                pids: vec![],
                container: None,
            },
        ];
        let parts: Vec<NamespacePart> = entries
            .iter()
            .map(|entry| NamespacePart {
                entry,
                table: &table,
                verdict: Some(&verdict),
            })
            .collect();
        let mut out = Vec::new();
        let warnings = ["net:[9]: gone".to_string()];
        write_survey(&mut out, "netlink", Some(9527), &parts, &warnings, false).unwrap();
        let text = String::from_utf8(out).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::to_string(&value).unwrap() + "\n", text);
        let keys = |value: &serde_json::Value| -> Vec<String> {
            value.as_object().unwrap().keys().cloned().collect()
        };
        assert_eq!(
            keys(&value),
            ["schema_version", "source", "port", "namespaces", "warnings"]
        );
        let first = &value["namespaces"][0];
        assert_eq!(
            keys(first),
            [
                "netns",
                "sockets",
                "counts",
                "owners_unseen",
                "skipped_rows",
                "verdict"
            ]
        );
        assert_eq!(
            keys(&first["netns"]),
            ["inode", "name", "pids", "container"]
        );
        assert_eq!(
            keys(&first["netns"]["container"]),
            ["runtime", "id", "pod_uid"]
        );
        assert_eq!(first["netns"]["container"]["runtime"], "docker");
        assert_eq!(
            value["namespaces"][1]["netns"]["container"],
            serde_json::Value::Null
        );
        assert_eq!(value["warnings"][0], "net:[9]: gone");
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
            "protocol",
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
                "netns",
                "port",
                "sockets",
                "counts",
                "owners_unseen",
                "skipped_rows",
                "verdict",
                "destroyed"
            ]
        );
        let listing: serde_json::Value = serde_json::from_str(&compact(&table, None)).unwrap();
        assert_eq!(
            keys(&listing),
            [
                "schema_version",
                "source",
                "netns",
                "sockets",
                "counts",
                "owners_unseen",
                "skipped_rows"
            ]
        );
        assert_eq!(keys(&value["destroyed"][1]), socket_keys);
        assert_eq!(keys(&value["netns"]), ["inode", "name"]);
        assert_eq!(listing["netns"], serde_json::Value::Null);
        assert_eq!(
            keys(&value["sockets"][1]["processes"][0]),
            ["pid", "comm", "cmdline", "unit", "container"]
        );
        let bind_keys = [
            "protocol",
            "addr",
            "port",
            "reuseaddr",
            "reuseport",
            "v6only",
            "device",
        ];
        assert_eq!(keys(&value["verdict"]["bind"]), bind_keys);
        let probe_keys: Vec<&str> = bind_keys
            .into_iter()
            .chain(["question", "ok", "errno"])
            .collect();
        assert_eq!(keys(&value["verdict"]["probes"][0]), probe_keys);
        assert_eq!(value["verdict"]["probes"][0]["errno"], "EADDRINUSE");
        assert_eq!(value["verdict"]["refused"], "EACCES");
        assert_eq!(value["verdict"]["bind"]["device"], "eth\"0");
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
                "client_time_waits",
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
