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
    // Flags that parse but contradict each other: one line, before anything is read.
    if let Some(problem) = args.problem() {
        say!("tw-inspect: {} (see --help)", inert(&problem));
        return EXIT_ERROR;
    }
    if let Some(what) = args.generate {
        return finish(cli::generate(what));
    }
    let session = match args.session() {
        Ok(session) => session,
        Err(error) => {
            say!("tw-inspect: {}", inert(&error.to_string()));
            return EXIT_ERROR;
        }
    };
    finish(if args.watch {
        watch::run(&args, &session)
    } else if wants_dashboard(&args) {
        tui::launch(session, &args).map(|()| EXIT_FREE)
    } else {
        cli::run(&args, &session)
    })
}

/// The exit code of a run, its failure said in one line.
fn finish(result: Result<i32, Failure>) -> i32 {
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
    let bare = args.port.is_none()
        && args.connect.is_none()
        && !args.all_netns
        && args.states.is_empty()
        && !args.json;
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
            let message = one_line(&error.render().to_string());
            say!("tw-inspect: {} (see --help)", inert(&message));
            EXIT_ERROR
        }
    }
}

/// clap's message on one line: every line of it but the usage and the
/// pointer to --help, so the subject clap puts on the lines after the first
/// (the missing `--port <PORT>`, the possible values) comes through.
fn one_line(rendered: &str) -> String {
    let kept: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .filter(|line| {
            !line.is_empty()
                && !line.starts_with("Usage:")
                && !line.starts_with("For more information")
        })
        .collect();
    let mut text = String::new();
    let mut previous: Option<&str> = None;
    for line in kept {
        text.push_str(match previous {
            None => "",
            Some(before) if before.ends_with(':') => " ",
            // Items of one list (the missing arguments), then new sentences.
            Some(before) if before.starts_with('-') && line.starts_with('-') => ", ",
            Some(_) if line.starts_with('[') => " ",
            Some(_) => "; ",
        });
        text.push_str(line);
        previous = Some(line);
    }
    match text.trim_start_matches("error: ") {
        "" => "invalid arguments".to_string(),
        text => text.to_string(),
    }
}
