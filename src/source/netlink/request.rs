//! Building sock_diag requests: the dump request (with an optional in-kernel
//! port filter) and the SOCK_DESTROY request. Pure functions over bytes.

use std::net::IpAddr;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NetlinkSerializable, NLM_F_ACK, NLM_F_DUMP,
    NLM_F_REQUEST,
};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_packet_sock_diag::{SockDiagDestroy, SockDiagMessage};

use super::abi::{NLMSG_HDR_LEN, TCPDIAG_GETSOCK};
use crate::model::{Family, Protocol, Query, Socket};

/// INET_DIAG_REQ_BYTECODE: the request attribute holding a filter program.
const INET_DIAG_REQ_BYTECODE: u16 = 1;
fn family_number(family: Family) -> u8 {
    match family {
        Family::Ipv4 => AF_INET,
        Family::Ipv6 => AF_INET6,
    }
}

/// Bytecode ops (include/uapi/linux/inet_diag.h, `enum inet_diag_bc_op`).
/// JMP always takes its `no` branch.
const INET_DIAG_BC_JMP: u8 = 1;
/// The local address and port match a `struct inet_diag_hostcond`.
const INET_DIAG_BC_S_COND: u8 = 7;
/// The remote address and port match a `struct inet_diag_hostcond`.
const INET_DIAG_BC_D_COND: u8 = 8;
/// One condition: op (4) + hostcond (family, prefix_len, 2 pad, int port) (8)
/// + one IPv4-sized address word (4), as ss lays it out.
const COND_LEN: u8 = 16;
/// The JMP op that joins two conditions into "either".
const JMP_LEN: u8 = 4;

/// A port condition of `code` (S_COND or D_COND) with a hostcond of family
/// AF_UNSPEC and prefix 0 (any address) and the port in host order. `yes`
/// and `no` are jumps in bytes from the start of this op; the kernel accepts
/// a socket when a run ends exactly at the program's end and rejects it when
/// a jump lands past it.
fn port_cond(code: u8, port: u16, yes: u8, no: u8) -> [u8; COND_LEN as usize] {
    let [n0, n1] = u16::from(no).to_ne_bytes();
    let [p0, p1, p2, p3] = i32::from(port).to_ne_bytes();
    [
        code, yes, n0, n1, //
        0,  // AF_UNSPEC: any family
        0,  // prefix_len 0: any address
        0, 0, p0, p1, p2, p3, 0, 0, 0, 0,
    ]
}

/// The filter program for "local port is `port`", byte for byte what ss
/// (iproute2 6.1, `ssfilter_bytecompile`) sends for `sport = :P`, so any
/// kernel that takes ss's filter takes ours: on a match it jumps to the end
/// (accept), otherwise 4 bytes past it (reject).
pub(super) fn sport_bytecode(port: u16) -> Vec<u8> {
    port_cond(INET_DIAG_BC_S_COND, port, COND_LEN, COND_LEN + 4).to_vec()
}

/// "Local port is `port`, or remote port is `port`", laid out as ss compiles
/// `sport = :P or dport = :P`: the first condition, a JMP, the second. A
/// local match falls to the JMP, which jumps to the end (accept); a miss
/// jumps over the JMP to the remote condition, which ends the run at the end
/// (accept) or past it (reject). The kernel's audit follows the `yes` chain,
/// so every op stays on it. The states a peer-side socket may have are left
/// to the caller: the kernel cannot combine a state with one branch.
pub(super) fn sport_or_dport_bytecode(port: u16) -> Vec<u8> {
    let total = COND_LEN + JMP_LEN + COND_LEN;
    let mut program = Vec::with_capacity(usize::from(total));
    program.extend_from_slice(&port_cond(
        INET_DIAG_BC_S_COND,
        port,
        COND_LEN,
        COND_LEN + JMP_LEN,
    ));
    let [n0, n1] = u16::from(JMP_LEN + COND_LEN).to_ne_bytes();
    program.extend_from_slice(&[INET_DIAG_BC_JMP, JMP_LEN, n0, n1]);
    program.extend_from_slice(&port_cond(
        INET_DIAG_BC_D_COND,
        port,
        COND_LEN,
        COND_LEN + 4,
    ));
    program
}

/// The in-kernel filter for a query: none, the local port, or the local port
/// and the peer port.
fn query_program(query: &Query) -> Option<Vec<u8>> {
    let port = query.port?;
    Some(if query.peer_time_waits {
        sport_or_dport_bytecode(port)
    } else {
        sport_bytecode(port)
    })
}

fn protocol_number(protocol: Protocol) -> u8 {
    match protocol {
        Protocol::Tcp => IPPROTO_TCP,
        Protocol::Udp => IPPROTO_UDP,
    }
}

fn serialize<I: NetlinkSerializable>(flags: u16, seq: u32, payload: I) -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    header.sequence_number = seq;
    let mut message = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(payload));
    message.finalize();
    let mut bytes = vec![0; message.buffer_len()];
    message.serialize(&mut bytes);
    bytes
}

/// INET_DIAG_NOCOOKIE, both halves: "any socket".
const NO_COOKIE: [u8; 8] = [0xff; 8];

/// A SOCK_DIAG_BY_FAMILY dump request for `protocol` sockets of one family
/// in the query's states, with the query's port filter as bytecode. udp_diag
/// takes the same state mask (UDP sockets are CLOSE or ESTABLISHED) and the
/// same bytecode.
pub(super) fn dump_request(protocol: Protocol, family: Family, query: &Query, seq: u32) -> Vec<u8> {
    let states = query.states.bits();
    let request = InetRequest {
        family: family_number(family),
        protocol: protocol_number(protocol),
        extensions: ExtensionFlags::empty(),
        // The crate's flags stop at CLOSING; keep NEW_SYN_RECV (12) and
        // BOUND_INACTIVE (13) bits as given.
        states: StateFlags::from_bits_retain(states),
        socket_id: match family {
            Family::Ipv4 => SocketId::new_v4(),
            Family::Ipv6 => SocketId::new_v6(),
        },
    };
    let mut bytes = serialize(
        NLM_F_REQUEST | NLM_F_DUMP,
        seq,
        SockDiagMessage::InetRequest(request),
    );
    append_port_filter(&mut bytes, query);
    bytes
}

/// A TCPDIAG_GETSOCK dump request for TCP sockets of both families,
/// filtered like [`dump_request`]. The crate has no
/// type for it: `struct inet_diag_req` is family, src_len, dst_len, ext (u8
/// each), the 48-byte socket id, states and dbs (u32 each). The family field
/// is ignored by the kernel's dump; AF_INET is what ss puts there.
pub(super) fn both_families_dump_request(query: &Query, seq: u32) -> Vec<u8> {
    let states = query.states.bits();
    let mut bytes = Vec::with_capacity(NLMSG_HDR_LEN + 60 + 20);
    bytes.extend_from_slice(&0u32.to_ne_bytes()); // length, set below
    bytes.extend_from_slice(&TCPDIAG_GETSOCK.to_ne_bytes());
    bytes.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    bytes.extend_from_slice(&seq.to_ne_bytes());
    bytes.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it
    bytes.extend_from_slice(&[AF_INET, 0, 0, 0]);
    // Socket id: ports, addresses and interface 0 (any), no cookie.
    bytes.extend_from_slice(&[0; 40]);
    bytes.extend_from_slice(&NO_COOKIE);
    bytes.extend_from_slice(&states.to_ne_bytes());
    bytes.extend_from_slice(&0u32.to_ne_bytes()); // idiag_dbs: unused
    set_length(&mut bytes);
    append_port_filter(&mut bytes, query);
    bytes
}

/// Appends the INET_DIAG_REQ_BYTECODE attribute with the query's port
/// filter to a request (neither the crate's InetRequest nor inet_diag_req
/// carries attributes): a 4-byte nlattr header + the program, 4-aligned by
/// construction, then the message length is fixed.
fn append_port_filter(bytes: &mut Vec<u8>, query: &Query) {
    let Some(program) = query_program(query) else {
        return;
    };
    let attr_len = (4 + program.len()) as u16;
    bytes.extend_from_slice(&attr_len.to_ne_bytes());
    bytes.extend_from_slice(&INET_DIAG_REQ_BYTECODE.to_ne_bytes());
    bytes.extend_from_slice(&program);
    set_length(bytes);
}

/// Writes the message's length into its nlmsghdr.
fn set_length(bytes: &mut [u8]) {
    let total = (bytes.len() as u32).to_ne_bytes();
    if let Some(len) = bytes.first_chunk_mut::<4>() {
        *len = total;
    }
}

/// Why a socket cannot be named in a SOCK_DESTROY request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unnamable {
    NoCookie,
    MixedFamilies,
}

/// A SOCK_DESTROY request for exactly this socket: its family, both
/// addresses and ports, bound device and cookie (the kernel looks the socket
/// up by the 4-tuple and device, then refuses with ENOENT unless the cookie
/// matches), the socket's state bit, NLM_F_REQUEST | NLM_F_ACK.
pub(super) fn destroy_request(socket: &Socket, seq: u32) -> Result<Vec<u8>, Unnamable> {
    let cookie = socket.cookie.ok_or(Unnamable::NoCookie)?;
    let family_matches = |ip: IpAddr| Family::of(&ip) == socket.family;
    if !family_matches(socket.local.ip()) || !family_matches(socket.remote.ip()) {
        return Err(Unnamable::MixedFamilies);
    }
    // Back into idiag_cookie[2]: low word first, each in host order.
    let mut cookie_bytes = [0u8; 8];
    let (low, high) = cookie_bytes.split_at_mut(4);
    low.copy_from_slice(&(cookie as u32).to_ne_bytes());
    high.copy_from_slice(&((cookie >> 32) as u32).to_ne_bytes());
    let request = InetRequest {
        family: family_number(socket.family),
        protocol: protocol_number(socket.protocol),
        extensions: ExtensionFlags::empty(),
        states: StateFlags::from_bits_retain(1 << socket.state.kernel_number()),
        socket_id: SocketId {
            source_port: socket.local.port(),
            destination_port: socket.remote.port(),
            source_address: socket.local.ip(),
            destination_address: socket.remote.ip(),
            interface_id: socket.bound_device,
            cookie: cookie_bytes,
        },
    };
    Ok(serialize(
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
        SockDiagDestroy::new(SockDiagMessage::InetRequest(request)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{TcpState, Timer, TimerKind};
    use crate::source::netlink::message::parse_chunk;

    fn header(len: u32, kind: u16, flags: u16, seq: u32) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&len.to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(&flags.to_ne_bytes());
        out.extend_from_slice(&seq.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes());
        out
    }

    /// inet_diag_bc_run and the checks of inet_diag_bc_audit, for the ops
    /// this module emits: true when the program accepts a socket with these
    /// local and remote ports. Like the kernel's audit, every op must be on
    /// the `yes` chain and every `no` must land on an op or just past the end.
    fn kernel_runs(program: &[u8], sport: u16, dport: u16) -> bool {
        let audited = audit(program);
        let mut at = 0usize;
        let mut len = program.len() as i64;
        while len > 0 {
            assert!(audited.contains(&at), "op at {at} escaped the audit");
            let op = &program[at..at + 4];
            let (code, yes, no) = (op[0], op[1], u16::from_ne_bytes([op[2], op[3]]));
            let matched = match code {
                INET_DIAG_BC_JMP => false,
                INET_DIAG_BC_S_COND | INET_DIAG_BC_D_COND => {
                    let cond = &program[at + 4..at + 12];
                    let port = i32::from_ne_bytes([cond[4], cond[5], cond[6], cond[7]]);
                    let wanted = if code == INET_DIAG_BC_S_COND {
                        sport
                    } else {
                        dport
                    };
                    port == -1 || port == i32::from(wanted)
                }
                other => panic!("unexpected op {other}"),
            };
            let step = if matched { yes.into() } else { no };
            at += usize::from(step);
            len -= i64::from(step);
        }
        len == 0
    }

    /// The kernel's inet_diag_bc_audit: walks the `yes` chain checking each
    /// op; returns the offsets it checked.
    fn audit(program: &[u8]) -> Vec<usize> {
        let mut checked = Vec::new();
        let mut at = 0usize;
        let mut len = program.len() as i64;
        while len > 0 {
            checked.push(at);
            let op = &program[at..at + 4];
            let (code, yes, no) = (
                op[0],
                i64::from(op[1]),
                i64::from(u16::from_ne_bytes([op[2], op[3]])),
            );
            let min_len = match code {
                INET_DIAG_BC_S_COND | INET_DIAG_BC_D_COND => {
                    let cond = &program[at + 4..at + 12];
                    // valid_hostcond: AF_UNSPEC carries no address, prefix 0.
                    assert_eq!((cond[0], cond[1]), (0, 0));
                    12
                }
                INET_DIAG_BC_JMP => 4,
                other => panic!("unexpected op {other}"),
            };
            assert!(no >= min_len && no <= len + 4 && no % 4 == 0, "no at {at}");
            if no < len {
                // valid_cc: `no` lands on the start of an op.
                let target = program.len() as i64 - (len - no);
                assert!(op_starts(program).contains(&(target as usize)));
            }
            assert!(
                yes >= min_len && yes <= len + 4 && yes % 4 == 0,
                "yes at {at}"
            );
            at += yes as usize;
            len -= yes;
        }
        checked
    }

    fn op_starts(program: &[u8]) -> Vec<usize> {
        let mut starts = Vec::new();
        let mut at = 0;
        while at < program.len() {
            starts.push(at);
            at += if program[at] == INET_DIAG_BC_JMP {
                4
            } else {
                16
            };
        }
        starts
    }

    #[test]
    fn sport_bytecode_bytes_and_meaning() {
        // What `strace -e sendmsg ss -tnH sport = :8080` shows ss 6.1
        // sending on x86_64 after the nlattr header {20, 1}.
        if cfg!(target_endian = "little") {
            assert_eq!(
                sport_bytecode(8080),
                [7, 16, 20, 0, 0, 0, 0, 0, 0x90, 0x1f, 0, 0, 0, 0, 0, 0]
            );
        }
        assert!(kernel_runs(&sport_bytecode(8080), 8080, 1));
        assert!(!kernel_runs(&sport_bytecode(8080), 8081, 8080));
        assert!(kernel_runs(&sport_bytecode(65535), 65535, 0));
        assert!(!kernel_runs(&sport_bytecode(0), 80, 0));
    }

    #[test]
    fn sport_or_dport_bytecode_bytes_and_meaning() {
        // What `ss -tnH 'sport = :8080 or dport = :8080'` sends (iproute2 6.1).
        if cfg!(target_endian = "little") {
            assert_eq!(
                sport_or_dport_bytecode(8080),
                [
                    7, 16, 20, 0, 0, 0, 0, 0, 0x90, 0x1f, 0, 0, 0, 0, 0, 0, //
                    1, 4, 20, 0, //
                    8, 16, 20, 0, 0, 0, 0, 0, 0x90, 0x1f, 0, 0, 0, 0, 0, 0,
                ]
            );
        }
        let program = sport_or_dport_bytecode(8080);
        assert!(kernel_runs(&program, 8080, 40000));
        assert!(kernel_runs(&program, 40000, 8080));
        assert!(kernel_runs(&program, 8080, 8080));
        assert!(!kernel_runs(&program, 8081, 40000));
    }

    #[test]
    fn dump_request_bytes() {
        let states: u32 = (1 << 6) | (1 << 5) | (1 << 13);
        let mut query = Query {
            port: None,
            peer_time_waits: false,
            states: [TcpState::TimeWait, TcpState::FinWait2, TcpState::Bound]
                .into_iter()
                .collect(),
        };
        let plain = dump_request(Protocol::Tcp, Family::Ipv4, &query, 7);
        let mut expected = header(72, 20, 0x301, 7);
        expected.extend_from_slice(&[libc::AF_INET as u8, 6, 0, 0]);
        expected.extend_from_slice(&states.to_ne_bytes());
        expected.extend_from_slice(&[0; 48]);
        assert_eq!(plain, expected);

        query.port = Some(8080);
        let filtered = dump_request(Protocol::Tcp, Family::Ipv6, &query, 8);
        let mut expected = header(92, 20, 0x301, 8);
        expected.extend_from_slice(&[libc::AF_INET6 as u8, 6, 0, 0]);
        expected.extend_from_slice(&states.to_ne_bytes());
        expected.extend_from_slice(&[0; 48]);
        expected.extend_from_slice(&20u16.to_ne_bytes());
        expected.extend_from_slice(&1u16.to_ne_bytes());
        expected.extend_from_slice(&sport_bytecode(8080));
        assert_eq!(filtered, expected);
    }

    /// UDP asks SOCK_DIAG_BY_FAMILY with IPPROTO_UDP and the same state mask
    /// and port program as TCP: only the protocol byte differs.
    #[test]
    fn udp_dump_request_differs_only_in_protocol() {
        let query = Query {
            port: Some(5353),
            peer_time_waits: false,
            states: [TcpState::Close, TcpState::Established]
                .into_iter()
                .collect(),
        };
        for family in [Family::Ipv4, Family::Ipv6] {
            let tcp = dump_request(Protocol::Tcp, family, &query, 3);
            let udp = dump_request(Protocol::Udp, family, &query, 3);
            assert_eq!(udp.len(), tcp.len());
            assert_eq!(udp[17], libc::IPPROTO_UDP as u8);
            assert_eq!((&udp[..17], &udp[18..]), (&tcp[..17], &tcp[18..]));
            assert_eq!(udp[udp.len() - 16..], sport_bytecode(5353));
        }
    }

    #[test]
    fn both_families_dump_request_bytes() {
        let states: u32 = (1 << 6) | (1 << 13);
        let mut query = Query {
            port: Some(8080),
            peer_time_waits: false,
            states: [TcpState::TimeWait, TcpState::Bound].into_iter().collect(),
        };
        let filtered = both_families_dump_request(&query, 5);
        let mut expected = header(96, 18, 0x301, 5);
        expected.extend_from_slice(&[libc::AF_INET as u8, 0, 0, 0]);
        expected.extend_from_slice(&[0; 40]);
        expected.extend_from_slice(&[0xff; 8]);
        expected.extend_from_slice(&states.to_ne_bytes());
        expected.extend_from_slice(&0u32.to_ne_bytes());
        expected.extend_from_slice(&20u16.to_ne_bytes());
        expected.extend_from_slice(&1u16.to_ne_bytes());
        expected.extend_from_slice(&sport_bytecode(8080));
        assert_eq!(filtered, expected);
        query.peer_time_waits = true;
        let with_peers = both_families_dump_request(&query, 5);
        assert_eq!(with_peers.len(), 76 + 4 + 36);
        assert_eq!(
            with_peers[76..80],
            [40, 0, 1, 0].map(|b: u8| b).to_vec()[..]
        );
        assert_eq!(with_peers[80..], sport_or_dport_bytecode(8080)[..]);
        query.port = None;
        let plain = both_families_dump_request(&query, 5);
        assert_eq!(plain.len(), 76);
        assert_eq!(plain[..4], 76u32.to_ne_bytes());
        assert_eq!(plain[4..], expected[4..76]);
    }

    fn time_wait() -> Socket {
        Socket {
            protocol: crate::model::Protocol::Tcp,
            family: Family::Ipv6,
            state: crate::model::TcpState::TimeWait,
            local: "[::1]:7001".parse().unwrap(),
            remote: "[::ffff:127.0.0.1]:40000".parse().unwrap(),
            bound_device: 3,
            timer: Some(Timer {
                kind: TimerKind::Timewait,
                expires_ms: 1000,
                retransmits: 0,
            }),
            rx_queue: 0,
            tx_queue: 0,
            uid: 0,
            inode: 0,
            cookie: Some(0x1122_3344_5566_7788),
            v6only: None,
            processes: Vec::new(),
        }
    }

    #[test]
    fn destroy_request_bytes() {
        let socket = time_wait();
        let bytes = destroy_request(&socket, 9).unwrap();
        let mut expected = header(72, 21, 0x5, 9);
        expected.extend_from_slice(&[libc::AF_INET6 as u8, 6, 0, 0]);
        expected.extend_from_slice(&(1u32 << 6).to_ne_bytes());
        expected.extend_from_slice(&7001u16.to_be_bytes());
        expected.extend_from_slice(&40000u16.to_be_bytes());
        expected.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1]);
        expected.extend_from_slice(&3u32.to_ne_bytes());
        expected.extend_from_slice(&0x5566_7788u32.to_ne_bytes());
        expected.extend_from_slice(&0x1122_3344u32.to_ne_bytes());
        assert_eq!(bytes, expected);
    }

    #[test]
    fn destroy_request_needs_a_cookie_and_consistent_family() {
        let mut socket = time_wait();
        socket.cookie = None;
        assert_eq!(destroy_request(&socket, 1), Err(Unnamable::NoCookie));
        let mut socket = time_wait();
        socket.remote = "127.0.0.1:40000".parse().unwrap();
        assert_eq!(destroy_request(&socket, 1), Err(Unnamable::MixedFamilies));
    }

    /// The socket id in a destroy request is the one the kernel sent in the
    /// dump, byte for byte (cookie included), for every socket of a real
    /// capture.
    #[test]
    fn destroy_request_echoes_the_dumped_id() {
        let capture = include_bytes!("../../../fixtures/netlink/dump.bin");
        let mut rest: &[u8] = capture;
        let mut checked = 0;
        while let Some(len) = rest.first_chunk::<4>() {
            let len = u32::from_ne_bytes(*len) as usize;
            let message = &rest[..len];
            if u16::from_ne_bytes([message[4], message[5]]) == TCPDIAG_GETSOCK {
                let payload = &message[16..];
                let mut sockets = Vec::new();
                parse_chunk(message, Protocol::Tcp, &mut sockets).unwrap();
                let request = destroy_request(&sockets[0], 1).unwrap();
                assert_eq!(request[16], payload[0], "family");
                assert_eq!(&request[24..72], &payload[4..52], "{:?}", sockets[0]);
                checked += 1;
            }
            rest = &rest[len.next_multiple_of(4)..];
        }
        assert_eq!(checked, 21);
    }
}
