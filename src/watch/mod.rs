//! The `--watch` face: every bind() that fails with EADDRINUSE, as it
//! happens, diagnosed at once in the failing process's namespace with the
//! options read from its socket.
//!
//! Thin by design: the events come decoded from [`crate::source::bpf`], the
//! report from [`Session::judge_failure`] (the verdict in the event's
//! namespace), and the lines from [`crate::output::event`] /
//! [`crate::output::json::write_event`]. This module only joins them: it
//! remembers closes in a [`CloseLog`] to name who left each TIME_WAIT, and
//! decides when to stop
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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::args::Args;
use crate::error::{Error, Failure, EXIT_FREE};
use crate::output::event::write_event_line;
use crate::output::json::write_event;
use crate::session::{BatchVerdicts, Session};
use crate::source::bpf::{monotonic_now_ns, CloseLog, WatchEvent, WatchScope, Watcher};

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
                        let report = session.judge_failure(&failed, &close_log, &mut verdicts);
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
