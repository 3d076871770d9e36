//! `--wait`: wait until the intended bind succeeds. The port is watched, not
//! the clock: the kernel's TIME_WAIT timer fires late and can be re-armed,
//! so only a successful probe bind ends the wait.

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use super::{exit_code, Face};
use crate::diagnosis::{Outlook, Reason, Verdict};
use crate::duration::seconds_text;
use crate::error::{Failure, EXIT_BLOCKED, EXIT_FREE};
use crate::output::human::bind_text;
use crate::session::BindSpec;

/// A full read of the table (for the countdown and to spot a live holder).
const READ_EVERY: Duration = Duration::from_secs(1);
/// A probe of the intended bind: exit within this long of the port freeing.
const PROBE_EVERY: Duration = Duration::from_millis(200);

pub(super) fn run(face: &Face, spec: &BindSpec) -> Result<i32, Failure> {
    let started = Instant::now();
    let deadline = face.args.timeout.map(|timeout| started + timeout);
    let mut status = StatusLine::new(io::stderr().is_terminal());
    loop {
        let check = face.check(spec)?;
        let verdict = &check.verdict;
        let stop = match verdict.outlook() {
            Outlook::Free => Some(EXIT_FREE),
            Outlook::Refused => Some(EXIT_BLOCKED),
            // A deploy script that gives a graceful shutdown time says so with
            // --timeout; without one, a live holder is an answer of its own.
            Outlook::HeldByProcess if deadline.is_none() => Some(EXIT_BLOCKED),
            Outlook::HeldByProcess | Outlook::FreesByItself { .. } => None,
        };
        if let Some(code) = stop {
            status.finish(verdict, started);
            face.print_report(&check)?;
            return Ok(code);
        }
        status.start(verdict);
        while check.read_at.elapsed() < READ_EVERY {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                status.give_up(verdict, started);
                face.print_report(&check)?;
                return Ok(exit_code(&check));
            }
            status.show(verdict, check.read_at, started);
            std::thread::sleep(PROBE_EVERY);
            if face.session.probe_bind(&verdict.bind)? {
                break; // confirmed by the full read at the top of the loop
            }
        }
    }
}

/// What the wait tells a person: a live countdown on a terminal; in a pipe
/// or a log, one line when the wait starts and one when it ends.
struct StatusLine {
    live: bool,
    shown: bool,
    started_waiting: bool,
}

impl StatusLine {
    fn new(live: bool) -> StatusLine {
        StatusLine {
            live,
            shown: false,
            started_waiting: false,
        }
    }

    /// The first time the port is found blocked: say what is awaited.
    fn start(&mut self, verdict: &Verdict) {
        if self.started_waiting {
            return;
        }
        self.started_waiting = true;
        if !self.live {
            say!("tw-inspect: waiting for {}", waiting_for(verdict, 0));
        }
    }

    fn show(&mut self, verdict: &Verdict, read_at: Instant, started: Instant) {
        if !self.live {
            return;
        }
        let elapsed = read_at.elapsed().as_millis() as u64;
        let mut err = io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2Kwaiting for {} (waited {})",
            waiting_for(verdict, elapsed),
            seconds_text(started.elapsed().as_millis() as u64)
        );
        let _ = err.flush();
        self.shown = true;
    }

    /// The wait ended with an answer.
    fn finish(&mut self, verdict: &Verdict, started: Instant) {
        self.clear();
        let waited = seconds_text(started.elapsed().as_millis() as u64);
        match verdict.outlook() {
            Outlook::Free if self.started_waiting => {
                say!("tw-inspect: {} is free after {waited}", bind_text(&verdict.bind))
            }
            Outlook::Free => {}
            Outlook::Refused => say!(
                "tw-inspect: not waiting: bind() is refused ({}), which no socket closing will change",
                verdict.refused.map_or("?", |errno| errno.name())
            ),
            _ => say!(
                "tw-inspect: not waiting: the port will not free by itself: a live process holds it (give --timeout to wait for it to stop)"
            ),
        }
    }

    fn give_up(&mut self, verdict: &Verdict, started: Instant) {
        self.clear();
        say!(
            "tw-inspect: gave up after {}: {} is still blocked",
            seconds_text(started.elapsed().as_millis() as u64),
            bind_text(&verdict.bind)
        );
    }

    fn clear(&mut self) {
        if self.shown {
            let _ = write!(io::stderr(), "\r\x1b[2K");
            self.shown = false;
        }
    }
}

/// "0.0.0.0:8080: 3 TIME_WAIT, free in ~41.2s", counted down by `elapsed`.
fn waiting_for(verdict: &Verdict, elapsed: u64) -> String {
    let time_waits = verdict
        .blockers
        .iter()
        .filter(|b| b.reason == Reason::TimeWait)
        .count();
    let live = verdict.blockers.len() - time_waits;
    let remaining = match verdict.outlook() {
        Outlook::FreesByItself { in_ms: Some(ms) } => {
            format!("free in ~{}", seconds_text(ms.saturating_sub(elapsed)))
        }
        Outlook::HeldByProcess => "until the holder closes it".to_string(),
        _ => "no estimate".to_string(),
    };
    let mut what = format!("{}: {time_waits} TIME_WAIT", bind_text(&verdict.bind));
    if live > 0 {
        what.push_str(&format!(", {live} held by a process"));
    }
    format!("{what}, {remaining}")
}
