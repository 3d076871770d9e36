//! `--connect`: will the next connect() to a destination get a local port,
//! and (without a destination) which destinations use up the range.

use std::io::{self, IsTerminal, Write};

use super::{reader_gone_is_fine, STDOUT_BUFFER};
use crate::args::Args;
use crate::error::{Failure, EXIT_BLOCKED, EXIT_FREE};
use crate::output::connect::{write_connect_report, write_pressure};
use crate::output::json::{write_connect, ConnectDocument};
use crate::output::{color_wanted, human};
use crate::session::Session;

pub(super) fn run(args: &Args, session: &Session) -> Result<i32, Failure> {
    let style = human::Style {
        color: color_wanted(io::stdout().is_terminal()),
        verbose: args.verbose,
    };
    let pretty = io::stdout().is_terminal();
    let netns = session.namespace();
    let Some(connect) = args.intended_connect() else {
        let (pressure, reading) = session.port_pressure()?;
        if let Some(warning) = &reading.fallback_warning {
            say!("tw-inspect: {warning}");
        }
        reader_gone_is_fine((|| {
            let mut out = io::BufWriter::with_capacity(STDOUT_BUFFER, io::stdout().lock());
            if args.json {
                let document = ConnectDocument::Pressure(&pressure);
                write_connect(
                    &mut out,
                    reading.table.source,
                    netns.as_ref(),
                    &document,
                    pretty,
                )?;
            } else {
                write_pressure(&mut out, &pressure, style)?;
            }
            out.flush()?;
            Ok(())
        })())?;
        return Ok(EXIT_FREE);
    };
    let check = session.check_connect(&connect)?;
    if let Some(warning) = &check.fallback_warning {
        say!("tw-inspect: {warning}");
    }
    reader_gone_is_fine((|| {
        let mut out = io::BufWriter::with_capacity(STDOUT_BUFFER, io::stdout().lock());
        if args.json {
            let document = ConnectDocument::Verdict {
                verdict: &check.verdict,
                probe: check.bind_zero_probe.as_ref(),
                pressure: &check.pressure,
            };
            write_connect(&mut out, check.source, netns.as_ref(), &document, pretty)?;
        } else {
            write_connect_report(
                &mut out,
                &check.verdict,
                check.bind_zero_probe.as_ref(),
                &check.pressure,
                style,
            )?;
        }
        out.flush()?;
        Ok(())
    })())?;
    Ok(if check.verdict.blocked {
        EXIT_BLOCKED
    } else {
        EXIT_FREE
    })
}
