//! sock_diag reply parser: no byte string may panic it, as a stream of
//! netlink messages or as one inet_diag_msg with attributes, and its answers
//! must agree across the ways the same bytes can arrive.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tw_inspect::model::{Family, Protocol, Socket};
use tw_inspect::source::netlink::{parse_dump, parse_inet_diag_msg, INET_DIAG_MSG_LEN};

/// `struct nlmsghdr` and SOCK_DIAG_BY_FAMILY (linux/sock_diag.h).
const NLMSG_HDR_LEN: usize = 16;
const SOCK_DIAG_BY_FAMILY: u16 = 20;

fuzz_target!(|data: &[u8]| {
    as_stream(data);
    as_message(data);
});

/// The bytes as one recv() of a multi-part dump reply.
fn as_stream(data: &[u8]) {
    let mut whole = Vec::new();
    let Ok(status) = parse_dump(data, Protocol::Tcp, &mut whole) else {
        return;
    };
    whole.iter().for_each(check);
    assert!(whole.len() <= data.len() / (NLMSG_HDR_LEN + INET_DIAG_MSG_LEN));

    // Messages are independent: the same stream cut after its first message
    // (nlmsg_len rounded up to 4, as netlink aligns) into two recv()s must
    // give the same sockets and flags.
    let len = data
        .first_chunk::<4>()
        .map_or(0, |b| u32::from_ne_bytes(*b) as usize);
    let (first, rest) = data.split_at(len.next_multiple_of(4).min(data.len()));
    let mut parts = Vec::new();
    let one = parse_dump(first, Protocol::Tcp, &mut parts).expect("first message of a good stream");
    let two = parse_dump(rest, Protocol::Tcp, &mut parts).expect("rest of a good stream");
    assert_eq!(parts, whole);
    assert_eq!(one.done || two.done, status.done);
    assert_eq!(one.interrupted || two.interrupted, status.interrupted);
}

/// The bytes as the payload of one SOCK_DIAG_BY_FAMILY message, parsed
/// alone and framed with an exact, a too-short and a too-long nlmsg_len.
fn as_message(payload: &[u8]) {
    // The UDP reading of the same bytes differs only in its states.
    if let Ok(udp) = parse_inet_diag_msg(payload, Protocol::Udp) {
        check(&udp);
        assert_eq!(udp.protocol, Protocol::Udp);
    }
    let alone = parse_inet_diag_msg(payload, Protocol::Tcp).ok();
    if let Some(socket) = &alone {
        check(socket);
        assert!(payload.len() >= INET_DIAG_MSG_LEN);
    }
    let Ok(exact) = u32::try_from(NLMSG_HDR_LEN + payload.len()) else {
        return;
    };
    assert_eq!(framed(exact, payload), alone.map(|socket| vec![socket]));

    // Claims more bytes than there are: never read past the buffer.
    assert!(framed(exact + 1, payload).is_none());

    // Claims fewer: the message is the shorter payload, and the bytes cut
    // off are read as whatever follows (here garbage, unless padding).
    if let Some(short) = payload.len().checked_sub(1) {
        if let Some(sockets) = framed(exact - 1, payload) {
            let cut = parse_inet_diag_msg(&payload[..short], Protocol::Tcp).ok();
            assert_eq!(sockets.first(), cut.as_ref());
        }
    }
}

/// parse_dump of `payload` behind a SOCK_DIAG_BY_FAMILY header claiming
/// `nlmsg_len`; None when it is rejected.
fn framed(nlmsg_len: u32, payload: &[u8]) -> Option<Vec<Socket>> {
    let mut message = Vec::with_capacity(NLMSG_HDR_LEN + payload.len());
    message.extend_from_slice(&nlmsg_len.to_ne_bytes());
    message.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    // Flags (NLM_F_MULTI), sequence number, port id.
    message.extend_from_slice(&2u16.to_ne_bytes());
    message.extend_from_slice(&[0; 8]);
    message.extend_from_slice(payload);
    let mut sockets = Vec::new();
    parse_dump(&message, Protocol::Tcp, &mut sockets)
        .ok()
        .map(|_| sockets)
}

/// What every parsed socket must satisfy, whatever the bytes.
fn check(socket: &Socket) {
    assert_eq!(Family::of(&socket.local.ip()), socket.family);
    assert_eq!(Family::of(&socket.remote.ip()), socket.family);
    assert!(socket.cookie.is_some());
    assert!(socket.inode <= u64::from(u32::MAX));
}
