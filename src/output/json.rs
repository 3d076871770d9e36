//! The JSON document, schema v1 (documented in README.md; scripts rely on
//! these names: add fields, never rename or remove them).

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use crate::diagnosis::{Blocker, Conflict, IntendedBind, Probe, Reason, Verdict};
use crate::model::{counts_by_state, Family, Process, Socket, SocketTable, SourceKind};
use crate::output::device_name;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    source: SourceKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    sockets: SocketsJson<'a>,
    counts: BTreeMap<&'static str, usize>,
    /// Sockets with an inode whose process could not be seen.
    owners_unseen: usize,
    /// Rows of a /proc file that could not be parsed.
    skipped_rows: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    verdict: Option<VerdictJson<'a>>,
    /// `--free`: the sockets destroyed before `verdict` was taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    destroyed: Option<SocketsJson<'a>>,
}

#[derive(Serialize)]
pub(crate) struct SocketJson<'a> {
    family: Family,
    state: &'static str,
    local_addr: String,
    local_port: u16,
    remote_addr: String,
    remote_port: u16,
    timer: Option<&'static str>,
    expires_ms: Option<u64>,
    retransmits: u8,
    rx_queue: u32,
    tx_queue: u32,
    uid: u32,
    inode: u64,
    /// SO_BINDTODEVICE interface, by name where it resolves.
    device: Option<String>,
    /// Decimal string: cookies do not fit a JSON number's exact range.
    cookie: Option<String>,
    processes: &'a [Process],
}

impl<'a> SocketJson<'a> {
    pub(crate) fn new(socket: &'a Socket) -> SocketJson<'a> {
        SocketJson {
            family: socket.family,
            state: socket.state.name(),
            local_addr: socket.local.ip().to_string(),
            local_port: socket.local.port(),
            remote_addr: socket.remote.ip().to_string(),
            remote_port: socket.remote.port(),
            timer: socket.timer.map(|t| t.kind.as_str()),
            expires_ms: socket.timer.map(|t| t.expires_ms),
            retransmits: socket.timer.map_or(0, |t| t.retransmits),
            rx_queue: socket.rx_queue,
            tx_queue: socket.tx_queue,
            uid: socket.uid,
            inode: socket.inode,
            device: device_name(socket.bound_device),
            cookie: socket.cookie.map(|c| c.to_string()),
            processes: &socket.processes,
        }
    }
}

/// Serialises sockets one by one, so a 100k-row listing holds no second copy.
struct SocketsJson<'a>(&'a [Socket]);

impl Serialize for SocketsJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(SocketJson::new))
    }
}

#[derive(Serialize)]
struct BlockerJson<'a> {
    #[serde(flatten)]
    socket: SocketJson<'a>,
    reason: Reason,
    conflict: Conflict,
    why: &'a str,
}

#[derive(Serialize)]
struct ProbeJson<'a> {
    #[serde(flatten)]
    bind: &'a IntendedBind,
    question: &'a str,
    ok: bool,
    errno: Option<&'a str>,
}

#[derive(Serialize)]
struct VerdictJson<'a> {
    bind: &'a IntendedBind,
    blocked: bool,
    free_in_ms: Option<u64>,
    blockers: Vec<BlockerJson<'a>>,
    probes: Vec<ProbeJson<'a>>,
    explanation: &'a str,
    advice: &'a [String],
}

impl<'a> VerdictJson<'a> {
    fn new(verdict: &'a Verdict) -> VerdictJson<'a> {
        VerdictJson {
            bind: &verdict.bind,
            blocked: verdict.blocked,
            free_in_ms: verdict.free_in_ms,
            blockers: verdict.blockers.iter().map(blocker_json).collect(),
            probes: verdict.probes.iter().map(probe_json).collect(),
            explanation: &verdict.explanation,
            advice: &verdict.advice,
        }
    }
}

fn blocker_json(blocker: &Blocker) -> BlockerJson<'_> {
    BlockerJson {
        socket: SocketJson::new(&blocker.socket),
        reason: blocker.reason,
        conflict: blocker.conflict,
        why: &blocker.why,
    }
}

fn probe_json(probe: &Probe) -> ProbeJson<'_> {
    ProbeJson {
        bind: &probe.bind,
        question: &probe.question,
        ok: probe.ok,
        errno: probe.errno.as_deref(),
    }
}

/// Writes the schema-v1 document for a table (and the verdict with `--port`):
/// indented for a person at a terminal, compact for a pipe.
pub fn write(
    out: &mut impl Write,
    table: &SocketTable,
    port: Option<u16>,
    verdict: Option<&Verdict>,
    pretty: bool,
) -> io::Result<()> {
    write_document(out, document(table, port, verdict), pretty)
}

/// The `--free` document: the table and verdict after, and what was destroyed.
pub fn write_with_destroyed(
    out: &mut impl Write,
    table: &SocketTable,
    verdict: &Verdict,
    destroyed: &[Socket],
    pretty: bool,
) -> io::Result<()> {
    let mut document = document(table, Some(verdict.bind.port), Some(verdict));
    document.destroyed = Some(SocketsJson(destroyed));
    write_document(out, document, pretty)
}

fn document<'a>(
    table: &'a SocketTable,
    port: Option<u16>,
    verdict: Option<&'a Verdict>,
) -> Document<'a> {
    Document {
        schema_version: SCHEMA_VERSION,
        source: table.source,
        port,
        sockets: SocketsJson(&table.sockets),
        counts: counts_by_state(&table.sockets)
            .into_iter()
            .map(|(state, n)| (state.name(), n))
            .collect(),
        owners_unseen: table.owners_unseen,
        skipped_rows: table.skipped_rows,
        verdict: verdict.map(VerdictJson::new),
        destroyed: None,
    }
}

fn write_document(out: &mut impl Write, document: Document, pretty: bool) -> io::Result<()> {
    if pretty {
        serde_json::to_writer_pretty(&mut *out, &document)?;
    } else {
        serde_json::to_writer(&mut *out, &document)?;
    }
    out.write_all(b"\n")
}
