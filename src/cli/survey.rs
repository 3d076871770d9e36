//! `--all-netns`: the port report (or the listing) for every network
//! namespace on the host, each headed by who it is. The session reads them;
//! this face prints them.

use std::io::{self, IsTerminal, Write};

use super::STDOUT_BUFFER;
use crate::args::Args;
use crate::error::{Failure, EXIT_BLOCKED, EXIT_FREE};
use crate::output::json::{self, NamespacePart};
use crate::output::{color_wanted, human};
use crate::session::Session;

pub(super) fn run(args: &Args, session: &Session) -> Result<i32, Failure> {
    let style = human::Style {
        color: color_wanted(io::stdout().is_terminal()),
        verbose: args.verbose,
    };
    let pretty = io::stdout().is_terminal();
    let mut out = io::BufWriter::with_capacity(STDOUT_BUFFER, io::stdout().lock());
    let code = match args.bind_spec() {
        Some(spec) => {
            let survey = session.check_port_everywhere(&spec)?;
            for warning in &survey.warnings {
                say!("tw-inspect: warning: {warning}");
            }
            let blocked = survey
                .answers
                .iter()
                .any(|(_, check)| check.verdict.blocked);
            if args.json {
                let parts: Vec<NamespacePart> = survey
                    .answers
                    .iter()
                    .map(|(entry, check)| NamespacePart {
                        entry,
                        table: &check.table,
                        verdict: Some(&check.verdict),
                    })
                    .collect();
                let source = survey
                    .answers
                    .first()
                    .map_or("netlink", |(_, check)| check.table.source.as_str());
                json::write_survey(
                    &mut out,
                    source,
                    Some(spec.port),
                    &parts,
                    &survey.warnings,
                    pretty,
                )?;
            } else if survey.answers.is_empty() {
                writeln!(
                    out,
                    "port {}: no TCP socket uses it in any network namespace",
                    spec.port
                )?;
            } else {
                writeln!(
                    out,
                    "port {}: used in {} network namespace(s); blocked in {}",
                    spec.port,
                    survey.answers.len(),
                    survey
                        .answers
                        .iter()
                        .filter(|(_, check)| check.verdict.blocked)
                        .count()
                )?;
                for (entry, check) in &survey.answers {
                    writeln!(out)?;
                    human::write_namespace_heading(&mut out, entry, style)?;
                    let scope = human::ReportScope {
                        shown: args.state_filter(),
                        captured_at: None,
                    };
                    human::write_report(&mut out, &check.table, &check.verdict, style, scope)?;
                }
            }
            if blocked {
                EXIT_BLOCKED
            } else {
                EXIT_FREE
            }
        }
        None => {
            let survey = session.listing_everywhere(args.state_filter(), args.protocols())?;
            for warning in &survey.warnings {
                say!("tw-inspect: warning: {warning}");
            }
            if args.json {
                let parts: Vec<NamespacePart> = survey
                    .answers
                    .iter()
                    .map(|(entry, reading)| NamespacePart {
                        entry,
                        table: &reading.table,
                        verdict: None,
                    })
                    .collect();
                let source = survey
                    .answers
                    .first()
                    .map_or("netlink", |(_, reading)| reading.table.source.as_str());
                json::write_survey(&mut out, source, None, &parts, &survey.warnings, pretty)?;
            } else {
                for (i, (entry, reading)) in survey.answers.iter().enumerate() {
                    if i > 0 {
                        writeln!(out)?;
                    }
                    human::write_namespace_heading(&mut out, entry, style)?;
                    human::write_listing(&mut out, &reading.table, style)?;
                }
            }
            EXIT_FREE
        }
    };
    out.flush()?;
    Ok(code)
}
