//! The live dashboard: a collector thread reads the table and diagnoses the
//! chosen bind every interval (through a closure the CLI provides), the event
//! loop folds each reading into [`app::App`], and [`render`] draws it.
//!
//! The dashboard never diagnoses anything itself: it draws the CLI's
//! [`Verdict`] for the intended bind, exactly as the other outputs do, and
//! judges a single socket only through [`crate::diagnosis::assess`] with the
//! verdict's own [`RuleContext`].

mod app;
mod collector;
mod countdown;
mod event_loop;
mod fault;
mod keys;
mod left_by;
mod render;
mod terminal;
mod view;

#[cfg(test)]
mod perf;
#[cfg(test)]
mod test_fixtures;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use crate::diagnosis::{IntendedBind, RuleContext, Verdict};
use crate::model::SocketTable;
use crate::source::sysctl::KernelContext;

/// How the dashboard starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TuiConfig {
    /// The port to diagnose at start; None until the user chooses one with `p`.
    pub port: Option<u16>,
    /// Address and flags of the intended bind; `port` completes it.
    pub addr: IpAddr,
    pub reuseaddr: bool,
    pub reuseport: bool,
    pub v6only: bool,
    pub device: Option<String>,
    /// Time between two readings (changed live with + and -).
    pub interval: Duration,
    /// False for a monochrome screen (NO_COLOR).
    pub color: bool,
    /// Shown in the header: where the table comes from ("netlink", "proc", a file).
    pub source: String,
}

impl TuiConfig {
    /// Defaults: no port yet, a wildcard IPv4 bind without flags, 1 s
    /// interval, colour unless NO_COLOR is set to a non-empty value.
    pub fn new(source: impl Into<String>) -> TuiConfig {
        TuiConfig {
            port: None,
            addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            reuseaddr: false,
            reuseport: false,
            v6only: false,
            device: None,
            interval: Duration::from_secs(1),
            color: std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty()),
            source: source.into(),
        }
    }

    /// The intended bind for `port` with this configuration's address and flags.
    fn bind_for(&self, port: u16) -> IntendedBind {
        IntendedBind {
            addr: self.addr,
            port,
            reuseaddr: self.reuseaddr,
            reuseport: self.reuseport,
            v6only: self.v6only,
            device: self.device.clone(),
        }
    }
}

/// What the collector closure is asked to read: the whole table, and the
/// verdict for `bind` when the user has chosen a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectRequest {
    pub bind: Option<IntendedBind>,
}

/// One reading, as the collector closure returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub table: SocketTable,
    /// The verdict for the request's bind; None when no port was chosen.
    pub verdict: Option<Verdict>,
    /// The context the verdict's rules ran with (the collector's
    /// `rule_context`); Some exactly when `verdict` is. The details view
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

/// Runs the dashboard in this terminal until the user quits (q, Esc, Ctrl-C)
/// or SIGTERM/SIGINT/SIGHUP arrives; the terminal is restored on every exit,
/// a panic included. `collector` runs on its own thread, once per interval
/// and at once when the user changes the intended bind.
pub fn run(
    config: TuiConfig,
    collector: impl FnMut(&CollectRequest) -> crate::Result<Snapshot> + Send + 'static,
) -> crate::Result<()> {
    event_loop::run(config, collector)
}
