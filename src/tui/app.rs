//! The dashboard's state, free of terminals and clocks: readings folded in,
//! keys turned into state changes and effects for the event loop.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crossterm::event::KeyEvent;

use crate::diagnosis::free::{destroyable, plan_free, Spared};
use crate::diagnosis::{Blocker, IntendedBind, RuleContext, Verdict};
use crate::model::{counts_by_state, Protocol, ProtocolSet, Socket, TcpState};
use crate::output::human::processes_text;
use crate::output::inert::inert;
use crate::session::{BindOptions, BindSpec, FailureReport};
use crate::source::netlink::DestroyError;
use crate::tui::keys::{self, Action, KeyMode};
use crate::tui::left_by::LeftBy;
use crate::tui::view::{
    self, peer_text, row_key, Cursor, RowKey, SortColumn, ViewSpec, STATE_PRESETS,
};
use crate::tui::{countdown, CollectRequest, NamespaceView, Snapshot, TuiConfig};

/// The intervals + and - step through.
const INTERVALS_MS: [u64; 7] = [250, 500, 1_000, 2_000, 5_000, 10_000, 30_000];

/// Readings the TIME_WAIT sparkline remembers: wider than any terminal.
const HISTORY_LEN: usize = 512;

/// How long a destruction's report stays in the bottom line.
pub(crate) const STATUS_LIFETIME: Duration = Duration::from_secs(5);

/// Bind failures the panel keeps; older ones go first.
pub(crate) const FAILURES_KEPT: usize = 50;

/// Longest port prompt input: "65535".
const PORT_DIGITS: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mode {
    Normal,
    PortPrompt {
        input: String,
    },
    /// Filters live while typing; Esc goes back to `before`.
    FilterPrompt {
        before: String,
    },
    /// The keys of every mode, scrolled down by `scroll` lines.
    Help {
        scroll: u16,
    },
    /// The socket selected when Enter was pressed, kept up to date by each
    /// reading (by four-tuple and state) until it is gone from the table.
    Details {
        socket: Box<Socket>,
        gone: bool,
    },
    /// The verdict in full, scrolled down by `scroll` lines.
    Explain {
        scroll: u16,
    },
    /// Waiting for y or n before destroying these time-wait blockers: the
    /// selected one (d), or all of the port's (F, `whole_port`).
    ConfirmFree {
        targets: Vec<Socket>,
        whole_port: bool,
    },
    /// Choosing among the bind failures: `selected` indexes
    /// [`App::failures`] (0 the newest), kept on its failure as new ones
    /// arrive.
    Failures {
        selected: usize,
    },
    /// One failure's verdict, scrolled down by `scroll` lines.
    FailureVerdict {
        index: usize,
        scroll: u16,
    },
}

impl Mode {
    /// The key table this mode reads keys from.
    pub fn key_mode(&self) -> KeyMode {
        match self {
            Mode::Normal => KeyMode::Normal,
            Mode::PortPrompt { .. } => KeyMode::PortPrompt,
            Mode::FilterPrompt { .. } => KeyMode::FilterPrompt,
            Mode::Help { .. } => KeyMode::Help,
            Mode::Details { .. } => KeyMode::Details,
            Mode::Explain { .. } => KeyMode::Explain,
            Mode::ConfirmFree { .. } => KeyMode::Confirm,
            Mode::Failures { .. } => KeyMode::Failures,
            Mode::FailureVerdict { .. } => KeyMode::FailureVerdict,
        }
    }
}

/// What the event loop must do after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    Quit,
    /// The intended bind changed: read again at once.
    Collect(CollectRequest),
    SetInterval(Duration),
    SetPaused(bool),
    /// The user confirmed: destroy these sockets, then report to
    /// [`App::destroyed`].
    Destroy(Vec<Socket>),
}

pub(crate) struct App {
    pub config: TuiConfig,
    pub port: Option<u16>,
    pub reuseaddr: bool,
    /// The intended bind's protocol (`U` toggles it).
    pub bind_protocol: Protocol,
    pub interval: Duration,
    pub paused: bool,
    pub mode: Mode,
    pub snapshot: Option<Snapshot>,
    /// The last failed reading; cleared by the next good one.
    pub error: Option<String>,
    pub spec: ViewSpec,
    /// Indices into the snapshot's sockets, filtered and sorted.
    pub rows: Vec<usize>,
    pub cursor: Cursor,
    pub left_by: LeftBy,
    pub counts: Vec<(TcpState, usize)>,
    /// TIME_WAIT count of each reading, oldest first.
    pub time_wait_history: VecDeque<u64>,
    /// Where each blocking socket's blocker is: the namespace's index in an
    /// `--all-netns` reading (None otherwise), and its index in that verdict.
    blocker_index: HashMap<RowKey, (Option<usize>, usize)>,
    /// With `--all-netns`: the inode of the namespace whose verdict the port
    /// panel shows (`n` picks the next); None for the first that blocks.
    pub picked_namespace: Option<u64>,
    /// The client-side pressure panel is open (`c`).
    pub pressure_open: bool,
    /// Rows the table showed last frame, for PgUp/PgDn.
    pub page_rows: usize,
    /// The outcome of the last action (F, d, e), shown in the bottom line
    /// until the next key. Already inert: it quotes process names.
    pub status: Option<String>,
    /// When a destruction's report leaves the bottom line by itself.
    pub status_until: Option<Instant>,
    /// The latest bind failures the kernel watcher caught, newest first,
    /// at most [`FAILURES_KEPT`].
    pub failures: VecDeque<FailureReport>,
    /// The bind failures panel is open (`w`).
    pub failures_open: bool,
}

impl App {
    pub fn new(config: TuiConfig) -> App {
        let protocols = config.protocols;
        App {
            port: config.port,
            reuseaddr: config.options.reuseaddr,
            bind_protocol: config.options.protocol,
            interval: config.interval,
            config,
            paused: false,
            mode: Mode::Normal,
            snapshot: None,
            error: None,
            spec: ViewSpec {
                protocols,
                ..ViewSpec::default()
            },
            rows: Vec::new(),
            cursor: Cursor::default(),
            left_by: LeftBy::default(),
            counts: Vec::new(),
            time_wait_history: VecDeque::new(),
            blocker_index: HashMap::new(),
            picked_namespace: None,
            pressure_open: false,
            page_rows: 10,
            status: None,
            status_until: None,
            failures: VecDeque::new(),
            failures_open: false,
        }
    }

    /// A bind failure the watcher judged: listed first; a selection stays
    /// on the failure it was on (or the oldest kept, when that one went).
    pub fn add_failure(&mut self, report: FailureReport) {
        self.failures.push_front(report);
        self.failures.truncate(FAILURES_KEPT);
        let last = self.failures.len() - 1;
        match &mut self.mode {
            Mode::Failures { selected: index } | Mode::FailureVerdict { index, .. } => {
                *index = (*index + 1).min(last);
            }
            _ => {}
        }
    }

    /// The bind the user currently intends, in their words; None until a
    /// port is chosen.
    pub fn bind_spec(&self) -> Option<BindSpec> {
        Some(BindSpec {
            port: self.port?,
            options: BindOptions {
                reuseaddr: self.reuseaddr,
                protocol: self.bind_protocol,
                ..self.config.options.clone()
            },
        })
    }

    /// The bind as the kernel will see it: the verdict's, or until one
    /// answers this bind, the user's words with the last reading's defaults.
    pub fn intended_bind(&self) -> Option<IntendedBind> {
        if let Some(verdict) = self.verdict() {
            return Some(verdict.bind.clone());
        }
        let kernel = self
            .snapshot
            .as_ref()
            .map(|snapshot| snapshot.header.sysctl.clone())
            .unwrap_or_default();
        Some(self.bind_spec()?.resolve(&kernel))
    }

    /// What the collector reads: the protocols the table shows and, for
    /// its verdict, the intended bind's protocol even when the table hides it.
    pub fn request(&self) -> CollectRequest {
        let shown = self.spec.protocols;
        let protocols = match self.bind_spec() {
            Some(spec) if !shown.contains(spec.options.protocol) => ProtocolSet::ALL,
            _ => shown,
        };
        CollectRequest {
            bind: self.bind_spec(),
            protocols,
            pressure: self.pressure_open,
        }
    }

    /// The verdict of the last reading, when it answers the bind the user
    /// intends now (after `p` or `r` it answers the old one until the next
    /// reading).
    /// With `--all-netns`, the verdict in the picked namespace.
    pub fn verdict(&self) -> Option<&Verdict> {
        self.judged().map(|(verdict, _)| verdict)
    }

    /// The verdict with the rule context it was judged in, for judging one
    /// more socket the same way.
    pub fn judged(&self) -> Option<(&Verdict, &RuleContext)> {
        let snapshot = self.snapshot.as_ref()?;
        if !self.answers_current_bind() {
            return None;
        }
        match &snapshot.everywhere {
            Some(_) => {
                let (verdict, context) = self.picked()?.verdict.as_ref()?;
                Some((verdict, context))
            }
            None => Some((snapshot.verdict.as_ref()?, snapshot.rule_context.as_ref()?)),
        }
    }

    /// True when the last reading judged the bind the user intends now
    /// (opening the pressure panel does not change the verdict).
    pub fn answers_current_bind(&self) -> bool {
        let request = self.request();
        self.snapshot.as_ref().is_some_and(|snapshot| {
            snapshot.request.bind == request.bind && snapshot.request.protocols == request.protocols
        })
    }

    /// With `--all-netns`: the namespaces that use the chosen port (those
    /// with a verdict), in inode order; empty otherwise.
    pub fn namespaces_on_port(&self) -> impl Iterator<Item = &NamespaceView> {
        self.snapshot
            .iter()
            .flat_map(|snapshot| snapshot.everywhere.iter())
            .flat_map(|everywhere| everywhere.namespaces.iter())
            .filter(|view| view.verdict.is_some())
    }

    /// The namespace whose verdict the port panel shows: the picked one
    /// while it still uses the port, else the first that blocks the bind,
    /// else the first that uses the port.
    pub fn picked(&self) -> Option<&NamespaceView> {
        let blocks = |view: &&NamespaceView| view.verdict.as_ref().is_some_and(|(v, _)| v.blocked);
        self.namespaces_on_port()
            .find(|view| Some(view.entry.id.inode) == self.picked_namespace)
            .or_else(|| self.namespaces_on_port().find(blocks))
            .or_else(|| self.namespaces_on_port().next())
    }

    /// The namespace a table row's socket is in (`--all-netns` only).
    pub fn namespace_at(&self, row: usize) -> Option<&NamespaceView> {
        let index = *self.rows.get(row)?;
        let namespaces = &self.snapshot.as_ref()?.everywhere.as_ref()?.namespaces;
        let after = namespaces.partition_point(|view| view.sockets.end <= index);
        namespaces
            .get(after)
            .filter(|view| view.sockets.contains(&index))
    }

    /// Folds in a reading, or the error that stopped one. Returns the
    /// reading it replaces, for the caller to free where it costs the
    /// screen nothing (100k sockets take a while to free).
    pub fn apply_reading(&mut self, reading: crate::Result<Snapshot>) -> Option<Snapshot> {
        let snapshot = match reading {
            Ok(snapshot) => snapshot,
            Err(error) => {
                self.error = Some(error.to_string());
                return None;
            }
        };
        self.error = None;
        self.left_by.update(&snapshot.table);
        self.counts = counts_by_state(&snapshot.table.sockets);
        let time_waits = snapshot
            .table
            .sockets
            .iter()
            .filter(|s| s.is_time_wait_like())
            .count();
        if self.time_wait_history.len() == HISTORY_LEN {
            self.time_wait_history.pop_front();
        }
        self.time_wait_history.push_back(time_waits as u64);
        let verdicts: Vec<(Option<usize>, &Verdict)> = match &snapshot.everywhere {
            Some(everywhere) => everywhere
                .namespaces
                .iter()
                .enumerate()
                .filter_map(|(slot, view)| Some((Some(slot), &view.verdict.as_ref()?.0)))
                .collect(),
            None => snapshot
                .verdict
                .iter()
                .map(|verdict| (None, verdict))
                .collect(),
        };
        self.blocker_index = verdicts
            .into_iter()
            .flat_map(|(slot, verdict)| {
                verdict
                    .blockers
                    .iter()
                    .enumerate()
                    .map(move |(index, blocker)| (row_key(&blocker.socket), (slot, index)))
            })
            .collect();
        if let Mode::Details { socket, gone } = &mut self.mode {
            let key = row_key(socket);
            match snapshot.table.sockets.iter().find(|s| row_key(s) == key) {
                Some(fresh) => **socket = fresh.clone(),
                None => *gone = true,
            }
        }
        let selected = self.selected_socket().map(row_key);
        let replaced = self.snapshot.replace(snapshot);
        self.recompute_rows(selected);
        replaced
    }

    /// Recomputes the rows and finds the selected socket again, if still shown.
    fn recompute_rows(&mut self, selected: Option<RowKey>) {
        let Some(snapshot) = &self.snapshot else {
            return;
        };
        self.rows = view::compute_rows(
            &snapshot.table.sockets,
            &self.spec,
            self.port,
            &self.left_by,
        );
        self.reselect(selected);
    }

    fn refilter(&mut self) {
        let selected = self.selected_socket().map(row_key);
        self.recompute_rows(selected);
    }

    /// Applies a filter text that only narrows the current one.
    fn narrow(&mut self) {
        let selected = self.selected_socket().map(row_key);
        if let Some(snapshot) = &self.snapshot {
            view::narrow_rows(
                &mut self.rows,
                &snapshot.table.sockets,
                &self.spec.text,
                &self.left_by,
            );
        }
        self.reselect(selected);
    }

    fn reselect(&mut self, selected: Option<RowKey>) {
        if let (Some(key), Some(snapshot)) = (selected, &self.snapshot) {
            let sockets = &snapshot.table.sockets;
            if let Some(position) = self.rows.iter().position(|&i| row_key(&sockets[i]) == key) {
                self.cursor.selected = position;
            }
        }
        self.cursor.fit(self.rows.len(), self.page_rows);
    }

    pub fn socket_at(&self, row: usize) -> Option<&Socket> {
        let snapshot = self.snapshot.as_ref()?;
        snapshot.table.sockets.get(*self.rows.get(row)?)
    }

    pub fn selected_socket(&self) -> Option<&Socket> {
        self.socket_at(self.cursor.selected)
    }

    /// The verdict's blocker entry for `socket`, if it is one.
    /// With `--all-netns`, in whichever namespace's verdict it blocks.
    pub fn blocker_of(&self, socket: &Socket) -> Option<&Blocker> {
        let (slot, index) = *self.blocker_index.get(&row_key(socket))?;
        let snapshot = self.snapshot.as_ref()?;
        let verdict = match slot {
            Some(slot) => {
                &snapshot
                    .everywhere
                    .as_ref()?
                    .namespaces
                    .get(slot)?
                    .verdict
                    .as_ref()?
                    .0
            }
            None => snapshot.verdict.as_ref()?,
        };
        verdict.blockers.get(index)
    }

    /// True while some time-wait countdown on screen is still running, so
    /// the screen needs redrawing between readings.
    pub fn countdown_running(&self, now: Instant) -> bool {
        let Some(snapshot) = &self.snapshot else {
            return false;
        };
        let running = |socket: &Socket| {
            socket
                .time_wait_remaining_ms()
                .is_some_and(|ms| countdown::remaining_ms(ms, snapshot.read_at, now) > 0)
        };
        let visible = self.cursor.offset..self.cursor.offset + self.page_rows;
        let in_table = visible.filter_map(|row| self.socket_at(row)).any(running);
        let in_panel = self
            .verdict()
            .is_some_and(|verdict| verdict.blockers.iter().any(|b| running(&b.socket)));
        in_table || in_panel
    }

    /// Handles a key press; returns what the event loop must do, if anything.
    /// Every key goes through the current mode's key table: a key that is
    /// not in it changes nothing.
    pub fn handle_key(&mut self, key: KeyEvent) -> Option<Effect> {
        let action = keys::action_for(self.mode.key_mode(), &key)?;
        self.clear_status();
        if action == Action::Quit {
            return Some(Effect::Quit);
        }
        let page = self.page_rows.max(1) as u16;
        match &mut self.mode {
            Mode::Normal => self.handle_action(action),
            Mode::PortPrompt { input } => match action {
                Action::Type(digit) => {
                    if input.len() < PORT_DIGITS {
                        input.push(digit);
                    }
                    None
                }
                Action::Erase => {
                    input.pop();
                    None
                }
                Action::Accept => {
                    let port = input.parse::<u16>().ok().filter(|port| *port != 0);
                    self.mode = Mode::Normal;
                    // An empty or impossible port leaves the choice as it was.
                    let port = port?;
                    self.port = Some(port);
                    self.refilter();
                    Some(Effect::Collect(self.request()))
                }
                _ => {
                    self.mode = Mode::Normal;
                    None
                }
            },
            Mode::FilterPrompt { before } => {
                match action {
                    Action::Type(c) => {
                        let shorter = self.spec.text.clone();
                        self.spec.text.push(c);
                        if view::is_narrower(&self.spec.text, &shorter) {
                            self.narrow();
                            return None;
                        }
                    }
                    Action::Erase => {
                        self.spec.text.pop();
                    }
                    Action::Accept => {
                        self.mode = Mode::Normal;
                        return None;
                    }
                    _ => {
                        self.spec.text = std::mem::take(before);
                        self.mode = Mode::Normal;
                    }
                }
                self.refilter();
                None
            }
            Mode::Explain { scroll } | Mode::Help { scroll } => {
                match scrolled(*scroll, action, page) {
                    Some(to) => *scroll = to,
                    None => self.mode = Mode::Normal,
                }
                None
            }
            Mode::ConfirmFree { targets, .. } => {
                let targets = std::mem::take(targets);
                self.mode = Mode::Normal;
                if action == Action::Yes {
                    Some(Effect::Destroy(targets))
                } else {
                    self.status = Some("Nothing destroyed.".to_string());
                    None
                }
            }
            Mode::Failures { selected } => {
                let last = self.failures.len().saturating_sub(1);
                match action {
                    Action::Up => *selected = selected.saturating_sub(1),
                    Action::Down => *selected = (*selected + 1).min(last),
                    Action::Details => {
                        self.mode = Mode::FailureVerdict {
                            index: *selected,
                            scroll: 0,
                        }
                    }
                    _ => self.mode = Mode::Normal,
                }
                None
            }
            Mode::FailureVerdict { index, scroll } => {
                match scrolled(*scroll, action, page) {
                    Some(to) => *scroll = to,
                    None => self.mode = Mode::Failures { selected: *index },
                }
                None
            }
            // Close is the details' only other key.
            Mode::Details { .. } => {
                self.mode = Mode::Normal;
                None
            }
        }
    }

    fn handle_action(&mut self, action: Action) -> Option<Effect> {
        let len = self.rows.len();
        let page = self.page_rows.max(1) as isize;
        match action {
            Action::Quit => return Some(Effect::Quit),
            Action::ChoosePort => {
                self.mode = Mode::PortPrompt {
                    input: String::new(),
                }
            }
            Action::ToggleReuseAddr => {
                self.reuseaddr = !self.reuseaddr;
                // Without a port there is nothing to diagnose yet.
                return self.port.map(|_| Effect::Collect(self.request()));
            }
            Action::NextProtocols => {
                self.spec.protocols = view::next_protocols(self.spec.protocols);
                self.refilter();
                return Some(Effect::Collect(self.request()));
            }
            Action::ToggleBindProtocol => {
                self.bind_protocol = self.bind_protocol.other();
                // Its blockers must be on screen: the table shows its protocol too.
                let shown = self.spec.protocols;
                if !shown.contains(self.bind_protocol) {
                    self.spec.protocols = ProtocolSet::ALL;
                    self.refilter();
                }
                // A new verdict, or without a port, a table of more protocols.
                let changed = self.port.is_some() || self.spec.protocols != shown;
                return changed.then(|| Effect::Collect(self.request()));
            }
            Action::NextNamespace => self.pick_next_namespace(),
            Action::TogglePressure => {
                self.pressure_open = !self.pressure_open;
                // Opened, it is read at once; closed, the collector must
                // learn to stop reading it.
                return Some(Effect::Collect(self.request()));
            }
            Action::ToggleFailures => self.failures_open = !self.failures_open,
            Action::PickFailure => {
                if self.failures.is_empty() {
                    self.status = Some(match &self.config.failures_off {
                        Some(why) => {
                            format!("No bind failures: the watcher is off ({})", inert(why))
                        }
                        None => "No bind failure caught yet.".to_string(),
                    });
                } else {
                    self.failures_open = true;
                    self.mode = Mode::Failures { selected: 0 };
                }
            }
            Action::EditFilter => {
                self.mode = Mode::FilterPrompt {
                    before: self.spec.text.clone(),
                }
            }
            Action::NextSortColumn => {
                self.spec.sort = self.spec.sort.next();
                self.refilter();
            }
            Action::ReverseSort => {
                self.spec.descending = !self.spec.descending;
                self.refilter();
            }
            Action::StatePreset(index) => {
                self.spec.preset = index.min(STATE_PRESETS.len() - 1);
                self.refilter();
            }
            Action::NextStatePreset => {
                self.spec.preset = (self.spec.preset + 1) % STATE_PRESETS.len();
                self.refilter();
            }
            Action::TogglePause => {
                self.paused = !self.paused;
                return Some(Effect::SetPaused(self.paused));
            }
            Action::LongerInterval | Action::ShorterInterval => {
                let current = self.interval.as_millis();
                let next = if action == Action::LongerInterval {
                    INTERVALS_MS.iter().find(|&&ms| u128::from(ms) > current)
                } else {
                    INTERVALS_MS
                        .iter()
                        .rev()
                        .find(|&&ms| u128::from(ms) < current)
                };
                self.interval = Duration::from_millis(*next?);
                return Some(Effect::SetInterval(self.interval));
            }
            Action::Up => self.cursor.move_by(-1, len),
            Action::Down => self.cursor.move_by(1, len),
            Action::PageUp => self.cursor.move_by(-page, len),
            Action::PageDown => self.cursor.move_by(page, len),
            Action::Home => self.cursor.home(),
            Action::End => self.cursor.end(len),
            Action::Details => {
                if let Some(socket) = self.selected_socket() {
                    self.mode = Mode::Details {
                        socket: Box::new(socket.clone()),
                        gone: false,
                    };
                }
            }
            Action::Explain => match self.verdict() {
                Some(_) => self.mode = Mode::Explain { scroll: 0 },
                None => self.status = Some(self.no_verdict_yet()),
            },
            Action::FreePort => match self.free_port_targets() {
                Ok(targets) => {
                    self.mode = Mode::ConfirmFree {
                        targets,
                        whole_port: true,
                    }
                }
                Err(why) => self.status = Some(why),
            },
            Action::DestroySelected => match self.free_target() {
                Ok(socket) => {
                    self.mode = Mode::ConfirmFree {
                        targets: vec![socket],
                        whole_port: false,
                    }
                }
                Err(why) => self.status = Some(why),
            },
            // The keys of prompts and overlays: not in the normal table.
            Action::Type(_)
            | Action::Erase
            | Action::Accept
            | Action::Cancel
            | Action::Close
            | Action::Yes
            | Action::No => {}
            Action::Help => self.mode = Mode::Help { scroll: 0 },
        }
        None
    }

    /// `n`: the port panel shows the next namespace that uses the port.
    fn pick_next_namespace(&mut self) {
        if !self.config.all_namespaces {
            self.status =
                Some("One namespace only: start with --all-netns to see them all.".into());
            return;
        }
        let on_port: Vec<u64> = self
            .namespaces_on_port()
            .map(|view| view.entry.id.inode)
            .collect();
        let current = self.picked().map(|view| view.entry.id.inode);
        let position = on_port.iter().position(|inode| Some(*inode) == current);
        match position.map_or(on_port.first(), |at| on_port.get((at + 1) % on_port.len())) {
            Some(next) => self.picked_namespace = Some(*next),
            None => {
                self.status = Some(match self.port {
                    Some(port) => format!("No namespace has a socket on port {port}."),
                    None => "No port chosen yet: press p.".to_string(),
                })
            }
        }
    }

    /// Destroying acts in the dashboard's own namespace: refused for a
    /// reading of every namespace.
    fn refuse_everywhere(&self) -> Result<(), String> {
        if self.config.all_namespaces {
            return Err("Not destroying from --all-netns: open the dashboard with --netns NAME to free the port there.".into());
        }
        Ok(())
    }

    fn no_verdict_yet(&self) -> String {
        match self.port {
            None => "No port chosen yet: press p.".to_string(),
            Some(port) => format!("No verdict for port {port} yet: wait for the next reading."),
        }
    }

    /// The selected socket, when F may destroy it; else why not. The rule
    /// is `--free`'s, via [`destroyable`].
    fn free_target(&self) -> Result<Socket, String> {
        self.refuse_everywhere()?;
        if self.verdict().is_none() {
            return Err(self.no_verdict_yet());
        }
        let socket = self.selected_socket().ok_or("No socket selected.")?;
        let blocker = self.blocker_of(socket).ok_or_else(|| {
            format!(
                "{} does not block the bind: select a row marked !, or press F to free the port.",
                socket_text(socket)
            )
        })?;
        match destroyable(blocker) {
            Ok(socket) => Ok(socket.clone()),
            Err(Spared::LiveProcess) => {
                let holder = if socket.processes.is_empty() {
                    "a live process (its owner is not visible: run as root to see it)".to_string()
                } else {
                    format!("live process {}", processes_text(socket))
                };
                Err(format!(
                    "Not destroying {}: it is held by {holder}; stop that process instead.",
                    socket_text(socket)
                ))
            }
            Err(Spared::NoCookie) => Err(format!(
                "Not destroying {}: {}",
                socket_text(socket),
                DestroyError::NoCookie
            )),
        }
    }

    /// Every destroyable blocker of the port, when F may destroy them all;
    /// else why not. The rule is `--free`'s, via [`plan_free`]: nothing is
    /// destroyed while a live process blocks the port too.
    fn free_port_targets(&self) -> Result<Vec<Socket>, String> {
        self.refuse_everywhere()?;
        let Some(verdict) = self.verdict() else {
            return Err(self.no_verdict_yet());
        };
        let port = verdict.bind.port;
        let plan = plan_free(verdict);
        if let Some(live) = plan.live.first() {
            let holder = if live.processes.is_empty() {
                "a live process (its owner is not visible: run as root to see it)".to_string()
            } else {
                format!("live process {}", processes_text(live))
            };
            return Err(format!(
                "Not freeing port {port}: {} is held by {holder}; stop that process instead.",
                socket_text(live)
            ));
        }
        if plan.without_cookie > 0 {
            return Err(format!(
                "Not freeing port {port}: {} blocker(s) were read without a cookie: {}",
                plan.without_cookie,
                DestroyError::NoCookie
            ));
        }
        if plan.targets.is_empty() {
            return Err(format!("Nothing to free: no socket blocks port {port}."));
        }
        Ok(plan.targets.into_iter().cloned().collect())
    }

    /// Reports how destroying `targets` went (`result` lists the sockets
    /// destroyed; the others had expired already), and reads again at once
    /// so the panel shows what the port is now. The report leaves the
    /// bottom line [`STATUS_LIFETIME`] after `now`.
    pub fn destroyed(
        &mut self,
        targets: &[Socket],
        result: Result<Vec<Socket>, DestroyError>,
        now: Instant,
    ) -> Option<Effect> {
        let status = match (result, targets) {
            (Ok(done), [one]) if done.is_empty() => {
                format!("{} was gone already (expired or closed).", socket_text(one))
            }
            (Ok(done), [one]) if done.len() == 1 => format!("Destroyed {}.", socket_text(one)),
            (Ok(done), _) => {
                let gone = targets.len().saturating_sub(done.len());
                let mut text = format!("Destroyed {} socket(s)", done.len());
                if gone > 0 {
                    text.push_str(&format!("; {gone} had expired already"));
                }
                text.push('.');
                text
            }
            (Err(error), _) => format!("Not destroyed: {error}"),
        };
        self.status = Some(status);
        self.status_until = Some(now + STATUS_LIFETIME);
        self.port.map(|_| Effect::Collect(self.request()))
    }

    /// Clears a report whose time is up at `now`.
    pub fn expire_status(&mut self, now: Instant) {
        if self.status_until.is_some_and(|until| until <= now) {
            self.clear_status();
        }
    }

    fn clear_status(&mut self) {
        self.status = None;
        self.status_until = None;
    }

    /// The spec's sort column, for the table header.
    pub fn sort(&self) -> (SortColumn, bool) {
        (self.spec.sort, self.spec.descending)
    }
}

/// An overlay's scroll after a scrolling key; None for any other key (it
/// closes the overlay). The drawing stops the scroll at the last screenful.
fn scrolled(scroll: u16, action: Action, page: u16) -> Option<u16> {
    Some(match action {
        Action::Up => scroll.saturating_sub(1),
        Action::Down => scroll.saturating_add(1),
        Action::PageUp => scroll.saturating_sub(page),
        Action::PageDown => scroll.saturating_add(page),
        Action::Home => 0,
        Action::End => u16::MAX,
        _ => return None,
    })
}

/// "TIME_WAIT 127.0.0.1:8080 → 127.0.0.1:51234".
fn socket_text(socket: &Socket) -> String {
    format!(
        "{} {} → {}",
        view::labelled_state(socket),
        socket.local,
        peer_text(socket)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::test_fixtures::{
        established, failure, request_8080, scenario, spec_8080, table, time_wait,
    };
    use crossterm::event::{KeyCode, KeyModifiers};

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn app_on_8080() -> (App, Instant) {
        let mut config = TuiConfig::new("netlink");
        config.port = Some(8080);
        let mut app = App::new(config);
        let read_at = Instant::now();
        app.apply_reading(Ok(scenario(read_at)));
        (app, read_at)
    }

    fn type_text(app: &mut App, text: &str) -> Vec<Option<Effect>> {
        text.chars()
            .map(|c| app.handle_key(key(KeyCode::Char(c))))
            .collect()
    }

    #[test]
    fn protocol_key_cycles_the_table_and_asks_for_a_reading() {
        let (mut app, read_at) = app_on_8080();
        let mut snapshot = scenario(read_at);
        snapshot.table.sockets.push(crate::tui::test_fixtures::udp(
            "0.0.0.0:5353",
            (77, "avahi"),
        ));
        app.apply_reading(Ok(snapshot));
        assert_eq!(app.rows.len(), 8, "tcp only at first");
        let mut shown = Vec::new();
        for _ in 0..3 {
            match app.handle_key(key(KeyCode::Char('u'))) {
                Some(Effect::Collect(request)) => shown.push((request.protocols, app.rows.len())),
                other => panic!("u asks for a reading, got {other:?}"),
            }
        }
        assert_eq!(
            shown,
            [
                // The TCP bind's verdict still needs its TCP sockets.
                (ProtocolSet::ALL, 1),
                (ProtocolSet::ALL, 9),
                (ProtocolSet::TCP, 8)
            ]
        );
    }

    #[test]
    fn bind_protocol_key_judges_a_udp_bind_and_shows_its_sockets() {
        let mut app = App::new(TuiConfig::new("netlink"));
        match app.handle_key(key(KeyCode::Char('U'))) {
            // No port yet: only the table's protocols changed.
            Some(Effect::Collect(request)) => {
                assert_eq!((request.bind, request.protocols), (None, ProtocolSet::ALL))
            }
            other => panic!("U widens the table, got {other:?}"),
        }
        assert_eq!(app.bind_protocol, Protocol::Udp);
        assert_eq!(app.spec.protocols, ProtocolSet::ALL);
        app.handle_key(key(KeyCode::Char('u')));
        assert_eq!(app.spec.protocols, ProtocolSet::TCP);
        app.port = Some(5353);
        let request = app.request();
        let bind = request.bind.expect("a port is chosen");
        assert_eq!(bind.options.protocol, Protocol::Udp);
        assert_eq!(
            request.protocols,
            ProtocolSet::ALL,
            "UDP read for the verdict"
        );
        match app.handle_key(key(KeyCode::Char('U'))) {
            Some(Effect::Collect(request)) => {
                let bind = request.bind.expect("bind");
                assert_eq!(bind.options.protocol, Protocol::Tcp);
                assert_eq!(request.protocols, ProtocolSet::TCP);
            }
            other => panic!("U asks for a reading, got {other:?}"),
        }
    }

    fn app_everywhere() -> App {
        let mut config = TuiConfig::new("netlink, all namespaces");
        config.port = Some(8080);
        config.all_namespaces = true;
        let mut app = App::new(config);
        app.apply_reading(Ok(crate::tui::test_fixtures::everywhere_scenario(
            Instant::now(),
        )));
        app
    }

    #[test]
    fn all_namespaces_mark_each_blocker_and_n_picks_the_verdict_shown() {
        let mut app = app_everywhere();
        let on_port: Vec<u64> = app.namespaces_on_port().map(|v| v.entry.id.inode).collect();
        assert_eq!(on_port, [4026532246, 4026532300]);
        // Both listeners block, each in its own namespace; sshd does not.
        let sockets = &app.snapshot.as_ref().expect("snapshot").table.sockets;
        let blocking: Vec<u32> = sockets
            .iter()
            .filter(|s| app.blocker_of(s).is_some())
            .map(|s| s.processes[0].pid)
            .collect();
        assert_eq!(blocking, [4321, 5150]);
        let shown = |app: &App| app.verdict().map(|v| v.blockers[0].socket.processes[0].pid);
        assert_eq!(shown(&app), Some(4321), "the first that blocks");
        assert_eq!(app.handle_key(key(KeyCode::Char('n'))), None);
        assert_eq!(shown(&app), Some(5150));
        app.handle_key(key(KeyCode::Char('n')));
        assert_eq!(shown(&app), Some(4321), "n wraps around");
        // The rows know their namespace.
        let rows: Vec<Option<u64>> = (0..3)
            .map(|row| app.namespace_at(row).map(|v| v.entry.id.inode))
            .collect();
        assert!(rows.iter().all(Option::is_some), "{rows:?}");
        // Destroying acts in one namespace only: refused here.
        app.handle_key(key(KeyCode::Char('F')));
        assert_eq!(app.mode, Mode::Normal);
        assert!(app.status.as_deref().is_some_and(|s| s.contains("--netns")));
    }

    #[test]
    fn n_without_all_namespaces_says_why_it_does_nothing() {
        let (mut app, _) = app_on_8080();
        assert_eq!(app.handle_key(key(KeyCode::Char('n'))), None);
        assert!(app
            .status
            .as_deref()
            .is_some_and(|s| s.contains("--all-netns")));
        assert_eq!(app.picked_namespace, None);
    }

    #[test]
    fn c_opens_the_pressure_panel_and_asks_for_it_at_once() {
        let (mut app, _) = app_on_8080();
        match app.handle_key(key(KeyCode::Char('c'))) {
            Some(Effect::Collect(request)) => assert!(request.pressure),
            other => panic!("c asks for a reading, got {other:?}"),
        }
        assert!(app.verdict().is_some(), "the verdict does not depend on it");
        match app.handle_key(key(KeyCode::Char('c'))) {
            Some(Effect::Collect(request)) => assert!(!request.pressure, "closed: no longer read"),
            other => panic!("c tells the collector, got {other:?}"),
        }
    }

    #[test]
    fn reading_fills_rows_counts_history_and_blockers() {
        let (app, _) = app_on_8080();
        assert_eq!(app.rows.len(), 8);
        assert_eq!(app.time_wait_history, VecDeque::from([3]));
        assert!(app.counts.contains(&(TcpState::TimeWait, 3)));
        assert_eq!(app.verdict().map(|v| v.blockers.len()), Some(3));
        let blocking = app.rows.iter().filter(|&&i| {
            app.blocker_of(&app.snapshot.as_ref().expect("snapshot").table.sockets[i])
                .is_some()
        });
        assert_eq!(blocking.count(), 3);
    }

    #[test]
    fn a_failed_reading_keeps_the_last_good_one() {
        let (mut app, _) = app_on_8080();
        app.apply_reading(Err(crate::Error::Invalid("sock_diag refused".into())));
        assert_eq!(app.error.as_deref(), Some("sock_diag refused"));
        assert_eq!(app.rows.len(), 8);
        app.apply_reading(Ok(scenario(Instant::now())));
        assert_eq!(app.error, None);
    }

    #[test]
    fn history_is_bounded() {
        let mut app = App::new(TuiConfig::new("proc"));
        for _ in 0..HISTORY_LEN + 10 {
            app.apply_reading(Ok(scenario(Instant::now())));
        }
        assert_eq!(app.time_wait_history.len(), HISTORY_LEN);
    }

    #[test]
    fn port_prompt_chooses_the_port_and_asks_for_a_reading() {
        let mut app = App::new(TuiConfig::new("proc"));
        assert_eq!(app.handle_key(key(KeyCode::Char('p'))), None);
        type_text(&mut app, "80x8099");
        app.handle_key(key(KeyCode::Backspace));
        assert_eq!(
            app.mode,
            Mode::PortPrompt {
                input: "8080".into()
            }
        );
        let effect = app.handle_key(key(KeyCode::Enter));
        assert_eq!(effect, Some(Effect::Collect(request_8080())));
        assert_eq!(app.mode, Mode::Normal);
    }

    #[test]
    fn port_prompt_refuses_port_zero_and_esc_cancels() {
        let mut app = App::new(TuiConfig::new("proc"));
        app.handle_key(key(KeyCode::Char('p')));
        type_text(&mut app, "0");
        assert_eq!(app.handle_key(key(KeyCode::Enter)), None);
        assert_eq!(app.port, None);
        app.handle_key(key(KeyCode::Char('p')));
        type_text(&mut app, "22");
        assert_eq!(app.handle_key(key(KeyCode::Esc)), None);
        assert_eq!((app.port, &app.mode), (None, &Mode::Normal));
    }

    #[test]
    fn reuseaddr_toggle_asks_for_a_new_verdict_and_hides_the_stale_one() {
        let (mut app, _) = app_on_8080();
        let effect = app.handle_key(key(KeyCode::Char('r')));
        let mut expected = spec_8080();
        expected.options.reuseaddr = true;
        assert_eq!(
            effect,
            Some(Effect::Collect(CollectRequest {
                bind: Some(expected),
                protocols: ProtocolSet::TCP,
                pressure: false,
            }))
        );
        assert!(
            app.verdict().is_none(),
            "the verdict answers SO_REUSEADDR off"
        );
    }

    #[test]
    fn filter_prompt_filters_live_and_esc_restores() {
        let (mut app, _) = app_on_8080();
        app.handle_key(key(KeyCode::Char('/')));
        type_text(&mut app, "nginx");
        assert_eq!(app.rows.len(), 1);
        app.handle_key(key(KeyCode::Esc));
        assert_eq!(app.rows.len(), 8);
        app.handle_key(key(KeyCode::Char('/')));
        type_text(&mut app, ":8080");
        app.handle_key(key(KeyCode::Enter));
        assert_eq!((app.rows.len(), &app.mode), (3, &Mode::Normal));
        // Keys typed into the prompt are text, not commands.
        app.handle_key(key(KeyCode::Char('/')));
        assert_eq!(type_text(&mut app, "q"), vec![None]);
    }

    #[test]
    fn state_presets_and_sorting_keep_the_selected_socket() {
        let (mut app, _) = app_on_8080();
        app.handle_key(key(KeyCode::End));
        let chosen = app.selected_socket().cloned().expect("selection");
        app.handle_key(key(KeyCode::Char('s')));
        assert_eq!(app.spec.sort, SortColumn::Local);
        assert_eq!(app.selected_socket(), Some(&chosen));
        app.handle_key(KeyEvent::new(KeyCode::Char('S'), KeyModifiers::SHIFT));
        assert!(app.spec.descending);
        assert_eq!(app.selected_socket(), Some(&chosen));
        app.handle_key(key(KeyCode::Char('2')));
        assert!(app.rows.len() == 3);
        app.handle_key(key(KeyCode::Tab));
        assert_eq!(STATE_PRESETS[app.spec.preset].name, "LISTEN");
    }

    #[test]
    fn new_readings_keep_the_selection_on_the_same_socket() {
        let (mut app, _) = app_on_8080();
        app.handle_key(key(KeyCode::Down));
        app.handle_key(key(KeyCode::Down));
        let chosen = app.selected_socket().cloned().expect("selection");
        let mut next = scenario(Instant::now());
        next.table
            .sockets
            .insert(0, time_wait("127.0.0.1:8080", "127.0.0.1:40000", 100));
        app.apply_reading(Ok(next));
        assert_eq!(app.selected_socket(), Some(&chosen));
    }

    #[test]
    fn moves_and_pages_within_the_rows() {
        let (mut app, _) = app_on_8080();
        app.page_rows = 3;
        app.handle_key(key(KeyCode::PageDown));
        assert_eq!(app.cursor.selected, 3);
        app.handle_key(key(KeyCode::PageDown));
        app.handle_key(key(KeyCode::PageDown));
        assert_eq!(app.cursor.selected, 7);
        app.handle_key(key(KeyCode::Char('k')));
        assert_eq!(app.cursor.selected, 6);
        app.handle_key(key(KeyCode::Home));
        assert_eq!(app.cursor.selected, 0);
    }

    #[test]
    fn pause_interval_help_details_and_quit() {
        let (mut app, _) = app_on_8080();
        assert_eq!(
            app.handle_key(key(KeyCode::Char(' '))),
            Some(Effect::SetPaused(true))
        );
        assert_eq!(
            app.handle_key(key(KeyCode::Char('+'))),
            Some(Effect::SetInterval(Duration::from_secs(2)))
        );
        app.handle_key(key(KeyCode::Char('-')));
        assert_eq!(
            app.handle_key(key(KeyCode::Char('-'))),
            Some(Effect::SetInterval(Duration::from_millis(500)))
        );
        app.handle_key(key(KeyCode::Char('-')));
        assert_eq!(
            app.handle_key(key(KeyCode::Char('-'))),
            None,
            "250 ms is the floor"
        );
        app.handle_key(key(KeyCode::Char('?')));
        assert_eq!(app.mode, Mode::Help { scroll: 0 });
        // Esc closes the overlay before it quits.
        assert_eq!(app.handle_key(key(KeyCode::Esc)), None);
        app.handle_key(key(KeyCode::Enter));
        assert!(matches!(app.mode, Mode::Details { gone: false, .. }));
        assert_eq!(
            app.handle_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Effect::Quit)
        );
        app.handle_key(key(KeyCode::Esc));
        assert_eq!(app.handle_key(key(KeyCode::Esc)), Some(Effect::Quit));
    }

    #[test]
    fn details_follow_their_socket_across_readings_until_it_is_gone() {
        let (mut app, _) = app_on_8080();
        key_press(&mut app, KeyCode::Char('2'));
        key_press(&mut app, KeyCode::Enter);
        let Mode::Details { socket, .. } = &app.mode else {
            panic!("details open");
        };
        let chosen = row_key(socket);
        let mut next = scenario(Instant::now());
        for s in &mut next.table.sockets {
            if row_key(s) == chosen {
                s.timer = s.timer.map(|t| crate::model::Timer { expires_ms: 5, ..t });
            }
        }
        // New rows sort first: the selection moves, the details do not.
        next.table
            .sockets
            .insert(0, time_wait("1.1.1.1:1", "2.2.2.2:2", 1));
        app.apply_reading(Ok(next));
        let Mode::Details { socket, gone } = &app.mode else {
            panic!("details open");
        };
        assert_eq!((row_key(socket), *gone), (chosen, false));
        assert_eq!(socket.time_wait_remaining_ms(), Some(5));
        let mut without = scenario(Instant::now());
        without.table.sockets.retain(|s| row_key(s) != chosen);
        app.apply_reading(Ok(without));
        assert!(matches!(app.mode, Mode::Details { gone: true, .. }));
        // q quits from an overlay too.
        assert_eq!(app.handle_key(key(KeyCode::Char('q'))), Some(Effect::Quit));
    }

    fn key_press(app: &mut App, code: KeyCode) {
        app.handle_key(key(code));
    }

    #[test]
    fn countdowns_run_until_the_last_time_wait_expires() {
        let (app, read_at) = app_on_8080();
        assert!(app.countdown_running(read_at));
        assert!(app.countdown_running(read_at + Duration::from_secs(41)));
        // The 58 s TIME_WAIT is on screen too (page_rows 10 shows all 8 rows).
        assert!(app.countdown_running(read_at + Duration::from_secs(50)));
        assert!(!app.countdown_running(read_at + Duration::from_secs(59)));
        let idle = App::new(TuiConfig::new("proc"));
        assert!(!idle.countdown_running(read_at));
    }

    /// The chosen port's rows: the TIME_WAITs to 51234 and 51240, then the
    /// listener.
    fn app_on_port_rows() -> App {
        let (mut app, _) = app_on_8080();
        app.handle_key(key(KeyCode::Char('9')));
        app
    }

    fn shift_f() -> KeyEvent {
        KeyEvent::new(KeyCode::Char('F'), KeyModifiers::SHIFT)
    }

    fn d() -> KeyEvent {
        key(KeyCode::Char('d'))
    }

    #[test]
    fn d_asks_first_then_destroys_the_selected_socket_and_reads_again() {
        let mut app = app_on_port_rows();
        let chosen = app.selected_socket().cloned().expect("selection");
        assert_eq!(app.handle_key(d()), None);
        assert_eq!(
            app.mode,
            Mode::ConfirmFree {
                targets: vec![chosen.clone()],
                whole_port: false,
            }
        );
        // Only an answer closes the question; n destroys nothing.
        assert_eq!(app.handle_key(key(KeyCode::Char('q'))), None);
        assert_eq!(app.handle_key(key(KeyCode::Char('n'))), None);
        assert_eq!(app.mode, Mode::Normal);
        assert_eq!(app.status.as_deref(), Some("Nothing destroyed."));

        app.handle_key(d());
        assert_eq!(
            app.handle_key(key(KeyCode::Char('y'))),
            Some(Effect::Destroy(vec![chosen.clone()]))
        );
        assert_eq!(app.mode, Mode::Normal);
        let read_again = Some(Effect::Collect(app.request()));
        let now = Instant::now();
        let chosen = [chosen];
        assert_eq!(app.destroyed(&chosen, Ok(chosen.to_vec()), now), read_again);
        assert_eq!(
            app.status.as_deref(),
            Some("Destroyed TIME_WAIT 127.0.0.1:8080 → 127.0.0.1:51234.")
        );
        // The status lasts a few seconds, or until the next key.
        app.expire_status(now + STATUS_LIFETIME / 2);
        assert!(app.status.is_some());
        app.expire_status(now + STATUS_LIFETIME);
        assert_eq!(app.status, None);
        app.destroyed(&chosen, Ok(chosen.to_vec()), now);
        app.handle_key(key(KeyCode::Down));
        assert_eq!(app.status, None);
    }

    #[test]
    fn destroying_reports_a_socket_gone_already_or_a_refusal() {
        let mut app = app_on_port_rows();
        let chosen = [app.selected_socket().cloned().expect("selection")];
        let read_again = Some(Effect::Collect(app.request()));
        let now = Instant::now();
        assert_eq!(app.destroyed(&chosen, Ok(Vec::new()), now), read_again);
        assert!(app
            .status
            .as_deref()
            .is_some_and(|s| s.contains("gone already")));
        app.destroyed(&chosen, Err(DestroyError::PermissionDenied("EPERM")), now);
        let status = app.status.clone().unwrap_or_default();
        assert!(
            status.starts_with("Not destroyed:") && status.contains("CAP_NET_ADMIN"),
            "{status}"
        );
        app.destroyed(&chosen, Err(DestroyError::Unsupported), now);
        assert!(app
            .status
            .as_deref()
            .is_some_and(|s| s.contains("EOPNOTSUPP")));
    }

    #[test]
    fn d_never_offers_a_live_socket_a_non_blocker_or_one_without_cookie() {
        let mut app = app_on_port_rows();
        app.handle_key(key(KeyCode::End));
        assert_eq!(app.handle_key(d()), None);
        assert_eq!(app.mode, Mode::Normal);
        let status = app.status.clone().unwrap_or_default();
        assert!(
            status.contains("LISTEN 0.0.0.0:8080") && status.contains("4321/evil\\e[2Jname"),
            "{status}"
        );

        // All states: the first row is an ESTABLISHED on port 22.
        app.handle_key(key(KeyCode::Char('1')));
        app.handle_key(key(KeyCode::Home));
        app.handle_key(d());
        assert_eq!(app.mode, Mode::Normal);
        assert!(app
            .status
            .as_deref()
            .is_some_and(|s| s.contains("does not block")));

        // Read from /proc: no cookie to name the socket by.
        let mut from_proc = scenario(Instant::now());
        for blocker in &mut from_proc.verdict.as_mut().expect("verdict").blockers {
            blocker.socket.cookie = None;
        }
        for socket in &mut from_proc.table.sockets {
            socket.cookie = None;
        }
        app.apply_reading(Ok(from_proc));
        app.handle_key(key(KeyCode::Char('9')));
        app.handle_key(key(KeyCode::Home));
        app.handle_key(d());
        assert_eq!(app.mode, Mode::Normal);
        assert!(app.status.as_deref().is_some_and(|s| s.contains("cookie")));

        // No port chosen: nothing to free.
        let mut idle = App::new(TuiConfig::new("netlink"));
        idle.apply_reading(Ok(scenario(Instant::now())));
        idle.handle_key(d());
        assert_eq!(idle.mode, Mode::Normal);
        assert!(idle
            .status
            .as_deref()
            .is_some_and(|s| s.contains("press p")));
    }

    #[test]
    fn f_frees_the_whole_port_after_one_confirmation() {
        let (mut app, _) = app_on_8080();
        // The listener blocks too: F refuses and says who holds the port.
        assert_eq!(app.handle_key(shift_f()), None);
        assert_eq!(app.mode, Mode::Normal);
        let status = app.status.clone().unwrap_or_default();
        assert!(
            status.starts_with("Not freeing port 8080")
                && status.contains("LISTEN 0.0.0.0:8080")
                && status.contains("stop that process"),
            "{status}"
        );

        // Without the listener: all time-wait blockers, one question.
        let mut without_listener = scenario(Instant::now());
        without_listener
            .verdict
            .as_mut()
            .expect("verdict")
            .blockers
            .retain(|b| b.reason == crate::diagnosis::Reason::TimeWait);
        let expected: Vec<Socket> = without_listener
            .verdict
            .as_ref()
            .expect("verdict")
            .blockers
            .iter()
            .map(|b| b.socket.clone())
            .collect();
        assert_eq!(expected.len(), 2);
        app.apply_reading(Ok(without_listener));
        assert_eq!(app.handle_key(shift_f()), None);
        assert_eq!(
            app.mode,
            Mode::ConfirmFree {
                targets: expected.clone(),
                whole_port: true
            }
        );
        assert_eq!(
            app.handle_key(key(KeyCode::Char('y'))),
            Some(Effect::Destroy(expected.clone()))
        );
        let now = Instant::now();
        app.destroyed(&expected, Ok(expected[..1].to_vec()), now);
        assert_eq!(
            app.status.as_deref(),
            Some("Destroyed 1 socket(s); 1 had expired already.")
        );
    }

    #[test]
    fn explain_opens_with_a_verdict_and_scrolls_until_closed() {
        let (mut app, _) = app_on_8080();
        app.handle_key(key(KeyCode::Char('e')));
        assert_eq!(app.mode, Mode::Explain { scroll: 0 });
        app.handle_key(key(KeyCode::Down));
        app.handle_key(key(KeyCode::Char('j')));
        app.handle_key(key(KeyCode::Up));
        assert_eq!(app.mode, Mode::Explain { scroll: 1 });
        assert_eq!(app.handle_key(key(KeyCode::Esc)), None);
        assert_eq!(app.mode, Mode::Normal);
        // After r the verdict answers the old bind: nothing to explain yet.
        app.handle_key(key(KeyCode::Char('r')));
        app.handle_key(key(KeyCode::Char('e')));
        assert_eq!(app.mode, Mode::Normal);
        assert!(app.status.is_some());
    }

    #[test]
    fn left_by_shows_across_readings() {
        let mut app = App::new(TuiConfig::new("proc"));
        app.apply_reading(Ok(crate::tui::Snapshot {
            request: CollectRequest {
                bind: None,
                protocols: ProtocolSet::TCP,
                pressure: false,
            },
            table: table(vec![established(
                "10.0.0.1:8080",
                "10.0.0.2:5000",
                Some((1234, "nginx")),
            )]),
            verdict: None,
            rule_context: None,
            header: Default::default(),
            read_at: Instant::now(),
            everywhere: None,
            pressure: None,
        }));
        let tw = time_wait("10.0.0.1:8080", "10.0.0.2:5000", 60_000);
        app.apply_reading(Ok(crate::tui::Snapshot {
            request: CollectRequest {
                bind: None,
                protocols: ProtocolSet::TCP,
                pressure: false,
            },
            table: table(vec![tw.clone()]),
            verdict: None,
            rule_context: None,
            header: Default::default(),
            read_at: Instant::now(),
            everywhere: None,
            pressure: None,
        }));
        assert_eq!(app.left_by.of(&tw).map(|o| o.pid), Some(1234));
    }

    #[test]
    fn failures_arrive_newest_first_and_w_shows_their_panel() {
        let (mut app, _) = app_on_8080();
        assert!(!app.failures_open);
        key_press(&mut app, KeyCode::Char('w'));
        assert!(app.failures_open);
        app.add_failure(failure(101, "old", true));
        app.add_failure(failure(102, "new", false));
        let pids: Vec<u32> = app.failures.iter().map(|f| f.pid).collect();
        assert_eq!(pids, [102, 101]);
        for pid in 0..FAILURES_KEPT as u32 {
            app.add_failure(failure(200 + pid, "flood", true));
        }
        assert_eq!(app.failures.len(), FAILURES_KEPT);
        assert_eq!(app.failures[0].pid, 200 + FAILURES_KEPT as u32 - 1);
        key_press(&mut app, KeyCode::Char('w'));
        assert!(!app.failures_open);
    }

    #[test]
    fn selecting_a_failure_shows_its_verdict_and_keeps_it_as_others_arrive() {
        let (mut app, _) = app_on_8080();
        app.handle_key(KeyEvent::new(KeyCode::Char('W'), KeyModifiers::SHIFT));
        assert_eq!(app.mode, Mode::Normal, "nothing to select yet");
        assert_eq!(app.status.as_deref(), Some("No bind failure caught yet."));
        app.add_failure(failure(101, "first", true));
        app.add_failure(failure(102, "second", false));
        app.handle_key(KeyEvent::new(KeyCode::Char('W'), KeyModifiers::SHIFT));
        assert!(app.failures_open);
        assert_eq!(app.mode, Mode::Failures { selected: 0 });
        key_press(&mut app, KeyCode::Down);
        key_press(&mut app, KeyCode::Enter);
        assert_eq!(
            app.mode,
            Mode::FailureVerdict {
                index: 1,
                scroll: 0
            }
        );
        // A new failure goes first: the verdict shown stays pid 101's.
        app.add_failure(failure(103, "third", true));
        let Mode::FailureVerdict { index, .. } = app.mode else {
            panic!("{:?}", app.mode);
        };
        assert_eq!(app.failures[index].pid, 101);
        key_press(&mut app, KeyCode::Esc);
        assert_eq!(app.mode, Mode::Failures { selected: 2 });
        key_press(&mut app, KeyCode::Esc);
        assert_eq!(app.mode, Mode::Normal);
    }

    #[test]
    fn without_the_watcher_w_says_why() {
        let mut config = TuiConfig::new("netlink");
        config.failures_off = Some("not root (uid 1000)".into());
        let mut app = App::new(config);
        app.handle_key(KeyEvent::new(KeyCode::Char('W'), KeyModifiers::SHIFT));
        assert_eq!(app.mode, Mode::Normal);
        let status = app.status.clone().unwrap_or_default();
        assert!(status.contains("off (not root (uid 1000))"), "{status}");
    }

    /// Everything a key may change, for telling whether it did anything.
    fn fingerprint(app: &App) -> String {
        format!(
            "{:?} {:?} {} {:?} {} {:?} {:?} {:?}",
            app.mode,
            app.port,
            app.reuseaddr,
            app.interval,
            app.paused,
            app.spec,
            app.cursor,
            app.status,
        ) + &format!(" {}", app.failures_open)
    }

    /// The app in `mode`, in a state where every key of that mode's table
    /// has something to do: a row mid-table selected, a prompt with text, an
    /// overlay scrolled a line down.
    fn app_in(mode: KeyMode) -> App {
        let (mut app, _) = app_on_8080();
        app.page_rows = 2;
        let keys: &[KeyCode] = match mode {
            KeyMode::Normal => &[KeyCode::Down, KeyCode::Down, KeyCode::Down],
            KeyMode::PortPrompt => &[KeyCode::Char('p'), KeyCode::Char('8')],
            KeyMode::FilterPrompt => &[KeyCode::Char('/'), KeyCode::Char('a')],
            KeyMode::Help => &[KeyCode::Char('?'), KeyCode::Down],
            KeyMode::Details => &[KeyCode::Enter],
            KeyMode::Explain => &[KeyCode::Char('e'), KeyCode::Down],
            KeyMode::Confirm => &[KeyCode::Char('9'), KeyCode::Char('d')],
            KeyMode::Failures => &[KeyCode::Char('W'), KeyCode::Down],
            KeyMode::FailureVerdict => &[
                KeyCode::Char('W'),
                KeyCode::Down,
                KeyCode::Enter,
                KeyCode::Down,
            ],
        };
        for pid in [101, 102, 103] {
            app.add_failure(failure(pid, "server", pid != 102));
        }
        for &code in keys {
            app.handle_key(key(code));
        }
        assert_eq!(app.mode.key_mode(), mode, "{:?}", app.status);
        app
    }

    /// The keys a table entry stands for.
    fn presses(pattern: keys::KeyPattern) -> Vec<KeyEvent> {
        use keys::KeyPattern;
        let chars = |chars: &str| -> Vec<KeyEvent> {
            chars.chars().map(|c| key(KeyCode::Char(c))).collect()
        };
        match pattern {
            KeyPattern::Char(c) if c.is_ascii_uppercase() => {
                vec![KeyEvent::new(KeyCode::Char(c), KeyModifiers::SHIFT)]
            }
            KeyPattern::Char(c) => chars(&c.to_string()),
            KeyPattern::Ctrl(c) => vec![KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)],
            KeyPattern::Code(code) => vec![key(code)],
            KeyPattern::Digit => chars("29"),
            KeyPattern::AnyDigit => chars("09"),
            KeyPattern::AnyChar => chars("qZ 1é"),
        }
    }

    #[test]
    fn every_key_in_a_modes_table_does_something_there() {
        for mode in KeyMode::ALL {
            for binding in mode.table() {
                for press in binding.keys.iter().flat_map(|&p| presses(p)) {
                    let mut app = app_in(mode);
                    let before = fingerprint(&app);
                    let effect = app.handle_key(press);
                    assert!(
                        effect.is_some() || fingerprint(&app) != before,
                        "{press:?} ({:?}) does nothing in {mode:?}",
                        binding.action
                    );
                }
            }
        }
    }

    #[test]
    fn a_key_missing_from_a_modes_table_does_nothing_there() {
        let codes = [
            KeyCode::Esc,
            KeyCode::Enter,
            KeyCode::Tab,
            KeyCode::BackTab,
            KeyCode::Backspace,
            KeyCode::Up,
            KeyCode::Down,
            KeyCode::Left,
            KeyCode::Right,
            KeyCode::PageUp,
            KeyCode::PageDown,
            KeyCode::Home,
            KeyCode::End,
            KeyCode::Delete,
            KeyCode::Insert,
            KeyCode::F(1),
            KeyCode::F(5),
        ];
        let candidates: Vec<KeyEvent> = (' '..='~')
            .map(KeyCode::Char)
            .chain(codes)
            .flat_map(|code| {
                [KeyModifiers::NONE, KeyModifiers::CONTROL, KeyModifiers::ALT]
                    .map(|modifiers| KeyEvent::new(code, modifiers))
            })
            .collect();
        for mode in KeyMode::ALL {
            let unbound: Vec<&KeyEvent> = candidates
                .iter()
                .filter(|press| keys::action_for(mode, press).is_none())
                .collect();
            assert!(unbound.len() > 20, "{mode:?} binds nearly every key");
            for press in unbound {
                let mut app = app_in(mode);
                // A report on screen stays too.
                app.status = Some("report".to_string());
                let before = fingerprint(&app);
                assert_eq!(app.handle_key(*press), None, "{press:?} in {mode:?}");
                assert_eq!(fingerprint(&app), before, "{press:?} in {mode:?}");
            }
        }
    }
}
