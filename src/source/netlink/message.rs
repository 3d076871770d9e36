//! Pure parsing of sock_diag replies: netlink message streams and
//! `struct inet_diag_msg` with its attributes. No kernel needed, no panic on
//! any input, no heap allocation per socket beyond the `Socket` itself.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use netlink_packet_core::{NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLMSG_OVERRUN, NLM_F_DUMP_INTR};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, INET_DIAG_SKV6ONLY};
use netlink_packet_sock_diag::SOCK_DIAG_BY_FAMILY;

use super::abi::{INET_DIAG_MSG_LEN, NLA_HDR_LEN, NLA_TYPE_MASK, NLMSG_HDR_LEN, TCPDIAG_GETSOCK};
use crate::errno::Errno;
use crate::model::{Family, Protocol, Socket, TcpState, Timer, TimerKind};
use crate::Error;

/// TCP_CLOSE: what the kernel reports for a bound-inactive socket.
const KERNEL_STATE_CLOSE: u8 = 7;

/// What a buffer of dump replies said besides its sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChunkStatus {
    /// NLMSG_DONE was seen: a dump is complete. Messages after it (the next
    /// dump, in a capture of several) are parsed too.
    pub done: bool,
    /// A message carried NLM_F_DUMP_INTR: the table changed while it was
    /// dumped, so the result may be inconsistent and should be read again.
    pub interrupted: bool,
}

/// Why a reply could not be used; kept apart from [`Error`] so the receive
/// loop can tell a kernel errno (some mean "unavailable") from garbage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Problem {
    /// The kernel answered with this (positive) errno.
    Errno(i32),
    /// The bytes are not a well-formed reply.
    Malformed(String),
}

impl From<Problem> for Error {
    fn from(problem: Problem) -> Error {
        match problem {
            Problem::Errno(errno) => Error::Netlink(errno_text(errno)),
            Problem::Malformed(why) => Error::Netlink(format!("malformed reply: {why}")),
        }
    }
}

fn malformed(why: impl Into<String>) -> Problem {
    Problem::Malformed(why.into())
}

/// "ENOENT: No such file or directory": the errno's name and meaning.
pub(super) fn errno_text(errno: i32) -> String {
    Errno(errno).describe()
}

/// Splits off the first `N` bytes as an array; None when there are fewer.
fn take<const N: usize>(bytes: &mut &[u8]) -> Option<[u8; N]> {
    let (head, rest) = bytes.split_first_chunk::<N>()?;
    *bytes = rest;
    Some(*head)
}

fn align4(len: usize) -> usize {
    len.saturating_add(3) & !3
}

/// Parses one buffer of netlink messages as read from a sock_diag socket,
/// appending the sockets of SOCK_DIAG_BY_FAMILY (and TCPDIAG_GETSOCK)
/// messages to `out`. The replies do not say their protocol: `protocol` is
/// the one the request asked for (TCPDIAG_GETSOCK replies are always TCP).
/// NLMSG_ERROR with an errno, NLMSG_DONE with a negative status, unexpected
/// message types and any length that does not fit are errors.
pub fn parse_dump(
    bytes: &[u8],
    protocol: Protocol,
    out: &mut Vec<Socket>,
) -> crate::Result<ChunkStatus> {
    parse_chunk(bytes, protocol, out).map_err(Error::from)
}

pub(super) fn parse_chunk(
    mut bytes: &[u8],
    protocol: Protocol,
    out: &mut Vec<Socket>,
) -> Result<ChunkStatus, Problem> {
    let mut status = ChunkStatus::default();
    while !bytes.is_empty() {
        let (len, kind, flags, payload) = next_message(&mut bytes)?;
        if flags & NLM_F_DUMP_INTR != 0 {
            status.interrupted = true;
        }
        match kind {
            SOCK_DIAG_BY_FAMILY => out.push(parse_message(payload, protocol)?),
            TCPDIAG_GETSOCK => out.push(parse_message(payload, Protocol::Tcp)?),
            NLMSG_DONE => {
                // sock_diag puts the dump's final status (0 or -errno) here.
                if let Some(code) = payload.first_chunk::<4>().map(|b| i32::from_ne_bytes(*b)) {
                    if code < 0 {
                        return Err(Problem::Errno(code.saturating_neg()));
                    }
                }
                status.done = true;
            }
            NLMSG_ERROR => {
                return Err(match error_code(payload)? {
                    // An ack has no place in a dump.
                    0 => malformed("acknowledgement in the middle of a dump"),
                    errno => Problem::Errno(errno),
                });
            }
            NLMSG_NOOP => {}
            NLMSG_OVERRUN => return Err(malformed("NLMSG_OVERRUN: data lost")),
            other => {
                return Err(malformed(format!(
                    "unexpected message type {other} ({len} bytes)"
                )))
            }
        }
    }
    Ok(status)
}

/// Splits the next netlink message off `bytes`: (length, type, flags, payload).
fn next_message<'a>(bytes: &mut &'a [u8]) -> Result<(usize, u16, u16, &'a [u8]), Problem> {
    let all: &'a [u8] = bytes;
    let mut header = all;
    let (Some(len), Some(kind), Some(flags)) = (
        take::<4>(&mut header),
        take::<2>(&mut header),
        take::<2>(&mut header),
    ) else {
        return Err(malformed(format!(
            "{} bytes left, too short for a netlink header",
            all.len()
        )));
    };
    let len = u32::from_ne_bytes(len) as usize;
    if len < NLMSG_HDR_LEN || len > all.len() {
        return Err(malformed(format!(
            "netlink message length {len} with {} bytes left",
            all.len()
        )));
    }
    let payload = all.get(NLMSG_HDR_LEN..len).unwrap_or_default();
    *bytes = all.get(align4(len)..).unwrap_or_default();
    Ok((
        len,
        u16::from_ne_bytes(kind),
        u16::from_ne_bytes(flags),
        payload,
    ))
}

/// The errno of an NLMSG_ERROR payload (`int error` first): 0 for an ack,
/// else positive.
fn error_code(payload: &[u8]) -> Result<i32, Problem> {
    let code = payload
        .first_chunk::<4>()
        .map(|b| i32::from_ne_bytes(*b))
        .ok_or_else(|| malformed("NLMSG_ERROR without an error code"))?;
    if code > 0 {
        return Err(malformed(format!("NLMSG_ERROR with positive code {code}")));
    }
    Ok(code.saturating_neg())
}

/// Reads the reply to a request sent with NLM_F_ACK: Ok on an ack (error 0).
pub(super) fn parse_ack(mut bytes: &[u8]) -> Result<(), Problem> {
    while !bytes.is_empty() {
        let (_, kind, _, payload) = next_message(&mut bytes)?;
        match kind {
            NLMSG_ERROR => {
                return match error_code(payload)? {
                    0 => Ok(()),
                    errno => Err(Problem::Errno(errno)),
                }
            }
            NLMSG_NOOP => {}
            other => {
                return Err(malformed(format!(
                    "unexpected message type {other} instead of an ack"
                )))
            }
        }
    }
    Err(malformed("reply without an ack"))
}

/// Parses the payload of one SOCK_DIAG_BY_FAMILY reply (`struct
/// inet_diag_msg` and its attributes) into a [`Socket`] of `protocol` (the
/// one the request asked for: the message does not say).
pub fn parse_inet_diag_msg(payload: &[u8], protocol: Protocol) -> crate::Result<Socket> {
    parse_message(payload, protocol).map_err(Error::from)
}

fn parse_message(payload: &[u8], protocol: Protocol) -> Result<Socket, Problem> {
    let Some((head, attributes)) = payload.split_first_chunk::<INET_DIAG_MSG_LEN>() else {
        return Err(malformed(format!(
            "inet_diag_msg of {} bytes, expected at least {INET_DIAG_MSG_LEN}",
            payload.len()
        )));
    };
    // Fixed-size reads from a 72-byte array: cannot run short.
    let mut h: &[u8] = head;
    let short = || malformed("inet_diag_msg header");
    let [family, state, timer, retrans] = take::<4>(&mut h).ok_or_else(short)?;
    let sport = u16::from_be_bytes(take::<2>(&mut h).ok_or_else(short)?);
    let dport = u16::from_be_bytes(take::<2>(&mut h).ok_or_else(short)?);
    let src = take::<16>(&mut h).ok_or_else(short)?;
    let dst = take::<16>(&mut h).ok_or_else(short)?;
    let mut word = || take::<4>(&mut h).map(u32::from_ne_bytes).ok_or_else(short);
    let interface = word()?;
    // idiag_cookie[2]: two host-order words, low first (sock_diag_save_cookie).
    let cookie = u64::from(word()?) | (u64::from(word()?) << 32);
    let expires = word()?;
    let rqueue = word()?;
    let wqueue = word()?;
    let uid = word()?;
    let inode = word()?;

    let (family, local, remote) = match family {
        AF_INET => {
            let ip = |a: [u8; 16]| IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]));
            (
                Family::Ipv4,
                SocketAddr::new(ip(src), sport),
                SocketAddr::new(ip(dst), dport),
            )
        }
        AF_INET6 => {
            let sa = |a: [u8; 16], port| {
                SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(a), port, 0, 0))
            };
            (Family::Ipv6, sa(src, sport), sa(dst, dport))
        }
        other => {
            return Err(malformed(format!(
                "address family {other}, expected AF_INET or AF_INET6"
            )))
        }
    };
    let state = match (protocol, state) {
        // Only the bound-inactive walk reports CLOSE TCP sockets: a closed
        // socket is unhashed from the established and listening tables.
        (Protocol::Tcp, KERNEL_STATE_CLOSE) => TcpState::Bound,
        // A UDP socket is CLOSE (unconnected) or ESTABLISHED (connected).
        (Protocol::Udp, n)
            if n != KERNEL_STATE_CLOSE && n != TcpState::Established.kernel_number() =>
        {
            return Err(malformed(format!("UDP state {n}")));
        }
        (_, n) => TcpState::from_kernel(n).ok_or_else(|| malformed(format!("TCP state {n}")))?,
    };
    let timer = TimerKind::from_kernel(timer).map(|kind| Timer {
        kind,
        expires_ms: u64::from(expires),
        retransmits: retrans,
    });
    let v6only = v6only_attribute(attributes)?;
    Ok(Socket {
        protocol,
        family,
        state,
        local,
        remote,
        bound_device: interface,
        timer,
        rx_queue: rqueue,
        tx_queue: wqueue,
        uid,
        inode: u64::from(inode),
        cookie: Some(cookie),
        v6only,
        processes: Vec::new(),
    })
}

/// Walks the attributes after an inet_diag_msg for INET_DIAG_SKV6ONLY,
/// checking every length on the way.
fn v6only_attribute(mut attributes: &[u8]) -> Result<Option<bool>, Problem> {
    let mut v6only = None;
    while !attributes.is_empty() {
        let all = attributes;
        let mut header = all;
        let (Some(len), Some(kind)) = (take::<2>(&mut header), take::<2>(&mut header)) else {
            return Err(malformed(format!(
                "{} stray bytes after the attributes",
                all.len()
            )));
        };
        let len = usize::from(u16::from_ne_bytes(len));
        if len < NLA_HDR_LEN || len > all.len() {
            return Err(malformed(format!(
                "attribute length {len} with {} bytes left",
                all.len()
            )));
        }
        if u16::from_ne_bytes(kind) & NLA_TYPE_MASK == INET_DIAG_SKV6ONLY {
            v6only = all
                .get(NLA_HDR_LEN..len)
                .and_then(|p| p.first())
                .map(|v| *v != 0);
        }
        attributes = all.get(align4(len)..).unwrap_or_default();
    }
    Ok(v6only)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&((NLMSG_HDR_LEN + payload.len()) as u32).to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(&[0; 10]);
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn ack_and_errors() {
        // An ack echoes the request header after the code.
        let mut ack = 0i32.to_ne_bytes().to_vec();
        ack.extend_from_slice(&[0; 16]);
        assert_eq!(parse_ack(&message(NLMSG_ERROR, &ack)), Ok(()));
        let eperm = message(NLMSG_ERROR, &(-libc::EPERM).to_ne_bytes());
        assert_eq!(parse_ack(&eperm), Err(Problem::Errno(libc::EPERM)));
        assert!(matches!(parse_ack(&[]), Err(Problem::Malformed(_))));
        assert!(matches!(
            parse_ack(&message(NLMSG_ERROR, &[0, 0])),
            Err(Problem::Malformed(_))
        ));
        assert!(matches!(
            parse_ack(&message(NLMSG_DONE, &[0; 4])),
            Err(Problem::Malformed(_))
        ));
        // An ack inside a dump is garbage, not success.
        let mut out = Vec::new();
        assert!(matches!(
            parse_chunk(&message(NLMSG_ERROR, &ack), Protocol::Tcp, &mut out),
            Err(Problem::Malformed(_))
        ));
    }

    #[test]
    fn errno_text_names_the_errno() {
        assert!(errno_text(libc::ENOENT).starts_with("ENOENT: "));
        assert!(errno_text(4095).starts_with("errno 4095: "));
    }
}
