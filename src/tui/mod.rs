//! The live dashboard: a collector thread asks the session for the table and
//! the chosen bind's verdict every interval, the event loop folds each
//! reading into [`app::App`], and [`render`] draws it.
//!
//! The dashboard never diagnoses anything itself: it draws the session's
//! [`Verdict`] for the intended bind, exactly as the other faces do, and
//! judges a single socket only through [`crate::diagnosis::assess`] with the
//! verdict's own [`RuleContext`].

mod app;
mod collector;
mod countdown;
mod event_loop;
mod fault;
mod keys;
mod left_by;
mod messages;
mod render;
mod terminal;
mod view;
mod watcher;

#[cfg(test)]
mod perf;
#[cfg(test)]
mod test_fixtures;

use std::ops::Range;
use std::time::{Duration, Instant};

use crate::args::Args;
use crate::diagnosis::connect::PortPressure;
use crate::diagnosis::{RuleContext, Verdict};
use crate::error::Failure;
use crate::model::{KernelContext, ProtocolSet, SocketTable, SourceKind};
use crate::output::color_wanted;
use crate::output::human::namespace_text;
use crate::session::{BindOptions, BindSpec, NamespaceEntry, Session};
use crate::source::bpf::{WatchScope, Watcher};
use crate::source::SourceChoice;

/// How the dashboard starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TuiConfig {
    /// The port to diagnose at start; None until the user chooses one with `p`.
    pub port: Option<u16>,
    /// The intended bind's address and flags, as the user gave them; `port`
    /// completes it and the session applies the kernel's defaults.
    pub options: BindOptions,
    /// The protocols the table shows (the port panel judges `options.protocol`).
    pub protocols: ProtocolSet,
    /// Time between two readings (changed live with + and -).
    pub interval: Duration,
    /// False for a monochrome screen (NO_COLOR).
    pub color: bool,
    /// Shown in the header: where the table comes from ("netlink", "proc", a file).
    pub source: String,
    /// `--all-netns`: every network namespace of the host in one table.
    pub all_namespaces: bool,
    /// Why the bind failures panel is off (the kernel watcher could not
    /// start: not root, no BTF, refused…), shown in the header; None when
    /// it runs.
    pub failures_off: Option<String>,
}

impl TuiConfig {
    /// Defaults: no port yet, a wildcard IPv4 bind without flags, 1 s
    /// interval, color unless NO_COLOR is set to a non-empty value.
    pub fn new(source: impl Into<String>) -> TuiConfig {
        TuiConfig {
            port: None,
            options: BindOptions::default(),
            protocols: ProtocolSet::TCP,
            interval: Duration::from_secs(1),
            color: color_wanted(true),
            source: source.into(),
            all_namespaces: false,
            failures_off: None,
        }
    }
}

/// What the collector is asked to read: the whole table, and the verdict
/// for `bind` when the user has chosen a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectRequest {
    pub bind: Option<BindSpec>,
    /// The protocols the table shows.
    pub protocols: ProtocolSet,
    /// The client-side pressure panel is open: read the local port range's
    /// use by destination too.
    pub pressure: bool,
}

/// One reading, as the collector closure returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// What this reading answers: a verdict is shown only while the user
    /// still intends this bind.
    pub request: CollectRequest,
    pub table: SocketTable,
    /// The verdict for the request's bind; None when no port was chosen.
    pub verdict: Option<Verdict>,
    /// The context the verdict's rules ran with; Some exactly when
    /// `verdict` is. The details view
    /// judges other sockets with it, so it never builds one of its own.
    pub rule_context: Option<RuleContext>,
    pub header: HeaderInfo,
    /// When the table was read: timers count down from here.
    pub read_at: Instant,
    /// An `--all-netns` reading: which namespace each part of `table` is
    /// from, and each namespace's verdict (`verdict` above is then None).
    pub everywhere: Option<Everywhere>,
    /// The local port range's use by destination, read in the dashboard's
    /// namespace when the request asks for it (or why it could not be).
    pub pressure: Option<Result<PortPressure, String>>,
}

/// The namespaces of an `--all-netns` reading.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Everywhere {
    /// Ascending by inode; their sockets follow one another in the table.
    pub namespaces: Vec<NamespaceView>,
    /// Namespaces that could not be read (gone mid-scan, not enterable).
    pub warnings: Vec<String>,
}

/// One namespace's part of an `--all-netns` reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceView {
    pub entry: NamespaceEntry,
    /// Its sockets: this range of the snapshot's table.
    pub sockets: Range<usize>,
    /// The bind's verdict in it, with its rule context; None when no port
    /// is chosen or none of its sockets uses the port.
    pub verdict: Option<(Verdict, RuleContext)>,
}

/// The machine facts the header shows; None where they could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeaderInfo {
    pub host: Option<String>,
    pub kernel: Option<String>,
    /// The sysctls, as the verdict read them.
    pub sysctl: KernelContext,
}

impl HeaderInfo {
    /// The host and kernel names of this machine (from /proc/sys/kernel),
    /// with `sysctl` as the collector read it for the verdict.
    pub fn read_local(sysctl: KernelContext) -> HeaderInfo {
        let read = |path: &str| {
            std::fs::read_to_string(path)
                .ok()
                .map(|text| text.trim().to_string())
        };
        HeaderInfo {
            host: read("/proc/sys/kernel/hostname"),
            kernel: read("/proc/sys/kernel/osrelease"),
            sysctl,
        }
    }
}

/// Opens the dashboard for these flags: one reading first, so that a bad
/// source fails as one line on a normal terminal and the header can name
/// the source that answered; then the live screen until the user quits.
pub fn launch(session: Session, args: &Args) -> Result<(), Failure> {
    use std::io::IsTerminal as _;
    if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
        return Err(Failure::Refused(
            "the dashboard needs a terminal (stdin and stdout); without one, use --port or the listing"
                .into(),
        ));
    }
    let first = session.read(crate::model::Query::everything(), args.protocols(), false)?;
    // What was asked for; "(sock_diag unavailable)" when /proc answered instead.
    let mut source_name = match session.choice() {
        SourceChoice::Auto => "auto",
        SourceChoice::Netlink => "netlink",
        SourceChoice::Proc => "proc",
    }
    .to_string();
    if first.fallback_warning.is_some() {
        source_name.push_str(" (sock_diag unavailable)");
    }
    if let Some(dir) = session.captured() {
        source_name = format!("captured {}", dir.display());
    } else if args.all_netns {
        source_name.push_str(", all namespaces");
    } else if let Some(id) = session.namespace() {
        source_name.push_str(&format!(" netns {}", namespace_text(&id)));
    }
    let session = if first.table.source == SourceKind::Proc {
        session.with_choice(SourceChoice::Proc)
    } else {
        session
    };
    let (watcher, failures_off) = match start_watcher(&session, args.all_netns) {
        Ok(watcher) => (Some(watcher), None),
        Err(why) => (None, Some(why)),
    };
    let config = TuiConfig {
        failures_off,
        port: args.port,
        options: args.bind_options(),
        protocols: args.protocols(),
        interval: args.interval,
        all_namespaces: args.all_netns,
        ..TuiConfig::new(source_name)
    };
    run(config, session, watcher).map_err(Failure::from)
}

/// The kernel watcher for the bind failures panel, over the dashboard's
/// namespace (every namespace with `--all-netns`), or why it cannot run.
fn start_watcher(session: &Session, all_namespaces: bool) -> Result<Watcher, String> {
    if session.captured().is_some() {
        return Err("captured files are not this host".to_string());
    }
    let scope = if all_namespaces {
        WatchScope::all_namespaces()
    } else {
        let inode = session
            .namespace()
            .and_then(|id| u32::try_from(id.inode).ok())
            .ok_or_else(|| "cannot name the namespace".to_string())?;
        WatchScope {
            netns_inode: Some(inode),
            ..WatchScope::default()
        }
    };
    // The verdicts' own probe binds fail too: never list them.
    Watcher::start(scope.ignoring_self()).map_err(|why| why.to_string())
}

/// One reading for the dashboard: the whole table and, for a chosen port,
/// the session's verdict judged on that same table.
pub fn snapshot(session: &Session, request: &CollectRequest) -> crate::Result<Snapshot> {
    let check = session.check_table(request.bind.as_ref(), request.protocols)?;
    let (verdict, rule_context) = check.verdict.unzip();
    Ok(Snapshot {
        request: request.clone(),
        table: check.table,
        verdict,
        rule_context,
        header: HeaderInfo::read_local(check.kernel),
        read_at: check.read_at,
        everywhere: None,
        pressure: pressure_for(session, request),
    })
}

/// One `--all-netns` reading: every namespace's table one after the other,
/// and the bind's verdict in each namespace that uses its port. The header
/// shows the sysctls of the first namespace read.
pub fn snapshot_everywhere(session: &Session, request: &CollectRequest) -> crate::Result<Snapshot> {
    let survey = session.check_table_everywhere(request.bind.as_ref(), request.protocols)?;
    let mut table: Option<SocketTable> = None;
    let mut kernel = None;
    let mut read_at = None;
    let mut namespaces = Vec::with_capacity(survey.answers.len());
    for (entry, check) in survey.answers {
        let whole = table.get_or_insert_with(|| SocketTable {
            source: check.table.source,
            sockets: Vec::new(),
            skipped_rows: 0,
            owners_unseen: 0,
        });
        let start = whole.sockets.len();
        whole.sockets.extend(check.table.sockets);
        whole.skipped_rows += check.table.skipped_rows;
        whole.owners_unseen += check.table.owners_unseen;
        kernel.get_or_insert(check.kernel);
        read_at.get_or_insert(check.read_at);
        namespaces.push(NamespaceView {
            entry,
            sockets: start..whole.sockets.len(),
            verdict: check.verdict,
        });
    }
    Ok(Snapshot {
        request: request.clone(),
        table: table.unwrap_or(SocketTable {
            source: SourceKind::Netlink,
            sockets: Vec::new(),
            skipped_rows: 0,
            owners_unseen: 0,
        }),
        verdict: None,
        rule_context: None,
        header: HeaderInfo::read_local(kernel.unwrap_or_default()),
        read_at: read_at.unwrap_or_else(Instant::now),
        everywhere: Some(Everywhere {
            namespaces,
            warnings: survey.warnings,
        }),
        pressure: pressure_for(session, request),
    })
}

/// The pressure panel's reading, when it is open.
fn pressure_for(
    session: &Session,
    request: &CollectRequest,
) -> Option<Result<PortPressure, String>> {
    request.pressure.then(|| {
        session
            .port_pressure()
            .map(|(pressure, _)| pressure)
            .map_err(|error| error.to_string())
    })
}

/// Runs the dashboard in this terminal until the user quits (q, Esc, Ctrl-C)
/// or SIGTERM/SIGINT/SIGHUP arrives; the terminal is restored on every exit,
/// a panic included. The collector reads through `session` on its own
/// thread, once per interval and at once when the user changes the bind;
/// `watcher`, when given, feeds the bind failures panel from its own thread.
pub fn run(config: TuiConfig, session: Session, watcher: Option<Watcher>) -> crate::Result<()> {
    let reader = session.clone();
    let everywhere = config.all_namespaces;
    event_loop::run(
        config,
        move |request: &CollectRequest| {
            if everywhere {
                snapshot_everywhere(&reader, request)
            } else {
                snapshot(&reader, request)
            }
        },
        session,
        watcher,
    )
}
