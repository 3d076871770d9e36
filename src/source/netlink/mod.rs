//! The sock_diag (NETLINK_SOCK_DIAG) source: dumps the TCP sockets of the
//! current network namespace, filtered by state and local port in the kernel,
//! and destroys single sockets (SOCK_DESTROY).
//!
//! The bytes are parsed here rather than by netlink-packet-sock-diag's
//! `InetResponse`: it drops `idiag_expires` for TIME_WAIT (the one number
//! tw-inspect needs most) and builds a vector of attributes per socket.

mod destroy;
mod message;
mod request;

use netlink_sys::protocols::NETLINK_SOCK_DIAG;

use crate::model::{Family, Query, Socket};
use crate::{Error, Result};

pub use destroy::{destroy, DestroyError};
pub use message::{parse_dump, parse_inet_diag_msg, ChunkStatus, INET_DIAG_MSG_LEN};

use message::{errno_text, Problem};

/// User buffer for replies. A dump datagram is at most ~32 KiB (the kernel
/// sizes them after the reader's buffer, capped there); a big buffer makes
/// sure none is ever truncated.
const RECV_BUFFER: usize = 1 << 20;
/// Socket receive buffer asked for (capped by net.core.rmem_max).
const SO_RCVBUF_WANTED: usize = 1 << 20;
/// Dumps tried before giving up on a table that keeps changing.
const DUMP_ATTEMPTS: u32 = 4;

/// Reads the TCP sockets (IPv4 and IPv6) of the current network namespace
/// that match `query`, filtered by the kernel.
///
/// `Error::NetlinkUnavailable` when sock_diag cannot be used here (the caller
/// may fall back to /proc); `Error::Netlink` when the kernel reported an
/// error or sent something malformed.
pub fn read_sockets(query: &Query) -> Result<Vec<Socket>> {
    dump(query, None)
}

/// Like [`read_sockets`], but also returns the raw reply bytes as received
/// (the datagrams of the AF_INET then the AF_INET6 dump, concatenated): a
/// capture that [`parse_dump`] reads back, for fixtures and bug reports.
pub fn read_raw(query: &Query) -> Result<(Vec<Socket>, Vec<u8>)> {
    let mut raw = Vec::new();
    let sockets = dump(query, Some(&mut raw))?;
    Ok((sockets, raw))
}

/// The kernel state mask for a query: the model's set uses the kernel's
/// numbering (Bound is TCPF_BOUND_INACTIVE, 1 << 13, kernel 6.5+).
fn kernel_state_mask(query: &Query) -> u32 {
    query.states.bits()
}

fn dump(query: &Query, mut raw: Option<&mut Vec<u8>>) -> Result<Vec<Socket>> {
    if query.states.is_empty() {
        return Ok(Vec::new());
    }
    let mut channel = Channel::open()?;
    let mut sockets = Vec::new();
    let mut seq = 0;
    for _ in 0..DUMP_ATTEMPTS {
        sockets.clear();
        if let Some(raw) = raw.as_deref_mut() {
            raw.clear();
        }
        let mut interrupted = false;
        for family in [Family::Ipv4, Family::Ipv6] {
            seq += 1;
            let first = seq == 1;
            let request = request::dump_request(family, kernel_state_mask(query), query.port, seq);
            interrupted |= channel
                .dump(&request, &mut sockets, raw.as_deref_mut())
                .map_err(|problem| classify(problem, first))?;
        }
        if !interrupted {
            // The kernel reports NEW_SYN_RECV request sockets as SYN_RECV;
            // keep the promise that every socket returned matches the query.
            sockets.retain(|s| query.matches(s));
            return Ok(sockets);
        }
    }
    Err(Error::Netlink(format!(
        "the socket table kept changing during the dump (NLM_F_DUMP_INTR {DUMP_ATTEMPTS} times); try again"
    )))
}

/// Maps a failure to the error the CLI acts on: refusals of the first
/// request mean sock_diag is not usable here (fall back to /proc).
fn classify(problem: Problem, first_request: bool) -> Error {
    match problem {
        Problem::Errno(errno)
            if first_request
                && matches!(
                    errno,
                    libc::ENOENT | libc::EOPNOTSUPP | libc::EPERM | libc::EACCES
                ) =>
        {
            Error::NetlinkUnavailable(format!(
                "the kernel refused a TCP dump request ({}): no inet_diag/tcp_diag?",
                errno_text(errno)
            ))
        }
        other => other.into(),
    }
}

/// A NETLINK_SOCK_DIAG socket and its receive buffer.
struct Channel {
    socket: netlink_sys::Socket,
    buffer: Vec<u8>,
}

impl Channel {
    fn open() -> Result<Channel> {
        let socket = netlink_sys::Socket::new(NETLINK_SOCK_DIAG).map_err(|e| {
            Error::NetlinkUnavailable(format!("cannot open a NETLINK_SOCK_DIAG socket: {e}"))
        })?;
        // Only an optimization (fewer stalls while we parse): refusals and
        // the rmem_max cap are fine.
        let _ = socket.set_rx_buf_sz(SO_RCVBUF_WANTED);
        Ok(Channel {
            socket,
            buffer: vec![0; RECV_BUFFER],
        })
    }

    fn send(&self, request: &[u8]) -> Result<(), Problem> {
        loop {
            match self.socket.send(request, 0) {
                Ok(n) if n == request.len() => return Ok(()),
                Ok(n) => return Err(Problem::Malformed(format!("short send: {n} bytes"))),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Problem::Errno(e.raw_os_error().unwrap_or(libc::EIO))),
            }
        }
    }

    /// Receives one datagram from the kernel; its length.
    fn receive(&mut self) -> Result<usize, Problem> {
        loop {
            // MSG_TRUNC: recv returns the datagram's real length, so a
            // truncated read is detected instead of parsed as garbage.
            match self
                .socket
                .recv_from(&mut &mut self.buffer[..], libc::MSG_TRUNC)
            {
                Ok((n, _)) if n > self.buffer.len() => {
                    return Err(Problem::Malformed(format!(
                        "a {n}-byte datagram does not fit the {}-byte buffer",
                        self.buffer.len()
                    )))
                }
                // Only the kernel (port 0) speaks for sock_diag; another
                // process could unicast to our port id.
                Ok((_, from)) if from.port_number() != 0 => continue,
                Ok((n, _)) => return Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Problem::Errno(e.raw_os_error().unwrap_or(libc::EIO))),
            }
        }
    }

    /// Sends a dump request and reads the multi-part reply to NLMSG_DONE,
    /// appending sockets (and the raw bytes). True if the dump was
    /// interrupted (NLM_F_DUMP_INTR).
    fn dump(
        &mut self,
        request: &[u8],
        sockets: &mut Vec<Socket>,
        mut raw: Option<&mut Vec<u8>>,
    ) -> Result<bool, Problem> {
        self.send(request)?;
        let mut interrupted = false;
        loop {
            let n = self.receive()?;
            let bytes = self.buffer.get(..n).unwrap_or_default();
            if let Some(raw) = raw.as_deref_mut() {
                raw.extend_from_slice(bytes);
            }
            let status = message::parse_chunk(bytes, sockets)?;
            interrupted |= status.interrupted;
            if status.done {
                return Ok(interrupted);
            }
        }
    }

    /// Sends a request with NLM_F_ACK and waits for the kernel's answer.
    fn request_ack(&mut self, request: &[u8]) -> Result<(), Problem> {
        self.send(request)?;
        let n = self.receive()?;
        message::parse_ack(self.buffer.get(..n).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_of_the_first_request_mean_unavailable() {
        for errno in [libc::ENOENT, libc::EOPNOTSUPP, libc::EPERM, libc::EACCES] {
            assert!(matches!(
                classify(Problem::Errno(errno), true),
                Error::NetlinkUnavailable(_)
            ));
            // Later in the session the same errno is a real failure.
            assert!(matches!(
                classify(Problem::Errno(errno), false),
                Error::Netlink(_)
            ));
        }
        let err = classify(Problem::Errno(libc::EINVAL), true);
        assert!(
            matches!(&err, Error::Netlink(m) if m.starts_with("EINVAL")),
            "{err}"
        );
        let garbled = classify(Problem::Malformed("x".into()), true);
        assert!(matches!(garbled, Error::Netlink(_)));
    }

    #[test]
    fn state_mask_is_the_kernel_mask() {
        use crate::model::{StateSet, TcpState};
        let query = Query {
            port: None,
            states: [TcpState::Bound, TcpState::NewSynRecv, TcpState::TimeWait]
                .into_iter()
                .collect::<StateSet>(),
        };
        assert_eq!(kernel_state_mask(&query), (1 << 13) | (1 << 12) | (1 << 6));
    }
}
