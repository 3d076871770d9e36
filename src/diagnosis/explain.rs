//! The verdict in plain words, and what to do now. Process names are
//! untrusted text: they are embedded as data and escaped by the outputs.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use super::probe::ProbeKind;
use super::rules::{self, describe_hidden, Assessment, Hidden};
use super::rules::{Refusal, RuleContext};
use super::{Blocker, Conflict, IntendedBind, Probe, Reason};
use crate::duration::seconds_text;
use crate::errno::Errno;
use crate::model::{KernelContext, Process, Protocol, Socket, TcpState, TIME_WAIT_LEN_MS};

/// Everything the explanation draws on.
pub(crate) struct Findings<'a> {
    pub bind: &'a IntendedBind,
    pub ctx: &'a RuleContext,
    pub kernel: &'a KernelContext,
    /// The errno the rules predict before any conflict check.
    pub refusal: Option<Refusal>,
    /// The probe of the bind exactly as intended, if one ran.
    pub intended: Option<&'a Probe>,
    pub probes: &'a [Probe],
    pub blocked: bool,
    pub blockers: &'a [Blocker],
    pub free_in_ms: Option<u64>,
    /// Sockets on the port the rules could not decide and the kernel passed.
    pub passed_unknowns: Vec<(&'a Socket, Assessment)>,
    /// Bound-only sockets that can make listen() fail after the bind.
    pub listen_caveat: Vec<&'a Socket>,
    /// TIME_WAITs whose peer is this port: the client side closed first.
    pub client_side_time_waits: Vec<&'a Socket>,
}

/// Returns the explanation and the advice, most useful first.
pub(crate) fn explain(f: &Findings) -> (String, Vec<String>) {
    let mut text = Vec::new();
    let mut advice = Vec::new();
    let port = f.bind.port;
    let target = addr_port(f.bind.addr, port);
    let errno = failure_errno(f);

    match (f.blocked, errno) {
        (false, _) => explain_free(f, &target, &mut text, &mut advice),
        (true, Some(Errno::EADDRINUSE)) | (true, None) => {
            explain_in_use(f, &target, &mut text, &mut advice)
        }
        (true, Some(errno)) => explain_refused(f, &target, errno, &mut text, &mut advice),
    }
    if f.intended.is_none() {
        text.push(if f.ctx.uid != f.ctx.caller_uid && !f.ctx.captured {
            format!(
                "Not probed: a probe must bind as uid {} and this process (uid {}) cannot \
                 switch to it (that needs CAP_SETUID), or --no-probe was given; this verdict \
                 comes from the rules alone.",
                f.ctx.uid, f.ctx.caller_uid
            )
        } else {
            "Not probed (--no-probe or a captured table): this verdict comes from the rules \
             alone."
                .to_string()
        });
    }
    kernel_notes(f, &mut text);
    (text.join(" "), advice)
}

/// The errno the bind fails with: the kernel's when probed, else the rules'.
fn failure_errno(f: &Findings) -> Option<Errno> {
    match f.intended {
        Some(probe) => probe.errno,
        None => match &f.refusal {
            Some(refusal) => Some(refusal.errno),
            None => (!f.blockers.is_empty()).then_some(Errno::EADDRINUSE),
        },
    }
}

fn explain_free(f: &Findings, target: &str, text: &mut Vec<String>, advice: &mut Vec<String>) {
    let port = f.bind.port;
    text.push(match f.intended {
        Some(_) => format!(
            "bind() to {target} succeeds now: the kernel accepted a probe bind (closed at \
             once, never listened)."
        ),
        None => format!("No socket on port {port} conflicts with a bind to {target}."),
    });
    if let Some(passed) = passed_sentence(f) {
        text.push(passed);
    }
    if !f.client_side_time_waits.is_empty() {
        // A few ports say it; 100k of them would bury the sentence.
        const NAMED: usize = 5;
        let count = f.client_side_time_waits.len();
        let mut local_ports: Vec<String> = f
            .client_side_time_waits
            .iter()
            .take(NAMED)
            .map(|s| s.local.port().to_string())
            .collect();
        if count > NAMED {
            local_ports.push(format!("and {} more", count - NAMED));
        }
        let whose = if count == 1 {
            "its TIME_WAIT sits on the client's own port"
        } else {
            "their TIME_WAITs sit on the clients' own ports"
        };
        text.push(format!(
            "The client closed first: {whose} ({}), not on {port}, so nothing holds the \
             server's port.",
            local_ports.join(", ")
        ));
    }
    if !f.blockers.is_empty() {
        text.push(format!(
            "The rules disagree: they expected {} to block ({}) yet the kernel accepted the \
             bind. Both are shown; the socket may have gone since the table was read.",
            count_noun(f.blockers.len(), "socket", "sockets"),
            f.blockers[0].why.trim_end_matches('.')
        ));
    }
    if let (Some(refusal), Some(_)) = (&f.refusal, f.intended) {
        text.push(format!(
            "The rules predicted {} ({}) but the kernel accepted the bind.",
            refusal.errno,
            refusal.why.trim_end_matches('.')
        ));
    }
    if !f.listen_caveat.is_empty() {
        text.push(format!(
            "The bind succeeds, but listen() may not: {} on port {port} can share it through \
             SO_REUSEADDR, and whichever socket calls listen() second gets EADDRINUSE.",
            f.listen_caveat
                .iter()
                .map(|s| format!("bound socket {} ({})", s.local, owners(s)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        for stop in stop_advice(&f.listen_caveat) {
            advice.push(format!(
                "If listen() then fails with EADDRINUSE: {}",
                lower_first(&stop)
            ));
        }
    }
}

/// What the kernel's acceptance settled about the sockets the rules could
/// not decide.
fn passed_sentence(f: &Findings) -> Option<String> {
    let (first, assessment) = f.passed_unknowns.first()?;
    let count = f.passed_unknowns.len();
    let subject = if count == 1 {
        format!("The {} on {}", first.state, first.local)
    } else {
        format!("{count} sockets on port {}", f.bind.port)
    };
    let only_flags = |a: &Assessment| matches!(a.hidden.as_slice(), [Hidden::ReuseFlags { .. }]);
    if f.passed_unknowns.iter().all(|(_, a)| only_flags(a)) {
        let old = match (count, first.is_time_wait_like()) {
            (1, true) => "the socket it came from",
            (1, false) => "it",
            _ => "each of them (or the socket it came from)",
        };
        let flags = match (f.bind.reuseaddr, f.bind.reuseport) {
            (true, false) => "SO_REUSEADDR",
            (false, true) => "SO_REUSEPORT",
            _ => "SO_REUSEADDR or SO_REUSEPORT",
        };
        return Some(format!(
            "{subject} did not block: {old} set {flags} as this bind does, so the kernel lets \
             them share the port."
        ));
    }
    Some(format!(
        "{subject} did not block: the kernel settled {}, which the table does not show, in \
         this bind's favour.",
        describe_hidden(&assessment.hidden)
    ))
}

fn explain_in_use(f: &Findings, target: &str, text: &mut Vec<String>, advice: &mut Vec<String>) {
    let port = f.bind.port;
    let all_unknown = f.blockers.iter().all(|b| b.conflict == Conflict::Unknown);
    text.push(match (f.intended, all_unknown) {
        (Some(_), _) => format!("bind() to {target} fails with EADDRINUSE."),
        (None, false) => format!("bind() to {target} would fail with EADDRINUSE."),
        (None, true) => format!(
            "bind() to {target} may fail with EADDRINUSE: it depends on {}, which the table \
             does not show.",
            f.blockers
                .first()
                .map(|b| describe_hidden(&rules::assess(f.bind, &b.socket, f.ctx).hidden))
                .unwrap_or_default()
        ),
    });
    if f.blockers.is_empty() {
        text.push(format!(
            "Yet no socket in the table conflicts by the rules: something the table does not \
             show holds port {port} (a bound-only socket that /proc does not list, or a socket \
             created since the table was read)."
        ));
        advice.push(format!(
            "List bound-only sockets on the port: `ss -tan state bound-inactive '( sport = \
             :{port} )'` (kernel and iproute2 6.5+), or read the table through sock_diag."
        ));
        return;
    }
    let time_waits: Vec<&Blocker> = f
        .blockers
        .iter()
        .filter(|b| b.reason == Reason::TimeWait)
        .collect();
    let live: Vec<&Blocker> = f
        .blockers
        .iter()
        .filter(|b| b.reason != Reason::TimeWait)
        .collect();
    let only_time_waits = live.is_empty();

    // Advice that helps only the next restart goes after waiting.
    let for_next_time = if time_waits.is_empty() {
        None
    } else {
        explain_time_waits(f, &time_waits, only_time_waits, text, advice)
    };
    if live.len() <= LIVE_SENTENCES {
        for blocker in &live {
            text.push(live_holder_sentence(blocker));
        }
    } else {
        text.push(live_holders_summary(&live, port));
    }
    let live_sockets: Vec<&Socket> = live.iter().map(|b| &b.socket).collect();
    advice.extend(stop_advice(&live_sockets));
    if f.intended.is_none() && f.blockers.iter().any(|b| b.conflict == Conflict::Unknown) {
        advice.push(if f.ctx.uid != f.ctx.caller_uid && !f.ctx.captured {
            format!(
                "Run tw-inspect as root (or with CAP_SETUID) in the server's network namespace, \
                 so that it can probe as uid {}: a real bind() decides what the table cannot \
                 show.",
                f.ctx.uid
            )
        } else {
            "Run tw-inspect with probes (without --no-probe) in the server's network namespace: \
             a real bind() decides what the table cannot show."
                .to_string()
        });
    }
    if let Some(probe) = succeeded(f.probes, ProbeKind::SpecificAddress) {
        advice.push(format!(
            "Bind {} instead of the wildcard: a probe bind there succeeded.",
            probe.bind.addr
        ));
    }
    if f.bind.protocol == Protocol::Udp {
        udp_sharing_advice(f, advice);
    } else if succeeded(f.probes, ProbeKind::WithReuseport).is_some() {
        advice.push(if only_time_waits {
            "SO_REUSEPORT on the new socket gets past it: a probe bind with it succeeded."
                .to_string()
        } else {
            "SO_REUSEPORT on the new socket gets past it (a probe bind with it succeeded): the \
             old and new process then share the port and its connections."
                .to_string()
        });
    }
    match f.free_in_ms {
        // Captured files: --wait and --free act on this host, not theirs.
        Some(ms) if f.ctx.captured => advice.push(format!(
            "On the host the files came from, the port frees about {} after they were \
             captured; run tw-inspect there to wait for it or free it.",
            seconds_text(ms)
        )),
        Some(ms) => advice.push(format!(
            "Wait about {}: `{}` returns when the port frees.",
            seconds_text(ms),
            wait_command(f.bind)
        )),
        None => {}
    }
    advice.extend(for_next_time);
    if !time_waits.is_empty() && !f.ctx.captured {
        advice.push(format!(
            "To free it now, if the restart cannot wait: `{}` destroys exactly these TIME_WAITs \
             (SOCK_DESTROY: needs CAP_NET_ADMIN and a kernel built with CONFIG_INET_DIAG_DESTROY).",
            bind_command(f.bind, "--free")
        ));
    }
}

/// A UDP port is shared by agreement, not by waiting: SO_REUSEADDR on every
/// socket (receivers of one multicast group), or SO_REUSEPORT on every
/// socket of one user (load spread across receivers).
fn udp_sharing_advice(f: &Findings, advice: &mut Vec<String>) {
    if succeeded(f.probes, ProbeKind::WithReuseaddr).is_some() {
        advice.push(
            "Set SO_REUSEADDR on the new socket before bind(): a probe bind with it succeeded, \
             so the holder set it too. For UDP that is all it takes (receivers of one \
             multicast group share a port this way; every one of them gets each datagram)."
                .to_string(),
        );
    } else if succeeded(f.probes, ProbeKind::WithReuseport).is_some() {
        advice.push(
            "Set SO_REUSEPORT on the new socket before bind(): a probe bind with it succeeded. \
             The kernel then spreads datagrams across the sockets (load balancing, not a copy \
             to each)."
                .to_string(),
        );
    } else {
        advice.push(
            "To share the port, every socket on it must set SO_REUSEADDR (multicast receivers) \
             or SO_REUSEPORT (load-spread receivers, same user) before bind(): the holder did \
             neither that this bind can match, so stop it or pick another port."
                .to_string(),
        );
    }
}

fn explain_time_waits(
    f: &Findings,
    time_waits: &[&Blocker],
    only_time_waits: bool,
    text: &mut Vec<String>,
    advice: &mut Vec<String>,
) -> Option<String> {
    let bind = f.bind;
    let first = &time_waits[0].socket;
    let fin_wait2 = time_waits
        .iter()
        .filter(|b| b.socket.state == TcpState::FinWait2)
        .count();
    text.push(if time_waits.len() == 1 {
        format!(
            "The old server closed first: its connection with {} left a {} on the server's \
             own port, {} (the side that closes first keeps it).",
            first.remote, first.state, first.local
        )
    } else {
        format!(
            "The old server closed first: {} of its connections (peers such as {}) left \
             TIME_WAIT sockets on the server's own port {} (the side that closes first keeps \
             them).",
            time_waits.len(),
            first.remote,
            bind.port
        )
    });
    if fin_wait2 > 0 {
        text.push(
            "A FIN_WAIT2 one becomes a TIME_WAIT of 60 s more if the client closes in time."
                .to_string(),
        );
    }
    let remaining = f
        .free_in_ms
        .map(|ms| format!("for about {} more", seconds_text(ms)));
    let for_how_long = remaining.as_deref().unwrap_or("until it expires");
    let probed_reuseaddr = f.probes.iter().find(|p| p.kind == ProbeKind::WithReuseaddr);
    let mut for_next_time = None;
    match (bind.reuseaddr, probed_reuseaddr, f.intended) {
        (false, Some(probe), _) if probe.ok => {
            text.push(
                "Setting SO_REUSEADDR on the new socket before bind() gets past it: a probe \
                 bind with SO_REUSEADDR succeeded, so the old socket had set it too."
                    .to_string(),
            );
            advice.insert(
                0,
                "Set SO_REUSEADDR on the listening socket before bind(): a probe bind with it \
                 succeeded now."
                    .to_string(),
            );
        }
        (false, Some(_), _) if only_time_waits => {
            text.push(format!(
                "SO_REUSEADDR on the new socket will not help this time: {} did not set \
                 SO_REUSEADDR, so its TIME_WAIT blocks even a bind that sets it, {for_how_long}.",
                old_socket(time_waits.len())
            ));
            for_next_time = Some(
                "Set SO_REUSEADDR on the listening socket before bind(), so that future \
                 restarts get past their own TIME_WAIT (it cannot help against this one)."
                    .to_string(),
            );
        }
        (false, _, _) => {
            text.push(
                "SO_REUSEADDR on the new socket gets past a TIME_WAIT only if the old socket \
                 set it too."
                    .to_string(),
            );
            for_next_time = Some(
                "Set SO_REUSEADDR on the listening socket before bind(): the usual fix for \
                 restarts blocked by their own TIME_WAIT."
                    .to_string(),
            );
        }
        (true, _, Some(_)) if only_time_waits => text.push(format!(
            "This bind sets SO_REUSEADDR and was still refused: {} did not set \
             SO_REUSEADDR{}, so its TIME_WAIT blocks {for_how_long}.",
            old_socket(time_waits.len()),
            if bind.reuseport {
                " (nor SO_REUSEPORT)"
            } else {
                ""
            }
        )),
        (true, _, _) => text.push(
            "This bind's SO_REUSEADDR gets past a TIME_WAIT only if the old socket set it too, \
             which the table does not show."
                .to_string(),
        ),
    }
    if let Some(ms) = f.free_in_ms {
        text.push(format!(
            "The port frees {}in about {} (an estimate: the kernel's timer fires up to \
             about 2 s late, and a retransmitted FIN restarts the {} s).",
            if f.ctx.captured {
                "(counted from when the files were captured) "
            } else {
                ""
            },
            seconds_text(ms),
            TIME_WAIT_LEN_MS / 1000
        ));
    }
    for_next_time
}

/// The socket(s) behind the TIME_WAITs: with several, the kernel's refusal
/// only proves that one of them lacked the flag.
fn old_socket(time_waits: usize) -> &'static str {
    if time_waits == 1 {
        "the old socket"
    } else {
        "at least one old socket"
    }
}

fn live_holder_sentence(blocker: &Blocker) -> String {
    let socket = &blocker.socket;
    let what = match (socket.protocol, blocker.reason) {
        (Protocol::Udp, Reason::Bound) => format!("A UDP socket bound to {}", socket.local),
        (Protocol::Udp, _) => format!(
            "A connected UDP socket {} -> {}",
            socket.local, socket.remote
        ),
        (Protocol::Tcp, Reason::Listen) => format!("A listening socket on {}", socket.local),
        (Protocol::Tcp, Reason::Bound) => {
            format!("A bound, not listening, socket on {}", socket.local)
        }
        _ => format!(
            "A connection {} -> {} ({})",
            socket.local, socket.remote, socket.state
        ),
    };
    let certainty = if blocker.conflict == Conflict::Unknown {
        " may block it"
    } else {
        " blocks it"
    };
    format!(
        "{what}{certainty}, held by a live process ({}): it will not free by itself.",
        owners(socket)
    )
}

/// Holders named in prose before "and N more": enough to recognise a
/// pre-fork server's parent and a few workers.
const OWNERS_NAMED: usize = 4;

/// Live blockers described one sentence each; past this, one sentence for
/// all (a server with thousands of connections on its port).
const LIVE_SENTENCES: usize = 3;

/// "5000 live sockets on port 80 block it (LISTEN 1, ESTABLISHED 4999),
/// held by pid 7 nginx, pid 8 nginx: they will not free by themselves."
fn live_holders_summary(live: &[&Blocker], port: u16) -> String {
    let sockets: Vec<Socket> = live.iter().map(|b| b.socket.clone()).collect();
    let states: Vec<String> = crate::model::counts_by_state(&sockets)
        .iter()
        .map(|(state, n)| format!("{state} {n}"))
        .collect();
    let mut pids: Vec<&Process> = Vec::new();
    for process in sockets.iter().flat_map(|s| &s.processes) {
        if !pids.iter().any(|p| p.pid == process.pid) {
            pids.push(process);
        }
    }
    let mut named: Vec<String> = pids
        .iter()
        .take(OWNERS_NAMED)
        .map(|p| format!("pid {} {}", p.pid, p.comm))
        .collect();
    if pids.len() > OWNERS_NAMED {
        named.push(format!("{} more", pids.len() - OWNERS_NAMED));
    }
    let unseen = sockets.iter().filter(|s| s.processes.is_empty()).count();
    if unseen > 0 {
        named.push(format!("{unseen} with no visible owner"));
    }
    format!(
        "{} live sockets on port {port} block it ({}), held by {}: they will not free by \
         themselves.",
        live.len(),
        states.join(", "),
        named.join(", ")
    )
}

/// "pid 1234 nginx, pid 99 worker", or why no owner is shown.
fn owners(socket: &Socket) -> String {
    if socket.processes.is_empty() {
        return format!("owner not visible, inode {}", socket.inode);
    }
    let mut named: Vec<String> = socket
        .processes
        .iter()
        .take(OWNERS_NAMED)
        .map(|p| format!("pid {} {}", p.pid, p.comm))
        .collect();
    let more = socket.processes.len().saturating_sub(OWNERS_NAMED);
    if more > 0 {
        named.push(format!("{more} more"));
    }
    named.join(", ")
}

/// What to stop so that the live `sockets` go: one line per set of holders
/// (the same processes holding a v4 and a v6 listener are one line), and
/// one for the sockets whose owner is not visible.
fn stop_advice(sockets: &[&Socket]) -> Vec<String> {
    let mut groups: Vec<(Vec<u32>, Vec<&Socket>)> = Vec::new();
    let mut unseen = Vec::new();
    for socket in sockets.iter().copied().filter(|s| !s.is_time_wait_like()) {
        if socket.processes.is_empty() {
            unseen.push(socket);
            continue;
        }
        let pids: Vec<u32> = socket.processes.iter().map(|p| p.pid).collect();
        match groups.iter_mut().find(|(group, _)| *group == pids) {
            Some((_, held)) => held.push(socket),
            None => groups.push((pids, vec![socket])),
        }
    }
    let mut advice: Vec<String> = groups
        .iter()
        .map(|(_, held)| stop_holders(&held[0].processes, &held_text(held)))
        .collect();
    if !unseen.is_empty() {
        advice.push(format!(
            "Find and stop the process holding {}: run as root to see owners.",
            unseen
                .iter()
                .map(|s| format!("{} (inode {})", s.local, s.inode))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    advice
}

/// "LISTEN 0.0.0.0:80 and LISTEN [::]:80".
fn held_text(held: &[&Socket]) -> String {
    let mut text: Vec<String> = held
        .iter()
        .take(OWNERS_NAMED)
        .map(|s| format!("{} {}", s.state, s.local))
        .collect();
    let more = held.len().saturating_sub(OWNERS_NAMED);
    if more > 0 {
        text.push(format!("{more} more sockets"));
    }
    match text.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => text.join(""),
    }
}

/// The advice for one set of processes that share the same sockets. With
/// several (a pre-fork server: a parent and its workers), stopping one
/// leaves the port held, so the advice names what ends them all: their
/// systemd service, or their common parent and its process group.
fn stop_holders(processes: &[Process], held: &str) -> String {
    // user@UID.service is a user's whole session manager, not a server.
    let unit = processes
        .first()
        .and_then(|p| p.unit.clone())
        .filter(|unit| !unit.starts_with("user@"))
        .filter(|unit| processes.iter().all(|p| p.unit.as_ref() == Some(unit)));
    // systemd may start a killed service's process again.
    let for_good = |unit: &str| {
        format!(
            " It runs in the service {unit}: `systemctl stop {unit}` stops it for good (systemd \
             may restart a killed one)."
        )
    };
    let [only] = processes else {
        let count = processes.len();
        let pids = pid_list(processes);
        let shared = format!(
            "{count} processes ({pids}) share {held}, so stopping one of them leaves the port held"
        );
        let Some(parent) = common_parent(processes) else {
            return match unit {
                Some(unit) => {
                    format!("Stop the service {unit} (`systemctl stop {unit}`): {shared}.")
                }
                None => format!("Stop all of them: {shared}."),
            };
        };
        let group_leader =
            parent.pgid == Some(parent.pid) && processes.iter().all(|p| p.pgid == parent.pgid);
        let how = if group_leader {
            format!(
                "`kill -- -{}` signals its whole process group (the parent and its workers)",
                parent.pid
            )
        } else {
            "a server's parent usually ends its workers; check that none is left".to_string()
        };
        return format!(
            "Stop pid {} {}, the parent of the others: {shared}; {how}.{}",
            parent.pid,
            parent.comm,
            unit.as_deref().map(for_good).unwrap_or_default()
        );
    };
    format!(
        "Stop pid {} {}, which holds {held}.{}",
        only.pid,
        only.comm,
        unit.as_deref().map(for_good).unwrap_or_default()
    )
}

/// The one holder every other holder descends from directly (the pre-fork
/// server's parent), if the holders form such a family.
fn common_parent(processes: &[Process]) -> Option<&Process> {
    let is_holder =
        |pid: Option<u32>| pid.is_some_and(|pid| processes.iter().any(|p| p.pid == pid));
    let mut roots = processes.iter().filter(|p| !is_holder(p.ppid));
    let root = roots.next()?;
    if roots.next().is_some() {
        return None;
    }
    processes
        .iter()
        .all(|p| p.pid == root.pid || p.ppid == Some(root.pid))
        .then_some(root)
}

/// "pids 100, 101, 102 and 7 more".
fn pid_list(processes: &[Process]) -> String {
    const LISTED: usize = 8;
    let mut pids: Vec<String> = processes
        .iter()
        .take(LISTED)
        .map(|p| p.pid.to_string())
        .collect();
    let more = processes.len().saturating_sub(LISTED);
    if more > 0 {
        pids.push(format!("{more} more"));
    }
    format!("pids {}", pids.join(", "))
}

fn explain_refused(
    f: &Findings,
    target: &str,
    errno: Errno,
    text: &mut Vec<String>,
    advice: &mut Vec<String>,
) {
    let port = f.bind.port;
    match f.refusal.as_ref().filter(|refusal| refusal.errno == errno) {
        Some(refusal) => text.push(refusal.why.clone()),
        None => text.push(format!(
            "bind() to {target} fails with {errno}{}",
            match errno {
                Errno::EADDRNOTAVAIL => format!(
                    ": {} is not an address of this host (namespace); the port plays no part.",
                    f.bind.addr
                ),
                Errno::EACCES =>
                    ": permission denied (a privileged port, or a security policy).".to_string(),
                Errno::ENODEV => ": the device does not exist.".to_string(),
                _ => ", before the port's sockets play any part.".to_string(),
            }
        )),
    }
    if errno == Errno::EACCES {
        advice.push(format!(
            "Give the server CAP_NET_BIND_SERVICE (`setcap cap_net_bind_service=+ep \
             /path/to/server`, or AmbientCapabilities=CAP_NET_BIND_SERVICE in its systemd \
             unit), or use {}.",
            match f.ctx.unprivileged_port_start {
                Some(start) => format!("a port of {start} or above"),
                None => "an unprivileged port".to_string(),
            }
        ));
    }
    if !f.blockers.is_empty() {
        text.push(format!(
            "Past that, {} on port {port} would also block it.",
            count_noun(f.blockers.len(), "socket", "sockets")
        ));
    }
}

fn kernel_notes(f: &Findings, text: &mut Vec<String>) {
    let k = f.kernel;
    let time_wait_blocks = f.blocked && f.blockers.iter().any(|b| b.reason == Reason::TimeWait);
    if time_wait_blocks {
        if let Some(reuse) = k.tcp_tw_reuse {
            text.push(format!(
                "net.ipv4.tcp_tw_reuse (now {reuse}) does not help: it affects only outgoing \
                 connect(), never bind()."
            ));
        }
        if let Some(timeout) = k.tcp_fin_timeout {
            text.push(format!(
                "Lowering net.ipv4.tcp_fin_timeout (now {timeout} s) does not shorten TIME_WAIT \
                 (fixed at 60 s); it only limits orphaned FIN_WAIT2."
            ));
        }
    }
    if let (Some(count), Some(max)) = (k.time_wait_count, k.tcp_max_tw_buckets) {
        // Near the limit, closing sockets skip TIME_WAIT: worth knowing.
        if count.saturating_mul(10) >= max.saturating_mul(9) {
            text.push(format!(
                "The namespace holds {count} TIME_WAIT sockets of at most {max} \
                 (net.ipv4.tcp_max_tw_buckets); past it, closing sockets skip TIME_WAIT."
            ));
        }
    }
    if let Some((low, high)) = k.ip_local_port_range {
        if f.blocked && (low..=high).contains(&f.bind.port) {
            text.push(format!(
                "Port {} lies in the ephemeral range {low}-{high} \
                 (net.ipv4.ip_local_port_range): outgoing connections can take it too.",
                f.bind.port
            ));
        }
    }
    let ipv4_blocks_dual_stack = f.blocked
        && f.bind.addr == IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
        && !f.bind.v6only
        && f.blockers
            .iter()
            .any(|b| b.socket.local.ip().to_canonical().is_ipv4());
    if ipv4_blocks_dual_stack {
        text.push(format!(
            "This [::] bind has IPV6_V6ONLY off ({}), so it needs the IPv4 port too; with \
             IPV6_V6ONLY on it would leave IPv4 sockets alone.",
            match k.bindv6only {
                Some(flag) => format!("net.ipv6.bindv6only={}", u8::from(flag)),
                None => "the default".to_string(),
            }
        ));
    }
}

/// The `tw-inspect --wait` command for the same bind.
pub fn wait_command(bind: &IntendedBind) -> String {
    bind_command(bind, "--wait")
}

/// `tw-inspect` with the flags that describe `bind`, then `action`.
fn bind_command(bind: &IntendedBind, action: &str) -> String {
    let mut command = format!("tw-inspect --port {}", bind.port);
    if !(bind.addr.is_ipv4() && bind.addr.is_unspecified()) {
        let _ = write!(command, " --addr {}", bind.addr);
    }
    if bind.reuseaddr {
        command.push_str(" --reuseaddr");
    }
    if bind.reuseport {
        command.push_str(" --reuseport");
    }
    if bind.addr.is_ipv6() && bind.v6only {
        command.push_str(" --v6only");
    }
    if let Some(device) = &bind.device {
        let _ = write!(command, " --dev {}", shell_word(device));
    }
    if let Some(uid) = bind.uid {
        let _ = write!(command, " --uid {uid}");
    }
    command.push(' ');
    command.push_str(action);
    command
}

/// `word` quoted for a POSIX shell when it needs it.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@:%+".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

fn succeeded(probes: &[Probe], kind: ProbeKind) -> Option<&Probe> {
    probes.iter().find(|p| p.kind == kind && p.ok)
}

/// "Stop pid 1" → "stop pid 1", to continue a sentence.
fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn addr_port(addr: IpAddr, port: u16) -> String {
    SocketAddr::new(addr, port).to_string()
}

fn count_noun(count: usize, one: &str, many: &str) -> String {
    if count == 1 {
        format!("1 {one}")
    } else {
        format!("{count} {many}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{bind, context, listener, owned_by, socket};

    fn holder(pid: u32, ppid: u32, unit: Option<&str>) -> Process {
        Process {
            pid,
            comm: "web".to_string(),
            ppid: Some(ppid),
            pgid: Some(1),
            unit: unit.map(str::to_string),
            ..Process::default()
        }
    }

    #[test]
    fn a_fin_wait2_time_wait_is_called_so() {
        let fin_wait2 = socket(TcpState::FinWait2, "127.0.0.1:9527", "127.0.0.1:40000");
        let why = rules::assess(&bind("0.0.0.0:9527"), &fin_wait2, &context()).why;
        assert!(why.starts_with("This FIN_WAIT2 time-wait socket "), "{why}");
        let time_wait = socket(TcpState::TimeWait, "127.0.0.1:9527", "127.0.0.1:40000");
        let why = rules::assess(&bind("0.0.0.0:9527"), &time_wait, &context()).why;
        assert!(why.starts_with("This TIME_WAIT "), "{why}");
    }

    #[test]
    fn captured_tables_get_no_advice_that_acts_on_this_host() {
        let blocker = crate::diagnosis::diagnose(
            &[socket(
                TcpState::TimeWait,
                "127.0.0.1:9527",
                "127.0.0.1:40000",
            )],
            &bind("0.0.0.0:9527"),
            &RuleContext {
                captured: true,
                ..context()
            },
            &KernelContext::default(),
            &[],
        );
        assert!(blocker.blocked);
        for advice in &blocker.advice {
            assert!(
                !advice.contains("--wait") && !advice.contains("--free"),
                "{advice}"
            );
        }
        assert!(
            blocker
                .advice
                .iter()
                .any(|a| a.contains("after they were captured")),
            "{:?}",
            blocker.advice
        );
        assert!(blocker
            .explanation
            .contains("counted from when the files were captured"));
    }

    #[test]
    fn many_live_blockers_make_one_sentence_and_one_advice() {
        let mut sockets = vec![owned_by(listener("0.0.0.0:8080"), 7, "nginx")];
        for peer in 0..500 {
            sockets.push(owned_by(
                socket(
                    TcpState::Established,
                    "10.0.0.1:8080",
                    &format!("10.0.0.2:{}", 1000 + peer),
                ),
                7,
                "nginx",
            ));
        }
        let verdict = crate::diagnosis::diagnose(
            &sockets,
            &bind("0.0.0.0:8080"),
            &context(),
            &KernelContext::default(),
            &[],
        );
        assert_eq!(verdict.blockers.len(), 501);
        assert!(
            verdict.explanation.contains(
                "501 live sockets on port 8080 block it (ESTABLISHED 500, LISTEN 1), held by pid 7 nginx"
            ),
            "{}",
            verdict.explanation
        );
        assert!(verdict.explanation.len() < 2000, "{}", verdict.explanation);
        let stops: Vec<&String> = verdict
            .advice
            .iter()
            .filter(|a| a.contains("Stop pid"))
            .collect();
        assert_eq!(stops.len(), 1, "{stops:?}");
        assert!(stops[0].contains("and 497 more sockets"), "{stops:?}");
    }

    #[test]
    fn one_line_for_one_holder_of_several_sockets() {
        let v4 = owned_by(listener("0.0.0.0:80"), 7, "nginx");
        let v6 = owned_by(listener("[::]:80"), 7, "nginx");
        let advice = stop_advice(&[&v4, &v6]);
        assert_eq!(
            advice,
            ["Stop pid 7 nginx, which holds LISTEN 0.0.0.0:80 and LISTEN [::]:80."]
        );
    }

    #[test]
    fn shared_sockets_name_what_ends_them_all() {
        let mut socket = listener("0.0.0.0:80");
        socket.processes = vec![
            holder(10, 1, Some("web.service")),
            holder(11, 10, Some("web.service")),
        ];
        let advice = stop_advice(&[&socket]);
        assert!(
            advice[0].starts_with("Stop pid 10 web, the parent of the others")
                && advice[0].contains("`systemctl stop web.service` stops it for good"),
            "{advice:?}"
        );
        // Unrelated processes of one service: the service.
        socket.processes = vec![
            holder(10, 1, Some("web.service")),
            holder(20, 1, Some("web.service")),
        ];
        let advice = stop_advice(&[&socket]);
        assert!(
            advice[0].starts_with("Stop the service web.service (`systemctl stop web.service`)"),
            "{advice:?}"
        );
        let single = stop_advice(&[&owned_by(listener("0.0.0.0:81"), 10, "web")]);
        assert_eq!(single, ["Stop pid 10 web, which holds LISTEN 0.0.0.0:81."]);
        let mut served = listener("0.0.0.0:82");
        served.processes = vec![holder(10, 1, Some("web.service"))];
        assert_eq!(
            stop_advice(&[&served]),
            ["Stop pid 10 web, which holds LISTEN 0.0.0.0:82. It runs in the service web.service: \
              `systemctl stop web.service` stops it for good (systemd may restart a killed one)."]
        );
        // A user's session manager is no server to stop: the parent is named.
        socket.processes = vec![
            holder(10, 1, Some("user@1000.service")),
            holder(11, 10, Some("user@1000.service")),
        ];
        let advice = stop_advice(&[&socket]);
        assert!(
            advice[0].starts_with("Stop pid 10 web, the parent"),
            "{advice:?}"
        );
        // Not the group leader: no `kill -- -PGID` that could hit others.
        assert!(!advice[0].contains("kill --"), "{advice:?}");
        // Unrelated holders: each must go.
        socket.processes = vec![holder(10, 1, None), holder(20, 2, None)];
        let advice = stop_advice(&[&socket]);
        assert!(
            advice[0].starts_with("Stop all of them: 2 processes"),
            "{advice:?}"
        );
    }
}
