//! The /proc source against the kernel: in a fresh network namespace with a
//! few thousand real sockets, what `read_sockets` returns must be what `ss`
//! sees, and TIME_WAIT timers must agree with ss's.
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;

use common::{sockets, Netns};
use tw_inspect::model::{Protocol, Query, Socket, TcpState};
use tw_inspect::source::procnet::{read_sockets, ParsedTable};

/// Sockets kept open for the duration of the test.
struct Held {
    _listeners: Vec<TcpListener>,
    _streams: Vec<TcpStream>,
}

fn pair(listener: &TcpListener, to: SocketAddr) -> (TcpStream, TcpStream) {
    let client = TcpStream::connect(to).unwrap();
    let (accepted, _) = listener.accept().unwrap();
    (client, accepted)
}

fn wait_eof(stream: &TcpStream) {
    use std::io::Read;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 16];
    let mut reader = stream;
    while reader.read(&mut buf).map(|n| n > 0).unwrap_or(false) {}
}

/// LISTEN v4/v6/dual-stack, ESTABLISHED (v4, v6, v4-mapped), CLOSE_WAIT with
/// FIN_WAIT2 mini-sockets, TIME_WAIT (v4, v6, v4-mapped): about 3,700 sockets.
fn build_scenario() -> Held {
    let v4: SocketAddr = "127.0.0.1:9527".parse().unwrap();
    let v6: SocketAddr = "[::1]:9528".parse().unwrap();
    let dual: SocketAddr = "[::]:9529".parse().unwrap();
    let dual_v4: SocketAddr = "127.0.0.1:9529".parse().unwrap();
    let l4 = sockets::listen_with(v4, sockets::Opts::default());
    let l6 = sockets::listen_with(v6, sockets::Opts::default());
    let ld = sockets::listen_with(
        dual,
        sockets::Opts {
            v6only: Some(false),
            ..Default::default()
        },
    );
    let mut streams = Vec::new();
    for (listener, to, n) in [(&l4, v4, 400), (&l6, v6, 400), (&ld, dual_v4, 200)] {
        for _ in 0..n {
            let (c, a) = pair(listener, to);
            streams.extend([c, a]);
        }
    }
    // Server closes, client stays: FIN_WAIT2 mini-socket + CLOSE_WAIT.
    for (listener, to) in [(&l4, v4), (&l6, v6)] {
        for _ in 0..150 {
            let (c, a) = pair(listener, to);
            drop(a);
            streams.push(c);
        }
    }
    // TIME_WAIT on the client (v4, v6) or on the server (v4-mapped).
    for (listener, to, n, client_first) in [
        (&l4, v4, 400, true),
        (&l6, v6, 400, true),
        (&ld, dual_v4, 200, false),
    ] {
        let pairs: Vec<_> = (0..n).map(|_| pair(listener, to)).collect();
        let (first, second): (Vec<_>, Vec<_>) = pairs
            .into_iter()
            .map(|(c, a)| if client_first { (c, a) } else { (a, c) })
            .unzip();
        drop(first);
        for stream in &second {
            wait_eof(stream);
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    Held {
        _listeners: vec![l4, l6, ld],
        _streams: streams,
    }
}

fn ours(ns: &Netns) -> ParsedTable {
    ns.run(|| {
        read_sockets(
            Path::new("/proc/thread-self"),
            Protocol::Tcp,
            &Query::everything(),
        )
    })
    .expect("read /proc/thread-self/net/tcp{,6}")
}

fn norm_ours(addr: &SocketAddr) -> String {
    let ip = addr.ip();
    let host = if ip.is_unspecified() {
        "*".to_string()
    } else {
        ip.to_string()
    };
    format!("{host}:{}", addr.port())
}

/// ss prints `[::ffff:127.0.0.1]:9527`, `127.0.0.1%lo:22`, `*:9529`, `0.0.0.0:*`.
fn norm_ss(text: &str) -> String {
    let (host, port) = text.rsplit_once(':').expect("ss address has a port");
    let host = host.trim_start_matches('[').replace(']', "");
    let host = host.split('%').next().unwrap_or_default();
    let host = match host {
        "*" => "*".to_string(),
        _ => {
            let ip: std::net::IpAddr = host.parse().unwrap_or_else(|_| panic!("ss host {host}"));
            if ip.is_unspecified() {
                "*".to_string()
            } else {
                ip.to_string()
            }
        }
    };
    let port: u16 = if port == "*" {
        0
    } else {
        port.parse().unwrap()
    };
    format!("{host}:{port}")
}

type Key = (TcpState, String, String);

fn key(socket: &Socket) -> Key {
    (
        socket.state,
        norm_ours(&socket.local),
        norm_ours(&socket.remote),
    )
}

/// `ss -tanoH` lines as keys, with the time-wait timer in ms when shown.
fn ss_rows(ns: &Netns) -> Vec<(Key, Option<u64>)> {
    ns.ss(&["-tanoH"])
        .lines()
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let state = TcpState::parse_user(words[0]).unwrap_or_else(|| panic!("ss state {line}"));
            // ss says UNCONN for CLOSE.
            let state = if state == TcpState::Bound {
                TcpState::Close
            } else {
                state
            };
            let timer = words
                .iter()
                .find_map(|w| w.strip_prefix("timer:(timewait,"))
                .map(|t| ss_ms(t.split(',').next().unwrap()));
            ((state, norm_ss(words[3]), norm_ss(words[4])), timer)
        })
        .collect()
}

/// ss's print_ms_timer: `1min`, `59sec` (seconds truncated above 9 s),
/// `8.123ms`, `950ms`.
fn ss_ms(text: &str) -> u64 {
    let mut total = 0;
    let mut rest = text;
    if let Some((min, r)) = rest.split_once("min") {
        total += min.parse::<u64>().unwrap() * 60_000;
        rest = r;
    }
    if let Some((sec, r)) = rest.split_once("sec") {
        total += sec.parse::<u64>().unwrap() * 1000;
        rest = r;
    } else if let Some((sec, r)) = rest.split_once('.') {
        total += sec.parse::<u64>().unwrap() * 1000;
        rest = r;
    }
    if let Some(ms) = rest.strip_suffix("ms") {
        total += ms.parse::<u64>().unwrap();
    }
    total
}

#[test]
fn proc_table_matches_ss_in_a_namespace() {
    require_netns!();
    let ns = Netns::new();
    let _held = ns.run(build_scenario);

    let before = ours(&ns);
    let ss = ss_rows(&ns);
    let after = ours(&ns);
    assert_eq!(before.skipped_rows, 0);

    let mine: BTreeSet<Key> = before.sockets.iter().map(key).collect();
    let theirs: BTreeSet<Key> = ss.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(mine.len(), before.sockets.len(), "duplicate rows");
    assert_eq!(theirs.len(), ss.len(), "duplicate ss rows");
    let only_mine: Vec<_> = mine.difference(&theirs).collect();
    let only_ss: Vec<_> = theirs.difference(&mine).collect();
    assert!(
        only_mine.is_empty() && only_ss.is_empty(),
        "only in /proc: {only_mine:?}\nonly in ss: {only_ss:?}"
    );

    // Every kind of row is there, in both families.
    let count = |state: TcpState, v6: bool| {
        before
            .sockets
            .iter()
            .filter(|s| s.state == state && s.local.is_ipv6() == v6)
            .count()
    };
    assert!(before.sockets.len() > 3000, "{}", before.sockets.len());
    assert_eq!(count(TcpState::Listen, false), 1);
    assert_eq!(count(TcpState::Listen, true), 2);
    assert_eq!(count(TcpState::Established, false), 800 + 200); // 200 v4 clients of the dual listener
    assert_eq!(count(TcpState::Established, true), 800 + 200); // 200 v4-mapped accepted
    assert_eq!(count(TcpState::CloseWait, false), 150);
    assert_eq!(count(TcpState::CloseWait, true), 150);
    assert_eq!(count(TcpState::FinWait2, false), 150);
    assert_eq!(count(TcpState::FinWait2, true), 150);
    assert_eq!(count(TcpState::TimeWait, false), 400);
    assert_eq!(count(TcpState::TimeWait, true), 400 + 200);
    let mapped_tw = before
        .sockets
        .iter()
        .filter(|s| {
            s.state == TcpState::TimeWait
                && s.local.to_string().starts_with("[::ffff:127.0.0.1]:9529")
        })
        .count();
    assert_eq!(mapped_tw, 200);

    // Time-wait timers: ss read between our two reads, so its value lies
    // between them, less ss's truncation to whole seconds (above 9 s) and
    // tick rounding.
    let remaining = |table: &ParsedTable| -> BTreeMap<Key, u64> {
        table
            .sockets
            .iter()
            .filter_map(|s| Some((key(s), s.time_wait_remaining_ms()?)))
            .collect()
    };
    let (early, late) = (remaining(&before), remaining(&after));
    let mut checked = 0;
    for (k, ss_ms) in ss.iter().filter_map(|(k, t)| Some((k, (*t)?))) {
        let (Some(early), Some(late)) = (early.get(k), late.get(k)) else {
            panic!("ss has a time-wait timer for {k:?} that /proc has not");
        };
        assert!(
            ss_ms <= early + 20 && ss_ms + 1000 + 20 >= *late,
            "{k:?}: ss {ss_ms} ms, /proc {early}..{late} ms"
        );
        assert!(*early > 50_000 && *early <= 60_000, "{k:?}: {early} ms");
        checked += 1;
    }
    // FIN_WAIT2 minis and TIME_WAITs: 2 * 150 + 400 + 600 made, but under load
    // an orphaned FIN_WAIT2 can stay a full socket on the keepalive timer for
    // a while, so a few may not carry the time-wait timer yet.
    assert!(
        checked > 1250 && checked <= 1300,
        "{checked} time-wait timers compared"
    );
}
