//! Which rows the table shows and in what order: state presets, free-text
//! filter, sorting, and scrolling. Computed once per reading or per change
//! of filter or sort, never per frame: a frame draws only the visible slice.

use std::cmp::Ordering;
use std::fmt::Write as _;
use std::net::SocketAddr;

use crate::model::{Socket, TcpState};
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
}

impl Default for ViewSpec {
    fn default() -> Self {
        ViewSpec {
            preset: 0,
            text: String::new(),
            sort: SortColumn::State,
            descending: false,
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
    let needle = spec.text.trim().to_ascii_lowercase();
    let mut haystack = String::new();
    let mut rows: Vec<usize> = sockets
        .iter()
        .enumerate()
        .filter(|(_, socket)| (preset.matches)(socket, chosen_port))
        .filter(|(_, socket)| {
            needle.is_empty() || matches_text(socket, &needle, left_by, &mut haystack)
        })
        .map(|(index, _)| index)
        .collect();

    // Looked up once per row, not once per comparison.
    let processes: Vec<Option<(u32, &str)>> = if spec.sort == SortColumn::Process {
        sockets.iter().map(|s| row_process(s, left_by)).collect()
    } else {
        Vec::new()
    };
    let tie_break = |a: &Socket, b: &Socket| (a.local, a.remote).cmp(&(b.local, b.remote));
    let primary = |i: usize, j: usize| -> Ordering {
        let (a, b) = (&sockets[i], &sockets[j]);
        match spec.sort {
            SortColumn::State => a.state.cmp(&b.state),
            SortColumn::Local => a.local.cmp(&b.local),
            SortColumn::Peer => a.remote.cmp(&b.remote),
            // Rows without a timer go last, whichever the direction.
            SortColumn::Timer => none_last(
                a.timer.map(|t| t.expires_ms),
                b.timer.map(|t| t.expires_ms),
                spec.descending,
            ),
            SortColumn::Process => none_last(
                processes[i].map(|(pid, comm)| (comm, pid)),
                processes[j].map(|(pid, comm)| (comm, pid)),
                spec.descending,
            ),
        }
    };
    rows.sort_unstable_by(|&i, &j| {
        let order = primary(i, j);
        let order =
            if spec.descending && !matches!(spec.sort, SortColumn::Timer | SortColumn::Process) {
                order.reverse()
            } else {
                order
            };
        order.then_with(|| tie_break(&sockets[i], &sockets[j]))
    });
    rows
}

/// Orders `Some` values (reversed when `descending`) before every `None`.
fn none_last<T: Ord>(a: Option<T>, b: Option<T>, descending: bool) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) if descending => b.cmp(&a),
        (Some(a), Some(b)) => a.cmp(&b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// Free-text match over what a row shows: addresses with ports, pids,
/// process names and command lines (case-insensitive). `haystack` is reused
/// so that filtering 100k rows allocates nothing per row.
fn matches_text(socket: &Socket, needle: &str, left_by: &LeftBy, haystack: &mut String) -> bool {
    haystack.clear();
    // Writing to a String cannot fail.
    let _ = write!(haystack, "{} {}", socket.local, socket.remote);
    for process in &socket.processes {
        let _ = write!(
            haystack,
            " {} {} {}",
            process.pid, process.comm, process.cmdline
        );
    }
    if let Some(owner) = left_by.of(socket) {
        let _ = write!(haystack, " {} {}", owner.pid, owner.comm);
    }
    contains_ignore_ascii_case(haystack, needle)
}

/// `needle` must already be lower case.
fn contains_ignore_ascii_case(haystack: &str, needle: &str) -> bool {
    let needle = needle.as_bytes();
    haystack.as_bytes().windows(needle.len()).any(|window| {
        window
            .iter()
            .zip(needle)
            .all(|(h, n)| h.to_ascii_lowercase() == *n)
    })
}

/// The key that finds a row again after the table changes under it.
pub(crate) type RowKey = (SocketAddr, SocketAddr, TcpState);

pub(crate) fn row_key(socket: &Socket) -> RowKey {
    (socket.local, socket.remote, socket.state)
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
