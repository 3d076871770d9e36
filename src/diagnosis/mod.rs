//! Diagnosis: given the bind a server intends, which sockets block it, why,
//! what would help, and when the port frees. The rules are pure ([`rules`]
//! for a TCP bind, [`udp_rules`] for a UDP one); probes are the one place
//! that touches the kernel.

use std::borrow::Cow;
use std::net::IpAddr;

pub mod connect;
pub mod explain;
pub mod free;
pub mod probe;
pub mod rules;
pub mod udp_rules;
mod verdict;

pub use explain::wait_command;
pub use probe::{captured_rule_context, rule_context, run_probes, ProbeKind};
pub use rules::{assess, listen_caveat, Assessment, RuleContext};
pub use verdict::diagnose;

use crate::errno::Errno;
use crate::model::{Protocol, Socket};

/// The bind the user's server intends to make. `v6only` is the effective
/// IPV6_V6ONLY: `--v6only` when given, else [`KernelContext::default_v6only`].
///
/// [`KernelContext::default_v6only`]: crate::model::KernelContext::default_v6only
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntendedBind {
    /// TCP or UDP: their ports are separate, and so are their rules.
    pub protocol: Protocol,
    pub addr: IpAddr,
    pub port: u16,
    pub reuseaddr: bool,
    pub reuseport: bool,
    /// IPV6_V6ONLY on an AF_INET6 socket (ignored for IPv4).
    pub v6only: bool,
    /// SO_BINDTODEVICE interface name.
    pub device: Option<String>,
    /// The uid the server binds as (`--uid`): SO_REUSEPORT shares a port
    /// only within one uid. None: the uid tw-inspect runs as.
    pub uid: Option<u32>,
}

/// What the rules can say about one existing socket against the intended bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    Yes,
    No,
    /// Depends on something the tables do not show (the SO_REUSEADDR or
    /// SO_REUSEPORT flag of a TIME_WAIT's original socket, a v6only flag).
    Unknown,
}

/// Why a socket holds the port, in the words of the JSON schema's `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// TIME_WAIT, or a FIN_WAIT2 time-wait mini-socket: expires by itself.
    TimeWait,
    /// A listening socket: held by a live process, never expires by itself.
    Listen,
    /// Bound but not listening: held by a live process.
    Bound,
    /// A connection (accepted or outbound) in any other state.
    Connected,
}

/// A sentence of the rules' reasoning: mostly one of a few fixed texts,
/// shared rather than copied per socket.
pub type Why = Cow<'static, str>;

/// A socket the verdict blames, with the rules' reasoning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocker {
    pub socket: Socket,
    pub reason: Reason,
    /// `Yes`, or `Unknown` when only a probe could decide and none did.
    pub conflict: Conflict,
    /// One sentence: why this socket conflicts with the intended bind.
    pub why: Why,
}

/// One real bind() made to confirm or answer a question (never listen()).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub bind: IntendedBind,
    /// What question this probe answers.
    pub kind: ProbeKind,
    pub ok: bool,
    /// Why bind() failed.
    pub errno: Option<Errno>,
}

/// The answer to "would this bind succeed, and if not, why and until when".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub bind: IntendedBind,
    pub blocked: bool,
    /// The errno that refuses bind() before any conflict with a socket is
    /// checked (EACCES below ip_unprivileged_port_start without the
    /// capability, EADDRNOTAVAIL, ENODEV...): from the probe of the intended
    /// bind, or from the rules when nothing was probed.
    pub refused: Option<Errno>,
    /// Estimated ms until the last time-bound blocker expires; None when free,
    /// or when a blocker will not expire by itself.
    pub free_in_ms: Option<u64>,
    pub blockers: Vec<Blocker>,
    /// Empty when nothing was probed (`--no-probe`, captured files).
    pub probes: Vec<Probe>,
    /// TIME_WAITs whose peer is this port, left on their own ports by
    /// clients that closed first: they hold nothing, but tell which side did.
    pub client_time_waits: usize,
    /// Plain words, specific to the case.
    pub explanation: String,
    /// What to do now, most useful first.
    pub advice: Vec<String>,
}

/// Will the port free by itself, and when: what `--wait` and the dashboard
/// need to know, derived from the verdict alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outlook {
    /// The bind succeeds now.
    Free,
    /// Every certain blocker expires by itself; `in_ms` is the estimate
    /// when every blocker has a known timer.
    FreesByItself { in_ms: Option<u64> },
    /// A live process holds the port: it frees when that process closes it.
    HeldByProcess,
    /// bind() is refused for a reason no socket explains (EACCES,
    /// EADDRNOTAVAIL, ENODEV): nothing that closes will change it.
    Refused,
}

impl Verdict {
    pub fn outlook(&self) -> Outlook {
        if !self.blocked {
            return Outlook::Free;
        }
        let live_holder = self
            .blockers
            .iter()
            .any(|b| b.reason != Reason::TimeWait && b.conflict == Conflict::Yes);
        if self.refused.is_some() {
            Outlook::Refused
        } else if live_holder {
            Outlook::HeldByProcess
        } else {
            Outlook::FreesByItself {
                in_ms: self.free_in_ms,
            }
        }
    }
}
