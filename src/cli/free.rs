//! `--free`: destroy exactly the TIME_WAIT (and FIN_WAIT2 time-wait) sockets
//! that block the intended bind, with SOCK_DESTROY, then check again. What
//! may be destroyed is the diagnosis's rule ([`plan_free`]); this face only
//! asks, destroys through the session and reports.

use std::io::{self, BufRead, IsTerminal, Write};

use super::{exit_code, Face};
use crate::diagnosis::free::{plan_free, TIME_WAIT_CAUTION};
use crate::error::{Failure, EXIT_BLOCKED};
use crate::model::{Protocol, Socket, SourceKind};
use crate::output::human::{
    bind_text, endpoint, group_more_text, groups, processes_text, EXAMPLES, SUMMARY_ABOVE,
};
use crate::output::inert::inert;
use crate::session::BindSpec;
use crate::source::netlink::DestroyError;

pub(super) fn run(face: &Face, spec: &BindSpec) -> Result<i32, Failure> {
    if spec.options.protocol == Protocol::Udp {
        // Refused, naming the holder: there is nothing --free could do for UDP.
        let check = face.check(spec)?;
        let holders: Vec<String> = check
            .verdict
            .blockers
            .iter()
            .map(|b| processes_text(&b.socket))
            .collect();
        let holders = if holders.is_empty() {
            String::new()
        } else {
            format!("; it is held by {}: stop that process", holders.join(", "))
        };
        return Err(Failure::Refused(format!(
            "--free destroys TIME_WAITs, and UDP has none: a UDP port frees when its holder closes it{holders}"
        )));
    }
    let check = face.check(spec)?;
    if check.table.source != SourceKind::Netlink {
        return Err(Failure::Refused(
            "--free needs the sock_diag source (a socket is destroyed by its cookie, which /proc does not show)".into(),
        ));
    }
    if !check.verdict.blocked {
        face.print_report_with(&check, Some(&[]))?;
        return Ok(exit_code(&check));
    }
    let plan = plan_free(&check.verdict);
    if !plan.live.is_empty() {
        for socket in &plan.live {
            say!(
                "tw-inspect: not destroying anything: {} {} is held by a live process ({}); stop it first",
                socket.state,
                endpoint(&socket.local),
                processes_text(socket)
            );
        }
        face.print_report(&check)?;
        return Ok(EXIT_BLOCKED);
    }
    if plan.without_cookie > 0 {
        return Err(Failure::Refused(DestroyError::NoCookie.to_string()));
    }
    let bind = bind_text(&check.verdict.bind);
    if face.args.dry_run {
        describe(&plan.targets, "would destroy", &bind, face.args.verbose);
        face.print_report(&check)?;
        return Ok(EXIT_BLOCKED);
    }
    if !face.args.yes {
        confirm(&plan.targets, &bind, face.args.verbose)?;
    }
    let destroyed = face
        .session
        .destroy_all(plan.targets.iter().copied())
        .map_err(|error| Failure::Refused(error.to_string()))?;
    let after = face.check(spec)?;
    if !face.args.json && !destroyed.is_empty() {
        let destroyed: Vec<&Socket> = destroyed.iter().collect();
        describe(&destroyed, "destroyed", &bind, face.args.verbose);
    }
    face.print_report_with(&after, Some(&destroyed))?;
    Ok(exit_code(&after))
}

/// One line per socket, or (past [`SUMMARY_ABOVE`], without `--verbose`) a
/// few examples of each state and one line for the rest.
fn describe(targets: &[&Socket], verb: &str, bind: &str, verbose: bool) {
    say!(
        "tw-inspect: {verb} {} socket(s) blocking {bind}:",
        targets.len()
    );
    let line = |socket: &Socket| {
        say!(
            "  {} {} -> {}",
            socket.state,
            endpoint(&socket.local),
            endpoint(&socket.remote)
        );
    };
    if verbose || targets.len() <= SUMMARY_ABOVE {
        targets.iter().for_each(|socket| line(socket));
        return;
    }
    for group in groups(targets.iter().copied(), &|_| false) {
        group
            .sockets
            .iter()
            .take(EXAMPLES)
            .for_each(|socket| line(socket));
        if group.sockets.len() > EXAMPLES {
            say!("  ... {}", inert(&group_more_text(&group, EXAMPLES)));
        }
    }
}

/// Asks on the terminal; refuses when there is none to ask on.
fn confirm(targets: &[&Socket], bind: &str, verbose: bool) -> Result<(), Failure> {
    if !(io::stdin().is_terminal() && io::stderr().is_terminal()) {
        return Err(Failure::Refused(
            "refusing to destroy sockets without confirmation: not on a terminal (pass --yes, or --dry-run to look first)".into(),
        ));
    }
    describe(targets, "about to destroy", bind, verbose);
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
