//! Building sock_diag requests: the dump request (with an optional in-kernel
//! port filter) and the SOCK_DESTROY request. Pure functions over bytes.

use std::net::IpAddr;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NetlinkSerializable, NLM_F_ACK, NLM_F_DUMP,
    NLM_F_REQUEST,
};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_packet_sock_diag::{SockDiagDestroy, SockDiagMessage};

use crate::model::{Family, Socket};

/// INET_DIAG_REQ_BYTECODE: the request attribute holding a filter program.
const INET_DIAG_REQ_BYTECODE: u16 = 1;
/// INET_DIAG_BC_S_EQ (include/uapi/linux/inet_diag.h): local port equals
/// the port carried in the `no` field of the following op (kernel 4.16+).
const INET_DIAG_BC_S_EQ: u8 = 11;

fn family_number(family: Family) -> u8 {
    match family {
        Family::Ipv4 => AF_INET,
        Family::Ipv6 => AF_INET6,
    }
}

/// The filter program for "local port is `port`", the kernel's equivalent of
/// ss's `sport = :P`: two `struct inet_diag_bc_op {u8 code; u8 yes; u16 no}`.
/// The first compares; on a match it jumps `yes` = 8 bytes, exactly to the
/// end (accept), otherwise `no` = 12 bytes, past the end (reject; the kernel
/// accepts only when the program ends at length 0). The second op carries the
/// port in host order in its `no` field (`op[1].no` in inet_diag_bc_run).
pub(super) fn sport_eq_bytecode(port: u16) -> [u8; 8] {
    let [y0, y1] = 12u16.to_ne_bytes();
    let [p0, p1] = port.to_ne_bytes();
    [INET_DIAG_BC_S_EQ, 8, y0, y1, 0, 0, p0, p1]
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

/// A SOCK_DIAG_BY_FAMILY dump request for TCP sockets of one family in the
/// states of `states` (a kernel state mask), with a bytecode filter on the
/// local port when `port` is Some.
pub(super) fn dump_request(family: Family, states: u32, port: Option<u16>, seq: u32) -> Vec<u8> {
    let request = InetRequest {
        family: family_number(family),
        protocol: IPPROTO_TCP,
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
    if let Some(port) = port {
        // InetRequest carries no attributes: append the nlattr ourselves
        // (4-byte header + 8-byte program, already 4-aligned) and fix the
        // message length.
        let program = sport_eq_bytecode(port);
        let attr_len = (4 + program.len()) as u16;
        bytes.extend_from_slice(&attr_len.to_ne_bytes());
        bytes.extend_from_slice(&INET_DIAG_REQ_BYTECODE.to_ne_bytes());
        bytes.extend_from_slice(&program);
        let total = (bytes.len() as u32).to_ne_bytes();
        if let Some(len) = bytes.first_chunk_mut::<4>() {
            *len = total;
        }
    }
    bytes
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
        protocol: IPPROTO_TCP,
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
