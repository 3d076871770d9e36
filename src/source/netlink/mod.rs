//! The sock_diag (NETLINK_SOCK_DIAG) source: dumps the TCP or UDP sockets of
//! the current network namespace, filtered by state and local port in the
//! kernel, and destroys single sockets (SOCK_DESTROY).
//!
//! TCP is read with one TCPDIAG_GETSOCK request for both families (one
//! SOCK_DIAG_BY_FAMILY request per family when the kernel refuses it); UDP
//! always with one SOCK_DIAG_BY_FAMILY request per family (IPPROTO_UDP,
//! answered by the udp_diag module), with the same port program. UDP
//! sockets have no timers; their cookie, inode, uid, bound device and
//! IPV6_V6ONLY (INET_DIAG_SKV6ONLY) come as for TCP.
//!
//! The bytes are parsed here rather than by netlink-packet-sock-diag's
//! `InetResponse`: it drops `idiag_expires` for TIME_WAIT (the one number
//! tw-inspect needs most) and builds a vector of attributes per socket.

mod abi;
mod destroy;
mod message;
mod request;

use netlink_sys::protocols::NETLINK_SOCK_DIAG;

use crate::model::{Family, Protocol, Query, Socket, TcpState};
use crate::threads::joined;
use crate::{Error, Result};

pub use abi::INET_DIAG_MSG_LEN;
pub use destroy::{destroy, DestroyError};
pub use message::{parse_dump, parse_inet_diag_msg, ChunkStatus};

use message::{errno_text, Problem};

/// User buffer for replies. A dump datagram is at most ~32 KiB (the kernel
/// sizes them after the reader's buffer, capped there); a big buffer makes
/// sure none is ever truncated.
const RECV_BUFFER: usize = 1 << 20;
/// Socket receive buffer asked for (capped by net.core.rmem_max).
const SO_RCVBUF_WANTED: usize = 1 << 20;
/// Dumps tried before giving up on a table that keeps changing.
const DUMP_ATTEMPTS: u32 = 4;
/// EINTRs in a row on one send or receive before giving up: a signal storm
/// must end in an error, not a hang.
const EINTR_RETRIES: u32 = 100;

/// Reads the `protocol` sockets (IPv4 and IPv6) of the current network
/// namespace that match `query`, filtered by the kernel.
///
/// `Error::NetlinkUnavailable` when sock_diag cannot be used here (the caller
/// may fall back to /proc); `Error::Netlink` when the kernel reported an
/// error or sent something malformed.
pub fn read_sockets(protocol: Protocol, query: &Query) -> Result<Vec<Socket>> {
    dump(protocol, query, None)
}

/// Like [`read_sockets`], but also returns the raw reply bytes as received
/// (the datagrams of the dump, concatenated): a capture that [`parse_dump`]
/// reads back (given the same `protocol`), for fixtures and bug reports.
pub fn read_raw(protocol: Protocol, query: &Query) -> Result<(Vec<Socket>, Vec<u8>)> {
    let mut raw = Vec::new();
    let sockets = dump(protocol, query, Some(&mut raw))?;
    Ok((sockets, raw))
}

fn dump(protocol: Protocol, query: &Query, raw: Option<&mut Vec<u8>>) -> Result<Vec<Socket>> {
    if query.states.is_empty() {
        return Ok(Vec::new());
    }
    match split_bind_hash_walk(protocol, query) {
        Some((hashed, bound_only)) => dump_concurrently(protocol, &hashed, &bound_only, raw),
        None => dump_over(&mut Channel::open()?, protocol, query, raw),
    }
}

/// A TCP query for bound-only sockets and others, split in two. The kernel
/// finds bound-only sockets by walking its whole bind hash (every socket
/// that has a port, each TIME_WAIT of the host included) after the
/// listening and established hashes; asked apart, the two walks run at once.
/// The bound-only half needs no peer-port clause (they have no peer).
fn split_bind_hash_walk(protocol: Protocol, query: &Query) -> Option<(Query, Query)> {
    let mut hashed = *query;
    hashed.states.remove(TcpState::Bound);
    let wanted = protocol == Protocol::Tcp
        && query.states.contains(TcpState::Bound)
        && !hashed.states.is_empty();
    wanted.then(|| {
        let bound_only = Query {
            port: query.port,
            peer_time_waits: false,
            states: [TcpState::Bound].into_iter().collect(),
        };
        (hashed, bound_only)
    })
}

/// Two dumps at once, each on a socket of its own (both opened here, so
/// both belong to this thread's network namespace); the sockets of the
/// first, then those of the second. Raw bytes: the first reply, then the
/// second, as [`parse_dump`] reads them back.
fn dump_concurrently(
    protocol: Protocol,
    first: &Query,
    second: &Query,
    mut raw: Option<&mut Vec<u8>>,
) -> Result<Vec<Socket>> {
    let mut first_channel = Channel::open()?;
    let mut second_channel = Channel::open()?;
    let mut second_raw = raw.is_some().then(Vec::new);
    let (first_sockets, second_sockets) = std::thread::scope(|scope| {
        let second_dump =
            scope.spawn(|| dump_over(&mut second_channel, protocol, second, second_raw.as_mut()));
        let first_sockets = dump_over(&mut first_channel, protocol, first, raw.as_deref_mut());
        let second_sockets = joined(second_dump);
        (first_sockets, second_sockets)
    });
    let mut sockets = first_sockets?;
    sockets.extend(second_sockets?);
    if let (Some(raw), Some(second_raw)) = (raw, second_raw) {
        raw.extend(second_raw);
    }
    Ok(sockets)
}

/// The sending and receiving half of a dump, apart so that the retry logic
/// can be tested without a kernel.
trait Dumper {
    /// Sends one dump request and reads its reply to NLMSG_DONE, appending
    /// sockets of `protocol` (and raw bytes); true if the dump was interrupted.
    fn dump(
        &mut self,
        request: &[u8],
        protocol: Protocol,
        sockets: &mut Vec<Socket>,
        raw: Option<&mut Vec<u8>>,
    ) -> Result<bool, Problem>;

    /// Starts over on a fresh socket after a receive failed mid-dump (the
    /// rest of that reply may still be queued on the old one).
    fn restart(&mut self) -> Result<()>;
}

/// Errnos a dump can hit under memory pressure (the kernel could not build
/// the next part of the reply): worth a fresh attempt.
fn transient(errno: i32) -> bool {
    matches!(errno, libc::ENOBUFS | libc::ENOMEM)
}

/// How a complete dump is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DumpPlan {
    /// One TCPDIAG_GETSOCK request: the kernel walks its tables once for
    /// both families. With TCPF_BOUND_INACTIVE in the mask each walk includes
    /// the whole bind hash, so this halves the kernel's work (measured: 29 ms
    /// against 50 ms for 100k TIME_WAIT).
    BothFamilies,
    /// One SOCK_DIAG_BY_FAMILY request per family: used when the kernel
    /// refuses the first, and always for UDP (TCPDIAG_GETSOCK is TCP only).
    PerFamily,
}

impl DumpPlan {
    fn first(protocol: Protocol) -> DumpPlan {
        match protocol {
            Protocol::Tcp => DumpPlan::BothFamilies,
            Protocol::Udp => DumpPlan::PerFamily,
        }
    }

    fn requests(self, protocol: Protocol, query: &Query, seq: &mut u32) -> Vec<Vec<u8>> {
        let mut next_seq = || {
            *seq += 1;
            *seq
        };
        match self {
            DumpPlan::BothFamilies => vec![request::both_families_dump_request(query, next_seq())],
            DumpPlan::PerFamily => [Family::Ipv4, Family::Ipv6]
                .into_iter()
                .map(|family| request::dump_request(protocol, family, query, next_seq()))
                .collect(),
        }
    }
}

fn dump_over(
    channel: &mut impl Dumper,
    protocol: Protocol,
    query: &Query,
    mut raw: Option<&mut Vec<u8>>,
) -> Result<Vec<Socket>> {
    let mut sockets = Vec::new();
    let mut seq = 0;
    let mut plan = DumpPlan::first(protocol);
    // Until the kernel has answered one request, a refusal means sock_diag
    // is unusable here rather than a failure of this dump.
    let mut answered = false;
    let mut attempt = 1;
    while attempt <= DUMP_ATTEMPTS {
        sockets.clear();
        if let Some(raw) = raw.as_deref_mut() {
            raw.clear();
        }
        let mut interrupted = false;
        let mut replanned = false;
        for request in plan.requests(protocol, query, &mut seq) {
            match channel.dump(&request, protocol, &mut sockets, raw.as_deref_mut()) {
                Ok(dump_interrupted) => {
                    answered = true;
                    interrupted |= dump_interrupted;
                }
                Err(Problem::Errno(errno))
                    if plan == DumpPlan::BothFamilies && !answered && !transient(errno) =>
                {
                    plan = DumpPlan::PerFamily;
                    replanned = true;
                    break;
                }
                Err(Problem::Errno(errno)) if transient(errno) && attempt < DUMP_ATTEMPTS => {
                    channel.restart()?;
                    interrupted = true;
                    break;
                }
                Err(Problem::Errno(errno)) if transient(errno) => {
                    return Err(Error::Netlink(format!(
                        "{} (the dump failed {DUMP_ATTEMPTS} times)",
                        errno_text(errno)
                    )));
                }
                Err(problem) => return Err(classify(problem, protocol, !answered)),
            }
        }
        if replanned {
            continue;
        }
        if !interrupted {
            // The kernel reports NEW_SYN_RECV request sockets as SYN_RECV;
            // keep the promise that every socket returned matches the query.
            sockets.retain(|s| query.matches(s));
            return Ok(sockets);
        }
        attempt += 1;
    }
    Err(Error::Netlink(format!(
        "the socket table kept changing during the dump (NLM_F_DUMP_INTR {DUMP_ATTEMPTS} times); try again"
    )))
}

/// Maps a failure to the error the CLI acts on: refusals of the first
/// request mean sock_diag is not usable here (fall back to /proc).
fn classify(problem: Problem, protocol: Protocol, first_request: bool) -> Error {
    match problem {
        Problem::Errno(errno)
            if first_request
                && matches!(
                    errno,
                    libc::ENOENT | libc::EOPNOTSUPP | libc::EPERM | libc::EACCES
                ) =>
        {
            let module = match protocol {
                Protocol::Tcp => "tcp_diag",
                Protocol::Udp => "udp_diag",
            };
            Error::NetlinkUnavailable(format!(
                "the kernel refused a {} dump request ({}): no inet_diag/{module}?",
                protocol.as_str().to_uppercase(),
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
        let mut interruptions = 0;
        loop {
            match self.socket.send(request, 0) {
                Ok(n) if n == request.len() => return Ok(()),
                Ok(n) => return Err(Problem::Malformed(format!("short send: {n} bytes"))),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                    interrupted_again(&mut interruptions)?
                }
                Err(e) => return Err(Problem::Errno(e.raw_os_error().unwrap_or(libc::EIO))),
            }
        }
    }

    /// Receives one datagram from the kernel; its length.
    fn receive(&mut self) -> Result<usize, Problem> {
        let mut interruptions = 0;
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
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                    interrupted_again(&mut interruptions)?
                }
                Err(e) => return Err(Problem::Errno(e.raw_os_error().unwrap_or(libc::EIO))),
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

/// Counts one more EINTR in a row; an error once there were too many.
fn interrupted_again(interruptions: &mut u32) -> Result<(), Problem> {
    *interruptions += 1;
    if *interruptions > EINTR_RETRIES {
        return Err(Problem::Errno(libc::EINTR));
    }
    Ok(())
}

impl Dumper for Channel {
    fn restart(&mut self) -> Result<()> {
        *self = Channel::open()?;
        Ok(())
    }

    /// Reads the multi-part reply datagram by datagram, parsing each as it
    /// comes (no copy of the whole reply).
    fn dump(
        &mut self,
        request: &[u8],
        protocol: Protocol,
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
            let status = message::parse_chunk(bytes, protocol, sockets)?;
            interrupted |= status.interrupted;
            if status.done {
                return Ok(interrupted);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_of_the_first_request_mean_unavailable() {
        for errno in [libc::ENOENT, libc::EOPNOTSUPP, libc::EPERM, libc::EACCES] {
            assert!(matches!(
                classify(Problem::Errno(errno), Protocol::Tcp, true),
                Error::NetlinkUnavailable(_)
            ));
            // Later in the session the same errno is a real failure.
            assert!(matches!(
                classify(Problem::Errno(errno), Protocol::Tcp, false),
                Error::Netlink(_)
            ));
        }
        let err = classify(Problem::Errno(libc::EINVAL), Protocol::Tcp, true);
        assert!(
            matches!(&err, Error::Netlink(m) if m.starts_with("EINVAL")),
            "{err}"
        );
        let garbled = classify(Problem::Malformed("x".into()), Protocol::Tcp, true);
        assert!(matches!(garbled, Error::Netlink(_)));
        let no_udp_diag = classify(Problem::Errno(libc::ENOENT), Protocol::Udp, true);
        assert!(
            matches!(&no_udp_diag, Error::NetlinkUnavailable(m) if m.contains("udp_diag")),
            "{no_udp_diag}"
        );
    }

    /// Answers each dump request with the next scripted result: Ok(true)
    /// is an interrupted dump, Ok(false) a clean one with one socket whose
    /// cookie is the request's number (from 1).
    struct Scripted {
        answers: Vec<Result<bool, Problem>>,
        /// The netlink message type of each request.
        kinds: Vec<u16>,
        restarts: usize,
    }

    impl Dumper for Scripted {
        fn dump(
            &mut self,
            request: &[u8],
            _protocol: Protocol,
            sockets: &mut Vec<Socket>,
            _raw: Option<&mut Vec<u8>>,
        ) -> Result<bool, Problem> {
            let answer = self
                .answers
                .get(self.kinds.len())
                .cloned()
                .unwrap_or(Ok(false));
            self.kinds
                .push(u16::from_ne_bytes([request[4], request[5]]));
            sockets.push(Socket {
                cookie: Some(self.kinds.len() as u64),
                ..crate::testing::listener("127.0.0.1:80")
            });
            answer
        }

        fn restart(&mut self) -> Result<()> {
            self.restarts += 1;
            Ok(())
        }
    }

    fn scripted(answers: Vec<Result<bool, Problem>>) -> (Result<Vec<Option<u64>>>, Scripted) {
        scripted_for(Protocol::Tcp, answers)
    }

    fn scripted_for(
        protocol: Protocol,
        answers: Vec<Result<bool, Problem>>,
    ) -> (Result<Vec<Option<u64>>>, Scripted) {
        let mut dumper = Scripted {
            answers,
            kinds: Vec::new(),
            restarts: 0,
        };
        let result = dump_over(&mut dumper, protocol, &Query::everything(), None);
        let cookies = result.map(|sockets| sockets.iter().map(|s| s.cookie).collect());
        (cookies, dumper)
    }

    const BOTH: u16 = abi::TCPDIAG_GETSOCK;
    const PER_FAMILY: u16 = netlink_packet_sock_diag::SOCK_DIAG_BY_FAMILY;

    #[test]
    fn one_request_walks_both_families() {
        let (cookies, dumper) = scripted(vec![]);
        assert_eq!(cookies.unwrap(), vec![Some(1)]);
        assert_eq!(dumper.kinds, vec![BOTH]);
    }

    #[test]
    fn udp_asks_once_per_family() {
        let (cookies, dumper) = scripted_for(Protocol::Udp, vec![]);
        assert_eq!(cookies.unwrap(), vec![Some(1), Some(2)]);
        assert_eq!(dumper.kinds, vec![PER_FAMILY, PER_FAMILY]);
        // No udp_diag: unavailable at once, no other plan to try.
        let (cookies, dumper) =
            scripted_for(Protocol::Udp, vec![Err(Problem::Errno(libc::ENOENT))]);
        assert!(matches!(cookies, Err(Error::NetlinkUnavailable(_))));
        assert_eq!(dumper.kinds, vec![PER_FAMILY]);
    }

    #[test]
    fn a_refused_both_families_request_falls_back_to_one_per_family() {
        let (cookies, dumper) = scripted(vec![Err(Problem::Errno(libc::EINVAL))]);
        assert_eq!(cookies.unwrap(), vec![Some(2), Some(3)]);
        assert_eq!(dumper.kinds, vec![BOTH, PER_FAMILY, PER_FAMILY]);
        // Refused both ways: sock_diag is unusable here.
        let (cookies, dumper) = scripted(vec![Err(Problem::Errno(libc::ENOENT)); 2]);
        assert!(matches!(cookies, Err(Error::NetlinkUnavailable(_))));
        assert_eq!(dumper.kinds, vec![BOTH, PER_FAMILY]);
    }

    #[test]
    fn enobufs_mid_dump_restarts_on_a_fresh_socket() {
        let (cookies, dumper) = scripted(vec![Err(Problem::Errno(libc::ENOBUFS))]);
        assert_eq!(cookies.unwrap(), vec![Some(2)]);
        assert_eq!((dumper.restarts, dumper.kinds), (1, vec![BOTH, BOTH]));
        // Every attempt fails: a clear error that says so.
        let (cookies, dumper) = scripted(vec![Err(Problem::Errno(libc::ENOMEM)); 8]);
        assert!(
            matches!(&cookies, Err(Error::Netlink(m)) if m.starts_with("ENOMEM") && m.contains("4 times")),
            "{cookies:?}"
        );
        assert_eq!(dumper.kinds.len(), DUMP_ATTEMPTS as usize);
    }

    #[test]
    fn interrupted_dumps_are_redone_from_scratch() {
        // Interrupted once: only the second reading is returned.
        let (cookies, dumper) = scripted(vec![Ok(true)]);
        assert_eq!((cookies.unwrap(), dumper.kinds.len()), (vec![Some(2)], 2));
        // Per family, interrupted in the IPv6 half: both are read again.
        let (cookies, dumper) =
            scripted(vec![Err(Problem::Errno(libc::EINVAL)), Ok(false), Ok(true)]);
        assert_eq!(
            (cookies.unwrap(), dumper.kinds.len()),
            (vec![Some(4), Some(5)], 5)
        );
        // Interrupted every time: a clear error after DUMP_ATTEMPTS tries.
        let (cookies, dumper) = scripted(vec![Ok(true); 8]);
        assert!(matches!(cookies, Err(Error::Netlink(m)) if m.contains("NLM_F_DUMP_INTR")));
        assert_eq!(dumper.kinds.len(), DUMP_ATTEMPTS as usize);
    }

    #[test]
    fn errors_after_an_answer_end_the_dump() {
        let (cookies, dumper) = scripted(vec![Ok(true), Err(Problem::Errno(libc::ENOENT))]);
        assert!(matches!(cookies, Err(Error::Netlink(m)) if m.starts_with("ENOENT")));
        assert_eq!(dumper.kinds, vec![BOTH, BOTH]);
    }

    #[test]
    fn the_bind_hash_walk_is_asked_apart_for_tcp_only() {
        use crate::model::TcpState;
        let port = Query::port_with_evidence(8080);
        let (hashed, bound_only) = split_bind_hash_walk(Protocol::Tcp, &port).unwrap();
        // Together they ask for exactly what the query asks for.
        let mut both = hashed.states;
        both.insert(TcpState::Bound);
        assert_eq!(both, port.states);
        assert!(!hashed.states.contains(TcpState::Bound));
        assert_eq!((hashed.port, hashed.peer_time_waits), (Some(8080), true));
        // Bound-only sockets have no peer: no peer-port clause.
        assert_eq!(
            bound_only,
            Query {
                port: Some(8080),
                peer_time_waits: false,
                states: [TcpState::Bound].into_iter().collect(),
            }
        );
        // UDP has no bind-hash walk; a query without bound-only sockets, or
        // with nothing else, is one request.
        assert_eq!(split_bind_hash_walk(Protocol::Udp, &port), None);
        assert_eq!(split_bind_hash_walk(Protocol::Tcp, &hashed), None);
        assert_eq!(split_bind_hash_walk(Protocol::Tcp, &bound_only), None);
    }

    #[test]
    fn state_mask_is_the_kernel_mask() {
        use crate::model::{StateSet, TcpState};
        let query = Query {
            port: None,
            peer_time_waits: false,
            states: [TcpState::Bound, TcpState::NewSynRecv, TcpState::TimeWait]
                .into_iter()
                .collect::<StateSet>(),
        };
        // The model's set is the kernel's mask (Bound is TCPF_BOUND_INACTIVE, 1 << 13).
        assert_eq!(query.states.bits(), (1 << 13) | (1 << 12) | (1 << 6));
    }
}
