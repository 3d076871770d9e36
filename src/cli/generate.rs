//! `--generate man|bash|zsh|fish`: the man page and the shell completions,
//! rendered from the same clap definition as the flags themselves, so they
//! never drift from what the program accepts.

use std::io::{self, Write};

use clap::CommandFactory;
use clap_complete::Shell;

use crate::args::{Args, GenerateFlag};
use crate::error::{Failure, EXIT_FREE};

/// Writes what `what` names to stdout.
pub fn write(what: GenerateFlag) -> Result<i32, Failure> {
    let mut command = Args::command();
    let mut out = io::BufWriter::new(io::stdout().lock());
    let shell = match what {
        GenerateFlag::Man => {
            clap_mangen::Man::new(command).render(&mut out)?;
            out.flush()?;
            return Ok(EXIT_FREE);
        }
        GenerateFlag::Bash => Shell::Bash,
        GenerateFlag::Zsh => Shell::Zsh,
        GenerateFlag::Fish => Shell::Fish,
    };
    clap_complete::generate(shell, &mut command, "tw-inspect", &mut out);
    out.flush()?;
    Ok(EXIT_FREE)
}
