//! The records `bpf/twi_watch.bpf.c` writes into the ring buffer, decoded.
//!
//! Pure code: a record is 96 bytes in the host's byte order (the kernel
//! wrote it on this machine); anything shorter or with a field out of range
//! is a [`DecodeError`], never a panic.

use crate::model::Protocol;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::time::{Duration, SystemTime};

/// Size of one record (`struct event` in the C source).
pub const RECORD_LEN: usize = 96;

const KIND_BIND_FAILED: u8 = 1;
const KIND_CLOSED: u8 = 2;
const AF_INET: u8 = libc::AF_INET as u8;
const AF_INET6: u8 = libc::AF_INET6 as u8;
const FLAG_REUSEADDR: u8 = 1;
const FLAG_REUSEPORT: u8 = 2;
const FLAG_V6ONLY: u8 = 4;

// Field offsets in `struct event`.
const OFF_KIND: usize = 0;
const OFF_FAMILY: usize = 1;
const OFF_PROTOCOL: usize = 2;
const OFF_FLAGS: usize = 3;
const OFF_PID: usize = 4;
const OFF_TGID: usize = 8;
const OFF_UID: usize = 12;
const OFF_NETNS: usize = 16;
const OFF_BOUND_DEV_IF: usize = 20;
const OFF_AT_NS: usize = 24;
const OFF_COMM: usize = 32;
const COMM_LEN: usize = 16;
const OFF_LOCAL_PORT: usize = 48;
const OFF_REMOTE_PORT: usize = 50;
const OFF_LOCAL_ADDR: usize = 56;
const OFF_REMOTE_ADDR: usize = 72;
const OFF_SCOPE_ID: usize = 88;

/// Who did it: the task the kernel ran the program in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// Thread id (what the kernel calls pid).
    pub pid: u32,
    /// Process id (thread group id).
    pub tgid: u32,
    pub uid: u32,
    /// The thread's name (at most 15 bytes; not the command line).
    pub comm: String,
}

/// A bind() that failed with EADDRINUSE, with the options read from the
/// socket itself at that moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindFailed {
    pub task: Task,
    /// Inode of the socket's network namespace (as in /proc/PID/ns/net).
    pub netns_inode: u32,
    pub protocol: Protocol,
    /// The address the caller passed to bind() (its family is the socket's).
    pub addr: SocketAddr,
    /// SO_REUSEADDR.
    pub reuseaddr: bool,
    /// SO_REUSEPORT.
    pub reuseport: bool,
    /// IPV6_V6ONLY (always false for an IPv4 socket).
    pub v6only: bool,
    /// SO_BINDTODEVICE's interface index, if bound to a device.
    pub bound_dev_if: Option<u32>,
    /// When: CLOCK_MONOTONIC nanoseconds (see [`monotonic_to_system_time`]).
    pub at_monotonic_ns: u64,
}

/// A TCP connection this side started closing (ESTABLISHED → FIN_WAIT1), in
/// the closing task's context. A TIME_WAIT with the same 4-tuple in the same
/// namespace was left by this task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    pub task: Task,
    pub netns_inode: u32,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub at_monotonic_ns: u64,
}

/// One event from the watcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    BindFailed(BindFailed),
    Closed(Closed),
}

/// Why a record could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("record of {0} bytes, expected {RECORD_LEN}")]
    Short(usize),
    #[error("unknown event kind {0}")]
    UnknownKind(u8),
    #[error("unknown address family {0}")]
    UnknownFamily(u8),
    #[error("unknown protocol {0}")]
    UnknownProtocol(u8),
}

/// Decodes one ring-buffer record. Bytes past [`RECORD_LEN`] are ignored.
pub fn decode(record: &[u8]) -> Result<WatchEvent, DecodeError> {
    let record: &[u8; RECORD_LEN] = record
        .get(..RECORD_LEN)
        .and_then(|head| head.try_into().ok())
        .ok_or(DecodeError::Short(record.len()))?;
    let family = record[OFF_FAMILY];
    if family != AF_INET && family != AF_INET6 {
        return Err(DecodeError::UnknownFamily(family));
    }
    let task = Task {
        pid: u32_at(record, OFF_PID),
        tgid: u32_at(record, OFF_TGID),
        uid: u32_at(record, OFF_UID),
        comm: comm(&record[OFF_COMM..OFF_COMM + COMM_LEN]),
    };
    let netns_inode = u32_at(record, OFF_NETNS);
    let at_monotonic_ns = u64::from_ne_bytes(eight(record, OFF_AT_NS));
    let local_port = u16::from_ne_bytes([record[OFF_LOCAL_PORT], record[OFF_LOCAL_PORT + 1]]);
    match record[OFF_KIND] {
        KIND_BIND_FAILED => {
            let protocol = match record[OFF_PROTOCOL] {
                p if p == libc::IPPROTO_TCP as u8 => Protocol::Tcp,
                p if p == libc::IPPROTO_UDP as u8 => Protocol::Udp,
                other => return Err(DecodeError::UnknownProtocol(other)),
            };
            let flags = record[OFF_FLAGS];
            let bound_dev_if = i32::from_ne_bytes(four(record, OFF_BOUND_DEV_IF));
            let scope_id = u32_at(record, OFF_SCOPE_ID);
            Ok(WatchEvent::BindFailed(BindFailed {
                task,
                netns_inode,
                protocol,
                addr: socket_addr(family, record, OFF_LOCAL_ADDR, local_port, scope_id),
                reuseaddr: flags & FLAG_REUSEADDR != 0,
                reuseport: flags & FLAG_REUSEPORT != 0,
                v6only: flags & FLAG_V6ONLY != 0,
                bound_dev_if: u32::try_from(bound_dev_if).ok().filter(|&index| index != 0),
                at_monotonic_ns,
            }))
        }
        KIND_CLOSED => {
            let remote_port =
                u16::from_ne_bytes([record[OFF_REMOTE_PORT], record[OFF_REMOTE_PORT + 1]]);
            Ok(WatchEvent::Closed(Closed {
                task,
                netns_inode,
                local: socket_addr(family, record, OFF_LOCAL_ADDR, local_port, 0),
                remote: socket_addr(family, record, OFF_REMOTE_ADDR, remote_port, 0),
                at_monotonic_ns,
            }))
        }
        other => Err(DecodeError::UnknownKind(other)),
    }
}

/// The wall-clock time of a CLOCK_MONOTONIC instant (an event's
/// `at_monotonic_ns`), read against both clocks now.
pub fn monotonic_to_system_time(at_monotonic_ns: u64) -> SystemTime {
    let now_wall = SystemTime::now();
    let now_mono = monotonic_now_ns();
    let age = Duration::from_nanos(now_mono.saturating_sub(at_monotonic_ns));
    now_wall.checked_sub(age).unwrap_or(now_wall)
}

/// CLOCK_MONOTONIC now, in nanoseconds (the clock of `bpf_ktime_get_ns`).
pub fn monotonic_now_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    (now.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(now.tv_nsec as u64)
}

fn four(record: &[u8; RECORD_LEN], at: usize) -> [u8; 4] {
    [record[at], record[at + 1], record[at + 2], record[at + 3]]
}

fn eight(record: &[u8; RECORD_LEN], at: usize) -> [u8; 8] {
    let mut bytes = [0; 8];
    bytes.copy_from_slice(&record[at..at + 8]);
    bytes
}

fn u32_at(record: &[u8; RECORD_LEN], at: usize) -> u32 {
    u32::from_ne_bytes(four(record, at))
}

fn comm(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn socket_addr(
    family: u8,
    record: &[u8; RECORD_LEN],
    at: usize,
    port: u16,
    scope_id: u32,
) -> SocketAddr {
    if family == AF_INET {
        let ip = Ipv4Addr::from(four(record, at));
        SocketAddr::V4(SocketAddrV4::new(ip, port))
    } else {
        let mut octets = [0; 16];
        octets.copy_from_slice(&record[at..at + 16]);
        SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(octets), port, 0, scope_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as the C program lays it out.
    struct Record([u8; RECORD_LEN]);

    impl Record {
        fn new(kind: u8, family: u8, protocol: u8) -> Record {
            let mut bytes = [0; RECORD_LEN];
            bytes[OFF_KIND] = kind;
            bytes[OFF_FAMILY] = family;
            bytes[OFF_PROTOCOL] = protocol;
            bytes[OFF_PID..OFF_PID + 4].copy_from_slice(&4242u32.to_ne_bytes());
            bytes[OFF_TGID..OFF_TGID + 4].copy_from_slice(&4240u32.to_ne_bytes());
            bytes[OFF_UID..OFF_UID + 4].copy_from_slice(&1000u32.to_ne_bytes());
            bytes[OFF_NETNS..OFF_NETNS + 4].copy_from_slice(&4026531840u32.to_ne_bytes());
            bytes[OFF_AT_NS..OFF_AT_NS + 8].copy_from_slice(&123_456_789u64.to_ne_bytes());
            bytes[OFF_COMM..OFF_COMM + 6].copy_from_slice(b"nginx\0");
            Record(bytes)
        }
        fn set(mut self, at: usize, value: &[u8]) -> Record {
            self.0[at..at + value.len()].copy_from_slice(value);
            self
        }
    }

    fn task() -> Task {
        Task {
            pid: 4242,
            tgid: 4240,
            uid: 1000,
            comm: "nginx".into(),
        }
    }

    #[test]
    fn decodes_an_ipv4_tcp_bind_failure_with_its_options() {
        let record = Record::new(KIND_BIND_FAILED, AF_INET, 6)
            .set(OFF_FLAGS, &[FLAG_REUSEADDR])
            .set(OFF_LOCAL_PORT, &8080u16.to_ne_bytes())
            .set(OFF_LOCAL_ADDR, &[127, 0, 0, 1])
            .set(OFF_BOUND_DEV_IF, &3i32.to_ne_bytes());
        let event = decode(&record.0).unwrap();
        assert_eq!(
            event,
            WatchEvent::BindFailed(BindFailed {
                task: task(),
                netns_inode: 4026531840,
                protocol: Protocol::Tcp,
                addr: "127.0.0.1:8080".parse().unwrap(),
                reuseaddr: true,
                reuseport: false,
                v6only: false,
                bound_dev_if: Some(3),
                at_monotonic_ns: 123_456_789,
            })
        );
    }

    #[test]
    fn decodes_an_ipv6_udp_bind_failure_with_scope_and_flags() {
        let addr: Ipv6Addr = "fe80::1".parse().unwrap();
        let record = Record::new(KIND_BIND_FAILED, AF_INET6, 17)
            .set(OFF_FLAGS, &[FLAG_REUSEPORT | FLAG_V6ONLY])
            .set(OFF_LOCAL_PORT, &53u16.to_ne_bytes())
            .set(OFF_LOCAL_ADDR, &addr.octets())
            .set(OFF_SCOPE_ID, &2u32.to_ne_bytes());
        let WatchEvent::BindFailed(event) = decode(&record.0).unwrap() else {
            panic!("not a bind failure");
        };
        assert_eq!(event.protocol, Protocol::Udp);
        assert_eq!(
            event.addr,
            SocketAddr::V6(SocketAddrV6::new(addr, 53, 0, 2))
        );
        assert!(!event.reuseaddr && event.reuseport && event.v6only);
        assert_eq!(event.bound_dev_if, None);
    }

    #[test]
    fn decodes_a_close_with_its_four_tuple() {
        let record = Record::new(KIND_CLOSED, AF_INET, 6)
            .set(OFF_LOCAL_PORT, &8080u16.to_ne_bytes())
            .set(OFF_REMOTE_PORT, &40000u16.to_ne_bytes())
            .set(OFF_LOCAL_ADDR, &[10, 0, 0, 1])
            .set(OFF_REMOTE_ADDR, &[10, 0, 0, 2]);
        assert_eq!(
            decode(&record.0).unwrap(),
            WatchEvent::Closed(Closed {
                task: task(),
                netns_inode: 4026531840,
                local: "10.0.0.1:8080".parse().unwrap(),
                remote: "10.0.0.2:40000".parse().unwrap(),
                at_monotonic_ns: 123_456_789,
            })
        );
    }

    #[test]
    fn a_comm_without_a_terminator_or_with_bad_utf8_still_decodes() {
        let record = Record::new(KIND_CLOSED, AF_INET6, 6)
            .set(OFF_COMM, &[b'x'; COMM_LEN])
            .set(OFF_COMM, &[0xff]);
        let WatchEvent::Closed(event) = decode(&record.0).unwrap() else {
            panic!("not a close");
        };
        assert_eq!(event.task.comm, format!("\u{fffd}{}", "x".repeat(15)));
    }

    #[test]
    fn short_and_garbled_records_are_errors() {
        let good = Record::new(KIND_BIND_FAILED, AF_INET, 6).0;
        for len in 0..RECORD_LEN {
            assert_eq!(decode(&good[..len]), Err(DecodeError::Short(len)));
        }
        let longer = [&good[..], &[0xaa; 8]].concat();
        assert!(decode(&longer).is_ok());
        let kind = Record::new(9, AF_INET, 6).0;
        assert_eq!(decode(&kind), Err(DecodeError::UnknownKind(9)));
        let family = Record::new(KIND_CLOSED, 1, 6).0;
        assert_eq!(decode(&family), Err(DecodeError::UnknownFamily(1)));
        let protocol = Record::new(KIND_BIND_FAILED, AF_INET, 132).0;
        assert_eq!(decode(&protocol), Err(DecodeError::UnknownProtocol(132)));
    }

    #[test]
    fn no_byte_pattern_panics() {
        // Every kind/family/protocol/flag byte with the rest garbage.
        for first in 0..=255u8 {
            let mut bytes = [first.wrapping_mul(37); RECORD_LEN];
            bytes[OFF_KIND] = first % 4;
            bytes[OFF_FAMILY] = [AF_INET, AF_INET6, first][usize::from(first % 3)];
            bytes[OFF_PROTOCOL] = [6, 17, first][usize::from(first % 3)];
            let _ = decode(&bytes);
        }
    }

    #[test]
    fn monotonic_instants_map_to_wall_clock_in_the_past() {
        let now_mono = monotonic_now_ns();
        let one_second_ago = monotonic_to_system_time(now_mono.saturating_sub(1_000_000_000));
        let age = SystemTime::now().duration_since(one_second_ago).unwrap();
        assert!(age >= Duration::from_secs(1), "{age:?}");
    }
}
