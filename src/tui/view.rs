//! Which rows the table shows and in what order: state presets, free-text
//! filter, sorting, and scrolling. Computed once per reading or per change
//! of filter or sort, never per frame: a frame draws only the visible slice.

use std::net::SocketAddr;

use crate::model::{Protocol, ProtocolSet, Socket, TcpState};
use crate::output::inert::inert;
use crate::session::NamespaceEntry;
use crate::tui::left_by::LeftBy;

/// A state filter the digits 1-9 (and Tab) choose.
pub(crate) struct StatePreset {
    pub name: &'static str,
    matches: fn(&Socket, Option<u16>) -> bool,
}

pub(crate) const STATE_PRESETS: [StatePreset; 9] = [
    StatePreset {
        name: "all",
        matches: |_, _| true,
    },
    StatePreset {
        name: "TIME_WAIT",
        matches: |s, _| s.is_time_wait_like(),
    },
    StatePreset {
        name: "LISTEN",
        matches: |s, _| s.state == TcpState::Listen,
    },
    StatePreset {
        name: "ESTABLISHED",
        matches: |s, _| s.state == TcpState::Established,
    },
    StatePreset {
        name: "CLOSE_WAIT",
        matches: |s, _| s.state == TcpState::CloseWait,
    },
    StatePreset {
        name: "FIN_WAIT",
        matches: |s, _| {
            matches!(s.state, TcpState::FinWait1 | TcpState::FinWait2) && !s.is_time_wait_like()
        },
    },
    StatePreset {
        name: "SYN",
        matches: |s, _| {
            matches!(
                s.state,
                TcpState::SynSent | TcpState::SynRecv | TcpState::NewSynRecv
            )
        },
    },
    StatePreset {
        name: "other",
        matches: |s, _| {
            matches!(
                s.state,
                TcpState::Close | TcpState::Closing | TcpState::LastAck | TcpState::Bound
            )
        },
    },
    StatePreset {
        name: "chosen port",
        matches: |s, port| port == Some(s.local.port()),
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SortColumn {
    State,
    Local,
    Peer,
    Timer,
    Process,
}

impl SortColumn {
    pub const ALL: [SortColumn; 5] = [
        SortColumn::State,
        SortColumn::Local,
        SortColumn::Peer,
        SortColumn::Timer,
        SortColumn::Process,
    ];

    pub fn title(self) -> &'static str {
        match self {
            SortColumn::State => "State",
            SortColumn::Local => "Local",
            SortColumn::Peer => "Peer",
            SortColumn::Timer => "Timer",
            SortColumn::Process => "Process",
        }
    }

    pub fn next(self) -> SortColumn {
        let index = SortColumn::ALL.iter().position(|c| *c == self).unwrap_or(0);
        SortColumn::ALL[(index + 1) % SortColumn::ALL.len()]
    }
}

/// What the user asked the table to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ViewSpec {
    /// Index into [`STATE_PRESETS`].
    pub preset: usize,
    pub text: String,
    pub sort: SortColumn,
    pub descending: bool,
    /// The protocols the table shows (`u` cycles them). A reading may hold
    /// more: the intended bind's protocol is always read for its verdict.
    pub protocols: ProtocolSet,
}

impl Default for ViewSpec {
    fn default() -> Self {
        ViewSpec {
            preset: 0,
            text: String::new(),
            sort: SortColumn::State,
            descending: false,
            protocols: ProtocolSet::TCP,
        }
    }
}

/// The process a row shows: its owner, or for a TIME_WAIT the one that left it.
fn row_process<'a>(socket: &'a Socket, left_by: &'a LeftBy) -> Option<(u32, &'a str)> {
    match socket.processes.first() {
        Some(process) => Some((process.pid, process.comm.as_str())),
        None => left_by
            .of(socket)
            .map(|owner| (owner.pid, owner.comm.as_str())),
    }
}

/// Indices into `sockets` of the rows to show, filtered and sorted.
pub(crate) fn compute_rows(
    sockets: &[Socket],
    spec: &ViewSpec,
    chosen_port: Option<u16>,
    left_by: &LeftBy,
) -> Vec<usize> {
    let preset = &STATE_PRESETS[spec.preset.min(STATE_PRESETS.len() - 1)];
    let mut matcher = TextMatcher::new(&spec.text);
    let mut rows: Vec<usize> = sockets
        .iter()
        .enumerate()
        .filter(|(_, socket)| spec.protocols.contains(socket.protocol))
        .filter(|(_, socket)| (preset.matches)(socket, chosen_port))
        .filter(|(_, socket)| matcher.matches(socket, left_by))
        .map(|(index, _)| index)
        .collect();
    let descending = spec.descending;
    match spec.sort {
        SortColumn::State => sort_rows(&mut rows, sockets, descending, |s| Some(s.state)),
        SortColumn::Local => {
            sort_rows(&mut rows, sockets, descending, |s| Some(addr_key(&s.local)))
        }
        SortColumn::Peer => sort_rows(&mut rows, sockets, descending, |s| {
            Some(addr_key(&s.remote))
        }),
        SortColumn::Timer => sort_rows(&mut rows, sockets, descending, |s| {
            s.timer.map(|t| t.expires_ms)
        }),
        SortColumn::Process => sort_rows(&mut rows, sockets, descending, |s| {
            row_process(s, left_by).map(|(pid, comm)| (comm, pid))
        }),
    }
    rows
}

/// Keeps only the rows that also match `text`: when the user types one
/// more character of a filter, only the rows already shown can match, and
/// they are already in order.
pub(crate) fn narrow_rows(rows: &mut Vec<usize>, sockets: &[Socket], text: &str, left_by: &LeftBy) {
    let mut matcher = TextMatcher::new(text);
    rows.retain(|&index| matcher.matches(&sockets[index], left_by));
}

/// True when every row matching `new` also matches `old`, so narrowing the
/// rows of `old` gives the rows of `new`.
pub(crate) fn is_narrower(new: &str, old: &str) -> bool {
    new.trim()
        .to_ascii_lowercase()
        .contains(&old.trim().to_ascii_lowercase())
}

/// An address as plain integers, ordered as `SocketAddr` orders (IPv4
/// first, then by address, then port) but compared far faster.
type AddrKey = (u8, u128, u16);

fn addr_key(addr: &SocketAddr) -> AddrKey {
    match addr {
        SocketAddr::V4(v4) => (4, u128::from(u32::from(*v4.ip())), v4.port()),
        SocketAddr::V6(v6) => (6, u128::from(*v6.ip()), v6.port()),
    }
}

/// Sorts by `primary` (rows where it is None go last, whichever the
/// direction), then by four-tuple so equal rows keep their places from one
/// reading to the next. Keys are computed once per row, not per comparison.
fn sort_rows<'a, P: Ord>(
    rows: &mut Vec<usize>,
    sockets: &'a [Socket],
    descending: bool,
    primary: impl Fn(&'a Socket) -> Option<P>,
) {
    let mut keyed: Vec<_> = rows
        .iter()
        .map(|&index| {
            let socket = &sockets[index];
            let key = primary(socket);
            (
                key.is_none(),
                key,
                addr_key(&socket.local),
                addr_key(&socket.remote),
                index,
            )
        })
        .collect();
    keyed.sort_unstable();
    if descending {
        let with_key = keyed.iter().take_while(|k| !k.0).count();
        keyed[..with_key].reverse();
    }
    rows.clear();
    rows.extend(keyed.into_iter().map(|k| k.4));
}

/// Free-text match over what a row shows: addresses with ports, pids,
/// process names and command lines, case-insensitive. Addresses and pids
/// are written into a reused buffer by hand: `format!` made filtering 100k
/// rows several times slower.
struct TextMatcher {
    needle: Vec<u8>,
    scratch: Vec<u8>,
}

impl TextMatcher {
    fn new(text: &str) -> TextMatcher {
        TextMatcher {
            needle: text.trim().to_ascii_lowercase().into_bytes(),
            scratch: Vec::with_capacity(64),
        }
    }

    fn matches(&mut self, socket: &Socket, left_by: &LeftBy) -> bool {
        if self.needle.is_empty() {
            return true;
        }
        self.addr_matches(&socket.local)
            || self.addr_matches(&socket.remote)
            || socket.processes.iter().any(|p| {
                self.pid_matches(p.pid)
                    || contains_ignore_ascii_case(p.comm.as_bytes(), &self.needle)
                    || contains_ignore_ascii_case(p.cmdline.as_bytes(), &self.needle)
            })
            || left_by.of(socket).is_some_and(|owner| {
                self.pid_matches(owner.pid)
                    || contains_ignore_ascii_case(owner.comm.as_bytes(), &self.needle)
            })
    }

    fn addr_matches(&mut self, addr: &SocketAddr) -> bool {
        self.scratch.clear();
        match addr {
            SocketAddr::V4(v4) => {
                for (i, octet) in v4.ip().octets().into_iter().enumerate() {
                    if i > 0 {
                        self.scratch.push(b'.');
                    }
                    push_decimal(&mut self.scratch, u32::from(octet));
                }
                self.scratch.push(b':');
                push_decimal(&mut self.scratch, u32::from(v4.port()));
            }
            // Rarer, and IPv6 text has its own compression rules: use std's.
            SocketAddr::V6(_) => {
                use std::io::Write as _;
                // Writing to a Vec cannot fail.
                let _ = write!(self.scratch, "{addr}");
            }
        }
        contains_ignore_ascii_case(&self.scratch, &self.needle)
    }

    fn pid_matches(&mut self, pid: u32) -> bool {
        self.scratch.clear();
        push_decimal(&mut self.scratch, pid);
        contains_ignore_ascii_case(&self.scratch, &self.needle)
    }
}

fn push_decimal(out: &mut Vec<u8>, mut value: u32) {
    let start = out.len();
    loop {
        out.push(b'0' + (value % 10) as u8);
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out[start..].reverse();
}

/// `needle` must already be lower case.
fn contains_ignore_ascii_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| {
        window
            .iter()
            .zip(needle)
            .all(|(h, n)| h.to_ascii_lowercase() == *n)
    })
}

/// The peer as `ss` writes an unconnected one: "*".
pub(crate) fn peer_text(socket: &Socket) -> String {
    if socket.remote.port() == 0 && socket.remote.ip().is_unspecified() {
        "*".to_string()
    } else {
        socket.remote.to_string()
    }
}

/// The key that finds a row again after the table changes under it.
/// The inode and cookie tell apart sockets of one four-tuple in two
/// namespaces (`--all-netns`); both last as long as the socket.
pub(crate) type RowKey = (Protocol, SocketAddr, SocketAddr, TcpState, u64, Option<u64>);

pub(crate) fn row_key(socket: &Socket) -> RowKey {
    (
        socket.protocol,
        socket.local,
        socket.remote,
        socket.state,
        socket.inode,
        socket.cookie,
    )
}

/// The state as the table writes it: TCP's name, or for UDP what `ss`
/// says (UNCONN, ESTAB): the kernel's CLOSE would read as "closed".
pub(crate) fn state_text(socket: &Socket) -> &'static str {
    match socket.protocol {
        Protocol::Tcp => socket.state.name(),
        Protocol::Udp if socket.state == TcpState::Established => "ESTAB",
        Protocol::Udp => "UNCONN",
    }
}

/// The state where no protocol column says which: "UDP UNCONN" for UDP.
pub(crate) fn labelled_state(socket: &Socket) -> String {
    match socket.protocol {
        Protocol::Tcp => socket.state.name().to_string(),
        Protocol::Udp => format!("UDP {}", state_text(socket)),
    }
}

/// A namespace as the table and the port panel name it: its name, or
/// net:[inode] without one, then its container's short id when known
/// ("blue", "net:[4026532246] docker 3f4e2a1b9c8d"). Escaped: names are
/// the user's.
pub(crate) fn namespace_label(entry: &NamespaceEntry) -> String {
    let mut label = match &entry.id.name {
        Some(name) => inert(name).into_owned(),
        None => format!("net:[{}]", entry.id.inode),
    };
    if let Some(container) = &entry.container {
        label.push_str(&format!(
            " {} {}",
            container.runtime.as_str(),
            inert(container.short_id())
        ));
    }
    label
}

/// What the protocol key steps through: tcp, udp, all.
pub(crate) fn next_protocols(shown: ProtocolSet) -> ProtocolSet {
    if shown == ProtocolSet::TCP {
        ProtocolSet::UDP
    } else if shown == ProtocolSet::UDP {
        ProtocolSet::ALL
    } else {
        ProtocolSet::TCP
    }
}

/// "tcp", "udp", "all": the table title's words for a protocol set.
pub(crate) fn protocols_text(shown: ProtocolSet) -> &'static str {
    if shown == ProtocolSet::ALL {
        "all"
    } else if shown.contains(Protocol::Udp) {
        "udp"
    } else {
        "tcp"
    }
}

/// Selection and scroll position over the computed rows.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub selected: usize,
    /// First visible row.
    pub offset: usize,
}

impl Cursor {
    /// Moves the selection by `delta` rows, within `len` rows.
    pub fn move_by(&mut self, delta: isize, len: usize) {
        let target = self.selected.saturating_add_signed(delta);
        self.selected = target.min(len.saturating_sub(1));
    }

    pub fn home(&mut self) {
        self.selected = 0;
    }

    pub fn end(&mut self, len: usize) {
        self.selected = len.saturating_sub(1);
    }

    /// Keeps the selection inside `len` rows and the offset such that the
    /// selection is visible in `height` rows with no empty space below
    /// while there are rows to show.
    pub fn fit(&mut self, len: usize, height: usize) {
        self.selected = self.selected.min(len.saturating_sub(1));
        if self.selected < self.offset {
            self.offset = self.selected;
        }
        if height > 0 && self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
        self.offset = self.offset.min(len.saturating_sub(height));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::test_fixtures::{established, listen, scenario_sockets, table, time_wait};

    fn spec(preset: usize, text: &str, sort: SortColumn, descending: bool) -> ViewSpec {
        ViewSpec {
            preset,
            text: text.to_string(),
            sort,
            descending,
            protocols: ProtocolSet::TCP,
        }
    }

    #[test]
    fn state_presets_filter_rows() {
        let sockets = scenario_sockets();
        let left_by = LeftBy::default();
        let time_waits = compute_rows(
            &sockets,
            &spec(1, "", SortColumn::Local, false),
            None,
            &left_by,
        );
        assert!(time_waits.iter().all(|&i| sockets[i].is_time_wait_like()));
        assert_eq!(time_waits.len(), 3);
        let listeners = compute_rows(
            &sockets,
            &spec(2, "", SortColumn::Local, false),
            None,
            &left_by,
        );
        assert_eq!(listeners.len(), 2);
        let on_port = compute_rows(
            &sockets,
            &spec(8, "", SortColumn::Local, false),
            Some(8080),
            &left_by,
        );
        assert_eq!(on_port.len(), 3);
        let nothing_chosen = compute_rows(
            &sockets,
            &spec(8, "", SortColumn::Local, false),
            None,
            &left_by,
        );
        assert!(nothing_chosen.is_empty());
    }

    #[test]
    fn text_filter_matches_address_port_pid_and_process() {
        let sockets = scenario_sockets();
        let left_by = LeftBy::default();
        let count = |text: &str| {
            compute_rows(
                &sockets,
                &spec(0, text, SortColumn::Local, false),
                None,
                &left_by,
            )
            .len()
        };
        assert_eq!(count(":8080"), 3);
        assert_eq!(count("10.0.0.77"), 1);
        assert_eq!(count("NGINX"), 1);
        assert_eq!(count("4321"), 1);
        assert_eq!(count("daemon off"), 4);
        assert_eq!(count("no such thing"), 0);
        assert_eq!(count("  "), sockets.len());
    }

    #[test]
    fn text_filter_finds_time_waits_by_the_process_that_left_them() {
        let mut left_by = LeftBy::default();
        left_by.update(&table(vec![established(
            "10.0.0.1:80",
            "10.0.0.2:9",
            Some((55, "httpd")),
        )]));
        let sockets = vec![time_wait("10.0.0.1:80", "10.0.0.2:9", 1_000)];
        left_by.update(&table(sockets.clone()));
        let rows = compute_rows(
            &sockets,
            &spec(0, "httpd", SortColumn::Process, false),
            None,
            &left_by,
        );
        assert_eq!(rows, vec![0]);
    }

    #[test]
    fn typing_more_of_a_filter_narrows_the_shown_rows() {
        let sockets = scenario_sockets();
        let left_by = LeftBy::default();
        let all = compute_rows(
            &sockets,
            &spec(0, "", SortColumn::Timer, false),
            None,
            &left_by,
        );
        let mut rows = compute_rows(
            &sockets,
            &spec(0, "127", SortColumn::Timer, false),
            None,
            &left_by,
        );
        assert!(is_narrower("127.0.0.1:8080", "127"));
        assert!(!is_narrower("12", "127"));
        narrow_rows(&mut rows, &sockets, "127.0.0.1:51240", &left_by);
        assert_eq!(rows.len(), 1);
        // Narrowing keeps the order: the same as computing afresh.
        let mut narrowed = all.clone();
        narrow_rows(&mut narrowed, &sockets, ":8080", &left_by);
        assert_eq!(
            narrowed,
            compute_rows(
                &sockets,
                &spec(0, ":8080", SortColumn::Timer, false),
                None,
                &left_by
            )
        );
    }

    #[test]
    fn addresses_and_pids_are_matched_as_the_table_writes_them() {
        let mut matcher = TextMatcher::new("[::]:22");
        assert!(matcher.addr_matches(&"[::]:22".parse().expect("address")));
        let mut matcher = TextMatcher::new("0.255.10.0:0");
        assert!(matcher.addr_matches(&"10.255.10.0:0".parse().expect("address")));
        let mut matcher = TextMatcher::new("4294967295");
        assert!(matcher.pid_matches(u32::MAX));
        assert!(!matcher.pid_matches(0));
    }

    #[test]
    fn sorts_by_every_column_both_ways() {
        let sockets = scenario_sockets();
        let left_by = LeftBy::default();
        for column in SortColumn::ALL {
            let up = compute_rows(&sockets, &spec(0, "", column, false), None, &left_by);
            let down = compute_rows(&sockets, &spec(0, "", column, true), None, &left_by);
            assert_eq!(up.len(), sockets.len());
            assert_eq!(down.len(), sockets.len());
            assert_ne!(up, down, "{column:?}");
        }
        let by_timer = compute_rows(
            &sockets,
            &spec(0, "", SortColumn::Timer, false),
            None,
            &left_by,
        );
        let timers: Vec<Option<u64>> = by_timer
            .iter()
            .map(|&i| sockets[i].timer.map(|t| t.expires_ms))
            .collect();
        assert_eq!(
            &timers[..4],
            &[Some(12_300), Some(41_650), Some(58_000), Some(7_100_000)]
        );
        assert!(timers[4..].iter().all(Option::is_none));
        let by_timer_down = compute_rows(
            &sockets,
            &spec(0, "", SortColumn::Timer, true),
            None,
            &left_by,
        );
        assert_eq!(
            sockets[by_timer_down[0]].timer.map(|t| t.expires_ms),
            Some(7_100_000)
        );
        assert!(sockets[*by_timer_down.last().expect("rows")]
            .timer
            .is_none());
        let by_process = compute_rows(
            &sockets,
            &spec(0, "", SortColumn::Process, false),
            None,
            &left_by,
        );
        assert_eq!(sockets[by_process[0]].processes[0].comm, "evil\x1b[2Jname");
    }

    #[test]
    fn sort_is_stable_across_readings() {
        // Equal primary keys fall back to the four-tuple, so rows never swap.
        let sockets = vec![
            listen("0.0.0.0:9000", (1, "b")),
            listen("0.0.0.0:8000", (2, "a")),
        ];
        let rows = compute_rows(
            &sockets,
            &spec(0, "", SortColumn::State, false),
            None,
            &LeftBy::default(),
        );
        assert_eq!(rows, vec![1, 0]);
    }

    #[test]
    fn cursor_moves_within_rows_and_scrolls_to_stay_visible() {
        let mut cursor = Cursor::default();
        cursor.move_by(-3, 100);
        assert_eq!(cursor.selected, 0);
        cursor.move_by(25, 100);
        cursor.fit(100, 10);
        assert_eq!((cursor.selected, cursor.offset), (25, 16));
        cursor.move_by(-20, 100);
        cursor.fit(100, 10);
        assert_eq!((cursor.selected, cursor.offset), (5, 5));
        cursor.end(100);
        cursor.fit(100, 10);
        assert_eq!((cursor.selected, cursor.offset), (99, 90));
        // The table shrinks under the cursor.
        cursor.fit(4, 10);
        assert_eq!((cursor.selected, cursor.offset), (3, 0));
        cursor.fit(0, 10);
        assert_eq!((cursor.selected, cursor.offset), (0, 0));
        cursor.move_by(5, 0);
        assert_eq!(cursor.selected, 0);
    }
}
