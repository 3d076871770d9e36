//! Command-line entry point: parses flags, wires sources → diagnosis → outputs.
//! Every failure ends here as one line on stderr and exit 2.

/// `eprintln!` without its panic: stderr may be a pipe whose reader has
/// gone (`2>&1 | head -1`), and a message nobody reads is no reason to die.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub mod args;
/// Shared with the dashboard: what may be destroyed is decided in one place.
pub(crate) mod free;
mod wait;

use std::borrow::Cow;
use std::io::{self, IsTerminal, Write};
use std::net::{IpAddr, Ipv4Addr};

use clap::Parser;

use crate::diagnosis::probe::{captured_rule_context, rule_context, run_probes};
use crate::diagnosis::{diagnose, IntendedBind, RuleContext, Verdict};
use crate::model::{ProtocolSet, Query, Socket, SocketTable, SourceKind, StateSet, TcpState};
use crate::output::inert::inert;
use crate::output::{human, json};
use crate::source::sysctl::KernelContext;
use crate::source::{self, ReadRequest, SourceChoice};
use crate::tui;
use args::Args;

/// Exit codes: the contract scripts rely on.
pub const EXIT_FREE: i32 = 0;
pub const EXIT_BLOCKED: i32 = 1;
pub const EXIT_ERROR: i32 = 2;

/// Reports of 100k sockets run to megabytes: write them in big pieces.
const STDOUT_BUFFER: usize = 1 << 16;

/// Runs the program and returns its exit code.
pub fn main() -> i32 {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(error) => return usage_error(&error),
    };
    match run(&args) {
        Ok(code) => code,
        // A reader that went away (`tw-inspect | head -1`) is not an error.
        Err(Failure::Output(error)) if error.kind() == io::ErrorKind::BrokenPipe => EXIT_FREE,
        Err(failure) => {
            // Paths and values in the message come from the user or a file:
            // no control character of theirs reaches the terminal.
            say!("tw-inspect: {}", inert(&failure.to_string()));
            EXIT_ERROR
        }
    }
}

/// Output cut short by a reader that closed the pipe (`| head -1`) is not a
/// failure: the verdict stands, and its exit code must too.
pub(crate) fn reader_gone_is_fine(result: Result<(), Failure>) -> Result<(), Failure> {
    match result {
        Err(Failure::Output(error)) if error.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Why a run ended without an answer.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("{0}")]
    Input(#[from] crate::Error),
    #[error("cannot write output: {0}")]
    Output(#[from] io::Error),
    #[error("{0}")]
    Refused(String),
}

/// clap's errors span several lines; the contract is one line and exit 2.
fn usage_error(error: &clap::Error) -> i32 {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = error.print();
            EXIT_FREE
        }
        _ => {
            let rendered = error.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            say!(
                "tw-inspect: {} (see --help)",
                inert(first.trim_start_matches("error: "))
            );
            EXIT_ERROR
        }
    }
}

/// What the flags ask for, resolved once.
pub(crate) struct Plan<'a> {
    pub args: &'a Args,
    pub choice: SourceChoice,
    pub host: HostAccess,
}

/// How much of this host a diagnosis may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostAccess {
    /// The table is this host's: its sysctls and devices apply; probe when true.
    Live { probing: bool },
    /// Captured files describe another host: rules only, no local facts.
    Captured,
}

impl Plan<'_> {
    /// Reads the sockets on `port` in every state, with owners: the input
    /// to a diagnosis, which must see every state whatever `--state` shows.
    pub fn read_port(&self, port: u16) -> Result<SocketTable, Failure> {
        self.read(
            Query {
                port: Some(port),
                states: StateSet::all(),
            },
            true,
        )
    }

    /// Reads what `query` asks for from the chosen source, with owners when
    /// wanted and the host's /proc is the source; prints a fallback warning.
    fn read(&self, query: Query, owners: bool) -> Result<SocketTable, Failure> {
        let reading = source::read_table(&ReadRequest {
            choice: self.choice,
            captured: self.args.proc_root.as_deref(),
            query,
            protocols: ProtocolSet::TCP,
            owners: owners && self.args.proc_root.is_none(),
        })?;
        if let Some(warning) = reading.fallback_warning {
            say!("tw-inspect: {warning}");
        }
        Ok(reading.table)
    }

    /// The bind the user's server intends, from the flags.
    pub fn intended_bind(&self, port: u16, kernel: &KernelContext) -> IntendedBind {
        let addr = self.args.addr.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        IntendedBind {
            addr,
            port,
            reuseaddr: self.args.reuseaddr,
            reuseport: self.args.reuseport,
            v6only: addr.is_ipv6() && (self.args.v6only || kernel.default_v6only()),
            device: self.args.dev.clone(),
        }
    }

    /// Diagnoses `bind` against the sockets on its port, probing when allowed.
    pub fn diagnose(
        &self,
        table: &SocketTable,
        bind: &IntendedBind,
        kernel: &KernelContext,
    ) -> Result<Verdict, Failure> {
        // Nothing holds the port? If clients closed first, their TIME_WAITs
        // sit on their own ephemeral ports with this port as peer: read them
        // so the explanation can say which side closed first.
        let evidence;
        let sockets = if table.sockets.is_empty() {
            evidence = self.client_time_waits(bind.port)?;
            &evidence
        } else {
            &table.sockets
        };
        let ctx = rule_context_for(self.host, bind, kernel, table.source);
        Ok(diagnose_now(sockets, bind, &ctx, kernel, self.host))
    }

    /// TIME_WAITs whose peer port is `port`: left by clients that closed first.
    fn client_time_waits(&self, port: u16) -> Result<Vec<Socket>, Failure> {
        let mut table = self.read(
            Query {
                port: None,
                states: [TcpState::TimeWait, TcpState::FinWait2]
                    .into_iter()
                    .collect(),
            },
            false,
        )?;
        table
            .sockets
            .retain(|s| s.is_time_wait_like() && s.remote.port() == port);
        Ok(table.sockets)
    }

    pub fn kernel_context(&self) -> KernelContext {
        kernel_context(self.host)
    }

    pub fn json_pretty(&self) -> bool {
        io::stdout().is_terminal()
    }

    pub fn style(&self) -> human::Style {
        human::Style {
            colour: colour_wanted(io::stdout().is_terminal()),
        }
    }

    /// Prints the `--port` report (human or JSON), showing only the
    /// `--state` sockets but diagnosing with all of them. A reader that went
    /// away is not an error: the exit code still carries the verdict.
    pub fn print_report(&self, table: &SocketTable, verdict: &Verdict) -> Result<(), Failure> {
        reader_gone_is_fine(self.write_report(table, verdict))
    }

    fn write_report(&self, table: &SocketTable, verdict: &Verdict) -> Result<(), Failure> {
        let shown = self.shown(table);
        let mut out = io::BufWriter::with_capacity(STDOUT_BUFFER, io::stdout().lock());
        if self.args.json {
            json::write(
                &mut out,
                &shown,
                Some(verdict.bind.port),
                Some(verdict),
                self.json_pretty(),
            )?;
        } else {
            human::write_report(&mut out, &shown, verdict, self.style())?;
        }
        out.flush()?;
        Ok(())
    }

    /// The table as shown: all of it, or (with --state) a filtered copy.
    fn shown<'t>(&self, table: &'t SocketTable) -> Cow<'t, SocketTable> {
        if self.args.states.is_empty() {
            return Cow::Borrowed(table);
        }
        let states = self.state_filter();
        Cow::Owned(SocketTable {
            sockets: table
                .sockets
                .iter()
                .filter(|s| states.contains(s.state))
                .cloned()
                .collect(),
            source: table.source,
            skipped_rows: table.skipped_rows,
            owners_unseen: table.owners_unseen,
        })
    }

    fn state_filter(&self) -> StateSet {
        if self.args.states.is_empty() {
            StateSet::all()
        } else {
            self.args.states.iter().copied().collect()
        }
    }
}

/// Diagnoses `bind` against `sockets` (those on its port) in `ctx`, with
/// probes of this namespace when the host allows it.
fn diagnose_now(
    sockets: &[Socket],
    bind: &IntendedBind,
    ctx: &RuleContext,
    kernel: &KernelContext,
    host: HostAccess,
) -> Verdict {
    let probes = match host {
        HostAccess::Live { probing: true } => run_probes(bind, sockets),
        _ => Vec::new(),
    };
    diagnose(sockets, bind, ctx, kernel, &probes)
}

/// The rule context: this thread's (uid, capabilities, devices), or one that
/// claims no local fact for a table captured on another host.
fn rule_context_for(
    host: HostAccess,
    bind: &IntendedBind,
    kernel: &KernelContext,
    source: SourceKind,
) -> RuleContext {
    match host {
        HostAccess::Live { .. } => rule_context(bind, kernel, source),
        HostAccess::Captured => captured_rule_context(source),
    }
}

/// The kernel settings that matter: this host's, or none for captured files.
fn kernel_context(host: HostAccess) -> KernelContext {
    match host {
        HostAccess::Live { .. } => KernelContext::read(),
        HostAccess::Captured => KernelContext::default(),
    }
}

/// Colour only on a terminal, and never when NO_COLOR is set (no-color.org).
pub fn colour_wanted(terminal: bool) -> bool {
    terminal && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}

fn run(args: &Args) -> Result<i32, Failure> {
    let captured = args.proc_root.is_some();
    let plan = Plan {
        args,
        choice: if captured {
            SourceChoice::Proc
        } else {
            match args.source {
                args::SourceChoice::Auto => SourceChoice::Auto,
                args::SourceChoice::Netlink => SourceChoice::Netlink,
                args::SourceChoice::Proc => SourceChoice::Proc,
            }
        },
        // Captured files describe another host: probing this one would lie.
        host: if captured {
            HostAccess::Captured
        } else {
            HostAccess::Live {
                probing: !args.no_probe,
            }
        },
    };
    let bare = args.port.is_none() && args.states.is_empty() && !args.json;
    if args.tui || (bare && io::stdout().is_terminal()) {
        return run_dashboard(&plan);
    }
    let Some(port) = args.port else {
        return run_listing(&plan);
    };
    if args.wait {
        return wait::run(&plan, port);
    }
    if args.free {
        return free::run(&plan, port);
    }
    let kernel = plan.kernel_context();
    let table = plan.read_port(port)?;
    let bind = plan.intended_bind(port, &kernel);
    let verdict = plan.diagnose(&table, &bind, &kernel)?;
    plan.print_report(&table, &verdict)?;
    Ok(if verdict.blocked {
        EXIT_BLOCKED
    } else {
        EXIT_FREE
    })
}

fn run_listing(plan: &Plan) -> Result<i32, Failure> {
    let table = plan.read(
        Query {
            port: None,
            states: plan.state_filter(),
        },
        true,
    )?;
    let mut out = io::BufWriter::with_capacity(STDOUT_BUFFER, io::stdout().lock());
    if plan.args.json {
        json::write(&mut out, &table, None, None, plan.json_pretty())?;
    } else {
        human::write_listing(&mut out, &table, plan.style())?;
    }
    out.flush()?;
    Ok(EXIT_FREE)
}

fn run_dashboard(plan: &Plan) -> Result<i32, Failure> {
    // One reading before the screen changes: a bad source fails here, as one
    // line on a normal terminal, and the header can name the real source.
    let first = source::read_table(&ReadRequest {
        choice: plan.choice,
        captured: plan.args.proc_root.as_deref(),
        query: Query::everything(),
        protocols: ProtocolSet::TCP,
        owners: false,
    })?;
    // What was asked for; the header adds "→ netlink" or "→ proc" for what answered.
    let mut source_name = match plan.choice {
        SourceChoice::Auto => "auto",
        SourceChoice::Netlink => "netlink",
        SourceChoice::Proc => "proc",
    }
    .to_string();
    if first.fallback_warning.is_some() {
        source_name.push_str(" (sock_diag unavailable)");
    }
    if let Some(dir) = &plan.args.proc_root {
        source_name = format!("captured {}", dir.display());
    }
    let mut config = tui::TuiConfig::new(source_name);
    config.port = plan.args.port;
    config.addr = plan.args.addr.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    config.reuseaddr = plan.args.reuseaddr;
    config.reuseport = plan.args.reuseport;
    config.v6only = plan.args.v6only;
    config.device = plan.args.dev.clone();
    config.interval = plan.args.interval;
    config.color = colour_wanted(true);

    let choice = if first.table.source == crate::model::SourceKind::Proc {
        SourceChoice::Proc
    } else {
        plan.choice
    };
    let captured = plan.args.proc_root.clone();
    let host = plan.host;
    tui::run(config, move |request: &tui::CollectRequest| {
        let reading = source::read_table(&ReadRequest {
            choice,
            captured: captured.as_deref(),
            query: Query::everything(),
            protocols: ProtocolSet::TCP,
            owners: captured.is_none(),
        })?;
        let read_at = std::time::Instant::now();
        // Read once: the verdict and the header show the same settings.
        let kernel = kernel_context(host);
        let (verdict, rule_context) = request
            .bind
            .as_ref()
            .map(|bind| {
                let on_port: Vec<Socket> = reading
                    .table
                    .sockets
                    .iter()
                    .filter(|s| {
                        // Peer TIME_WAITs tell the explanation the client closed first.
                        s.local.port() == bind.port
                            || (s.is_time_wait_like() && s.remote.port() == bind.port)
                    })
                    .cloned()
                    .collect();
                let ctx = rule_context_for(host, bind, &kernel, reading.table.source);
                let verdict = diagnose_now(&on_port, bind, &ctx, &kernel, host);
                (verdict, ctx)
            })
            .unzip();
        Ok(tui::Snapshot {
            table: reading.table,
            verdict,
            rule_context,
            header: tui::HeaderInfo::read_local(kernel),
            read_at,
        })
    })?;
    Ok(EXIT_FREE)
}
