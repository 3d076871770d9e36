//! Command-line flags. Every value is validated here, so a bad flag ends the
//! program with one clear line and exit 2 before anything is read.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::diagnosis::connect::IntendedConnect;
use crate::diagnosis::probe::can_probe_as;
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
#[command(group(clap::ArgGroup::new("target").args(["port", "connect"])))]
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

    /// Address the server intends to bind (default 0.0.0.0; :: for IPv6 or dual-stack; [::1] and fe80::1%IFACE work, the scope IFACE acting as --dev); with --connect, the client's local address
    #[arg(long, value_name = "ADDR", requires = "target", value_parser = parse_addr)]
    pub addr: Option<AddrArg>,

    /// The server (or with --connect, the client) sets SO_REUSEADDR before bind()
    #[arg(long, requires = "target")]
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

    // The client side.
    /// Will the next connect() to HOST:PORT (an IP address) get a local port? Without HOST:PORT: which destinations use up the local port range
    #[arg(long, value_name = "HOST:PORT", num_args = 0..=1, conflicts_with_all = ["port", "udp", "proto", "all_netns", "tui"], value_parser = parse_destination)]
    pub connect: Option<Option<SocketAddr>>,

    /// With --connect: the client calls bind(addr, 0) before connect()
    #[arg(long, requires = "connect")]
    pub bind_zero: bool,

    /// With --connect --bind-zero: the client sets IP_BIND_ADDRESS_NO_PORT (connect() picks the port)
    #[arg(long, requires = "bind_zero")]
    pub no_port: bool,

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
    #[arg(long, conflicts_with_all = ["netns", "proc_root", "wait", "free"])]
    pub all_netns: bool,

    // --- Report detail and identity (issue 12) ---
    /// List every socket in the report (a long one summarises alike sockets)
    #[arg(short, long)]
    pub verbose: bool,

    /// The uid the server binds as (a number or a user name; default: the caller's): SO_REUSEPORT shares a port only within one uid, and the probes bind as it when allowed
    #[arg(long, value_name = "UID|USER", requires = "port", value_parser = parse_uid)]
    pub uid: Option<u32>,

    /// Write the man page (man) or a shell's completion script (bash, zsh, fish) to stdout
    #[arg(long, value_enum, value_name = "WHAT", exclusive = true)]
    pub generate: Option<GenerateFlag>,

    // Watching bind failures as they happen.
    /// Report every bind() that fails with EADDRINUSE as it happens, diagnosed with the failing socket's own options (root; eBPF)
    #[arg(long, conflicts_with_all = ["free", "tui", "proc_root", "states"])]
    pub watch: bool,

    /// With --watch: stop after this many failed binds
    #[arg(long, value_name = "N", requires = "watch", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
}

/// What `--generate` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GenerateFlag {
    /// The man page (roff): `man -l` reads it
    Man,
    Bash,
    Zsh,
    Fish,
}

impl Args {
    /// The session these flags ask for: where to read, in which network
    /// namespace, and whether to probe. Fails when `--netns` names no
    /// network namespace that can be opened.
    pub fn session(&self) -> Result<Session, NetnsError> {
        let choice = match self.source {
            SourceFlag::Auto => SourceChoice::Auto,
            SourceFlag::Netlink => SourceChoice::Netlink,
            SourceFlag::Proc => SourceChoice::Proc,
        };
        // A probe as the caller would answer for the wrong uid: none, when
        // the caller may not bind as --uid (the report says why).
        let probing = !self.no_probe && can_probe_as(self.uid);
        let session = Session::new(choice, self.proc_root.clone(), probing);
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

    /// The bind the flags describe, before the kernel's defaults apply. An
    /// address's scope (`fe80::1%eth0`) is the device when --dev is not given.
    pub fn bind_options(&self) -> BindOptions {
        let scope = self.addr.as_ref().and_then(|a| a.scope.clone());
        BindOptions {
            protocol: self.bind_protocol(),
            addr: self.addr.as_ref().map(|a| a.ip),
            reuseaddr: self.reuseaddr,
            reuseport: self.reuseport,
            // --v6only says it sets the flag; without it, the kernel's default.
            v6only: self.v6only.then_some(true),
            device: self.dev.clone().or(scope),
            uid: self.uid,
        }
    }

    /// What clap cannot check across flags: `--v6only` with an IPv4
    /// address, an address's scope that names another device than --dev.
    /// The faces call it before anything is read (exit 2, one line).
    pub fn problem(&self) -> Option<String> {
        if self.port.is_some() && self.protocols() == ProtocolSet::ALL {
            return Some(
                "--proto all works for the listing; a bind is TCP or UDP: give --proto tcp or --udp with --port"
                    .to_string(),
            );
        }
        let addr = self.addr.as_ref();
        if self.v6only {
            match addr {
                Some(addr) if addr.ip.is_ipv4() => {
                    return Some(format!(
                        "--v6only applies to an IPv6 socket, and --addr {} is IPv4",
                        addr.ip
                    ))
                }
                None => {
                    return Some(
                        "--v6only applies to an IPv6 --addr (without one the bind is 0.0.0.0)"
                            .to_string(),
                    )
                }
                Some(_) => {}
            }
        }
        match (addr.and_then(|a| a.scope.as_deref()), self.dev.as_deref()) {
            (Some(scope), Some(dev)) if scope != dev => Some(format!(
                "the scope of --addr (%{scope}) and --dev {dev} name different devices"
            )),
            _ => None,
        }
    }

    /// `--connect HOST:PORT` with the client's flags; None for the bare
    /// `--connect` (the pressure view) or without it.
    pub fn intended_connect(&self) -> Option<IntendedConnect> {
        let remote = self.connect.flatten()?;
        Some(IntendedConnect {
            remote,
            local: self.addr.as_ref().map(|a| a.ip),
            bind_zero: self.bind_zero,
            no_port: self.no_port,
            reuseaddr: self.reuseaddr,
        })
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

/// `--uid`: a number, or a user name looked up in the passwd database.
fn parse_uid(text: &str) -> Result<u32, String> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse()
            .map_err(|_| "a uid is at most 4294967294".to_string())
            .and_then(|uid: u32| {
                // (uid_t)-1 means "unchanged" to setresuid: never a real uid.
                if uid == u32::MAX {
                    Err("a uid is at most 4294967294".to_string())
                } else {
                    Ok(uid)
                }
            });
    }
    user_uid(text)
        .ok_or_else(|| "no such user (give a name in the passwd database, or a number)".to_string())
}

/// The uid of user `name` (getpwnam_r), if there is one.
fn user_uid(name: &str) -> Option<u32> {
    let name = std::ffi::CString::new(name).ok()?;
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: an all-zero passwd is a valid value to be overwritten.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call, buffer's length is given,
    // and the result is read only through `found` when it is set.
    let rc = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        )
    };
    (rc == 0 && !found.is_null()).then_some(entry.pw_uid)
}

/// An `--addr`: the IP, and the interface of an IPv6 scope (`%eth0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrArg {
    pub ip: IpAddr,
    pub scope: Option<String>,
}

/// `127.0.0.1`, `::1`, `[::1]` (as URLs write it), `fe80::1%eth0`.
fn parse_addr(text: &str) -> Result<AddrArg, String> {
    let bare = text
        .strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(text);
    let (ip, scope) = match bare.split_once('%') {
        Some((ip, scope)) => (ip, Some(scope)),
        None => (bare, None),
    };
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| "not an IP address (e.g. 0.0.0.0, ::, [::1], fe80::1%eth0)".to_string())?;
    let scope = match scope {
        None => None,
        Some(_) if ip.is_ipv4() => return Err("an IPv4 address has no %scope".to_string()),
        Some(scope) if scope.bytes().all(|b| b.is_ascii_digit()) => {
            return Err(
                "give the scope as an interface name (fe80::1%eth0), not a number".to_string(),
            )
        }
        Some(scope) => Some(parse_device(scope)?),
    };
    Ok(AddrArg { ip, scope })
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

/// "127.0.0.1:80" or "[::1]:80": an IP address and a port (no names: a
/// lookup would ask a resolver, and the answer may differ from the client's).
fn parse_destination(text: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = text
        .parse()
        .map_err(|_| "not an IP address and port (127.0.0.1:80, [::1]:80)".to_string())?;
    if addr.port() == 0 || addr.ip().is_unspecified() {
        return Err("needs a real destination: an address and a port other than 0".to_string());
    }
    Ok(addr)
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
    fn addresses_in_brackets_and_with_a_scope() {
        let options = |args: &[&str]| parse(args).unwrap().bind_options();
        let v6 = options(&["--port", "1", "--addr", "[::1]"]);
        assert_eq!(v6.addr, Some("::1".parse().unwrap()));
        assert_eq!(v6.device, None);
        let scoped = options(&["--port", "1", "--addr", "fe80::1%lo"]);
        assert_eq!(scoped.addr, Some("fe80::1".parse().unwrap()));
        assert_eq!(scoped.device.as_deref(), Some("lo"));
        let both = parse(&["--port", "1", "--addr", "fe80::1%lo", "--dev", "lo"]).unwrap();
        assert_eq!(both.problem(), None);
        let other = parse(&["--port", "1", "--addr", "fe80::1%lo", "--dev", "eth0"]).unwrap();
        assert!(other.problem().unwrap().contains("different devices"));
        assert!(parse(&["--port", "1", "--addr", "127.0.0.1%lo"]).is_err());
        assert!(parse(&["--port", "1", "--addr", "fe80::1%2"]).is_err());
        assert!(parse(&["--port", "1", "--addr", "[::1"]).is_err());
    }

    #[test]
    fn uids_are_numbers_or_user_names() {
        let uid = |args: &[&str]| parse(args).map(|a| a.bind_options().uid);
        assert_eq!(
            uid(&["--port", "1", "--uid", "65534"]).unwrap(),
            Some(65534)
        );
        assert_eq!(uid(&["--port", "1", "--uid", "root"]).unwrap(), Some(0));
        assert_eq!(uid(&["--port", "1"]).unwrap(), None);
        assert!(uid(&["--port", "1", "--uid", "4294967295"]).is_err());
        assert!(uid(&["--port", "1", "--uid", "twi-no-such-user"]).is_err());
        assert!(uid(&["--uid", "0"]).is_err()); // needs --port
    }

    #[test]
    fn v6only_needs_an_ipv6_address() {
        let v4 = parse(&["--port", "1", "--addr", "127.0.0.1", "--v6only"]).unwrap();
        assert!(v4.problem().unwrap().contains("--v6only"));
        let v6 = parse(&["--port", "1", "--addr", "::", "--v6only"]).unwrap();
        assert_eq!(v6.problem(), None);
        // No --addr: the default is IPv4's wildcard.
        let default = parse(&["--port", "1", "--v6only"]).unwrap();
        assert!(default.problem().is_some());
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
