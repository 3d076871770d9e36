//! The sock_diag reply parser without a kernel: a real capture
//! (fixtures/netlink/dump.bin), hand-made streams, and property tests that
//! feed it arbitrary and mutated bytes (it must never panic) and check that
//! an encoded socket parses back to itself.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

use proptest::prelude::*;
use tw_inspect::model::{Family, Protocol, Socket, TcpState, Timer, TimerKind};
use tw_inspect::source::netlink::{self, ChunkStatus, INET_DIAG_MSG_LEN};
use tw_inspect::Error;

/// One TCPDIAG_GETSOCK dump (both families in one walk), what
/// `read_sockets` asks for.
const CAPTURE: &[u8] = include_bytes!("../fixtures/netlink/dump.bin");
/// The same scenario as two SOCK_DIAG_BY_FAMILY dumps (the fallback).
const CAPTURE_PER_FAMILY: &[u8] = include_bytes!("../fixtures/netlink/dump-per-family.bin");
const CAPTURES: [&[u8]; 2] = [CAPTURE, CAPTURE_PER_FAMILY];
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const TCPDIAG_GETSOCK: u16 = 18;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_MULTI: u16 = 2;
const NLM_F_DUMP_INTR: u16 = 16;

/// A netlink message: header (length, type, flags, seq 1, port 0) + payload, padded.
fn nlmsg(kind: u16, flags: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&((16 + payload.len()) as u32).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&1u32.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize(out.len().next_multiple_of(4), 0);
    out
}

fn done(status: i32) -> Vec<u8> {
    nlmsg(NLMSG_DONE, NLM_F_MULTI, &status.to_ne_bytes())
}

fn ip_bytes(ip: IpAddr) -> [u8; 16] {
    let mut out = [0; 16];
    match ip {
        IpAddr::V4(v4) => out[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => out = v6.octets(),
    }
    out
}

/// The inet_diag_msg the kernel would send for `socket` (plus an
/// INET_DIAG_SKV6ONLY attribute when v6only is known): the parser's inverse.
fn encode(socket: &Socket) -> Vec<u8> {
    let mut out = Vec::with_capacity(INET_DIAG_MSG_LEN + 8);
    out.push(match socket.family {
        Family::Ipv4 => libc::AF_INET as u8,
        Family::Ipv6 => libc::AF_INET6 as u8,
    });
    out.push(match socket.state {
        TcpState::Bound => 7,
        state => state.kernel_number(),
    });
    let timer = socket.timer.unwrap_or(Timer {
        kind: TimerKind::Retransmit,
        expires_ms: 0,
        retransmits: 0,
    });
    out.push(match socket.timer.map(|t| t.kind) {
        None => 0,
        Some(TimerKind::Retransmit) => 1,
        Some(TimerKind::Keepalive) => 2,
        Some(TimerKind::Timewait) => 3,
        Some(TimerKind::Probe) => 4,
    });
    out.push(timer.retransmits);
    out.extend_from_slice(&socket.local.port().to_be_bytes());
    out.extend_from_slice(&socket.remote.port().to_be_bytes());
    out.extend_from_slice(&ip_bytes(socket.local.ip()));
    out.extend_from_slice(&ip_bytes(socket.remote.ip()));
    out.extend_from_slice(&socket.bound_device.to_ne_bytes());
    let cookie = socket.cookie.unwrap();
    out.extend_from_slice(&(cookie as u32).to_ne_bytes());
    out.extend_from_slice(&((cookie >> 32) as u32).to_ne_bytes());
    out.extend_from_slice(&(timer.expires_ms as u32).to_ne_bytes());
    out.extend_from_slice(&socket.rx_queue.to_ne_bytes());
    out.extend_from_slice(&socket.tx_queue.to_ne_bytes());
    out.extend_from_slice(&socket.uid.to_ne_bytes());
    out.extend_from_slice(&(socket.inode as u32).to_ne_bytes());
    if let Some(v6only) = socket.v6only {
        out.extend_from_slice(&5u16.to_ne_bytes());
        out.extend_from_slice(&11u16.to_ne_bytes());
        out.extend_from_slice(&[u8::from(v6only), 0, 0, 0]);
    }
    out
}

/// The payloads of the socket messages of a well-formed stream.
fn payloads(mut bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while bytes.len() >= 16 {
        let len = u32::from_ne_bytes(bytes[..4].try_into().unwrap()) as usize;
        let kind = u16::from_ne_bytes(bytes[4..6].try_into().unwrap());
        if kind == SOCK_DIAG_BY_FAMILY || kind == TCPDIAG_GETSOCK {
            out.push(&bytes[16..len]);
        }
        bytes = &bytes[len.next_multiple_of(4).min(bytes.len())..];
    }
    out
}

fn parse_all(bytes: &[u8]) -> Result<(Vec<Socket>, ChunkStatus), Error> {
    let mut out = Vec::new();
    let status = netlink::parse_dump(bytes, Protocol::Tcp, &mut out)?;
    Ok((out, status))
}

#[test]
fn real_captures_parse() {
    for capture in CAPTURES {
        check_capture(capture);
    }
    let (both, _) = parse_all(CAPTURE).unwrap();
    let (per_family, _) = parse_all(CAPTURE_PER_FAMILY).unwrap();
    // Ephemeral ports differ between the two runs: name each socket by its
    // scenario port (7001-7010), local or peer.
    let families = |sockets: &[Socket]| {
        let mut keys: Vec<_> = sockets
            .iter()
            .map(|s| {
                let scenario_port = [s.local.port(), s.remote.port()]
                    .into_iter()
                    .find(|port| (7001..=7010).contains(port));
                (s.family, s.state, scenario_port)
            })
            .collect();
        keys.sort();
        keys
    };
    assert_eq!(families(&both), families(&per_family));
}

fn check_capture(capture: &[u8]) {
    let (sockets, status) = parse_all(capture).unwrap();
    assert_eq!(
        status,
        ChunkStatus {
            done: true,
            interrupted: false
        }
    );
    let count = |state| sockets.iter().filter(|s| s.state == state).count();
    // The scenario of fixtures/netlink/README.md.
    assert_eq!(sockets.len(), 21);
    assert_eq!(count(TcpState::Listen), 8);
    assert_eq!(count(TcpState::Established), 6);
    assert_eq!(count(TcpState::TimeWait), 3);
    assert_eq!(count(TcpState::FinWait2), 1);
    assert_eq!(count(TcpState::CloseWait), 1);
    assert_eq!(count(TcpState::Bound), 2);
    for socket in &sockets {
        let tw_like = matches!(socket.state, TcpState::TimeWait | TcpState::FinWait2);
        assert_eq!(socket.is_time_wait_like(), tw_like, "{socket:?}");
        if tw_like {
            let ms = socket.time_wait_remaining_ms().unwrap();
            assert!((50_000..=60_000).contains(&ms), "{socket:?}");
            assert_eq!((socket.inode, socket.uid), (0, 0));
        } else {
            assert_ne!(socket.inode, 0, "{socket:?}");
        }
        assert_eq!(socket.family, Family::of(&socket.local.ip()));
        assert_eq!(socket.family, Family::of(&socket.remote.ip()));
    }
    let cookies: BTreeSet<_> = sockets.iter().map(|s| s.cookie.unwrap()).collect();
    assert_eq!(cookies.len(), sockets.len());
    let v6only = |local: &str| {
        let local: SocketAddr = local.parse().unwrap();
        sockets.iter().find(|s| s.local == local).unwrap().v6only
    };
    assert_eq!(v6only("[::]:7003"), Some(true));
    assert_eq!(v6only("[::]:7004"), Some(false));
    assert_eq!(v6only("[::1]:7010"), Some(true));
    assert_eq!(v6only("0.0.0.0:7005"), None);
    let listener = sockets.iter().find(|s| s.local.port() == 7005).unwrap();
    assert_eq!(listener.remote, "0.0.0.0:0".parse().unwrap());
}

#[test]
fn real_captures_round_trip_message_by_message() {
    let messages: Vec<_> = CAPTURES.into_iter().flat_map(payloads).collect();
    assert_eq!(messages.len(), 42);
    for payload in messages {
        let socket = netlink::parse_inet_diag_msg(payload, Protocol::Tcp).unwrap();
        let again = encode(&socket);
        // The fixed part is reproduced byte for byte; the kernel's other
        // attributes (shutdown, mark, cgroup, sockopt) are not modelled.
        assert_eq!(&again[..INET_DIAG_MSG_LEN], &payload[..INET_DIAG_MSG_LEN]);
        assert_eq!(
            netlink::parse_inet_diag_msg(&again, Protocol::Tcp).unwrap(),
            socket
        );
    }
}

#[test]
fn stream_errors_are_reported_with_the_errno_name() {
    let error = nlmsg(NLMSG_ERROR, 0, &(-libc::ENOENT).to_ne_bytes());
    let err = parse_all(&error).unwrap_err();
    assert!(
        matches!(&err, Error::Netlink(m) if m.starts_with("ENOENT")),
        "{err}"
    );
    let err = parse_all(&done(-libc::EINVAL)).unwrap_err();
    assert!(
        matches!(&err, Error::Netlink(m) if m.starts_with("EINVAL")),
        "{err}"
    );
    // A positive code is garbage, not an errno.
    let odd = nlmsg(NLMSG_ERROR, 0, &5i32.to_ne_bytes());
    assert!(parse_all(&odd).is_err());
    // Unknown message types are not skipped silently.
    assert!(parse_all(&nlmsg(99, 0, &[])).is_err());
}

#[test]
fn interrupted_dump_is_flagged() {
    let (sockets, status) = parse_all(CAPTURE).unwrap();
    let socket = &sockets[0];
    let mut stream = nlmsg(
        SOCK_DIAG_BY_FAMILY,
        NLM_F_MULTI | NLM_F_DUMP_INTR,
        &encode(socket),
    );
    stream.extend(done(0));
    let (again, flagged) = parse_all(&stream).unwrap();
    assert_eq!(again, vec![socket.clone()]);
    assert!(flagged.done && flagged.interrupted);
    assert!(!status.interrupted);
}

#[test]
fn truncated_and_oversized_lengths_are_errors() {
    let (sockets, _) = parse_all(CAPTURE).unwrap();
    let message = nlmsg(SOCK_DIAG_BY_FAMILY, NLM_F_MULTI, &encode(&sockets[0]));
    // Cut anywhere inside the message.
    for cut in 1..message.len() {
        assert!(parse_all(&message[..cut]).is_err(), "cut at {cut}");
    }
    // nlmsg_len too small, too large, huge.
    for len in [0u32, 15, message.len() as u32 + 4, u32::MAX] {
        let mut bad = message.clone();
        bad[..4].copy_from_slice(&len.to_ne_bytes());
        assert!(parse_all(&bad).is_err(), "nlmsg_len {len}");
    }
    // An inet_diag_msg shorter than 72 bytes inside a well-formed message.
    let short = nlmsg(SOCK_DIAG_BY_FAMILY, NLM_F_MULTI, &encode(&sockets[0])[..40]);
    assert!(parse_all(&short).is_err());
    // Attribute lengths: 0 (would loop forever), 3, past the end.
    for nla_len in [0u16, 3, 200] {
        let mut payload = encode(&sockets[0]);
        payload.extend_from_slice(&nla_len.to_ne_bytes());
        payload.extend_from_slice(&11u16.to_ne_bytes());
        payload.extend_from_slice(&[1, 0, 0, 0]);
        assert!(
            netlink::parse_inet_diag_msg(&payload, Protocol::Tcp).is_err(),
            "nla_len {nla_len}"
        );
    }
    // Unknown family and state.
    let mut payload = encode(&sockets[0]);
    payload[0] = 1;
    assert!(netlink::parse_inet_diag_msg(&payload, Protocol::Tcp).is_err());
    let mut payload = encode(&sockets[0]);
    payload[1] = 14;
    assert!(netlink::parse_inet_diag_msg(&payload, Protocol::Tcp).is_err());
}

fn arb_socket() -> impl Strategy<Value = Socket> {
    let addr4 = (any::<[u8; 4]>(), any::<u16>())
        .prop_map(|(ip, port)| SocketAddr::new(IpAddr::from(ip), port));
    let addr6 = (any::<[u8; 16]>(), any::<u16>())
        .prop_map(|(ip, port)| SocketAddr::new(IpAddr::from(ip), port));
    let addrs = prop_oneof![
        (addr4.clone(), addr4).prop_map(|(l, r)| (Family::Ipv4, l, r)),
        (addr6.clone(), addr6).prop_map(|(l, r)| (Family::Ipv6, l, r)),
    ];
    // The kernel never reports CLOSE as such (it is Bound) nor NEW_SYN_RECV.
    let state = prop::sample::select(
        TcpState::ALL
            .into_iter()
            .filter(|s| !matches!(s, TcpState::Close | TcpState::NewSynRecv))
            .collect::<Vec<_>>(),
    );
    let timer = prop::option::of(
        (
            prop::sample::select(vec![
                TimerKind::Retransmit,
                TimerKind::Keepalive,
                TimerKind::Timewait,
                TimerKind::Probe,
            ]),
            any::<u32>(),
            any::<u8>(),
        )
            .prop_map(|(kind, ms, retransmits)| Timer {
                kind,
                expires_ms: u64::from(ms),
                retransmits,
            }),
    );
    (
        addrs,
        state,
        timer,
        any::<[u32; 5]>(),
        any::<u64>(),
        prop::option::of(any::<bool>()),
    )
        .prop_map(
            |((family, local, remote), state, timer, n, cookie, v6only)| Socket {
                protocol: Protocol::Tcp,
                family,
                state,
                local,
                remote,
                bound_device: n[0],
                timer,
                rx_queue: n[1],
                tx_queue: n[2],
                uid: n[3],
                inode: u64::from(n[4]),
                cookie: Some(cookie),
                v6only,
                processes: Vec::new(),
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse_all(&bytes);
        let _ = netlink::parse_inet_diag_msg(&bytes, Protocol::Tcp);
    }

    #[test]
    fn mutated_capture_never_panics(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = CAPTURE.to_vec();
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let end = cut.index(bytes.len() + 1);
        let _ = parse_all(&bytes[..end]);
        let _ = parse_all(&bytes);
    }

    #[test]
    fn mutated_messages_never_panic(
        which in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        extra in prop::collection::vec(any::<u8>(), 0..40),
    ) {
        let messages = payloads(CAPTURE);
        let mut payload = messages[which.index(messages.len())].to_vec();
        payload.extend(extra);
        for (at, value) in edits {
            let i = at.index(payload.len());
            payload[i] = value;
        }
        let _ = netlink::parse_inet_diag_msg(&payload, Protocol::Tcp);
    }

    #[test]
    fn encoded_sockets_parse_back(sockets in prop::collection::vec(arb_socket(), 0..20)) {
        let mut stream = Vec::new();
        for socket in &sockets {
            stream.extend(nlmsg(SOCK_DIAG_BY_FAMILY, NLM_F_MULTI, &encode(socket)));
        }
        stream.extend(done(0));
        let (parsed, status) = parse_all(&stream).unwrap();
        prop_assert!(status.done);
        prop_assert_eq!(parsed, sockets);
    }
}
