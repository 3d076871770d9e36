//! The program: flags → one session → the face they ask for. Every failure
//! ends here as one line on stderr and exit 2; faces never call each other.

use std::io::{self, IsTerminal};

use clap::Parser;

use crate::args::Args;
use crate::error::{Failure, EXIT_ERROR, EXIT_FREE};
use crate::output::inert::inert;
use crate::{cli, tui, watch};

/// Runs the program and returns its exit code.
pub fn main() -> i32 {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(error) => return usage_error(&error),
    };
    let session = match args.session() {
        Ok(session) => session,
        Err(error) => {
            say!("tw-inspect: {}", inert(&error.to_string()));
            return EXIT_ERROR;
        }
    };
    let result = if args.watch {
        watch::run(&args, &session)
    } else if wants_dashboard(&args) {
        tui::launch(session, &args).map(|()| EXIT_FREE)
    } else {
        cli::run(&args, &session)
    };
    match result {
        Ok(code) => code,
        // A reader that went away (`tw-inspect | head -1`) is not an error.
        Err(Failure::Output(error)) if error.kind() == io::ErrorKind::BrokenPipe => EXIT_FREE,
        Err(failure) => {
            // Paths and values in the message come from the user or a file:
            // no control character of theirs reaches the terminal.
            say!("tw-inspect: {}", inert(&failure.to_string()));
            EXIT_ERROR
        }
    }
}

/// `--tui`, or a bare `tw-inspect` on a terminal.
fn wants_dashboard(args: &Args) -> bool {
    let bare = args.port.is_none() && args.states.is_empty() && !args.json;
    args.tui || (bare && io::stdout().is_terminal())
}

/// clap's errors span several lines; the contract is one line and exit 2.
fn usage_error(error: &clap::Error) -> i32 {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = error.print();
            EXIT_FREE
        }
        _ => {
            let rendered = error.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            say!(
                "tw-inspect: {} (see --help)",
                inert(first.trim_start_matches("error: "))
            );
            EXIT_ERROR
        }
    }
}
