//! The UDP parsers without a kernel: /proc/net/udp{,6} from a real capture
//! (fixtures/proc/capture, written by fixtures/proc/capture_udp.py, with
//! `ss -uanH` as witness) and rows that must be skipped; a real sock_diag
//! UDP dump (fixtures/netlink/udp-dump.bin). The TCP side is
//! tests/proc_parse.rs and tests/netlink_parse.rs.

use std::path::{Path, PathBuf};

use tw_inspect::model::{Family, Protocol, Query, StateSet, TcpState};
use tw_inspect::source::netlink;
use tw_inspect::source::procnet::{parse_table, read_sockets, ParsedTable};
use tw_inspect::source::SourceNote;
use tw_inspect::Error;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/proc");

fn fixture(path: &str) -> String {
    let path = Path::new(FIXTURES).join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `ss -uanH`'s columns: state, rx, tx, local, peer (ss writes `*` for a
/// zero port and for the IPv6 wildcard).
fn describe_all(table: &ParsedTable) -> Vec<String> {
    table
        .sockets
        .iter()
        .map(|s| {
            assert_eq!(s.protocol, Protocol::Udp);
            assert_eq!(s.timer, None);
            format!(
                "{} {} {} {} {} inode={}",
                s.state, s.rx_queue, s.tx_queue, s.local, s.remote, s.inode
            )
        })
        .collect()
}

const UDP_HEADER: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops            \n";

#[cfg(target_endian = "little")]
#[test]
fn real_capture_udp() {
    let v4 = parse_table(
        &fixture("capture/net/udp"),
        Protocol::Udp,
        Family::Ipv4,
        100,
    );
    assert_eq!(v4.skipped_rows, 0);
    assert_eq!(
        describe_all(&v4),
        [
            "CLOSE 832 0 0.0.0.0:5353 0.0.0.0:0 inode=90700",
            "CLOSE 0 0 127.0.0.1:9531 0.0.0.0:0 inode=90701",
            "ESTABLISHED 0 0 127.0.0.1:9534 127.0.0.1:5353 inode=90704",
        ]
    );
    let v6 = parse_table(
        &fixture("capture/net/udp6"),
        Protocol::Udp,
        Family::Ipv6,
        100,
    );
    assert_eq!(v6.skipped_rows, 0);
    assert_eq!(
        describe_all(&v6),
        [
            "CLOSE 0 0 [::1]:9532 [::]:0 inode=90702",
            "CLOSE 0 0 [::]:9533 [::]:0 inode=90703",
            "ESTABLISHED 0 0 [::1]:9535 [::1]:9532 inode=90705",
        ]
    );
    // The witness agrees on every local and peer address.
    let witness = fixture("capture/ss-uanH.txt");
    assert_eq!(witness.lines().count(), v4.sockets.len() + v6.sockets.len());
    for socket in v4.sockets.iter().chain(&v6.sockets) {
        let port = format!(":{}", socket.local.port());
        let state = if socket.state == TcpState::Close {
            "UNCONN"
        } else {
            "ESTAB"
        };
        assert!(
            witness.lines().any(|l| l.starts_with(state)
                && l.split_whitespace()
                    .nth(3)
                    .is_some_and(|a| a.ends_with(&port))),
            "{socket:?} not in ss's output"
        );
    }
}

#[test]
fn a_tcp_reader_and_a_udp_reader_do_not_take_each_others_files() {
    let udp = fixture("capture/net/udp");
    let tcp = fixture("capture/net/tcp");
    // Every row of one is a skipped row for the other: the tails differ.
    let as_tcp = parse_table(&udp, Protocol::Tcp, Family::Ipv4, 100);
    assert_eq!((as_tcp.sockets.len(), as_tcp.skipped_rows), (0, 4));
    let as_udp = parse_table(&tcp, Protocol::Udp, Family::Ipv4, 100);
    assert_eq!(as_udp.sockets.len(), 0);
    assert_eq!(as_udp.skipped_rows, tcp.lines().count());
}

#[test]
fn bad_udp_rows_are_skipped() {
    let good = "   1: 0100007F:253B 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 90701 2 0000000064363f0a 0";
    let bad = [
        // LISTEN is no UDP state; nor is TIME_WAIT.
        good.replace(" 07 ", " 0A "),
        good.replace(" 07 ", " 06 "),
        // A timer, a remaining time, retransmits: UDP has none.
        good.replace(" 00:00000000 ", " 01:00000000 "),
        good.replace(" 00:00000000 ", " 00:00000010 "),
        good.replace(" 00000000     0", " 00000001     0"),
        // No drops column; an extra column; drops not a number.
        good.trim_end_matches(" 0").to_string(),
        format!("{good} 0"),
        good.replace("0a 0", "0a -1"),
    ];
    let mut text = String::from(UDP_HEADER);
    text.push_str(good);
    text.push('\n');
    for row in &bad {
        text.push_str(row);
        text.push('\n');
    }
    let table = parse_table(&text, Protocol::Udp, Family::Ipv4, 100);
    assert_eq!(table.sockets.len(), 1, "{:?}", table.sockets);
    assert_eq!(table.skipped_rows, bad.len());
}

/// A scratch proc root under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("twi-udp-parse-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(dir.join("net")).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn reader_filters_by_query_and_notes_a_missing_udp6() {
    let root = Path::new(FIXTURES).join("capture");
    let all = read_sockets(&root, Protocol::Udp, &Query::everything()).unwrap();
    assert_eq!((all.sockets.len(), all.skipped_rows), (6, 0));
    assert!(all.notes.is_empty());
    let on_port = Query {
        port: Some(9532),
        ..Query::everything()
    };
    let table = read_sockets(&root, Protocol::Udp, &on_port).unwrap();
    assert_eq!(table.sockets.len(), 1);
    assert_eq!(table.sockets[0].local.port(), 9532);
    let connected = Query {
        states: [TcpState::Established].into_iter().collect::<StateSet>(),
        ..Query::everything()
    };
    let table = read_sockets(&root, Protocol::Udp, &connected).unwrap();
    assert_eq!(table.sockets.len(), 2);

    // Only udp: the IPv6 half is noted, not silently taken as empty.
    let scratch = Scratch::new("no-udp6");
    std::fs::write(scratch.0.join("net/udp"), fixture("capture/net/udp")).unwrap();
    let table = read_sockets(&scratch.0, Protocol::Udp, &Query::everything()).unwrap();
    assert_eq!(table.sockets.len(), 3);
    assert_eq!(
        table.notes,
        [SourceNote::Ipv6TableMissing {
            protocol: Protocol::Udp,
            path: scratch.0.join("net/udp6"),
        }]
    );
    assert!(table.notes[0].to_string().contains("no IPv6 UDP sockets"));

    // A tcp file where udp belongs is refused by its header.
    std::fs::write(scratch.0.join("net/udp"), fixture("capture/net/tcp")).unwrap();
    match read_sockets(&scratch.0, Protocol::Udp, &Query::everything()) {
        Err(Error::Invalid(message)) => assert!(
            message.contains("not a /proc/net/udp table (unexpected first line)"),
            "{message}"
        ),
        other => panic!("expected Invalid, got {other:?}"),
    }
    // No udp at all: an error naming it.
    std::fs::remove_file(scratch.0.join("net/udp")).unwrap();
    match read_sockets(&scratch.0, Protocol::Udp, &Query::everything()) {
        Err(Error::Io { path, .. }) => assert!(path.ends_with("net/udp"), "{path}"),
        other => panic!("expected Io, got {other:?}"),
    }
}

/// Two SOCK_DIAG_BY_FAMILY dumps (AF_INET, then AF_INET6) of the scenario
/// of tests/udp_source.rs.
const NETLINK_CAPTURE: &[u8] = include_bytes!("../fixtures/netlink/udp-dump.bin");

#[cfg(target_endian = "little")]
#[test]
fn real_sock_diag_capture() {
    let mut sockets = Vec::new();
    let status = netlink::parse_dump(NETLINK_CAPTURE, Protocol::Udp, &mut sockets).unwrap();
    assert!(status.done && !status.interrupted);
    let seen: Vec<String> = sockets
        .iter()
        .map(|s| {
            assert_eq!(s.protocol, Protocol::Udp);
            assert_eq!(s.timer, None);
            assert!(s.cookie.is_some() && s.inode != 0);
            format!(
                "{} {} {} dev={} v6only={:?}",
                s.state, s.local, s.remote, s.bound_device, s.v6only
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            "CLOSE 0.0.0.0:5353 0.0.0.0:0 dev=0 v6only=None",
            "CLOSE 0.0.0.0:5353 0.0.0.0:0 dev=0 v6only=None",
            "CLOSE 127.0.0.1:9531 0.0.0.0:0 dev=0 v6only=None",
            "ESTABLISHED 127.0.0.1:9534 127.0.0.1:5353 dev=0 v6only=None",
            "CLOSE 127.0.0.1:9540 0.0.0.0:0 dev=0 v6only=None",
            "CLOSE 127.0.0.1:9540 0.0.0.0:0 dev=0 v6only=None",
            "CLOSE 0.0.0.0:9541 0.0.0.0:0 dev=1 v6only=None",
            "CLOSE [::1]:9532 [::]:0 dev=0 v6only=Some(true)",
            "CLOSE [::]:9533 [::]:0 dev=0 v6only=Some(false)",
            "ESTABLISHED [::1]:9535 [::1]:9532 dev=0 v6only=None",
            "CLOSE [::]:9536 [::]:0 dev=0 v6only=Some(true)",
        ]
    );
    // Read as TCP, the same bytes would say BOUND for CLOSE: the protocol
    // must come from the request.
    let mut as_tcp = Vec::new();
    netlink::parse_dump(NETLINK_CAPTURE, Protocol::Tcp, &mut as_tcp).unwrap();
    assert_eq!(as_tcp[0].state, TcpState::Bound);
}

#[test]
fn a_udp_message_in_a_tcp_only_state_is_malformed() {
    // The first message's inet_diag_msg, with its state byte set to LISTEN.
    let mut payload = NETLINK_CAPTURE[16..124].to_vec();
    assert!(netlink::parse_inet_diag_msg(&payload, Protocol::Udp).is_ok());
    payload[1] = 10;
    assert!(netlink::parse_inet_diag_msg(&payload, Protocol::Udp).is_err());
    assert!(netlink::parse_inet_diag_msg(&payload, Protocol::Tcp).is_ok());
}
