//! One error type for the library; the binary prints it as one line and exits 2.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// sock_diag cannot be used here (no NETLINK_SOCK_DIAG, refused, no
    /// inet_diag module): `--source auto` falls back to /proc on this one.
    #[error("sock_diag unavailable: {0}")]
    NetlinkUnavailable(String),
    /// The kernel answered a netlink request with an error, or the reply was
    /// malformed.
    #[error("sock_diag: {0}")]
    Netlink(String),
    /// A file or directory could not be read.
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    /// A network namespace that cannot be opened or entered, or is gone.
    #[error("{0}")]
    Namespace(String),
    /// Input that cannot be used: a garbled file, a bad argument.
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    pub fn io(path: impl std::fmt::Display, source: io::Error) -> Error {
        Error::Io {
            path: path.to_string(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Exit codes: the contract scripts rely on.
pub const EXIT_FREE: i32 = 0;
pub const EXIT_BLOCKED: i32 = 1;
pub const EXIT_ERROR: i32 = 2;

/// Why a run ended without an answer: printed as one line, exit 2.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("{0}")]
    Input(#[from] Error),
    #[error("cannot write output: {0}")]
    Output(#[from] io::Error),
    #[error("{0}")]
    Refused(String),
}
