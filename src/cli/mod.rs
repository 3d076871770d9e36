//! The command-line face: the `--port` report, `--wait`, `--free` and the
//! listing. Each asks the session and prints what it answers; none decides
//! anything of its own.

mod connect;
mod free;
mod generate;

pub use generate::write as generate;
mod survey;
mod wait;

use std::borrow::Cow;
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::time::SystemTime;

use crate::args::Args;
use crate::error::{Failure, EXIT_BLOCKED, EXIT_FREE};
use crate::model::{Socket, SocketTable};
use crate::output::inert::inert;
use crate::output::{color_wanted, human, json};
use crate::session::{BindSpec, PortCheck, Session};

/// Reports of 100k sockets run to megabytes: write them in big pieces.
pub(crate) const STDOUT_BUFFER: usize = 1 << 16;

/// Runs the mode the flags ask for and returns its exit code.
pub fn run(args: &Args, session: &Session) -> Result<i32, Failure> {
    if args.connect.is_some() {
        return connect::run(args, session);
    }
    if args.all_netns {
        return survey::run(args, session);
    }
    let Some(spec) = args.bind_spec() else {
        return run_listing(args, session);
    };
    let face = Face { args, session };
    if args.wait {
        return wait::run(&face, &spec);
    }
    if args.free {
        return free::run(&face, &spec);
    }
    let check = face.check(&spec)?;
    face.print_report(&check)?;
    Ok(exit_code(&check))
}

/// 0 when the bind would succeed, 1 when it is blocked.
fn exit_code(check: &PortCheck) -> i32 {
    if check.verdict.blocked {
        EXIT_BLOCKED
    } else {
        EXIT_FREE
    }
}

/// Output cut short by a reader that closed the pipe (`| head -1`) is not a
/// failure: the verdict stands, and its exit code must too.
fn reader_gone_is_fine(result: Result<(), Failure>) -> Result<(), Failure> {
    match result {
        Err(Failure::Output(error)) if error.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// The flags and the session, with the printing every mode shares.
struct Face<'a> {
    args: &'a Args,
    session: &'a Session,
}

impl Face<'_> {
    /// The session's check of the port, its fallback warning printed.
    fn check(&self, spec: &BindSpec) -> Result<PortCheck, Failure> {
        let check = self.session.check_port(spec)?;
        if let Some(warning) = &check.fallback_warning {
            say!("tw-inspect: {warning}");
        }
        if let Some(dir) = self.session.captured() {
            warn_missing_captures(dir);
        }
        Ok(check)
    }

    fn json_pretty(&self) -> bool {
        io::stdout().is_terminal()
    }

    fn style(&self) -> human::Style {
        human::Style {
            color: color_wanted(io::stdout().is_terminal()),
            verbose: self.args.verbose,
        }
    }

    /// Prints the `--port` report (human or JSON), showing only the
    /// `--state` sockets but diagnosing with all of them. A reader that went
    /// away is not an error: the exit code still carries the verdict.
    fn print_report(&self, check: &PortCheck) -> Result<(), Failure> {
        self.print_report_with(check, None)
    }

    /// The report, and the sockets `--free` destroyed (JSON lists them).
    fn print_report_with(
        &self,
        check: &PortCheck,
        destroyed: Option<&[Socket]>,
    ) -> Result<(), Failure> {
        reader_gone_is_fine(self.write_report(check, destroyed))
    }

    fn write_report(&self, check: &PortCheck, destroyed: Option<&[Socket]>) -> Result<(), Failure> {
        let shown = self.shown(&check.table);
        let mut out = io::BufWriter::with_capacity(STDOUT_BUFFER, io::stdout().lock());
        if self.args.json {
            let netns = self.session.namespace();
            json::write_report(
                &mut out,
                &shown,
                &check.verdict,
                destroyed,
                netns.as_ref(),
                self.json_pretty(),
            )?;
        } else {
            let scope = human::ReportScope {
                shown: self.args.state_filter(),
                captured_at: self.session.captured().and_then(captured_at),
            };
            human::write_report(&mut out, &check.table, &check.verdict, self.style(), scope)?;
            self.write_namespace_note(&mut out)?;
        }
        out.flush()?;
        Ok(())
    }

    /// With `--netns`, the report ends by naming the namespace it looked in.
    fn write_namespace_note(&self, out: &mut impl Write) -> io::Result<()> {
        if self.args.netns.is_none() {
            return Ok(());
        }
        match self.session.namespace() {
            Some(id) => writeln!(
                out,
                "\nLooked in network namespace {}.",
                human::namespace_text(&id)
            ),
            None => Ok(()),
        }
    }

    /// The table as shown: all of it, or (with --state) a filtered copy.
    fn shown<'t>(&self, table: &'t SocketTable) -> Cow<'t, SocketTable> {
        if self.args.states.is_empty() {
            return Cow::Borrowed(table);
        }
        let states = self.args.state_filter();
        Cow::Owned(SocketTable {
            sockets: table
                .sockets
                .iter()
                .filter(|s| states.contains(s.state))
                .cloned()
                .collect(),
            source: table.source,
            skipped_rows: table.skipped_rows,
            owners_unseen: table.owners_unseen,
        })
    }
}

/// When captured files were taken: the modification time of net/tcp.
fn captured_at(dir: &Path) -> Option<SystemTime> {
    std::fs::metadata(dir.join("net/tcp")).ok()?.modified().ok()
}

/// A capture without net/tcp6 reads as a host without IPv6 sockets: say so,
/// once the reading succeeded (a failure stays one line).
fn warn_missing_captures(dir: &Path) {
    let tcp6 = dir.join("net/tcp6");
    if dir.join("net/tcp").exists() && !tcp6.exists() {
        say!(
            "tw-inspect: warning: {} is missing: IPv6 sockets of the captured host are not shown",
            inert(&tcp6.display().to_string())
        );
    }
}

fn run_listing(args: &Args, session: &Session) -> Result<i32, Failure> {
    let reading = session.listing(args.state_filter(), args.protocols())?;
    if let Some(warning) = &reading.fallback_warning {
        say!("tw-inspect: {warning}");
    }
    if let Some(dir) = session.captured() {
        warn_missing_captures(dir);
    }
    let mut out = io::BufWriter::with_capacity(STDOUT_BUFFER, io::stdout().lock());
    if args.json {
        let netns = session.namespace();
        json::write_listing(
            &mut out,
            &reading.table,
            netns.as_ref(),
            io::stdout().is_terminal(),
        )?;
    } else {
        let style = human::Style {
            color: color_wanted(io::stdout().is_terminal()),
            verbose: args.verbose,
        };
        human::write_listing(&mut out, &reading.table, style)?;
    }
    out.flush()?;
    Ok(EXIT_FREE)
}
