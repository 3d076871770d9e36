//! Command-line flags. Every value is validated here, so a bad flag ends the
//! program with one clear line and exit 2 before anything is read.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::model::{Protocol, ProtocolSet, StateSet, TcpState};
use crate::session::{BindOptions, BindSpec, Session};
use crate::source::netns::{Netns, NetnsError, NetnsSpec};
use crate::source::SourceChoice;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceFlag {
    /// sock_diag, falling back to /proc with a warning when unavailable
    Auto,
    /// sock_diag (netlink) only
    Netlink,
    /// /proc/net/tcp and /proc/net/tcp6 only
    Proc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProtoFlag {
    Tcp,
    Udp,
    All,
}

/// Why does bind() fail with "Address already in use"? Shows which socket
/// holds a TCP port, whether SO_REUSEADDR/SO_REUSEPORT would get past it,
/// and when the port frees.
#[derive(Debug, Parser)]
#[command(name = "tw-inspect", version, about, long_about = None)]
#[command(group(clap::ArgGroup::new("waiting").args(["wait", "watch"])))]
#[command(
    after_help = "Exit codes with --port: 0 the bind would succeed, 1 it is blocked, 2 error."
)]
pub struct Args {
    /// Diagnose this port: which sockets hold it and whether the intended bind would succeed
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,

    /// Show only sockets in this state (repeatable; ss names such as time-wait work too)
    #[arg(long = "state", value_name = "STATE", value_parser = parse_state)]
    pub states: Vec<TcpState>,

    /// Print a JSON document (schema v1) instead of the human report
    #[arg(long)]
    pub json: bool,

    /// Where to read the socket tables from
    #[arg(long, value_enum, default_value_t = SourceFlag::Auto)]
    pub source: SourceFlag,

    /// Read DIR/net/tcp and DIR/net/tcp6 (files captured on another host) instead of this host's; implies --source proc, no owners, no probes
    #[arg(long, value_name = "DIR")]
    pub proc_root: Option<PathBuf>,

    /// Address the server intends to bind (default 0.0.0.0; :: for IPv6 or dual-stack)
    #[arg(long, value_name = "ADDR", requires = "port")]
    pub addr: Option<IpAddr>,

    /// The server sets SO_REUSEADDR before bind()
    #[arg(long, requires = "port")]
    pub reuseaddr: bool,

    /// The server sets SO_REUSEPORT before bind()
    #[arg(long, requires = "port")]
    pub reuseport: bool,

    /// The server sets IPV6_V6ONLY (for an IPv6 --addr; default: net.ipv6.bindv6only)
    #[arg(long, requires = "port")]
    pub v6only: bool,

    /// The server binds to this device (SO_BINDTODEVICE)
    #[arg(long, value_name = "IFACE", requires = "port", value_parser = parse_device)]
    pub dev: Option<String>,

    /// Decide from the rules alone: make no probe bind() calls
    #[arg(long)]
    pub no_probe: bool,

    /// Wait until the intended bind succeeds (confirmed by a probe), then exit 0
    #[arg(long, requires = "port", conflicts_with_all = ["free", "tui", "no_probe", "proc_root"])]
    pub wait: bool,

    /// Give up waiting after this many seconds (exit 1); with --watch, stop watching (exit 0)
    #[arg(long, value_name = "SECS", requires = "waiting", value_parser = parse_seconds)]
    pub timeout: Option<Duration>,

    /// Destroy the TIME_WAIT sockets that block the intended bind (SOCK_DESTROY), then probe again
    #[arg(long, requires = "port", conflicts_with_all = ["tui", "proc_root"])]
    pub free: bool,

    /// With --free: do not ask for confirmation
    #[arg(long, requires = "free")]
    pub yes: bool,

    /// With --free: show what would be destroyed, destroy nothing
    #[arg(long, requires = "free")]
    pub dry_run: bool,

    /// Open the live dashboard (the default when stdout is a terminal and no --port/--json is given)
    #[arg(long, conflicts_with = "json")]
    pub tui: bool,

    /// Dashboard refresh interval in seconds
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = parse_interval)]
    pub interval: Duration,

    // Which protocol.
    /// UDP instead of TCP: the same as --proto udp
    #[arg(long, conflicts_with = "proto")]
    pub udp: bool,

    /// The protocol to look at: tcp (the default), udp, or all (the listing and dashboard only: a bind is one or the other)
    #[arg(long, value_enum, value_name = "PROTO")]
    pub proto: Option<ProtoFlag>,

    // Where: network namespaces.
    /// Work inside this network namespace: a name under /run/netns, a pid, or a path to a namespace file (containers: the server's pid)
    #[arg(long, value_name = "NS", conflicts_with = "proc_root", value_parser = parse_netns)]
    pub netns: Option<NetnsSpec>,

    /// Look in every network namespace on the host (with --port, or for the listing)
    #[arg(long, conflicts_with_all = ["netns", "proc_root", "wait", "free", "tui"])]
    pub all_netns: bool,

    // Watching bind failures as they happen.
    /// Report every bind() that fails with EADDRINUSE as it happens, diagnosed with the failing socket's own options (root; eBPF)
    #[arg(long, conflicts_with_all = ["free", "tui", "proc_root", "states"])]
    pub watch: bool,

    /// With --watch: stop after this many failed binds
    #[arg(long, value_name = "N", requires = "watch", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
}

impl Args {
    /// The session these flags ask for: where to read, and whether to probe.
    /// The session these flags ask for: where to read, in which network
    /// namespace, and whether to probe. Fails when `--netns` names no
    /// network namespace that can be opened.
    pub fn session(&self) -> Result<Session, NetnsError> {
        let choice = match self.source {
            SourceFlag::Auto => SourceChoice::Auto,
            SourceFlag::Netlink => SourceChoice::Netlink,
            SourceFlag::Proc => SourceChoice::Proc,
        };
        let session = Session::new(choice, self.proc_root.clone(), !self.no_probe);
        Ok(match &self.netns {
            Some(spec) => session.in_namespace(Netns::open(spec)?),
            None => session,
        })
    }

    /// The protocols the listing and the dashboard show: TCP unless told.
    pub fn protocols(&self) -> ProtocolSet {
        match (self.udp, self.proto) {
            (true, _) | (_, Some(ProtoFlag::Udp)) => ProtocolSet::UDP,
            (_, Some(ProtoFlag::All)) => ProtocolSet::ALL,
            _ => ProtocolSet::TCP,
        }
    }

    /// The protocol of the intended bind: UDP with --udp or --proto udp.
    pub fn bind_protocol(&self) -> Protocol {
        if self.protocols() == ProtocolSet::UDP {
            Protocol::Udp
        } else {
            Protocol::Tcp
        }
    }

    /// The bind the flags describe, before the kernel's defaults apply.
    pub fn bind_options(&self) -> BindOptions {
        BindOptions {
            protocol: self.bind_protocol(),
            addr: self.addr,
            reuseaddr: self.reuseaddr,
            reuseport: self.reuseport,
            v6only: self.v6only,
            device: self.dev.clone(),
        }
    }

    /// `--port` with the bind flags.
    pub fn bind_spec(&self) -> Option<BindSpec> {
        Some(BindSpec {
            port: self.port?,
            options: self.bind_options(),
        })
    }

    /// Only `--state` filters are shown; every state is judged.
    pub fn state_filter(&self) -> StateSet {
        if self.states.is_empty() {
            StateSet::all()
        } else {
            self.states.iter().copied().collect()
        }
    }
}

fn parse_state(text: &str) -> Result<TcpState, String> {
    TcpState::parse_user(text).ok_or_else(|| {
        let names: Vec<&str> = TcpState::ALL.iter().map(|s| s.name()).collect();
        format!(
            "unknown state (one of {}, or ss names like time-wait)",
            names.join(" ")
        )
    })
}

fn parse_netns(text: &str) -> Result<NetnsSpec, String> {
    if text.is_empty() || text.contains('\0') {
        return Err("not a namespace name, pid or path".to_string());
    }
    Ok(NetnsSpec::parse(text))
}

fn parse_device(text: &str) -> Result<String, String> {
    // IFNAMSIZ is 16 including the NUL; names never hold '/' or whitespace.
    let valid = !text.is_empty()
        && text.len() < libc::IF_NAMESIZE
        && !text.contains(['/', ':'])
        && !text.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(text.to_string())
    } else {
        Err("not an interface name (1 to 15 characters, no '/', ':' or spaces)".to_string())
    }
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| "not a number of seconds".to_string())?;
    if !(secs.is_finite() && secs > 0.0 && secs <= 86_400.0) {
        return Err("must be more than 0 and at most 86400 seconds".to_string());
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    let interval = parse_seconds(text)?;
    if interval < Duration::from_millis(100) || interval > Duration::from_secs(60) {
        return Err("must be between 0.1 and 60 seconds".to_string());
    }
    Ok(interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("tw-inspect").chain(args.iter().copied()))
    }

    #[test]
    fn port_range_is_checked() {
        assert!(parse(&["--port", "70000"]).is_err());
        assert!(parse(&["--port", "abc"]).is_err());
        assert!(parse(&["--port", "0"]).is_err());
        assert_eq!(parse(&["--port", "9527"]).unwrap().port, Some(9527));
    }

    #[test]
    fn states_accept_ss_names_and_repeat() {
        let args = parse(&["--state", "time-wait", "--state", "LISTEN"]).unwrap();
        assert_eq!(args.states, vec![TcpState::TimeWait, TcpState::Listen]);
        assert!(parse(&["--state", "waiting"]).is_err());
    }

    #[test]
    fn bind_flags_need_a_port() {
        assert!(parse(&["--reuseaddr"]).is_err());
        assert!(parse(&["--addr", "::", "--port", "80"]).is_ok());
        assert!(parse(&["--addr", "not-an-ip", "--port", "80"]).is_err());
    }

    #[test]
    fn durations_are_validated() {
        assert!(parse(&["--port", "1", "--wait", "--timeout", "-1"]).is_err());
        assert!(parse(&["--port", "1", "--wait", "--timeout", "nan"]).is_err());
        assert!(parse(&["--port", "1", "--wait", "--timeout", "90"]).is_ok());
        assert!(parse(&["--interval", "0"]).is_err());
        assert!(parse(&["--interval", "0.5"]).is_ok());
    }

    #[test]
    fn device_names_are_validated() {
        assert!(parse(&["--port", "1", "--dev", "lo"]).is_ok());
        assert!(parse(&["--port", "1", "--dev", "a/b"]).is_err());
        assert!(parse(&["--port", "1", "--dev", "waytoolonginterface"]).is_err());
    }

    #[test]
    fn watch_flags_go_together() {
        assert!(parse(&["--watch", "--count", "3", "--timeout", "5"]).is_ok());
        assert!(parse(&["--watch", "--port", "80", "--all-netns"]).is_ok());
        assert!(parse(&["--count", "3"]).is_err());
        assert!(parse(&["--watch", "--count", "0"]).is_err());
        assert!(parse(&["--timeout", "5"]).is_err());
        assert!(parse(&["--watch", "--port", "1", "--wait"]).is_err());
        assert!(parse(&["--watch", "--tui"]).is_err());
    }

    #[test]
    fn free_flags_go_together() {
        assert!(parse(&["--port", "1", "--yes"]).is_err());
        assert!(parse(&["--port", "1", "--free", "--yes"]).is_ok());
        assert!(parse(&["--port", "1", "--free", "--wait"]).is_err());
    }
}
