//! The human report: an aligned table like `ss -tano`'s but readable, counts
//! by state, and with `--port` the verdict in plain words.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::SystemTime;

use crossterm::style::Stylize;

use crate::diagnosis::{Conflict, Probe, Verdict};
use crate::duration::seconds_text;
use crate::errno::Errno;
use crate::model::{counts_by_state, Socket, SocketTable, StateSet, TcpState, Timer};
use crate::model::{NamespaceId, Process, Protocol};
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

/// Holders shown in a table cell before "+N more": a pre-fork server's
/// parent and a few workers, without a row as wide as a hundred pids.
pub const PROCESSES_SHOWN: usize = 4;

/// `1234/nginx, 1240/nginx +6 more`, escaped; `-` when no process is known.
pub fn processes_text(socket: &Socket) -> String {
    if socket.processes.is_empty() {
        return "-".to_string();
    }
    let mut text = String::new();
    for (i, p) in socket.processes.iter().take(PROCESSES_SHOWN).enumerate() {
        if i > 0 {
            text.push_str(", ");
        }
        let _ = write!(text, "{}/{}", p.pid, inert(&p.comm));
    }
    let more = socket.processes.len().saturating_sub(PROCESSES_SHOWN);
    if more > 0 {
        let _ = write!(text, " +{more} more");
    }
    if let Some(workload) = socket.processes.first().and_then(workload_text) {
        let _ = write!(text, " [{workload}]");
    }
    text
}

/// Where a process runs, beyond its pid: "docker 5e2c1f0a9b8d" (the
/// container's short id) or its systemd unit, "nginx.service".
pub fn workload_text(process: &Process) -> Option<String> {
    match (&process.container, &process.unit) {
        (Some(container), _) => Some(format!(
            "{} {}",
            container.runtime.as_str(),
            inert(container.short_id())
        )),
        (None, Some(unit)) => Some(inert(unit).into_owned()),
        (None, None) => None,
    }
}

/// Color only when asked for (a terminal without NO_COLOR); `verbose`
/// (`-v`) lists every socket where a long report summarises alike ones.
#[derive(Clone, Copy, Default)]
pub struct Style {
    pub color: bool,
    pub verbose: bool,
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

/// A report lists every socket up to this many; past it, alike sockets
/// (same state, blocking or not) are summarised unless `--verbose`.
pub const SUMMARY_ABOVE: usize = 20;
/// Examples shown of each summarised group.
pub const EXAMPLES: usize = 3;

/// Sockets a reader takes as alike: one state, and all blocking or none.
pub struct Group<'a> {
    pub state: TcpState,
    pub blocking: bool,
    pub sockets: Vec<&'a Socket>,
}

/// `sockets` grouped by state and blame, in the order groups first appear.
pub fn groups<'a>(
    sockets: impl IntoIterator<Item = &'a Socket>,
    is_blocker: &dyn Fn(&Socket) -> bool,
) -> Vec<Group<'a>> {
    let mut groups: Vec<Group> = Vec::new();
    for socket in sockets {
        let blocking = is_blocker(socket);
        match groups
            .iter_mut()
            .find(|g| g.state == socket.state && g.blocking == blocking)
        {
            Some(group) => group.sockets.push(socket),
            None => groups.push(Group {
                state: socket.state,
                blocking,
                sockets: vec![socket],
            }),
        }
    }
    groups
}

/// What the sockets of a group have in common and how they spread:
/// `expire in 0.4s to 59.8s; 2 local addresses; peers: 1 address, ports
/// 40000-44999`.
pub fn spread_text(sockets: &[&Socket]) -> String {
    let mut parts = Vec::new();
    let expiries: Vec<u64> = sockets
        .iter()
        .filter_map(|s| s.timer.as_ref().map(|t| t.expires_ms))
        .collect();
    if let (Some(first), Some(last)) = (expiries.iter().min(), expiries.iter().max()) {
        let (first, last) = (seconds_text(*first), seconds_text(*last));
        parts.push(if first == last {
            format!("timers at {first}")
        } else {
            format!("timers from {first} to {last}")
        });
    }
    let locals: std::collections::BTreeSet<SocketAddr> = sockets.iter().map(|s| s.local).collect();
    if locals.len() > 1 {
        parts.push(format!("{} local addresses", locals.len()));
    }
    let peers: std::collections::BTreeSet<std::net::IpAddr> =
        sockets.iter().map(|s| s.remote.ip()).collect();
    let low = sockets.iter().map(|s| s.remote.port()).min().unwrap_or(0);
    let high = sockets.iter().map(|s| s.remote.port()).max().unwrap_or(0);
    let addresses = match peers.iter().next() {
        Some(only) if peers.len() == 1 => format!("{only}"),
        _ => format!("{} addresses", peers.len()),
    };
    let ports = if low == high {
        format!("port {low}")
    } else {
        format!("ports {low}-{high}")
    };
    parts.push(format!("peers {addresses}, {ports}"));
    parts.join("; ")
}

/// `4997 more TIME_WAIT: timers from 0.4s to 59.8s; peers 127.0.0.1, ports
/// 40000-44999`.
pub fn group_more_text(group: &Group, shown: usize) -> String {
    format!(
        "{} more {}{}: {}",
        group.sockets.len().saturating_sub(shown),
        group.state,
        if group.blocking { ", all blocking" } else { "" },
        spread_text(&group.sockets)
    )
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
/// Past [`SUMMARY_ABOVE`] sockets (and without `verbose`), each group of
/// alike sockets shows a few examples and one line for the rest.
fn write_table(
    out: &mut impl Write,
    sockets: &[Socket],
    is_blocker: &dyn Fn(&Socket) -> bool,
    style: Style,
) -> io::Result<()> {
    if style.verbose || sockets.len() <= SUMMARY_ABOVE {
        let all: Vec<&Socket> = sockets.iter().collect();
        return write_rows(out, &all, &[], is_blocker, style);
    }
    let groups = groups(sockets, is_blocker);
    let mut shown: Vec<&Socket> = Vec::new();
    // After which shown row each group's summary line goes.
    let mut summaries: Vec<(usize, String)> = Vec::new();
    for group in &groups {
        let examples = group.sockets.len().min(EXAMPLES);
        shown.extend(&group.sockets[..examples]);
        if group.sockets.len() > examples {
            summaries.push((shown.len(), group_more_text(group, examples)));
        }
    }
    write_rows(out, &shown, &summaries, is_blocker, style)
}

fn write_rows(
    out: &mut impl Write,
    sockets: &[&Socket],
    summaries: &[(usize, String)],
    is_blocker: &dyn Fn(&Socket) -> bool,
    style: Style,
) -> io::Result<()> {
    let rows: Vec<[String; 5]> = sockets.iter().map(|s| row_cells(s)).collect();
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
    for (index, (socket, cells)) in sockets.iter().zip(&rows).enumerate() {
        let text = line(cells);
        if is_blocker(socket) {
            writeln!(out, "{} {}", style.alarm("!"), style.alarm(&text))?;
        } else {
            writeln!(out, "  {}", style.state(socket.state, text))?;
        }
        for (_, summary) in summaries.iter().filter(|(after, _)| *after == index + 1) {
            writeln!(out, "  ... {}", inert(summary))?;
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
/// A listing is what was asked for: every socket, never summarised.
pub fn write_listing(out: &mut impl Write, table: &SocketTable, style: Style) -> io::Result<()> {
    let all: Vec<&Socket> = table.sockets.iter().collect();
    write_rows(out, &all, &[], &|_| false, style)?;
    writeln!(out)?;
    writeln!(out, "{}", counts_line(&table.sockets))?;
    write_footnotes(out, table)
}

/// What tells one socket of a table from another, for finding blockers:
/// hashed, so marking 20k rows is not 20k x 20k comparisons.
fn socket_key(socket: &Socket) -> (Protocol, SocketAddr, SocketAddr, TcpState) {
    (socket.protocol, socket.local, socket.remote, socket.state)
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
    if let Some(uid) = bind.uid {
        flags.push(format!("uid {uid}"));
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

/// Each blocker's reason; in a long report, one item per group of blockers
/// with the same state and reason, with an example and their spread.
fn write_blocker_reasons(out: &mut impl Write, verdict: &Verdict, style: Style) -> io::Result<()> {
    let item = |blocker: &crate::diagnosis::Blocker| {
        format!(
            "{} -> {}: {}",
            endpoint(&blocker.socket.local),
            endpoint(&blocker.socket.remote),
            blocker.why
        )
    };
    if style.verbose || verdict.blockers.len() <= SUMMARY_ABOVE {
        for blocker in &verdict.blockers {
            write_prose(out, &item(blocker), "  - ", "    ")?;
        }
        return Ok(());
    }
    let mut alike: Vec<Vec<&crate::diagnosis::Blocker>> = Vec::new();
    for blocker in &verdict.blockers {
        match alike
            .iter_mut()
            .find(|g| g[0].socket.state == blocker.socket.state && g[0].why == blocker.why)
        {
            Some(group) => group.push(blocker),
            None => alike.push(vec![blocker]),
        }
    }
    for group in &alike {
        if group.len() <= EXAMPLES {
            for blocker in group {
                write_prose(out, &item(blocker), "  - ", "    ")?;
            }
            continue;
        }
        let sockets: Vec<&Socket> = group.iter().map(|b| &b.socket).collect();
        let text = format!(
            "{} {} sockets ({}; e.g. {} -> {}): {}",
            group.len(),
            group[0].socket.state,
            spread_text(&sockets),
            endpoint(&group[0].socket.local),
            endpoint(&group[0].socket.remote),
            group[0].why
        );
        write_prose(out, &text, "  - ", "    ")?;
    }
    writeln!(out, "  (--verbose lists every socket)")
}

/// The `--port` report: the verdict first (what the on-call engineer came
/// for), then the sockets on the port, the reasoning, probes and advice.
///
/// `table` holds every socket on the port; only those in `shown` (the
/// `--state` filter) are listed, and the report says how many it left out:
/// the verdict is judged on all of them.
pub fn write_report(
    out: &mut impl Write,
    table: &SocketTable,
    verdict: &Verdict,
    style: Style,
    scope: ReportScope,
) -> io::Result<()> {
    let shown = scope.shown;
    let status = match (verdict.blocked, verdict.refused) {
        (false, _) => style.good("FREE"),
        // Not a conflict with a socket: no BLOCKED that sends one looking
        // for a holder.
        (true, Some(errno)) => match cannot_bind_text(errno) {
            Some(text) => style.alarm(&format!("CANNOT BIND: {text}")),
            None => style.alarm("BLOCKED"),
        },
        (true, None) => style.alarm("BLOCKED"),
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
        match scope.captured_at {
            Some(at) => writeln!(out, "{}", captured_free_text(ms, at, SystemTime::now()))?,
            None => writeln!(
                out,
                "free in ~{} (an estimate: the kernel's TIME_WAIT timer fires a second or two late)",
                seconds_text(ms)
            )?,
        }
    } else if verdict.blocked && verdict.blockers.iter().any(|b| b.conflict == Conflict::Yes) {
        writeln!(out, "it will not free by itself: a live process holds it")?;
    }
    writeln!(out)?;
    let (listed, left_out): (Vec<Socket>, Vec<Socket>) = table
        .sockets
        .iter()
        .cloned()
        .partition(|s| shown.contains(s.state));
    if table.sockets.is_empty() {
        writeln!(
            out,
            "  no {} socket uses port {}",
            verdict.bind.protocol.as_str().to_uppercase(),
            verdict.bind.port
        )?;
    } else if listed.is_empty() {
        writeln!(
            out,
            "  no socket on port {} is in the --state shown",
            verdict.bind.port
        )?;
    } else {
        let blockers: std::collections::HashSet<_> = verdict
            .blockers
            .iter()
            .map(|b| socket_key(&b.socket))
            .collect();
        let is_blocker = |s: &Socket| blockers.contains(&socket_key(s));
        write_table(out, &listed, &is_blocker, style)?;
    }
    if !left_out.is_empty() {
        writeln!(
            out,
            "  {} on the port not shown (--state filters what is shown, not what is judged): {}",
            if left_out.len() == 1 {
                "1 socket".to_string()
            } else {
                format!("{} sockets", left_out.len())
            },
            counts_by_state(&left_out)
                .iter()
                .map(|(state, n)| format!("{state} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        )?;
    }
    writeln!(out)?;
    writeln!(out, "{}", style.heading("Why"))?;
    for paragraph in verdict.explanation.lines() {
        write_prose(out, paragraph, "  ", "  ")?;
    }
    write_blocker_reasons(out, verdict, style)?;
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
    writeln!(out, "{}", counts_line(&listed))?;
    if let Some(note) = other_protocol_note(table, verdict) {
        writeln!(out, "{note}")?;
    }
    write_footnotes(out, table)
}

/// What a report shows of the table, and when its files were captured.
#[derive(Debug, Clone, Copy)]
pub struct ReportScope {
    /// The `--state` filter: only these are listed; all are judged.
    pub shown: StateSet,
    /// The modification time of `--proc-root`'s net/tcp: timers count from it.
    pub captured_at: Option<SystemTime>,
}

impl Default for ReportScope {
    fn default() -> ReportScope {
        ReportScope {
            shown: StateSet::all(),
            captured_at: None,
        }
    }
}

/// `free ~61.0s after the capture (files modified 2026-11-30 17:12:03 UTC,
/// 4m12s ago: ...)`: the timers in captured files count from the capture.
pub fn captured_free_text(ms: u64, captured_at: SystemTime, now: SystemTime) -> String {
    let when = utc_text(captured_at);
    let Ok(age) = now.duration_since(captured_at) else {
        return format!(
            "free ~{} after the capture (files modified {when}, in this host's future)",
            seconds_text(ms)
        );
    };
    let age_ms = u64::try_from(age.as_millis()).unwrap_or(u64::MAX);
    let ago = age_text(age.as_secs());
    if age_ms >= ms {
        format!(
            "free ~{} after the capture (files modified {when}, {ago} ago): on that host the \
             port has likely freed since",
            seconds_text(ms)
        )
    } else {
        format!(
            "free ~{} after the capture (files modified {when}, {ago} ago): about {} from now",
            seconds_text(ms),
            seconds_text(ms - age_ms)
        )
    }
}

/// `4m12s`, `2h03m`, `3d04h`.
fn age_text(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m{:02}s", secs / 60, secs % 60),
        3600..=86_399 => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d{:02}h", secs / 86_400, secs % 86_400 / 3600),
    }
}

/// `2026-11-30 17:12:03 UTC` (the civil date from days since the epoch,
/// after Howard Hinnant's algorithm; no time zone database needed).
pub fn utc_text(time: SystemTime) -> String {
    let secs = match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(since) => since.as_secs(),
        Err(_) => return "before 1970".to_string(),
    };
    let days = secs / 86_400;
    let rest = secs % 86_400;
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The headline for a bind refused before any socket is looked at.
fn cannot_bind_text(errno: Errno) -> Option<&'static str> {
    match errno {
        Errno::EADDRNOTAVAIL => Some("no such address"),
        Errno::ENODEV => Some("no such device"),
        Errno::EACCES => Some("permission denied"),
        _ => None,
    }
}
