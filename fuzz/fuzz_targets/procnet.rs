//! /proc/net/{tcp,udp}{,6} parser: no input may panic it, what it accepts must be
//! coherent with what it was asked to parse, and the file reader (used on
//! captured copies) must agree with the pure parser.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tw_inspect::model::{Family, Protocol, Query};
use tw_inspect::source::procnet::{parse_table, read_sockets, ticks_per_second};

/// 0 means "timer unit unknown" (rows with an armed timer are skipped);
/// 100 and 1000 are real USER_HZ values; u64::MAX stresses the arithmetic.
const TICK_RATES: [u64; 4] = [0, 100, 1000, u64::MAX];

/// The kernel's tcp header: all the tcp of the root whose tcp6 is the input.
const TCP_HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

/// Lines up to this long are read whole by the file reader (real rows are
/// under 200 bytes; its cap is larger), so it must then match parse_table.
const SHORT_LINE: usize = 200;

fuzz_target!(|data: &[u8]| {
    // parse_table takes &str: valid UTF-8 passes as is, anything else the way
    // a lossy reader would hand it over (U+FFFD for bad bytes).
    let text = String::from_utf8_lossy(data);
    let lines = text.lines().count();
    for (protocol, family) in Protocol::ALL
        .into_iter()
        .flat_map(|p| [(p, Family::Ipv4), (p, Family::Ipv6)])
    {
        let mut accepted_with_timers = None;
        for ticks in TICK_RATES {
            let table = parse_table(&text, protocol, family, ticks);
            assert!(table.sockets.len() + table.skipped_rows <= lines);
            for socket in &table.sockets {
                assert_eq!(socket.protocol, protocol);
                assert!(protocol == Protocol::Tcp || socket.timer.is_none());
                assert_eq!(socket.family, family);
                assert_eq!(Family::of(&socket.local.ip()), family);
                assert_eq!(Family::of(&socket.remote.ip()), family);
                assert!(ticks != 0 || socket.timer.is_none());
            }
            // The tick rate only scales timers: any known rate accepts the
            // same rows.
            if ticks != 0 {
                let counts = (table.sockets.len(), table.skipped_rows);
                assert_eq!(*accepted_with_timers.get_or_insert(counts), counts);
            }
        }
    }
    read_as_files(data);
});

/// Reads `data` through read_sockets, as the tcp of a proc root without
/// tcp6 (IPv6 disabled) and as the tcp6 of one whose tcp has no rows.
fn read_as_files(data: &[u8]) {
    let comparable = std::str::from_utf8(data)
        .ok()
        .filter(|text| text.split('\n').all(|line| line.len() <= SHORT_LINE));
    for &(family, ref root) in proc_roots() {
        let file = match family {
            Family::Ipv4 => "net/tcp",
            Family::Ipv6 => "net/tcp6",
        };
        std::fs::write(root.join(file), data).expect("write the input");
        // Err (not a table) is a fine answer; a panic or disagreement is not.
        if let (Ok(read), Some(text)) = (
            read_sockets(root, Protocol::Tcp, &Query::everything()),
            comparable,
        ) {
            // The reader adds a note for the missing tcp6; the rows must agree.
            let parsed = parse_table(text, Protocol::Tcp, family, ticks_per_second());
            assert_eq!(read.sockets, parsed.sockets);
            assert_eq!(read.skipped_rows, parsed.skipped_rows);
        }
    }
}

/// Proc roots are named this and a process id (libFuzzer exits without
/// running destructors, so each process leaves its own behind).
const ROOTS_PREFIX: &str = "tw-inspect-fuzz-";

/// This process's two proc roots, made once.
fn proc_roots() -> &'static [(Family, PathBuf); 2] {
    static ROOTS: OnceLock<[(Family, PathBuf); 2]> = OnceLock::new();
    ROOTS.get_or_init(|| {
        // tmpfs when there is one: a file write on a disk-backed /tmp can
        // cost milliseconds, a hundred times the parse.
        let shm = Path::new("/dev/shm");
        let tmp = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        remove_dead_roots(&tmp);
        let base = tmp.join(format!("{ROOTS_PREFIX}{}", std::process::id()));
        let (v4, v6) = (base.join("tcp"), base.join("tcp6"));
        for root in [&v4, &v6] {
            std::fs::create_dir_all(root.join("net")).expect("create a proc root");
        }
        std::fs::write(v6.join("net/tcp"), TCP_HEADER).expect("write tcp");
        [(Family::Ipv4, v4), (Family::Ipv6, v6)]
    })
}

/// Removes the proc roots of fuzzing processes that are gone.
fn remove_dead_roots(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name.to_str().and_then(|n| n.strip_prefix(ROOTS_PREFIX));
        if pid.is_some_and(|pid| !Path::new("/proc").join(pid).exists()) {
            // Best effort: a leftover that cannot be removed only costs space.
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
