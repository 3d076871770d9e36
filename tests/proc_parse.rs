//! /proc/net/tcp{,6} parsing on fixed files (fixtures/proc, see its README)
//! with exact expected values, the reader's error policy, and property tests.
//! The fixtures were captured on (or written for) a little-endian host, and
//! addresses decode in host order, so the fixture tests are little-endian only.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use proptest::prelude::*;
use tw_inspect::model::{Family, Protocol, Query, Socket, StateSet, TcpState, Timer, TimerKind};
use tw_inspect::source::procnet::{parse_table, read_sockets, ParsedTable};
use tw_inspect::source::SourceNote;
use tw_inspect::Error;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/proc");

fn fixture(path: &str) -> String {
    let path = Path::new(FIXTURES).join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One line per socket with every parsed field, so expectations read like the table.
fn describe(socket: &Socket) -> String {
    let timer = socket.timer.map_or("-".to_string(), |t| {
        format!("{}/{}ms/r{}", t.kind.as_str(), t.expires_ms, t.retransmits)
    });
    format!(
        "{} {} {} tx={} rx={} {} uid={} inode={}",
        socket.state,
        socket.local,
        socket.remote,
        socket.tx_queue,
        socket.rx_queue,
        timer,
        socket.uid,
        socket.inode
    )
}

fn describe_all(table: &ParsedTable) -> Vec<String> {
    table.sockets.iter().map(describe).collect()
}

/// A scratch directory under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "twi-proc-parse-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(dir.join("net")).unwrap();
        Scratch(dir)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> &Path {
        std::fs::write(self.0.join("net").join(name), bytes).unwrap();
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(target_endian = "little")]
#[test]
fn real_capture_v4() {
    let table = parse_table(
        &fixture("capture/net/tcp"),
        Protocol::Tcp,
        Family::Ipv4,
        100,
    );
    assert_eq!(table.skipped_rows, 0);
    assert_eq!(
        describe_all(&table),
        [
            "LISTEN 127.0.0.1:9527 0.0.0.0:0 tx=0 rx=0 - uid=0 inode=19239",
            "ESTABLISHED 127.0.0.1:9527 127.0.0.1:50732 tx=0 rx=0 - uid=0 inode=19243",
            "ESTABLISHED 127.0.0.1:43068 127.0.0.1:9529 tx=0 rx=0 - uid=0 inode=19246",
            "FIN_WAIT2 127.0.0.1:9527 127.0.0.1:50744 tx=0 rx=0 timewait/59800ms/r0 uid=0 inode=0",
            "ESTABLISHED 127.0.0.1:50732 127.0.0.1:9527 tx=0 rx=0 - uid=0 inode=19242",
            "CLOSE_WAIT 127.0.0.1:50744 127.0.0.1:9527 tx=0 rx=1 - uid=0 inode=19248",
            "TIME_WAIT 127.0.0.1:50748 127.0.0.1:9527 tx=0 rx=0 timewait/59790ms/r0 uid=0 inode=0",
        ]
    );
    let fin_wait2 = &table.sockets[3];
    assert!(fin_wait2.is_time_wait_like());
    assert_eq!(fin_wait2.time_wait_remaining_ms(), Some(59800));
    for socket in &table.sockets {
        assert_eq!(socket.family, Family::Ipv4);
        assert_eq!(socket.bound_device, 0);
        assert_eq!(socket.cookie, None);
        assert_eq!(socket.v6only, None);
        assert!(socket.processes.is_empty());
    }
}

#[cfg(target_endian = "little")]
#[test]
fn real_capture_v6_with_v4_mapped_rows() {
    let table = parse_table(
        &fixture("capture/net/tcp6"),
        Protocol::Tcp,
        Family::Ipv6,
        100,
    );
    assert_eq!(table.skipped_rows, 0);
    assert_eq!(
        describe_all(&table),
        [
            "LISTEN [::1]:9528 [::]:0 tx=0 rx=0 - uid=0 inode=19240",
            "LISTEN [::]:9529 [::]:0 tx=0 rx=0 - uid=0 inode=19241",
            "ESTABLISHED [::1]:9528 [::1]:32824 tx=0 rx=0 - uid=0 inode=19245",
            "ESTABLISHED [::1]:32824 [::1]:9528 tx=0 rx=0 - uid=0 inode=19244",
            "CLOSE_WAIT [::1]:32826 [::1]:9528 tx=0 rx=1 - uid=0 inode=19250",
            "TIME_WAIT [::1]:32832 [::1]:9528 tx=0 rx=0 timewait/59790ms/r0 uid=0 inode=0",
            "ESTABLISHED [::ffff:127.0.0.1]:9529 [::ffff:127.0.0.1]:43068 tx=0 rx=0 - uid=0 inode=19247",
            "FIN_WAIT2 [::1]:9528 [::1]:32826 tx=0 rx=0 timewait/59790ms/r0 uid=0 inode=0",
            "TIME_WAIT [::ffff:127.0.0.1]:9529 [::ffff:127.0.0.1]:43074 tx=0 rx=0 timewait/59790ms/r0 uid=0 inode=0",
        ]
    );
    let mapped = &table.sockets[8];
    assert_eq!(mapped.family, Family::Ipv6);
    assert_eq!(
        mapped.local.ip(),
        IpAddr::V6(Ipv4Addr::new(127, 0, 0, 1).to_ipv6_mapped())
    );
}

#[cfg(target_endian = "little")]
#[test]
fn crafted_v4_every_state_and_timer() {
    let table = parse_table(
        &fixture("crafted/net/tcp"),
        Protocol::Tcp,
        Family::Ipv4,
        100,
    );
    assert_eq!(table.skipped_rows, 0);
    let peer = "192.168.0.9";
    assert_eq!(
        describe_all(&table),
        [
            "LISTEN 0.0.0.0:22 0.0.0.0:0 tx=0 rx=5 - uid=0 inode=1001".to_string(),
            format!("ESTABLISHED 10.1.2.3:443 {peer}:51000 tx=16 rx=32 retransmit/200ms/r2 uid=1000 inode=2001"),
            "SYN_SENT 10.1.2.3:40000 93.184.216.34:80 tx=1 rx=0 retransmit/1000ms/r1 uid=1000 inode=2002".to_string(),
            "SYN_RECV 10.1.2.3:443 10.9.9.9:5555 tx=0 rx=0 retransmit/500ms/r0 uid=1000 inode=2003".to_string(),
            format!("FIN_WAIT1 10.1.2.3:443 {peer}:51001 tx=512 rx=0 probe/2000ms/r0 uid=1000 inode=2004"),
            format!("FIN_WAIT2 10.1.2.3:443 {peer}:51002 tx=0 rx=0 keepalive/60000ms/r0 uid=1000 inode=2005"),
            format!("TIME_WAIT 10.1.2.3:443 {peer}:51003 tx=0 rx=0 - uid=1000 inode=2006"),
            format!("CLOSE 10.1.2.3:443 {peer}:51004 tx=0 rx=0 - uid=1000 inode=2007"),
            format!("CLOSE_WAIT 10.1.2.3:443 {peer}:51005 tx=0 rx=1 keepalive/120000ms/r0 uid=1000 inode=2008"),
            format!("LAST_ACK 10.1.2.3:443 {peer}:51006 tx=1 rx=0 retransmit/100ms/r15 uid=1000 inode=2009"),
            format!("CLOSING 10.1.2.3:443 {peer}:51007 tx=1 rx=0 retransmit/50ms/r3 uid=1000 inode=2010"),
            format!("NEW_SYN_RECV 10.1.2.3:443 {peer}:51008 tx=0 rx=0 - uid=1000 inode=2011"),
            "TIME_WAIT 127.0.0.1:9527 127.0.0.1:48182 tx=0 rx=0 timewait/59340ms/r0 uid=0 inode=0".to_string(),
            "FIN_WAIT2 127.0.0.1:9527 127.0.0.1:48184 tx=0 rx=0 timewait/30000ms/r0 uid=0 inode=0".to_string(),
            "SYN_RECV 10.1.2.3:443 10.9.9.10:5556 tx=0 rx=0 retransmit/1000ms/r2 uid=33 inode=0".to_string(),
            "TIME_WAIT 127.0.0.1:9527 127.0.0.1:48186 tx=0 rx=0 timewait/0ms/r0 uid=0 inode=0".to_string(),
            "ESTABLISHED 255.255.255.255:65535 1.2.3.4:1 tx=4294967295 rx=4294967295 keepalive/42949672950ms/r255 uid=4294967295 inode=18446744073709551615".to_string(),
        ]
    );
    // Only a FIN_WAIT2 with the time-wait timer is a mini-socket.
    assert!(table.sockets[13].is_time_wait_like());
    assert!(!table.sockets[5].is_time_wait_like());
}

#[cfg(target_endian = "little")]
#[test]
fn crafted_v6_rows() {
    let table = parse_table(
        &fixture("crafted/net/tcp6"),
        Protocol::Tcp,
        Family::Ipv6,
        100,
    );
    assert_eq!(table.skipped_rows, 0);
    assert_eq!(
        describe_all(&table),
        [
            "LISTEN [::]:80 [::]:0 tx=0 rx=0 - uid=0 inode=3001",
            "ESTABLISHED [2001:db8::1]:443 [2001:db8:0:1::2]:50000 tx=0 rx=0 retransmit/300ms/r1 uid=1000 inode=3002",
            "ESTABLISHED [::ffff:10.0.0.1]:8080 [::ffff:10.0.0.2]:40000 tx=0 rx=0 - uid=1000 inode=3003",
            "TIME_WAIT [::ffff:127.0.0.1]:9527 [::ffff:127.0.0.1]:48200 tx=0 rx=0 timewait/58880ms/r0 uid=0 inode=0",
            "TIME_WAIT [fe80::1]:22 [fe80::2]:60000 tx=0 rx=0 timewait/160ms/r0 uid=0 inode=0",
            "LISTEN [::1]:9528 [::]:0 tx=0 rx=0 - uid=0 inode=3004",
            "FIN_WAIT2 [::1]:9528 [::1]:32826 tx=0 rx=0 timewait/59790ms/r0 uid=0 inode=0",
            "SYN_RECV [2001:db8::1]:443 [2001:db8::9]:5557 tx=0 rx=0 retransmit/1000ms/r1 uid=1000 inode=0",
        ]
    );
}

#[test]
fn ticks_scale_with_user_hz() {
    let row = "   0: 0100007F:2537 0100007F:BC36 06 00000000:00000000 03:00000400 00000000     0        0 0 3 0000000000000000";
    let at =
        |hz| parse_table(row, Protocol::Tcp, Family::Ipv4, hz).sockets[0].time_wait_remaining_ms();
    assert_eq!(at(100), Some(10240));
    assert_eq!(at(1024), Some(1000)); // alpha's USER_HZ
                                      // Unknown tick rate: the remaining time cannot be known, so no row.
    assert_eq!(
        parse_table(row, Protocol::Tcp, Family::Ipv4, 0).skipped_rows,
        1
    );
}

#[cfg(target_endian = "little")]
#[test]
fn garbled_rows_are_skipped_and_counted() {
    let root = Path::new(FIXTURES).join("garbled");
    let table = read_sockets(&root, Protocol::Tcp, &Query::everything()).unwrap();
    assert_eq!(
        describe_all(&table),
        [
            "LISTEN 0.0.0.0:22 0.0.0.0:0 tx=0 rx=5 - uid=0 inode=1001",
            "TIME_WAIT 127.0.0.1:9527 127.0.0.1:48182 tx=0 rx=0 timewait/59340ms/r0 uid=0 inode=0",
            "TIME_WAIT [::ffff:127.0.0.1]:9527 [::ffff:127.0.0.1]:48200 tx=0 rx=0 timewait/58880ms/r0 uid=0 inode=0",
        ]
    );
    assert_eq!(table.skipped_rows, 27 + 2);

    // Each garbled line on its own is one skipped row and no socket.
    for (name, family, good) in [("tcp", Family::Ipv4, 2), ("tcp6", Family::Ipv6, 1)] {
        let bytes = std::fs::read(root.join("net").join(name)).unwrap();
        let lines: Vec<&[u8]> = bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        for line in &lines[1 + good..] {
            let Ok(text) = std::str::from_utf8(line) else {
                continue; // binary: only the reader sees it (counted above)
            };
            let parsed = parse_table(text, Protocol::Tcp, family, 100);
            assert_eq!(
                (parsed.sockets.len(), parsed.skipped_rows),
                (0, 1),
                "{text}"
            );
        }
    }
}

#[cfg(target_endian = "little")]
#[test]
fn reader_filters_by_query() {
    let root = Path::new(FIXTURES).join("capture");
    let query = Query {
        port: Some(9527),
        peer_time_waits: false,
        states: [TcpState::TimeWait, TcpState::FinWait2]
            .into_iter()
            .collect(),
    };
    let table = read_sockets(&root, Protocol::Tcp, &query).unwrap();
    assert_eq!(
        describe_all(&table),
        ["FIN_WAIT2 127.0.0.1:9527 127.0.0.1:50744 tx=0 rx=0 timewait/59800ms/r0 uid=0 inode=0"]
    );
    let nothing = Query {
        port: None,
        peer_time_waits: false,
        states: StateSet::EMPTY,
    };
    assert_eq!(
        read_sockets(&root, Protocol::Tcp, &nothing).unwrap(),
        ParsedTable::default()
    );
    let all = read_sockets(&root, Protocol::Tcp, &Query::everything()).unwrap();
    assert_eq!(all.sockets.len(), 7 + 9);
}

#[test]
fn reader_errors_name_the_path() {
    let missing = Path::new("/nonexistent/twi-proc-root");
    match read_sockets(missing, Protocol::Tcp, &Query::everything()) {
        Err(Error::Io { path, .. }) => assert_eq!(path, missing.display().to_string()),
        other => panic!("expected Io error, got {other:?}"),
    }
    let scratch = Scratch::new();
    match read_sockets(&scratch.0, Protocol::Tcp, &Query::everything()) {
        Err(Error::Io { path, .. }) => assert!(path.ends_with("net/tcp"), "{path}"),
        other => panic!("expected Io error, got {other:?}"),
    }
}

#[test]
fn reader_rejects_files_that_are_not_tables() {
    let header4 = fixture("crafted/net/tcp")
        .lines()
        .next()
        .unwrap()
        .to_string()
        + "\n";
    let header6 = fixture("crafted/net/tcp6")
        .lines()
        .next()
        .unwrap()
        .to_string()
        + "\n";
    let endless = vec![0xffu8; 100_000];
    let cases: [(&str, &[u8], &str); 5] = [
        ("tcp", b"", "empty"),
        ("tcp", &endless, "unexpected first line"),
        (
            "tcp",
            b"\x7fELF\x02\x01\x01\x00\x00\x00\xff\xfe",
            "unexpected first line",
        ),
        ("tcp", header6.as_bytes(), "unexpected first line"),
        ("tcp6", header4.as_bytes(), "unexpected first line"),
    ];
    for (name, bytes, why) in cases {
        let scratch = Scratch::new();
        scratch.write("tcp", header4.as_bytes());
        let root = scratch.write(name, bytes);
        match read_sockets(root, Protocol::Tcp, &Query::everything()) {
            Err(Error::Invalid(message)) => {
                assert!(
                    message.contains(&format!("net/{name}: not a /proc/net/{name} table ({why})")),
                    "{message}"
                )
            }
            other => panic!("{name} {bytes:?}: expected Invalid, got {other:?}"),
        }
    }
    // A header and nothing else is an empty table; tcp6 may be missing,
    // which is noted.
    let scratch = Scratch::new();
    let root = scratch.write("tcp", header4.as_bytes());
    assert_eq!(
        read_sockets(root, Protocol::Tcp, &Query::everything()).unwrap(),
        ParsedTable {
            notes: vec![SourceNote::Ipv6TableMissing {
                protocol: Protocol::Tcp,
                path: root.join("net/tcp6"),
            }],
            ..ParsedTable::default()
        }
    );
}

#[test]
fn reader_caps_line_length() {
    let header4 = fixture("crafted/net/tcp")
        .lines()
        .next()
        .unwrap()
        .to_string()
        + "\n";
    let mut bytes = header4.into_bytes();
    // 8 MiB without a newline, then a good row: one skipped row, one socket.
    bytes.extend(std::iter::repeat_n(b'0', 8 << 20));
    bytes.extend_from_slice(b"\n   0: 0100007F:2537 0100007F:BC36 06 00000000:00000000 03:0000172E 00000000     0        0 0 3 0000000000000000");
    let scratch = Scratch::new();
    let root = scratch.write("tcp", &bytes);
    let table = read_sockets(root, Protocol::Tcp, &Query::everything()).unwrap();
    assert_eq!((table.sockets.len(), table.skipped_rows), (1, 1));
}

/// One row as the kernel prints it, for a socket of the given shape.
fn kernel_row(socket: &Socket, ticks: u64) -> String {
    fn addr(a: &SocketAddr) -> String {
        let ip = match a.ip() {
            IpAddr::V4(v4) => format!("{:08X}", u32::from_ne_bytes(v4.octets())),
            IpAddr::V6(v6) => v6
                .octets()
                .chunks_exact(4)
                .map(|w| format!("{:08X}", u32::from_ne_bytes([w[0], w[1], w[2], w[3]])))
                .collect(),
        };
        format!("{ip}:{:04X}", a.port())
    }
    let (tr, retr) = socket.timer.map_or((0, 0), |t| {
        let tr = match t.kind {
            TimerKind::Retransmit => 1,
            TimerKind::Keepalive => 2,
            TimerKind::Timewait => 3,
            TimerKind::Probe => 4,
        };
        (tr, t.retransmits)
    });
    let head = format!(
        "{:4}: {} {} {:02X} {:08X}:{:08X} {:02X}:{:08X} {:08X} {:5} {:8} {}",
        7,
        addr(&socket.local),
        addr(&socket.remote),
        socket.state.kernel_number(),
        socket.tx_queue,
        socket.rx_queue,
        tr,
        ticks,
        retr,
        socket.uid,
        0,
        socket.inode
    );
    if socket.inode == 0 && (tr == 3 || tr == 1) && socket.tx_queue == 0 && socket.rx_queue == 0 {
        format!("{head} 3 ffff888812345678")
    } else {
        format!("{head} 2 ffff888812345678 20 4 0 10 -1")
    }
}

fn arb_socket() -> impl Strategy<Value = (Socket, u64)> {
    let family = prop_oneof![Just(Family::Ipv4), Just(Family::Ipv6)];
    let full = (
        family.clone(),
        any::<[u8; 16]>(),
        any::<[u8; 16]>(),
        any::<u16>(),
        any::<u16>(),
        1u8..=12,
        (any::<u32>(), any::<u32>()),
        0u8..=4,
        (0u64..=u64::from(u32::MAX), any::<u8>()),
        (any::<u32>(), 1u64..),
    );
    full.prop_map(
        |(family, a, b, pa, pb, st, (tx, rx), tr, (ticks, retr), (uid, inode))| {
            let ip = |o: [u8; 16]| match family {
                Family::Ipv4 => IpAddr::V4(Ipv4Addr::new(o[0], o[1], o[2], o[3])),
                Family::Ipv6 => IpAddr::V6(Ipv6Addr::from(o)),
            };
            let timer = TimerKind::from_kernel(tr).map(|kind| Timer {
                kind,
                expires_ms: ticks * 10,
                retransmits: retr,
            });
            let socket = Socket {
                protocol: Protocol::Tcp,
                family,
                state: TcpState::from_kernel(st).unwrap(),
                local: SocketAddr::new(ip(a), pa),
                remote: SocketAddr::new(ip(b), pb),
                bound_device: 0,
                timer,
                rx_queue: rx,
                tx_queue: tx,
                uid,
                inode,
                cookie: None,
                v6only: None,
                processes: Vec::new(),
            };
            (socket, if timer.is_some() { ticks } else { 0 })
        },
    )
}

/// Time-wait and request mini-socket rows (12 fields).
fn arb_mini() -> impl Strategy<Value = (Socket, u64)> {
    (arb_socket(), 0usize..3, any::<u32>()).prop_map(|((mut socket, _), kind, ticks)| {
        let (state, timer) = match kind {
            0 => (TcpState::TimeWait, TimerKind::Timewait),
            1 => (TcpState::FinWait2, TimerKind::Timewait),
            _ => (TcpState::SynRecv, TimerKind::Retransmit),
        };
        socket.state = state;
        socket.timer = Some(Timer {
            kind: timer,
            expires_ms: u64::from(ticks) * 10,
            retransmits: socket.timer.map_or(0, |t| t.retransmits),
        });
        socket.inode = 0;
        socket.tx_queue = 0;
        socket.rx_queue = 0;
        (socket, u64::from(ticks))
    })
}

proptest! {
    #[test]
    fn valid_rows_parse_back_exactly((socket, ticks) in prop_oneof![arb_socket(), arb_mini()]) {
        let row = kernel_row(&socket, ticks);
        let table = parse_table(&row, Protocol::Tcp, socket.family, 100);
        prop_assert_eq!(table.skipped_rows, 0, "{}", row);
        prop_assert_eq!(table.sockets, vec![socket]);
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,400}") {
        for family in [Family::Ipv4, Family::Ipv6] {
            let table = parse_table(&text, Protocol::Tcp, family, 100);
            prop_assert!(table.sockets.len() + table.skipped_rows <= text.lines().count());
        }
    }

    #[test]
    fn mutated_rows_never_panic((socket, ticks) in arb_socket(), at in any::<prop::sample::Index>(), with in "[0-9A-Fa-f:x -]{0,3}") {
        let mut row = kernel_row(&socket, ticks);
        let cut = at.index(row.len());
        row.replace_range(cut..(cut + 1).min(row.len()), &with);
        let table = parse_table(&row, Protocol::Tcp, socket.family, 100);
        prop_assert_eq!(table.sockets.len() + table.skipped_rows, 1);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_reader(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let header = fixture("crafted/net/tcp").lines().next().unwrap().to_string() + "\n";
        let scratch = Scratch::new();
        scratch.write("tcp", &[header.as_bytes(), &bytes].concat());
        let root = scratch.write("tcp6", &bytes);
        let _ = read_sockets(root, Protocol::Tcp, &Query::everything());
        let table = read_sockets(&scratch.0, Protocol::Tcp, &Query::everything());
        // tcp6 without its header is rejected as a whole, never half-read.
        prop_assert!(matches!(table, Err(Error::Invalid(_))) || bytes.starts_with(b"  sl"));
    }
}
