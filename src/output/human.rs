//! The human report: an aligned table like `ss -tano`'s but readable, counts
//! by state, and with `--port` the verdict in plain words.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::SocketAddr;

use crossterm::style::Stylize;

use crate::diagnosis::{Conflict, Probe, Verdict};
use crate::duration::seconds_text;
use crate::model::{counts_by_state, Socket, SocketTable, TcpState, Timer};
use crate::model::{NamespaceId, Protocol};
use crate::output::device_name;
use crate::output::inert::inert;
use crate::session::NamespaceEntry;

/// `127.0.0.1:9527`, `[::1]:9527`: the form a person pastes elsewhere.
pub fn endpoint(addr: &SocketAddr) -> String {
    addr.to_string()
}

/// `timewait 43.2s`, `retransmit 0.2s (2)`, or `-`.
pub fn timer_text(timer: Option<&Timer>) -> String {
    match timer {
        None => "-".to_string(),
        Some(t) if t.retransmits > 0 => format!(
            "{} {} ({})",
            t.kind.as_str(),
            seconds_text(t.expires_ms),
            t.retransmits
        ),
        Some(t) => format!("{} {}", t.kind.as_str(), seconds_text(t.expires_ms)),
    }
}

/// `1234/nginx, 1240/nginx`, escaped; `-` when no process is known.
pub fn processes_text(socket: &Socket) -> String {
    if socket.processes.is_empty() {
        return "-".to_string();
    }
    let mut text = String::new();
    for (i, p) in socket.processes.iter().enumerate() {
        if i > 0 {
            text.push_str(", ");
        }
        let _ = write!(text, "{}/{}", p.pid, inert(&p.comm));
    }
    text
}

/// Color only when asked for (a terminal without NO_COLOR).
#[derive(Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn state(self, state: TcpState, text: String) -> String {
        if !self.color {
            return text;
        }
        match state {
            TcpState::TimeWait | TcpState::FinWait2 => text.yellow().to_string(),
            TcpState::Listen => text.green().to_string(),
            TcpState::Bound => text.cyan().to_string(),
            _ => text,
        }
    }

    pub(super) fn alarm(self, text: &str) -> String {
        if self.color {
            text.red().bold().to_string()
        } else {
            text.to_string()
        }
    }

    pub(super) fn good(self, text: &str) -> String {
        if self.color {
            text.green().bold().to_string()
        } else {
            text.to_string()
        }
    }

    pub(super) fn heading(self, text: &str) -> String {
        if self.color {
            text.bold().to_string()
        } else {
            text.to_string()
        }
    }
}

const HEADERS: [&str; 5] = ["State", "Local", "Peer", "Timer", "Process"];

fn row_cells(socket: &Socket) -> [String; 5] {
    let mut local = endpoint(&socket.local);
    if let Some(device) = device_name(socket.bound_device) {
        local.push('%');
        local.push_str(&inert(&device));
    }
    [
        state_text(socket),
        local,
        endpoint(&socket.remote),
        timer_text(socket.timer.as_ref()),
        processes_text(socket),
    ]
}

/// A TCP socket's state as Linux names it; a UDP socket's as ss does
/// (UNCONN, ESTAB), marked UDP so that a mixed table reads unambiguously.
fn state_text(socket: &Socket) -> String {
    match socket.protocol {
        Protocol::Tcp => socket.state.name().to_string(),
        Protocol::Udp if socket.state == TcpState::Established => "UDP ESTAB".to_string(),
        Protocol::Udp => "UDP UNCONN".to_string(),
    }
}

/// Writes the aligned table; rows for which `is_blocker` holds get a `!`
/// marker (so a monochrome report still shows them) and, in color, red.
fn write_table(
    out: &mut impl Write,
    sockets: &[Socket],
    is_blocker: &dyn Fn(&Socket) -> bool,
    style: Style,
) -> io::Result<()> {
    let rows: Vec<[String; 5]> = sockets.iter().map(row_cells).collect();
    let mut widths = HEADERS.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String; 5]| -> String {
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<width$}  ");
            }
        }
        text
    };
    let header = line(&HEADERS.map(String::from));
    writeln!(out, "  {}", style.heading(&header))?;
    for (socket, cells) in sockets.iter().zip(&rows) {
        let text = line(cells);
        if is_blocker(socket) {
            writeln!(out, "{} {}", style.alarm("!"), style.alarm(&text))?;
        } else {
            writeln!(out, "  {}", style.state(socket.state, text))?;
        }
    }
    Ok(())
}

/// `3 sockets: LISTEN 1, ESTABLISHED 1, TIME_WAIT 1`.
pub fn counts_line(sockets: &[Socket]) -> String {
    let counts = counts_by_state(sockets);
    let noun = if sockets.len() == 1 {
        "socket"
    } else {
        "sockets"
    };
    if counts.is_empty() {
        return format!("0 {noun}");
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|(state, n)| format!("{state} {n}"))
        .collect();
    format!("{} {noun}: {}", sockets.len(), parts.join(", "))
}

fn write_footnotes(out: &mut impl Write, table: &SocketTable) -> io::Result<()> {
    if table.owners_unseen > 0 {
        writeln!(
            out,
            "note: the owning process of {} socket(s) could not be seen (other users' processes need root)",
            table.owners_unseen
        )?;
    }
    if table.skipped_rows > 0 {
        writeln!(
            out,
            "note: {} unparsable row(s) of the /proc table were skipped",
            table.skipped_rows
        )?;
    }
    Ok(())
}

/// The listing without a port: table, counts, footnotes.
pub fn write_listing(out: &mut impl Write, table: &SocketTable, style: Style) -> io::Result<()> {
    write_table(out, &table.sockets, &|_| false, style)?;
    writeln!(out)?;
    writeln!(out, "{}", counts_line(&table.sockets))?;
    write_footnotes(out, table)
}

fn same_socket(a: &Socket, b: &Socket) -> bool {
    a.local == b.local
        && a.remote == b.remote
        && a.state == b.state
        && a.family == b.family
        && a.protocol == b.protocol
}

/// "a UDP socket (12048/python3) also uses port 5353; it does not block a
/// TCP bind": the other protocol's sockets on the port, in one line.
fn other_protocol_note(table: &SocketTable, verdict: &Verdict) -> Option<String> {
    let bind = verdict.bind.protocol;
    let others: Vec<&Socket> = table
        .sockets
        .iter()
        .filter(|s| s.protocol != bind)
        .collect();
    let first = others.first()?;
    let other = first.protocol.as_str().to_uppercase();
    let subject = match others.len() {
        1 => format!("a {other} socket ({})", processes_text(first)),
        n => format!("{n} {other} sockets"),
    };
    Some(format!(
        "note: {subject} also uses port {}; it does not block a {} bind (their ports are separate)",
        verdict.bind.port,
        bind.as_str().to_uppercase()
    ))
}

/// "blue (net:[4026532])", or "net:[4026532]" for an unnamed namespace.
pub fn namespace_text(id: &NamespaceId) -> String {
    match &id.name {
        Some(name) => format!("{} (net:[{}])", inert(name), id.inode),
        None => format!("net:[{}]", id.inode),
    }
}

/// The heading of one namespace in an `--all-netns` report: who it is.
/// "── netns blue (net:[4026532]) · pids 12 34 · docker 3f4e2a1b9c8d".
pub fn write_namespace_heading(
    out: &mut impl Write,
    entry: &NamespaceEntry,
    style: Style,
) -> io::Result<()> {
    let mut heading = format!("── netns {}", namespace_text(&entry.id));
    if !entry.pids.is_empty() {
        const SHOWN: usize = 8;
        let pids: Vec<String> = entry.pids.iter().take(SHOWN).map(u32::to_string).collect();
        heading.push_str(&format!(" · pids {}", pids.join(" ")));
        if entry.pids.len() > SHOWN {
            heading.push_str(&format!(" +{} more", entry.pids.len() - SHOWN));
        }
    }
    if let Some(container) = &entry.container {
        heading.push_str(&format!(
            " · {} {}",
            container.runtime.as_str(),
            inert(container.short_id())
        ));
        if let Some(pod) = &container.pod_uid {
            heading.push_str(&format!(" (pod {})", inert(pod)));
        }
    }
    writeln!(out, "{}", style.heading(&heading))
}

/// `0.0.0.0:9527 (SO_REUSEADDR, v6only, dev eth0)`.
pub fn bind_text(bind: &crate::diagnosis::IntendedBind) -> String {
    let mut flags = Vec::new();
    if bind.reuseaddr {
        flags.push("SO_REUSEADDR".to_string());
    }
    if bind.reuseport {
        flags.push("SO_REUSEPORT".to_string());
    }
    if bind.addr.is_ipv6() && bind.v6only {
        flags.push("IPV6_V6ONLY".to_string());
    }
    if let Some(device) = &bind.device {
        flags.push(format!("dev {}", inert(device)));
    }
    // TCP is what a server binds unless it says otherwise.
    let protocol = match bind.protocol {
        Protocol::Tcp => "",
        Protocol::Udp => "udp ",
    };
    let addr = SocketAddr::new(bind.addr, bind.port);
    if flags.is_empty() {
        format!("{protocol}{addr} (no SO_REUSEADDR, no SO_REUSEPORT)")
    } else {
        format!("{protocol}{addr} ({})", flags.join(", "))
    }
}

/// Prose wraps at this width: reports are read in terminals and pasted into
/// tickets, where one 600-character line helps nobody.
const PROSE_WIDTH: usize = 100;

pub(super) fn write_prose(
    out: &mut impl Write,
    text: &str,
    first: &str,
    rest: &str,
) -> io::Result<()> {
    let options = textwrap::Options::new(PROSE_WIDTH)
        .initial_indent(first)
        .subsequent_indent(rest);
    for line in textwrap::wrap(&inert(text), options) {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

fn write_probes(out: &mut impl Write, probes: &[Probe], style: Style) -> io::Result<()> {
    let binds: Vec<String> = probes.iter().map(|p| bind_text(&p.bind)).collect();
    let width = binds.iter().map(|b| b.chars().count()).max().unwrap_or(0);
    for (probe, bind) in probes.iter().zip(&binds) {
        let (mark, result) = match probe.errno {
            None => (style.good("ok  "), "bound".to_string()),
            Some(errno) => (style.alarm("FAIL"), errno.to_string()),
        };
        writeln!(
            out,
            "  {mark}  {result:<13} {bind:<width$}  {}",
            probe.kind.question()
        )?;
    }
    Ok(())
}

/// The `--port` report: the verdict first (what the on-call engineer came
/// for), then the sockets on the port, the reasoning, probes and advice.
pub fn write_report(
    out: &mut impl Write,
    table: &SocketTable,
    verdict: &Verdict,
    style: Style,
) -> io::Result<()> {
    let status = if verdict.blocked {
        style.alarm("BLOCKED")
    } else {
        style.good("FREE")
    };
    writeln!(out, "bind {}: {status}", bind_text(&verdict.bind))?;
    if let Some(errno) = &verdict.refused {
        // EACCES (a low port without the capability), EADDRNOTAVAIL...: no
        // socket and no timer is the first thing in the way.
        writeln!(
            out,
            "bind() itself is refused with {errno}, before any conflict with a socket is checked"
        )?;
    } else if let Some(ms) = verdict.free_in_ms {
        writeln!(
            out,
            "free in ~{} (an estimate: the kernel's TIME_WAIT timer fires a second or two late)",
            seconds_text(ms)
        )?;
    } else if verdict.blocked && verdict.blockers.iter().any(|b| b.conflict == Conflict::Yes) {
        writeln!(out, "it will not free by itself: a live process holds it")?;
    }
    writeln!(out)?;
    if table.sockets.is_empty() {
        writeln!(
            out,
            "  no {} socket uses port {}",
            verdict.bind.protocol.as_str().to_uppercase(),
            verdict.bind.port
        )?;
    } else {
        let is_blocker = |s: &Socket| verdict.blockers.iter().any(|b| same_socket(&b.socket, s));
        write_table(out, &table.sockets, &is_blocker, style)?;
    }
    writeln!(out)?;
    writeln!(out, "{}", style.heading("Why"))?;
    for paragraph in verdict.explanation.lines() {
        write_prose(out, paragraph, "  ", "  ")?;
    }
    for blocker in &verdict.blockers {
        let item = format!(
            "{} -> {}: {}",
            endpoint(&blocker.socket.local),
            endpoint(&blocker.socket.remote),
            blocker.why
        );
        write_prose(out, &item, "  - ", "    ")?;
    }
    if !verdict.probes.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "{}",
            style.heading("Probes (real bind() calls, closed at once, never listen())")
        )?;
        write_probes(out, &verdict.probes, style)?;
    }
    if !verdict.advice.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", style.heading("What to do"))?;
        for (i, advice) in verdict.advice.iter().enumerate() {
            write_prose(out, advice, &format!("  {}. ", i + 1), "     ")?;
        }
    }
    writeln!(out)?;
    writeln!(out, "{}", counts_line(&table.sockets))?;
    if let Some(note) = other_protocol_note(table, verdict) {
        writeln!(out, "{note}")?;
    }
    write_footnotes(out, table)
}
