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

#[cfg(test)]
mod perf;
#[cfg(test)]
mod test_fixtures;

use std::time::{Duration, Instant};

use crate::args::Args;
use crate::diagnosis::{RuleContext, Verdict};
use crate::error::Failure;
use crate::model::{KernelContext, ProtocolSet, SocketTable, SourceKind};
use crate::output::color_wanted;
use crate::output::human::namespace_text;
use crate::session::{BindOptions, BindSpec, Session};
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
}

/// One reading, as the collector closure returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    } else if let Some(id) = session.namespace() {
        source_name.push_str(&format!(" netns {}", namespace_text(&id)));
    }
    let session = if first.table.source == SourceKind::Proc {
        session.with_choice(SourceChoice::Proc)
    } else {
        session
    };
    let config = TuiConfig {
        port: args.port,
        options: args.bind_options(),
        protocols: args.protocols(),
        interval: args.interval,
        ..TuiConfig::new(source_name)
    };
    run(config, session).map_err(Failure::from)
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
    })
}

/// Runs the dashboard in this terminal until the user quits (q, Esc, Ctrl-C)
/// or SIGTERM/SIGINT/SIGHUP arrives; the terminal is restored on every exit,
/// a panic included. The collector reads through `session` on its own
/// thread, once per interval and at once when the user changes the bind.
pub fn run(config: TuiConfig, session: Session) -> crate::Result<()> {
    let reader = session.clone();
    event_loop::run(
        config,
        move |request: &CollectRequest| snapshot(&reader, request),
        session,
    )
}
