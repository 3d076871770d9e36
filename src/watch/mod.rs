//! The `--watch` face: every bind() that fails with EADDRINUSE, as it
//! happens, diagnosed at once in the failing process's namespace with the
//! options read from its socket.
//!
//! Thin by design: the events come decoded from [`crate::source::bpf`], the
//! verdict from [`Session::check_port`] in that namespace, and the lines
//! from [`crate::output::event`] / [`crate::output::json::write_event`].
//! This module only joins them: it builds the [`BindSpec`] from the event,
//! finds the event's namespace ([`namespace_session`]), remembers closes in
//! a [`CloseLog`] to name who left each TIME_WAIT, and decides when to stop
//! (Ctrl-C/SIGTERM, `--count`, `--timeout`). It exits 0 when it stopped
//! as asked (with or without events), 2 when the watcher cannot run.
//!
//! The watcher's own binds (the verdict's probes, which fail with
//! EADDRINUSE by design) are not reported.
//!
//! stderr carries the `watching …` line once the programs are attached
//! (scripts and tests wait for it), a warning each time the lost-event
//! count grows, and a final `N failed binds, M lost` summary.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::args::Args;
use crate::diagnosis::{IntendedBind, Reason, Verdict};
use crate::error::{Error, Failure, EXIT_FREE};
use crate::model::{self, NamespaceId};
use crate::output::device_name;
use crate::output::event::{write_event_line, FailureReport, LeftBy};
use crate::output::json::write_event;
use crate::session::{BindOptions, BindSpec, Session};
use crate::source::bpf::{
    monotonic_now_ns, monotonic_to_system_time, BindFailed, CloseLog, Protocol, WatchEvent,
    WatchScope, Watcher,
};
use crate::source::cgroup::read_workload;
use crate::source::netns::{all_namespaces, Netns, NetnsSpec};

/// How long one poll waits: the longest a stop request goes unnoticed when
/// no signal interrupts the wait.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Closes remembered for `left_by` (each ~100 bytes; older ones go first).
const CLOSE_LOG_CAPACITY: usize = 65_536;

/// Runs the face until stopped; see the module docs for exit codes.
pub fn run(args: &Args, session: &Session) -> Result<i32, Failure> {
    let scope = scope(args, session)?;
    let mut watcher = Watcher::start(scope)
        .map_err(|why| Failure::Refused(format!("--watch cannot run: {why}")))?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .map_err(|e| Failure::Input(Error::io("signal handler", e)))?;
    }
    say!("tw-inspect: watching {}", scope_text(&scope, session));

    let deadline = args.timeout.map(|timeout| Instant::now() + timeout);
    let mut close_log = CloseLog::new(CLOSE_LOG_CAPACITY);
    let (mut reported, mut lost_seen) = (0u64, 0u64);
    let stdout = io::stdout();
    let result = (|| -> Result<(), Failure> {
        while !stop.load(Ordering::Relaxed) && args.count.is_none_or(|n| reported < n) {
            let wait = match deadline {
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left.min(POLL_INTERVAL),
                    _ => break,
                },
                None => POLL_INTERVAL,
            };
            let events = watcher.poll(wait);
            close_log.prune(monotonic_now_ns());
            let mut verdicts = BatchVerdicts::default();
            for event in events {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                match event {
                    WatchEvent::Closed(closed) => close_log.record(closed),
                    // (Our own probe binds, which fail too, are left out in
                    // the kernel: see source::bpf.)
                    WatchEvent::BindFailed(failed) => {
                        if args.count.is_some_and(|n| reported >= n) {
                            continue;
                        }
                        let report = report(&failed, session, &close_log, &mut verdicts);
                        let mut out = stdout.lock();
                        if args.json {
                            write_event(&mut out, &report)?;
                        } else {
                            write_event_line(&mut out, &report)?;
                        }
                        out.flush()?;
                        reported += 1;
                    }
                }
            }
            let lost = watcher.lost();
            if lost > lost_seen {
                say!("tw-inspect: warning: {lost} events lost so far (the ring buffer was full)");
                lost_seen = lost;
            }
        }
        Ok(())
    })();
    // Detach before the summary: the programs cost every syscall on the host.
    let lost = watcher.lost();
    drop(watcher);
    say!("tw-inspect: {reported} failed binds, {lost} lost");
    result.map(|()| EXIT_FREE)
}

/// The namespace(s) and port the flags ask for: `--all-netns` the host,
/// otherwise the session's namespace (`--netns`, else the caller's own).
fn scope(args: &Args, session: &Session) -> Result<WatchScope, Failure> {
    let scope = if args.all_netns {
        WatchScope::all_namespaces()
    } else {
        let inode = session
            .namespace()
            .and_then(|id| u32::try_from(id.inode).ok())
            .ok_or_else(|| Failure::Refused("--watch: cannot name the namespace".into()))?;
        WatchScope {
            netns_inode: Some(inode),
            ..WatchScope::default()
        }
    };
    // The verdicts' own probe binds fail too: never report them.
    let scope = scope.ignoring_self();
    Ok(match args.port {
        Some(port) => scope.with_port(port),
        None => scope,
    })
}

fn scope_text(scope: &WatchScope, session: &Session) -> String {
    let place = match (scope.netns_inode, session.namespace()) {
        (None, _) => "every network namespace".to_string(),
        (Some(_), Some(id)) => crate::output::human::namespace_text(&id),
        (Some(inode), None) => format!("net:[{inode}]"),
    };
    match scope.port {
        Some(port) => format!("for failed binds on port {port} in {place}"),
        None => format!("for failed binds in {place}"),
    }
}

/// Verdicts already judged in the current batch of events, by namespace
/// and bind: a process retrying a failed bind in a loop sends many identical
/// events, and judging each again would only make the watcher fall behind
/// (and the ring buffer overflow). Cleared after each batch, so a verdict is
/// never older than one poll.
#[derive(Default)]
struct BatchVerdicts(Vec<((u32, BindSpec), Judged)>);

/// The namespace an event was judged in, and the verdict (or why none).
type Judged = (NamespaceId, Result<Verdict, String>);

impl BatchVerdicts {
    fn judge(&mut self, failed: &BindFailed, spec: &BindSpec, session: &Session) -> Judged {
        let key = (failed.netns_inode, spec.clone());
        if let Some((_, answer)) = self.0.iter().find(|(seen, _)| *seen == key) {
            return answer.clone();
        }
        let answer = judge(failed, spec, session);
        self.0.push((key, answer.clone()));
        answer
    }
}

/// The verdict on `spec` in the event's namespace, and that namespace's name.
fn judge(failed: &BindFailed, spec: &BindSpec, session: &Session) -> Judged {
    let unnamed = NamespaceId {
        inode: u64::from(failed.netns_inode),
        name: None,
    };
    match namespace_session(session, failed.netns_inode, failed.task.tgid) {
        Ok(session) => {
            let verdict = session
                .check_port(spec)
                .map(|check| check.verdict)
                .map_err(|e| e.to_string());
            (session.namespace().unwrap_or(unnamed), verdict)
        }
        Err(why) => (unnamed, Err(why)),
    }
}

/// Everything about one failed bind, its verdict judged now.
fn report(
    failed: &BindFailed,
    session: &Session,
    close_log: &CloseLog,
    verdicts: &mut BatchVerdicts,
) -> FailureReport {
    let spec = bind_spec(failed);
    let pid = failed.task.tgid;
    let (netns, verdict) = verdicts.judge(failed, &spec, session);
    let left_by = match &verdict {
        Ok(verdict) => verdict
            .blockers
            .iter()
            .map(|blocker| {
                let socket = &blocker.socket;
                if blocker.reason != Reason::TimeWait {
                    return None;
                }
                left_by(close_log, failed.netns_inode, socket.local, socket.remote)
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    FailureReport {
        time: monotonic_to_system_time(failed.at_monotonic_ns),
        pid,
        comm: failed.task.comm.clone(),
        uid: failed.task.uid,
        cmdline: cmdline(pid),
        netns,
        workload: read_workload(pid).unwrap_or_default(),
        bind: event_bind(failed),
        verdict,
        left_by,
    }
}

fn left_by(
    close_log: &CloseLog,
    netns_inode: u32,
    local: SocketAddr,
    remote: SocketAddr,
) -> Option<LeftBy> {
    let closed = close_log.left_by(netns_inode, local, remote)?;
    Some(LeftBy {
        pid: closed.task.tgid,
        comm: closed.task.comm.clone(),
        at: monotonic_to_system_time(closed.at_monotonic_ns),
    })
}

/// The bind as the process made it, in the user's words for the session.
pub fn bind_spec(failed: &BindFailed) -> BindSpec {
    BindSpec {
        port: failed.addr.port(),
        options: BindOptions {
            protocol: protocol(failed.protocol),
            addr: Some(failed.addr.ip()),
            reuseaddr: failed.reuseaddr,
            reuseport: failed.reuseport,
            // As the socket has it: set or cleared, whatever bindv6only says.
            v6only: Some(failed.v6only),
            device: failed.bound_dev_if.and_then(device_name),
            // SO_REUSEPORT shares a port only within one uid: the process's.
            uid: Some(failed.task.uid),
        },
    }
}

/// The bind exactly as read from the socket (no kernel default applied).
fn event_bind(failed: &BindFailed) -> IntendedBind {
    let options = bind_spec(failed).options;
    IntendedBind {
        protocol: options.protocol,
        addr: failed.addr.ip(),
        port: failed.addr.port(),
        reuseaddr: options.reuseaddr,
        reuseport: options.reuseport,
        v6only: failed.addr.is_ipv6() && failed.v6only,
        device: options.device,
        uid: options.uid,
    }
}

fn protocol(protocol: Protocol) -> model::Protocol {
    match protocol {
        Protocol::Tcp => model::Protocol::Tcp,
        Protocol::Udp => model::Protocol::Udp,
    }
}

/// A session in the namespace with inode `inode`: the given session when it
/// is already there, else through the process (`/proc/PID/ns/net`, when it
/// still lives and its main thread is in that namespace), else any way in
/// the host offers (a /run/netns name, another process in it).
pub fn namespace_session(session: &Session, inode: u32, pid: u32) -> Result<Session, String> {
    let inode = u64::from(inode);
    if session.namespace().is_some_and(|id| id.inode == inode) {
        return Ok(session.clone());
    }
    if let Ok(netns) = Netns::open(&NetnsSpec::Pid(pid)) {
        if netns.inode() == inode {
            return Ok(session.clone().in_namespace(netns));
        }
    }
    let scan = all_namespaces().map_err(|e| e.to_string())?;
    let info = scan
        .namespaces
        .iter()
        .find(|info| info.inode == inode)
        .ok_or_else(|| format!("net:[{inode}]: the namespace is gone"))?;
    let netns = info.open().map_err(|e| e.to_string())?;
    Ok(session.clone().in_namespace(netns))
}

/// /proc/PID/cmdline with its NULs as spaces; empty when unreadable.
fn cmdline(pid: u32) -> String {
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(bytes) => String::from_utf8_lossy(&bytes)
            .trim_end_matches('\0')
            .replace('\0', " "),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::bpf::Task;

    fn failed(addr: &str, bound_dev_if: Option<u32>) -> BindFailed {
        BindFailed {
            task: Task {
                pid: 2,
                tgid: 1,
                uid: 0,
                comm: "server".into(),
            },
            netns_inode: 1,
            protocol: Protocol::Udp,
            addr: addr.parse().unwrap(),
            reuseaddr: true,
            reuseport: false,
            v6only: true,
            bound_dev_if,
            at_monotonic_ns: 0,
        }
    }

    #[test]
    fn the_spec_is_the_event_bind() {
        let spec = bind_spec(&failed("[::1]:7001", None));
        assert_eq!(spec.port, 7001);
        assert_eq!(spec.options.protocol, model::Protocol::Udp);
        assert_eq!(spec.options.addr, Some("::1".parse().unwrap()));
        assert!(
            spec.options.reuseaddr && !spec.options.reuseport && spec.options.v6only == Some(true)
        );
        assert_eq!(spec.options.device, None);
        // The loopback device is index 1 in every namespace.
        let on_lo = bind_spec(&failed("127.0.0.1:7001", Some(1)));
        assert_eq!(on_lo.options.device.as_deref(), Some("lo"));
    }

    #[test]
    fn v6only_means_nothing_on_ipv4() {
        assert!(!event_bind(&failed("127.0.0.1:7001", None)).v6only);
        assert!(event_bind(&failed("[::1]:7001", None)).v6only);
    }
}
