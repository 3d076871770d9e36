//! `--free`: destroy exactly the TIME_WAIT (and FIN_WAIT2 time-wait) sockets
//! that block the intended bind, with SOCK_DESTROY, then probe again. Never a
//! socket that belongs to a live process.

use std::io::{self, BufRead, IsTerminal, Write};

use super::{Failure, Plan, EXIT_BLOCKED, EXIT_FREE};
use crate::diagnosis::{Blocker, Reason, Verdict};
use crate::model::{Socket, SocketTable, SourceKind};
use crate::output::human::{bind_text, endpoint, processes_text};
use crate::output::json;
use crate::source::netlink::{destroy, DestroyError};

/// What destroying a TIME_WAIT gives up; both confirmations say it.
pub(crate) const TIME_WAIT_CAUTION: &str =
    "TIME_WAIT guards against late segments of the old connection.";

/// Why a blocker is spared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spared {
    /// A LISTEN, bound or connected socket: destroying it would break the
    /// process that holds it, which must be stopped instead.
    LiveProcess,
    /// Read without a sock_diag cookie: it cannot be named exactly.
    NoCookie,
}

/// The one rule for what `--free` and the dashboard may destroy: a blocker
/// that would expire by itself (TIME_WAIT, FIN_WAIT2 time-wait), named by
/// its cookie.
pub(crate) fn destroyable(blocker: &Blocker) -> Result<&Socket, Spared> {
    if blocker.reason != Reason::TimeWait {
        return Err(Spared::LiveProcess);
    }
    if blocker.socket.cookie.is_none() {
        return Err(Spared::NoCookie);
    }
    Ok(&blocker.socket)
}

pub(super) fn run(plan: &Plan, port: u16) -> Result<i32, Failure> {
    let kernel = plan.kernel_context();
    let bind = plan.intended_bind(port, &kernel);
    let table = plan.read_port(port)?;
    if table.source != SourceKind::Netlink {
        return Err(Failure::Refused(
            "--free needs the sock_diag source (a socket is destroyed by its cookie, which /proc does not show)".into(),
        ));
    }
    let verdict = plan.diagnose(&table, &bind, &kernel)?;
    if !verdict.blocked {
        return finish(plan, &table, &verdict, &[]);
    }
    let mut targets = Vec::new();
    let mut live = Vec::new();
    let mut without_cookie = false;
    for blocker in &verdict.blockers {
        match destroyable(blocker) {
            Ok(socket) => targets.push(socket.clone()),
            Err(Spared::LiveProcess) => live.push(&blocker.socket),
            Err(Spared::NoCookie) => without_cookie = true,
        }
    }
    if !live.is_empty() {
        for socket in &live {
            say!(
                "tw-inspect: not destroying anything: {} {} is held by a live process ({}); stop it first",
                socket.state,
                endpoint(&socket.local),
                processes_text(socket)
            );
        }
        plan.print_report(&table, &verdict)?;
        return Ok(EXIT_BLOCKED);
    }
    if without_cookie {
        return Err(Failure::Refused(DestroyError::NoCookie.to_string()));
    }
    if plan.args.dry_run {
        describe(&targets, "would destroy", &bind_text(&bind));
        plan.print_report(&table, &verdict)?;
        return Ok(EXIT_BLOCKED);
    }
    if !plan.args.yes {
        confirm(&targets, &bind_text(&bind))?;
    }
    let mut destroyed = Vec::new();
    for socket in targets {
        match destroy(&socket) {
            Ok(()) => destroyed.push(socket),
            // Expired between the read and now: the goal is reached all the same.
            Err(DestroyError::NotFound) => {}
            Err(error) => return Err(Failure::Refused(error.to_string())),
        }
    }
    let after = plan.read_port(port)?;
    let verdict_after = plan.diagnose(&after, &bind, &kernel)?;
    finish(plan, &after, &verdict_after, &destroyed)
}

fn describe(targets: &[Socket], verb: &str, bind: &str) {
    say!(
        "tw-inspect: {verb} {} socket(s) blocking {bind}:",
        targets.len()
    );
    for socket in targets {
        say!(
            "  {} {} -> {}",
            socket.state,
            endpoint(&socket.local),
            endpoint(&socket.remote)
        );
    }
}

/// Asks on the terminal; refuses when there is none to ask on.
fn confirm(targets: &[Socket], bind: &str) -> Result<(), Failure> {
    if !(io::stdin().is_terminal() && io::stderr().is_terminal()) {
        return Err(Failure::Refused(
            "refusing to destroy sockets without confirmation: not on a terminal (pass --yes, or --dry-run to look first)".into(),
        ));
    }
    describe(targets, "about to destroy", bind);
    let _ = write!(io::stderr(), "Destroy them? {TIME_WAIT_CAUTION} [y/N] ");
    let _ = io::stderr().flush();
    let mut answer = String::new();
    io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES") {
        Ok(())
    } else {
        Err(Failure::Refused("nothing destroyed".into()))
    }
}

fn finish(
    plan: &Plan,
    table: &SocketTable,
    verdict: &Verdict,
    destroyed: &[Socket],
) -> Result<i32, Failure> {
    if plan.args.json {
        super::reader_gone_is_fine((|| {
            let mut out = io::BufWriter::with_capacity(super::STDOUT_BUFFER, io::stdout().lock());
            json::write_with_destroyed(&mut out, table, verdict, destroyed, plan.json_pretty())?;
            out.flush()?;
            Ok(())
        })())?;
    } else {
        if !destroyed.is_empty() {
            describe(destroyed, "destroyed", &bind_text(&verdict.bind));
        }
        plan.print_report(table, verdict)?;
    }
    Ok(if verdict.blocked {
        EXIT_BLOCKED
    } else {
        EXIT_FREE
    })
}
