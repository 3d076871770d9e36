//! SOCK_DESTROY: close one socket from outside its process, for "free the
//! port now" (a TIME_WAIT or FIN_WAIT2 mini-socket holding a restart).

use super::message::{errno_text, Problem};
use super::request::{destroy_request, Unnamable};
use super::Channel;
use crate::model::Socket;
use crate::Error;

/// Why a socket could not be destroyed; each message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestroyError {
    /// The socket came without a sock_diag cookie (from /proc): it cannot be
    /// named exactly, and a guess could close the wrong connection.
    #[error("cannot destroy a socket without its sock_diag cookie: read the table with the netlink source, not /proc")]
    NoCookie,
    /// The socket's addresses do not match its family.
    #[error("cannot destroy {0}: its addresses do not match its family")]
    Unnamable(String),
    /// EPERM or EACCES: SOCK_DESTROY needs CAP_NET_ADMIN.
    #[error("SOCK_DESTROY refused ({0}): it needs CAP_NET_ADMIN in the socket's network namespace; run as root")]
    PermissionDenied(&'static str),
    /// EOPNOTSUPP: the kernel was built without CONFIG_INET_DIAG_DESTROY.
    #[error("this kernel cannot destroy sockets (EOPNOTSUPP: built without CONFIG_INET_DIAG_DESTROY); wait for the socket's timer instead")]
    Unsupported,
    /// ENOENT: no socket with this id and cookie now: it closed, or it is a
    /// new socket on the same addresses.
    #[error("the socket is gone (ENOENT: no socket with this address and cookie any more); read the table again")]
    NotFound,
    /// Anything else: sock_diag unavailable, another errno, a garbled reply.
    #[error("SOCK_DESTROY failed: {0}")]
    Other(String),
}

/// Destroys exactly `socket` (as read by [`super::read_sockets`]: the cookie
/// is what makes the request exact) with SOCK_DESTROY and waits for the
/// kernel's ack. Runs in the caller's network namespace.
pub fn destroy(socket: &Socket) -> Result<(), DestroyError> {
    let request = destroy_request(socket, 1).map_err(|why| match why {
        Unnamable::NoCookie => DestroyError::NoCookie,
        Unnamable::MixedFamilies => {
            DestroyError::Unnamable(format!("{} -> {}", socket.local, socket.remote))
        }
    })?;
    let mut channel = Channel::open().map_err(|e: Error| DestroyError::Other(e.to_string()))?;
    channel.request_ack(&request).map_err(destroy_error)
}

fn destroy_error(problem: Problem) -> DestroyError {
    match problem {
        Problem::Errno(libc::EPERM) => DestroyError::PermissionDenied("EPERM"),
        Problem::Errno(libc::EACCES) => DestroyError::PermissionDenied("EACCES"),
        Problem::Errno(libc::EOPNOTSUPP) => DestroyError::Unsupported,
        Problem::Errno(libc::ENOENT) => DestroyError::NotFound,
        Problem::Errno(errno) => DestroyError::Other(errno_text(errno)),
        Problem::Malformed(why) => DestroyError::Other(format!("malformed reply: {why}")),
    }
}
