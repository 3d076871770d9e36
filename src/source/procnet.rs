//! The /proc/net/{tcp,tcp6,udp,udp6} source: the fallback when sock_diag
//! is unavailable, and the reader for captured copies of those files.
//!
//! Row layouts (net/ipv4/tcp_ipv4.c, net/ipv6/tcp_ipv6.c, net/ipv4/udp.c
//! `udp4_format_sock`, net/ipv6/datagram.c `__ip6_dgram_sock_seq_show`) share
//! their first twelve fields, `sl local remote st tx:rx tr:when retrnsmt uid
//! timeout inode refcnt ptr`, parsed by one function; then
//! - a full TCP socket adds 5: `rto ato qack cwnd ssthresh` (17 in all);
//! - a TCP time-wait mini-socket (st 05 or 06, tr 03) and a request socket
//!   (st 03, tr 01) stop at 12, inode 0;
//! - a UDP socket adds `drops` (13 in all); its `st` is 07 (CLOSE:
//!   unconnected) or 01 (ESTABLISHED: connected), and it has no timer
//!   (`tr:when` and `retrnsmt` are always zero).
//!
//! Policy for bad input: a row that does not have exactly one of these shapes
//! (field count, hex widths, a known state and timer) is skipped and counted
//! in `skipped_rows`, never guessed at. [`read_sockets`] additionally requires
//! each file to begin with the kernel's header line: a file that does not
//! (empty, binary, some other table) is an [`Error::Invalid`], so pointing the
//! tool at the wrong file fails loudly instead of reporting "0 sockets".

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use super::SourceNote;
use crate::error::Error;
use crate::model::{Family, Protocol, Query, Socket, TcpState, Timer, TimerKind};

/// Rows longer than this are garbage: real rows are under 200 bytes. The cap
/// keeps a file without newlines from being read into memory whole.
const MAX_LINE: usize = 1024;
/// A "line" longer than this ends the read with an error: no table has one,
/// and skipping it could take forever (a sparse file of zeros). Shorter
/// runs of garbage are skipped and counted like any bad row.
const MAX_GARBAGE_LINE: usize = 64 << 20;

/// What one /proc/net table text (or a protocol's pair of files) yielded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedTable {
    pub sockets: Vec<Socket>,
    /// Rows that could not be parsed and were left out.
    pub skipped_rows: usize,
    /// What could not be seen at all (a missing IPv6 file).
    pub notes: Vec<SourceNote>,
}

/// The name of a protocol's table for a family under `/proc/net`.
pub fn table_name(protocol: Protocol, family: Family) -> &'static str {
    match (protocol, family) {
        (Protocol::Tcp, Family::Ipv4) => "tcp",
        (Protocol::Tcp, Family::Ipv6) => "tcp6",
        (Protocol::Udp, Family::Ipv4) => "udp",
        (Protocol::Udp, Family::Ipv6) => "udp6",
    }
}

/// USER_HZ, the unit of `tm->when` (100 on every mainstream architecture):
/// what `sysconf(_SC_CLK_TCK)` returns, read by procfs from the aux vector.
pub fn ticks_per_second() -> u64 {
    Some(procfs::ticks_per_second())
        .filter(|ticks| *ticks > 0)
        .unwrap_or(100)
}

/// Parses the text of /proc/net/tcp, tcp6, udp or udp6 (`protocol` and
/// `family` say which). Header and blank lines are ignored; every other line
/// is a socket or a skipped row. With `ticks_per_sec` 0, rows with an armed
/// timer are skipped (their remaining time cannot be known).
pub fn parse_table(
    text: &str,
    protocol: Protocol,
    family: Family,
    ticks_per_sec: u64,
) -> ParsedTable {
    let mut table = ParsedTable::default();
    let kind = TableKind {
        protocol,
        family,
        ticks_per_sec,
    };
    for line in text.lines() {
        table.take_line(Some(line), kind, &Query::everything());
    }
    table
}

/// Reads `proc_root/net/tcp` and `tcp6` (or `udp` and `udp6`), keeping the
/// sockets `query` matches. The IPv6 file may be absent (IPv6 disabled, or a
/// capture without it): that is a [`SourceNote::Ipv6TableMissing`], not an
/// error. `proc_root` is `/proc`, `/proc/thread-self` (the calling thread's
/// network namespace), or a directory holding captured copies under `net/`.
pub fn read_sockets(
    proc_root: &Path,
    protocol: Protocol,
    query: &Query,
) -> crate::Result<ParsedTable> {
    // Checked first so a mistyped root is named as such, not as root/net/tcp.
    std::fs::metadata(proc_root).map_err(|e| Error::io(proc_root.display(), e))?;
    let ticks_per_sec = ticks_per_second();
    let mut table = ParsedTable::default();
    for family in [Family::Ipv4, Family::Ipv6] {
        let kind = TableKind {
            protocol,
            family,
            ticks_per_sec,
        };
        let path = table_path(proc_root, protocol, family);
        match open_table(&path) {
            Ok(file) => read_file(file, &path, kind, query, &mut table)?,
            Err(Error::Io { source, .. })
                if family == Family::Ipv6 && source.kind() == io::ErrorKind::NotFound =>
            {
                table
                    .notes
                    .push(SourceNote::Ipv6TableMissing { protocol, path });
            }
            Err(e) => return Err(e),
        }
    }
    Ok(table)
}

/// `proc_root/net/NAME`.
pub fn table_path(proc_root: &Path, protocol: Protocol, family: Family) -> PathBuf {
    proc_root.join("net").join(table_name(protocol, family))
}

/// Which table a text is, and the unit of its timers.
#[derive(Debug, Clone, Copy)]
struct TableKind {
    protocol: Protocol,
    family: Family,
    ticks_per_sec: u64,
}

/// Opens a table that must be a regular file (as /proc's are): a FIFO would
/// block the open forever and a device (a link to /dev/zero or /dev/urandom)
/// never ends.
fn open_table(path: &Path) -> crate::Result<File> {
    let kind = std::fs::metadata(path).map_err(|e| Error::io(path.display(), e))?;
    if !kind.is_file() {
        return Err(Error::Invalid(format!(
            "{}: not a regular file",
            path.display()
        )));
    }
    File::open(path).map_err(|e| Error::io(path.display(), e))
}

fn read_file(
    file: File,
    path: &Path,
    kind: TableKind,
    query: &Query,
    table: &mut ParsedTable,
) -> crate::Result<()> {
    let io_error = |e: io::Error| {
        if e.kind() == io::ErrorKind::InvalidData {
            Error::Invalid(format!("{}: not a /proc/net table ({e})", path.display()))
        } else {
            Error::io(path.display(), e)
        }
    };
    // /proc hands out a page or so per read; a large buffer saves syscalls.
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut line = Vec::with_capacity(256);
    let problem = match read_capped_line(&mut reader, &mut line).map_err(io_error)? {
        None => Some("empty"),
        Some(true) if std::str::from_utf8(&line).is_ok_and(|l| is_header(l, kind)) => None,
        Some(_) => Some("unexpected first line"),
    };
    if let Some(problem) = problem {
        return Err(Error::Invalid(format!(
            "{}: not a /proc/net/{} table ({problem})",
            path.display(),
            table_name(kind.protocol, kind.family)
        )));
    }
    while let Some(complete) = read_capped_line(&mut reader, &mut line).map_err(io_error)? {
        let text = if complete {
            std::str::from_utf8(&line).ok()
        } else {
            None
        };
        table.take_line(text, kind, query);
    }
    Ok(())
}

impl ParsedTable {
    /// Accounts for one line; `None` is a line already known to be garbage.
    fn take_line(&mut self, line: Option<&str>, kind: TableKind, query: &Query) {
        let Some(line) = line else {
            self.skipped_rows += 1;
            return;
        };
        if line.trim_ascii().is_empty() || is_header(line, kind) {
            return;
        }
        match parse_row(line, kind) {
            Some(socket) if query.matches(&socket) => self.sockets.push(socket),
            Some(_) => {}
            None => self.skipped_rows += 1,
        }
    }
}

/// Reads one line into `buf` without its newline. `Some(false)`: the line
/// was longer than [`MAX_LINE`] and was consumed but not kept. `None`: EOF.
fn read_capped_line(reader: &mut impl BufRead, buf: &mut Vec<u8>) -> io::Result<Option<bool>> {
    buf.clear();
    let mut seen_any = false;
    let mut too_long = false;
    let mut consumed = 0usize;
    loop {
        let chunk = match reader.fill_buf() {
            Ok(chunk) => chunk,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(seen_any.then_some(!too_long));
        }
        seen_any = true;
        let newline = chunk.iter().position(|b| *b == b'\n');
        let content = chunk
            .get(..newline.unwrap_or(chunk.len()))
            .unwrap_or_default();
        if !too_long {
            if buf.len() + content.len() > MAX_LINE {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(content);
            }
        }
        let used = newline.map_or(chunk.len(), |n| n + 1);
        reader.consume(used);
        consumed += used;
        if newline.is_none() && consumed > MAX_GARBAGE_LINE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a line of more than {} MiB", MAX_GARBAGE_LINE >> 20),
            ));
        }
        if newline.is_some() {
            return Ok(Some(!too_long));
        }
    }
}

/// The kernel's header line, compared word by word (the headers are padded
/// with spaces; tcp6 and udp6 say `remote_address`; udp adds `ref pointer
/// drops`).
fn is_header(line: &str, kind: TableKind) -> bool {
    let remote = match kind.family {
        Family::Ipv4 => "rem_address",
        Family::Ipv6 => "remote_address",
    };
    let expected = [
        "sl",
        "local_address",
        remote,
        "st",
        "tx_queue",
        "rx_queue",
        "tr",
        "tm->when",
        "retrnsmt",
        "uid",
        "timeout",
        "inode",
    ];
    let udp_tail: &[&str] = match kind.protocol {
        Protocol::Tcp => &[],
        Protocol::Udp => &["ref", "pointer", "drops"],
    };
    line.split_ascii_whitespace()
        .eq(expected.iter().chain(udp_tail).copied())
}

/// Field count of a full TCP socket's row; mini-sockets print the first 12.
const FULL_FIELDS: usize = 17;
const MINI_FIELDS: usize = 12;

/// The twelve fields every table starts with, checked and decoded.
struct RowHead {
    local: SocketAddr,
    remote: SocketAddr,
    /// `st`, the kernel's state number.
    state: u8,
    tx_queue: u32,
    rx_queue: u32,
    /// `tr`, the timer kind number (0: none).
    timer: u8,
    /// `tm->when`, in USER_HZ ticks.
    ticks: u64,
    retransmits: u8,
    uid: u32,
    inode: u64,
}

fn parse_head(fields: &[&str; MINI_FIELDS], family: Family) -> Option<RowHead> {
    let [sl, local, remote, st, queues, timer, retrnsmt, uid, timeout, inode, refcnt, ptr] =
        *fields;
    let sl = sl.strip_suffix(':')?;
    decimal::<u64>(sl)?;
    let local = address(local, family)?;
    let remote = address(remote, family)?;
    let state = u8::try_from(hex(st, 2)?).ok()?;
    let (tx, rx) = queues.split_once(':')?;
    let (tx_queue, rx_queue) = (hex(tx, 8)?, hex(rx, 8)?);
    let (tr, when) = timer.split_once(':')?;
    let timer = u8::try_from(hex(tr, 2)?).ok()?;
    // `%08lX` of an unsigned long: 8 digits, up to 16 on 64-bit.
    if !(8..=16).contains(&when.len()) {
        return None;
    }
    let ticks = u64::from_str_radix(when, 16)
        .ok()
        .filter(|_| is_hex(when))?;
    let retransmits = u8::try_from(hex(retrnsmt, 8)?).ok()?;
    let uid: u32 = decimal(uid)?;
    signed(timeout)?;
    let inode: u64 = decimal(inode)?;
    signed(refcnt)?;
    if ptr.is_empty() || ptr.len() > 16 || !is_hex(ptr) {
        return None;
    }
    Some(RowHead {
        local,
        remote,
        state,
        tx_queue,
        rx_queue,
        timer,
        ticks,
        retransmits,
        uid,
        inode,
    })
}

fn parse_row(line: &str, kind: TableKind) -> Option<Socket> {
    let mut fields = [""; FULL_FIELDS];
    let mut count = 0;
    for word in line.split_ascii_whitespace() {
        *fields.get_mut(count)? = word;
        count += 1;
    }
    let (head_fields, tail) = fields.split_first_chunk::<MINI_FIELDS>()?;
    let tail = tail.get(..count.checked_sub(MINI_FIELDS)?)?;
    let head = parse_head(head_fields, kind.family)?;
    let (state, timer) = match kind.protocol {
        Protocol::Tcp => tcp_state_and_timer(&head, tail, kind.ticks_per_sec)?,
        Protocol::Udp => (udp_state(&head, tail)?, None),
    };
    Some(Socket {
        protocol: kind.protocol,
        family: kind.family,
        state,
        local: head.local,
        remote: head.remote,
        bound_device: 0,
        timer,
        rx_queue: head.rx_queue,
        tx_queue: head.tx_queue,
        uid: head.uid,
        inode: head.inode,
        cookie: None,
        v6only: None,
        processes: Vec::new(),
    })
}

/// A TCP row's state and timer, checking the fields after the common twelve.
fn tcp_state_and_timer(
    head: &RowHead,
    tail: &[&str],
    ticks_per_sec: u64,
) -> Option<(TcpState, Option<Timer>)> {
    let state = TcpState::from_kernel(head.state)
        // 13 (BOUND_INACTIVE) never reaches /proc: those sockets are in no
        // table it walks.
        .filter(|s| *s != TcpState::Bound)?;
    match tail {
        [rto, ato, qack, cwnd, ssthresh] => {
            // Not used, but must look right, so that a row with junk in its
            // tail is not taken for a socket.
            decimal::<u64>(rto)?;
            decimal::<u64>(ato)?;
            decimal::<u32>(qack)?;
            decimal::<u32>(cwnd)?;
            signed(ssthresh)?;
        }
        [] => {
            // Only time-wait (st 05/06, tr 3) and request sockets (st 03,
            // tr 1) print 12 fields, with no inode and empty queues; anything
            // else is a full row cut short.
            let mini = matches!(
                (state, head.timer),
                (TcpState::TimeWait | TcpState::FinWait2, 3) | (TcpState::SynRecv, 1)
            );
            if !mini || head.inode != 0 || head.tx_queue != 0 || head.rx_queue != 0 {
                return None;
            }
        }
        _ => return None,
    }
    let timer = match head.timer {
        0 => None,
        tr => Some(Timer {
            kind: TimerKind::from_kernel(tr)?,
            expires_ms: head.ticks.checked_mul(1000)?.checked_div(ticks_per_sec)?,
            retransmits: head.retransmits,
        }),
    };
    Some((state, timer))
}

/// A UDP row's state (CLOSE or ESTABLISHED), checking that it has no timer
/// and that `drops` follows the common twelve.
fn udp_state(head: &RowHead, tail: &[&str]) -> Option<TcpState> {
    let [drops] = tail else { return None };
    decimal::<u32>(drops)?;
    if head.timer != 0 || head.ticks != 0 || head.retransmits != 0 {
        return None;
    }
    TcpState::from_kernel(head.state)
        .filter(|s| matches!(s, TcpState::Close | TcpState::Established))
}

/// `ADDR:PORT`: IPv4 as `%08X` of the network-order word read in host order,
/// IPv6 as four such words; the port as plain `%04X`.
fn address(field: &str, family: Family) -> Option<SocketAddr> {
    let (ip, port) = field.split_once(':')?;
    let port = u16::try_from(hex(port, 4)?).ok()?;
    let ip = match family {
        Family::Ipv4 => IpAddr::V4(Ipv4Addr::from(hex(ip, 8)?.to_ne_bytes())),
        Family::Ipv6 => {
            if ip.len() != 32 {
                return None;
            }
            let mut octets = [0u8; 16];
            for (i, chunk) in octets.chunks_exact_mut(4).enumerate() {
                let word = hex(ip.get(i * 8..i * 8 + 8)?, 8)?;
                chunk.copy_from_slice(&word.to_ne_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(octets))
        }
    };
    Some(SocketAddr::new(ip, port))
}

fn is_hex(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Exactly `width` hex digits (from_str_radix alone would accept a sign).
fn hex(text: &str, width: usize) -> Option<u32> {
    if text.len() != width || !is_hex(text) {
        return None;
    }
    u32::from_str_radix(text, 16).ok()
}

/// Unsigned decimal digits only.
fn decimal<T: std::str::FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A `%d` field: optional minus, then digits.
fn signed(text: &str) -> Option<i64> {
    decimal::<i64>(text.strip_prefix('-').unwrap_or(text))?;
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_long_lines_are_consumed_and_flagged() {
        let mut text = "a".repeat(MAX_LINE + 10);
        text.push_str("\nshort\nlast");
        let mut reader = io::BufReader::with_capacity(16, text.as_bytes());
        let mut buf = Vec::new();
        assert_eq!(
            read_capped_line(&mut reader, &mut buf).ok(),
            Some(Some(false))
        );
        assert_eq!(
            read_capped_line(&mut reader, &mut buf).ok(),
            Some(Some(true))
        );
        assert_eq!(buf, b"short");
        assert_eq!(
            read_capped_line(&mut reader, &mut buf).ok(),
            Some(Some(true))
        );
        assert_eq!(buf, b"last");
        assert_eq!(read_capped_line(&mut reader, &mut buf).ok(), Some(None));
    }

    #[test]
    fn endless_lines_are_an_error() {
        let zeros = io::Read::take(io::repeat(0), MAX_GARBAGE_LINE as u64 + 10);
        let mut reader = io::BufReader::with_capacity(64 * 1024, zeros);
        let mut buf = Vec::new();
        let error = read_capped_line(&mut reader, &mut buf).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn ticks_per_second_is_positive() {
        assert!(ticks_per_second() > 0);
    }
}
