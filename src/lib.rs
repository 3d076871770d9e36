//! tw-inspect: why does bind() fail with EADDRINUSE, and when will it not?
//!
//! Data flows one way: [`source`] (sock_diag, /proc, captured files) →
//! [`model`] (one socket model) → [`diagnosis`] (pure rules, probes at the
//! edge) → [`session`] (what to read for a question, the intended bind, the
//! verdict, what may be freed) → the faces: [`cli`] (report, `--wait`,
//! `--free`, listing) and [`tui`] (the dashboard), which render through
//! [`output`]. [`launch`] turns the flags into a session and picks the face.

/// `eprintln!` without its panic: stderr may be a pipe whose reader has
/// gone (`2>&1 | head -1`), and a message nobody reads is no reason to die.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub mod args;
pub mod cli;
pub mod diagnosis;
pub mod duration;
pub mod errno;
pub mod error;
pub mod launch;
pub mod model;
pub mod output;
pub mod session;
pub mod source;
#[cfg(test)]
mod testing;
mod threads;
pub mod tui;
pub mod watch;

pub use error::{Error, Result};
