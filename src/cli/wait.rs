//! `--wait`: wait until the intended bind succeeds. The port is watched, not
//! the clock: the kernel's TIME_WAIT timer fires late and can be re-armed,
//! so only a successful probe bind ends the wait.

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use super::{Failure, Plan, EXIT_BLOCKED, EXIT_FREE};
use crate::diagnosis::probe::probe;
use crate::diagnosis::{Conflict, Reason, Verdict};
use crate::output::human::{bind_text, seconds};

/// A full read of the table (for the countdown and to spot a live holder).
const READ_EVERY: Duration = Duration::from_secs(1);
/// A probe of the intended bind: exit within this long of the port freeing.
const PROBE_EVERY: Duration = Duration::from_millis(200);

pub(super) fn run(plan: &Plan, port: u16) -> Result<i32, Failure> {
    let started = Instant::now();
    let deadline = plan.args.timeout.map(|timeout| started + timeout);
    let mut status = StatusLine::new(io::stderr().is_terminal());
    let kernel = plan.kernel_context();
    let bind = plan.intended_bind(port, &kernel);
    loop {
        let table = plan.read_port(port)?;
        let verdict = plan.diagnose(&table, &bind, &kernel)?;
        let read_at = Instant::now();
        if !verdict.blocked {
            status.clear();
            plan.print_report(&table, &verdict)?;
            return Ok(EXIT_FREE);
        }
        if will_not_free_by_itself(&verdict) {
            status.clear();
            eprintln!("tw-inspect: not waiting: the port will not free by itself");
            plan.print_report(&table, &verdict)?;
            return Ok(EXIT_BLOCKED);
        }
        while read_at.elapsed() < READ_EVERY {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                status.clear();
                eprintln!(
                    "tw-inspect: gave up after {}: {} is still blocked",
                    seconds(started.elapsed().as_millis() as u64),
                    bind_text(&bind)
                );
                plan.print_report(&table, &verdict)?;
                return Ok(EXIT_BLOCKED);
            }
            status.show(&verdict, read_at, started);
            std::thread::sleep(PROBE_EVERY);
            if probe(&bind, "intended bind").ok {
                break; // confirmed by the full read at the top of the loop
            }
        }
    }
}

/// A live process holds the port (LISTEN, a connection, a bound socket), or
/// the bind fails for a reason no timer will change (EACCES, EADDRNOTAVAIL).
fn will_not_free_by_itself(verdict: &Verdict) -> bool {
    let live_holder = verdict
        .blockers
        .iter()
        .any(|b| b.reason != Reason::TimeWait && b.conflict == Conflict::Yes);
    let other_refusal = verdict
        .probes
        .iter()
        .any(|p| p.bind == verdict.bind && p.errno.as_deref().is_some_and(|e| e != "EADDRINUSE"));
    live_holder || other_refusal
}

/// The live countdown on stderr, only on a terminal.
struct StatusLine {
    live: bool,
    shown: bool,
}

impl StatusLine {
    fn new(live: bool) -> StatusLine {
        StatusLine { live, shown: false }
    }

    fn show(&mut self, verdict: &Verdict, read_at: Instant, started: Instant) {
        if !self.live {
            return;
        }
        let time_waits = verdict
            .blockers
            .iter()
            .filter(|b| b.reason == Reason::TimeWait)
            .count();
        let remaining = match verdict.free_in_ms {
            Some(ms) => format!(
                "free in ~{}",
                seconds(ms.saturating_sub(read_at.elapsed().as_millis() as u64))
            ),
            None => "no estimate".to_string(),
        };
        let mut err = io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2Kwaiting for {}: {time_waits} TIME_WAIT, {remaining} (waited {})",
            bind_text(&verdict.bind),
            seconds(started.elapsed().as_millis() as u64)
        );
        let _ = err.flush();
        self.shown = true;
    }

    fn clear(&mut self) {
        if self.shown {
            let _ = write!(io::stderr(), "\r\x1b[2K");
            self.shown = false;
        }
    }
}
