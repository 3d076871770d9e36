//! The kernel's TCP bind() conflict rules as pure code (after
//! net/ipv4/inet_connection_sock.c: `inet_bind_conflict`,
//! `inet_rcv_saddr_equal`, and the bhash2 lookups of `inet_csk_get_port`),
//! and the checks every protocol shares (`assess_as`: protocol, port,
//! device and address overlap), which [`super::udp_rules`] reuses.
//!
//! An existing socket's SO_REUSEADDR and SO_REUSEPORT never appear in a socket
//! table, so every answer is computed over all four possibilities: the same
//! answer for all of them is certain, anything else is `Unknown`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Conflict, IntendedBind, Reason, Why};
use crate::errno::Errno;
use crate::model::{Family, Protocol, Socket, TcpState};

/// What the rules need to know about the binder, besides the bind itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleContext {
    /// Interface index of `IntendedBind::device`; None when the bind names no
    /// device, or one that could not be looked up.
    pub bind_ifindex: Option<u32>,
    /// The bind's device was looked up in the target namespace and does not
    /// exist: SO_BINDTODEVICE fails with ENODEV.
    pub device_missing: bool,
    /// Whether `Socket::bound_device` can be trusted (sock_diag reports it;
    /// /proc always says 0).
    pub devices_known: bool,
    /// The uid the new bind runs as (SO_REUSEPORT shares only within a uid):
    /// `IntendedBind::uid`, else `caller_uid`.
    pub uid: u32,
    /// The uid tw-inspect runs as: probes bind as `uid` only when it may
    /// switch to it.
    pub caller_uid: u32,
    /// net.ipv4.ip_unprivileged_port_start; None when unknown (a captured
    /// table), and then no EACCES is claimed.
    pub unprivileged_port_start: Option<u32>,
    /// Whether the binder has CAP_NET_BIND_SERVICE.
    pub cap_net_bind_service: bool,
    /// The table was captured elsewhere (`--proc-root`): nothing can be
    /// waited for or destroyed from here, and timers count from the capture.
    pub captured: bool,
}

/// A bind() that fails before (or regardless of) any conflict check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub errno: Errno,
    pub why: String,
}

/// Errors the kernel returns before it looks at the port's other sockets.
pub fn refusal(bind: &IntendedBind, ctx: &RuleContext) -> Option<Refusal> {
    if let (Some(device), true) = (&bind.device, ctx.device_missing) {
        return Some(Refusal {
            errno: Errno::ENODEV,
            why: format!("SO_BINDTODEVICE fails: there is no device named {device}."),
        });
    }
    if let Some(start) = ctx.unprivileged_port_start {
        if bind.port != 0 && u32::from(bind.port) < start && !ctx.cap_net_bind_service {
            return Some(Refusal {
                errno: Errno::EACCES,
                why: format!(
                    "Port {} is below net.ipv4.ip_unprivileged_port_start ({start}) and uid {} \
                     lacks CAP_NET_BIND_SERVICE: bind() fails with EACCES before any conflict \
                     is checked.",
                    bind.port, ctx.uid
                ),
            });
        }
    }
    if let IpAddr::V6(v6) = bind.addr {
        if v6.to_ipv4_mapped().is_some() && bind.v6only {
            return Some(Refusal {
                errno: Errno::EINVAL,
                why: format!(
                    "{v6} is a v4-mapped address, which an IPV6_V6ONLY socket cannot bind."
                ),
            });
        }
    }
    None
}

/// The rules' answer for one existing socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    pub conflict: Conflict,
    pub reason: Reason,
    /// One sentence: why it does, does not, or may conflict.
    pub why: Why,
    /// For `Unknown`: the facts the table does not show that decide it.
    pub hidden: Vec<Hidden>,
}

/// A fact about an existing socket that no socket table shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hidden {
    /// Its SO_BINDTODEVICE (/proc always says none).
    Device,
    /// Its IPV6_V6ONLY: whether it also holds the IPv4 side.
    V6only,
    /// Whether it (or, for a TIME_WAIT, the socket it came from) set these
    /// reuse options, which would let the bind through.
    ReuseFlags {
        flags: &'static str,
        time_wait: bool,
    },
}

impl fmt::Display for Hidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hidden::Device => f.write_str("its device binding"),
            Hidden::V6only => f.write_str("its IPV6_V6ONLY flag (whether it also holds IPv4)"),
            Hidden::ReuseFlags { flags, time_wait } => write!(
                f,
                "whether {} set {flags}",
                if *time_wait {
                    "the socket it came from"
                } else {
                    "it"
                }
            ),
        }
    }
}

/// "A", "A and B", "A and B and C".
pub fn describe_hidden(hidden: &[Hidden]) -> String {
    hidden
        .iter()
        .map(Hidden::to_string)
        .collect::<Vec<_>>()
        .join(" and ")
}

/// How a socket holds its port.
pub fn reason_of(socket: &Socket) -> Reason {
    if socket.is_time_wait_like() {
        return Reason::TimeWait;
    }
    match socket.state {
        TcpState::Listen => Reason::Listen,
        // A closed socket still in the port table is bound and nothing more.
        TcpState::Bound | TcpState::Close => Reason::Bound,
        _ => Reason::Connected,
    }
}

/// Does `socket` stop a TCP `bind` (ignoring errors that come first, see
/// [`refusal`])? A UDP socket never does.
pub fn assess(bind: &IntendedBind, socket: &Socket, ctx: &RuleContext) -> Assessment {
    match bind.protocol {
        Protocol::Tcp => assess_tcp(bind, socket, ctx),
        Protocol::Udp => super::udp_rules::assess(bind, socket, ctx),
    }
}

/// The TCP rules (`inet_csk_bind_conflict`) for one existing socket.
fn assess_tcp(bind: &IntendedBind, socket: &Socket, ctx: &RuleContext) -> Assessment {
    let reason = reason_of(socket);
    let same_uid = socket.uid == ctx.uid;
    assess_as(
        Protocol::Tcp,
        bind,
        socket,
        ctx,
        |old_reuseaddr, old_reuseport| {
            kernel_flags_conflict(
                bind.reuseaddr,
                bind.reuseport,
                old_reuseaddr,
                old_reuseport,
                reason,
                same_uid,
            )
        },
        || certain_conflict_why(bind, socket, ctx, reason),
    )
}

/// The checks every protocol's bind() makes against one existing socket, in
/// the kernel's order: the same protocol (TCP and UDP ports are separate
/// spaces), the same port, overlapping devices, overlapping addresses
/// (`inet_rcv_saddr_equal` with wildcards, for both protocols); then
/// `flags_conflict(old_reuseaddr, old_reuseport)`, the protocol's rule over
/// the existing socket's hidden options, decides: the same answer for all
/// four settings is certain (`certain_why` says why it conflicts), anything
/// else is `Unknown`. An overlapping socket without options always conflicts
/// (`flags_conflict(false, false)`), in every protocol.
pub(super) fn assess_as(
    protocol: Protocol,
    bind: &IntendedBind,
    socket: &Socket,
    ctx: &RuleContext,
    flags_conflict: impl Fn(bool, bool) -> bool,
    certain_why: impl FnOnce() -> Why,
) -> Assessment {
    let reason = reason_of(socket);
    let no = |why: Why| Assessment {
        conflict: Conflict::No,
        reason,
        why,
        hidden: Vec::new(),
    };
    if socket.protocol != protocol {
        return no(format!(
            "It is a {} socket: {} and {} ports are separate, so it never blocks a {} bind.",
            socket.protocol.as_str().to_uppercase(),
            Protocol::Tcp.as_str().to_uppercase(),
            Protocol::Udp.as_str().to_uppercase(),
            protocol.as_str().to_uppercase()
        )
        .into());
    }
    if socket.local.port() != bind.port {
        return no(format!("It is on port {}, not {}.", socket.local.port(), bind.port).into());
    }
    if socket.state == TcpState::NewSynRecv {
        return no(
            "A pending connection request is not in the port's bind table; only its \
             listener is."
                .into(),
        );
    }
    let device = devices_overlap(bind, socket, ctx);
    if device == Some(false) {
        return no(format!(
            "It is bound to device #{} and the bind to {}: sockets on different devices \
             never conflict.",
            socket.bound_device,
            bind.device.as_deref().unwrap_or("no device")
        )
        .into());
    }
    let address = addresses_overlap(bind, socket);
    if address == Some(false) {
        return no(format!(
            "Its address {} does not overlap {}{}.",
            socket.local.ip(),
            bind.addr,
            no_overlap_detail(bind, socket)
        )
        .into());
    }
    debug_assert!(
        flags_conflict(false, false),
        "a rule let a bind pass a socket without options"
    );
    let passes = Passes {
        reuseaddr_alone: !flags_conflict(true, false),
        reuseport_alone: !flags_conflict(false, true),
        both: !flags_conflict(true, true),
    };
    let mut hidden = Vec::new();
    if device.is_none() {
        hidden.push(Hidden::Device);
    }
    if address.is_none() {
        hidden.push(Hidden::V6only);
    }
    if !passes.is_empty() {
        hidden.push(Hidden::ReuseFlags {
            flags: passes.describe(),
            time_wait: reason == Reason::TimeWait,
        });
    }
    if hidden.is_empty() {
        return Assessment {
            conflict: Conflict::Yes,
            reason,
            why: certain_why(),
            hidden,
        };
    }
    Assessment {
        conflict: Conflict::Unknown,
        reason,
        why: format!(
            "Whether it blocks the bind depends on {}, which the table does not show.",
            describe_hidden(&hidden)
        )
        .into(),
        hidden,
    }
}

/// The bound-only sockets that can make listen() fail after a successful
/// bind: both binds pass by SO_REUSEADDR, but whichever of them calls
/// listen() second gets EADDRINUSE (a LISTEN socket is never shared that way).
pub fn listen_caveat<'a>(
    bind: &IntendedBind,
    sockets: &'a [Socket],
    ctx: &RuleContext,
) -> Vec<&'a Socket> {
    if !bind.reuseaddr {
        return Vec::new();
    }
    // Overlapping sockets are never certainly passed (their flags are hidden),
    // so the ones a bind may pass are exactly the Unknown ones.
    sockets
        .iter()
        .filter(|socket| reason_of(socket) == Reason::Bound)
        .filter(|socket| assess(bind, socket, ctx).conflict == Conflict::Unknown)
        .collect()
}

fn devices_overlap(bind: &IntendedBind, socket: &Socket, ctx: &RuleContext) -> Option<bool> {
    if bind.device.is_none() {
        return Some(true);
    }
    if socket.bound_device == 0 {
        return ctx.devices_known.then_some(true);
    }
    ctx.bind_ifindex.map(|index| index == socket.bound_device)
}

/// An address as the kernel compares it: v4-mapped IPv6 addresses behave as
/// IPv4 ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

fn held(addr: IpAddr) -> Held {
    match addr {
        IpAddr::V4(v4) => Held::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => Held::V4(v4),
            None => Held::V6(v6),
        },
    }
}

/// Whether the kernel sees the two addresses as overlapping, with both
/// sides' IPV6_V6ONLY known (false for AF_INET sockets).
fn kernel_addresses_overlap(
    new: Held,
    new_is_inet: bool,
    new_v6only: bool,
    old: Held,
    old_v6only: bool,
) -> bool {
    match (new, old) {
        (Held::V4(a), Held::V4(b)) => {
            !old_v6only && (a == b || a.is_unspecified() || b.is_unspecified())
        }
        (Held::V4(a), Held::V6(b)) => {
            // An AF_INET6 socket on a specific IPv6 address carries the IPv4
            // placeholder 127.0.0.6 (LOOPBACK4_IPV6), which only an AF_INET
            // wildcard bind compares against.
            !old_v6only && (b.is_unspecified() || (new_is_inet && a.is_unspecified()))
        }
        (Held::V6(a), Held::V4(_)) => a.is_unspecified() && !new_v6only,
        (Held::V6(a), Held::V6(b)) => a == b || a.is_unspecified() || b.is_unspecified(),
    }
}

/// The IPV6_V6ONLY values the existing socket can have.
fn possible_v6only(socket: &Socket) -> &'static [bool] {
    if socket.family == Family::Ipv4 {
        return &[false];
    }
    if let Some(v6only) = socket.v6only {
        return if v6only { &[true] } else { &[false] };
    }
    match held(socket.local.ip()) {
        // A v6only socket can neither bind nor reach a v4-mapped address.
        Held::V4(_) => &[false],
        // bind() to a specific IPv6 address sets IPV6_V6ONLY, and it cannot be
        // changed once bound; a connection may have inherited either value.
        Held::V6(addr)
            if !addr.is_unspecified()
                && matches!(reason_of(socket), Reason::Listen | Reason::Bound) =>
        {
            &[true]
        }
        Held::V6(_) => &[false, true],
    }
}

/// The new socket's effective IPV6_V6ONLY: bind() to a specific IPv6 address
/// turns it on.
fn bind_v6only(bind: &IntendedBind) -> bool {
    match (bind.addr, held(bind.addr)) {
        (IpAddr::V4(_), _) => false,
        (IpAddr::V6(_), Held::V6(addr)) if !addr.is_unspecified() => true,
        (IpAddr::V6(_), _) => bind.v6only,
    }
}

fn addresses_overlap(bind: &IntendedBind, socket: &Socket) -> Option<bool> {
    let mut answers = possible_v6only(socket).iter().map(|&old_v6only| {
        kernel_addresses_overlap(
            held(bind.addr),
            bind.addr.is_ipv4(),
            bind_v6only(bind),
            held(socket.local.ip()),
            old_v6only,
        )
    });
    let first = answers.next()?;
    answers.all(|answer| answer == first).then_some(first)
}

fn no_overlap_detail(bind: &IntendedBind, socket: &Socket) -> &'static str {
    let old_v6only = possible_v6only(socket) == [true];
    match (held(bind.addr), held(socket.local.ip())) {
        (Held::V4(_), Held::V6(_)) if old_v6only => " (it is IPv6-only)",
        (Held::V4(_), Held::V6(_)) => " (an IPv6 address, not the wildcard)",
        (Held::V6(_), Held::V4(_)) if bind_v6only(bind) => " (the bind is IPv6-only)",
        (Held::V6(_), Held::V4(_)) => " (an IPv4 address; only [::] takes IPv4 too)",
        _ => " (different addresses, neither a wildcard)",
    }
}

/// The existing socket's possible SO_REUSEADDR / SO_REUSEPORT settings that
/// would let the bind through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Passes {
    reuseaddr_alone: bool,
    reuseport_alone: bool,
    both: bool,
}

impl Passes {
    fn is_empty(self) -> bool {
        !(self.reuseaddr_alone || self.reuseport_alone || self.both)
    }

    /// The weakest setting that passes; a setting that passes alone also
    /// passes with the other flag added.
    fn describe(self) -> &'static str {
        match (self.reuseaddr_alone, self.reuseport_alone) {
            (true, true) => "SO_REUSEADDR or SO_REUSEPORT",
            (true, false) => "SO_REUSEADDR",
            (false, true) => "SO_REUSEPORT",
            (false, false) => "both SO_REUSEADDR and SO_REUSEPORT",
        }
    }
}

/// `inet_bind_conflict` for a bind() (relax = true, reuseport_ok = true).
fn kernel_flags_conflict(
    new_reuseaddr: bool,
    new_reuseport: bool,
    old_reuseaddr: bool,
    old_reuseport: bool,
    old: Reason,
    same_uid: bool,
) -> bool {
    if new_reuseaddr && old_reuseaddr && old != Reason::Listen {
        return false;
    }
    !(new_reuseport && old_reuseport && (old == Reason::TimeWait || same_uid))
}

/// The sentence for a socket that conflicts whatever its hidden flags;
/// static in the common case (no options), so a port held by 100k
/// TIME_WAITs does not allocate 100k copies of it.
fn certain_conflict_why(
    bind: &IntendedBind,
    socket: &Socket,
    ctx: &RuleContext,
    reason: Reason,
) -> Why {
    // The socket as a sentence's subject, followed by `$rest`: a literal, so
    // the whole sentence stays a `&'static str`.
    macro_rules! subject {
        ($rest:literal) => {
            match reason {
                Reason::TimeWait if socket.state == TcpState::FinWait2 => {
                    concat!("This FIN_WAIT2 time-wait socket", $rest)
                }
                Reason::TimeWait => concat!("This TIME_WAIT", $rest),
                Reason::Listen => concat!("This listening socket", $rest),
                Reason::Bound => concat!("This bound socket", $rest),
                Reason::Connected => concat!("This connection", $rest),
            }
        };
    }
    if !bind.reuseaddr && !bind.reuseport {
        return Why::Borrowed(subject!(
            " holds an overlapping address on this port, and a bind without \
             SO_REUSEADDR or SO_REUSEPORT never shares it."
        ));
    }
    let subject = subject!("");
    let mut causes = Vec::new();
    if bind.reuseaddr && reason == Reason::Listen {
        causes.push("SO_REUSEADDR never gets past a listening socket".to_string());
    }
    if bind.reuseport && reason != Reason::TimeWait && socket.uid != ctx.uid {
        causes.push(format!(
            "SO_REUSEPORT shares a port only within one uid (it belongs to uid {}, the bind \
             runs as uid {})",
            socket.uid, ctx.uid
        ));
    }
    format!(
        "{subject} blocks the bind whatever options it set: {}.",
        causes.join("; ")
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{addr, bind, context, listener, socket, time_wait, UID};

    /// The decision table of kernel-bind-rules.md: for each existing socket
    /// kind and its (hidden) flags, the answers for the new socket's options
    /// in the order of `COLUMNS`. `true` = EADDRINUSE.
    const COLUMNS: [(&str, bool, bool, bool); 6] = [
        // (name, reuseaddr, reuseport, another uid)
        ("none", false, false, false),
        ("RA", true, false, false),
        ("RP", false, true, false),
        ("RP uidX", false, true, true),
        ("RA+RP", true, true, false),
        ("RA+RP uidX", true, true, true),
    ];
    const X: bool = true;
    const OK: bool = false;
    /// Rows per kind, flags none / RA / RP / RA+RP (the LISTEN rows of the
    /// table cover two flag settings each).
    const LISTEN: [[bool; 6]; 4] = [
        [X, X, X, X, X, X],
        [X, X, X, X, X, X],
        [X, X, OK, X, OK, X],
        [X, X, OK, X, OK, X],
    ];
    const BOUND_OR_CONNECTED: [[bool; 6]; 4] = [
        [X, X, X, X, X, X],
        [X, OK, X, X, OK, OK],
        [X, X, OK, X, OK, X],
        [X, OK, OK, X, OK, OK],
    ];
    const TIME_WAIT_LIKE: [[bool; 6]; 4] = [
        [X, X, X, X, X, X],
        [X, OK, X, X, OK, OK],
        [X, X, OK, OK, OK, OK],
        [X, OK, OK, OK, OK, OK],
    ];

    /// The rules cannot see the existing socket's flags: where all four flag
    /// rows agree they must give that answer, elsewhere Unknown.
    fn check_kind(existing: &Socket, rows: &[[bool; 6]; 4]) {
        for (column, (name, reuseaddr, reuseport, other_uid)) in COLUMNS.iter().enumerate() {
            let intended = IntendedBind {
                reuseaddr: *reuseaddr,
                reuseport: *reuseport,
                ..bind(&format!("127.0.0.1:{}", existing.local.port()))
            };
            let ctx = RuleContext {
                uid: if *other_uid { UID + 1 } else { UID },
                ..context()
            };
            let answers: Vec<bool> = rows.iter().map(|row| row[column]).collect();
            let expected = if answers.iter().all(|&a| a == answers[0]) {
                if answers[0] {
                    Conflict::Yes
                } else {
                    Conflict::No
                }
            } else {
                Conflict::Unknown
            };
            let got = assess(&intended, existing, &ctx);
            assert_eq!(
                got.conflict, expected,
                "{} vs new {name}: {}",
                existing.state, got.why
            );
        }
    }

    /// The same table with the existing socket's flags given: the kernel
    /// predicate the rules enumerate must reproduce every cell.
    #[test]
    fn kernel_predicate_reproduces_every_decision_table_cell() {
        let flags = [(false, false), (true, false), (false, true), (true, true)];
        for (kind, rows) in [
            (Reason::Listen, LISTEN),
            (Reason::Bound, BOUND_OR_CONNECTED),
            (Reason::Connected, BOUND_OR_CONNECTED),
            (Reason::TimeWait, TIME_WAIT_LIKE),
        ] {
            for (row, (old_ra, old_rp)) in rows.iter().zip(flags) {
                for (cell, (name, ra, rp, other_uid)) in row.iter().zip(COLUMNS) {
                    assert_eq!(
                        kernel_flags_conflict(ra, rp, old_ra, old_rp, kind, !other_uid),
                        *cell,
                        "{kind:?} (RA {old_ra}, RP {old_rp}) vs {name}"
                    );
                }
            }
        }
    }

    #[test]
    fn decision_table_listen() {
        check_kind(&listener("127.0.0.1:9527"), &LISTEN);
    }

    #[test]
    fn decision_table_bound_and_connected() {
        check_kind(
            &socket(TcpState::Bound, "127.0.0.1:9527", "0.0.0.0:0"),
            &BOUND_OR_CONNECTED,
        );
        check_kind(
            &socket(TcpState::Established, "127.0.0.1:9527", "127.0.0.1:40000"),
            &BOUND_OR_CONNECTED,
        );
        check_kind(
            &socket(TcpState::CloseWait, "127.0.0.1:9527", "127.0.0.1:40000"),
            &BOUND_OR_CONNECTED,
        );
    }

    #[test]
    fn decision_table_time_wait_and_fin_wait2_mini() {
        check_kind(
            &time_wait("127.0.0.1:9527", "127.0.0.1:40000", 1000),
            &TIME_WAIT_LIKE,
        );
        check_kind(
            &socket(TcpState::FinWait2, "127.0.0.1:9527", "127.0.0.1:40000"),
            &TIME_WAIT_LIKE,
        );
    }

    #[test]
    fn fin_wait2_without_time_wait_timer_is_a_connection() {
        let mut full = socket(TcpState::FinWait2, "127.0.0.1:9527", "127.0.0.1:40000");
        full.timer = None;
        full.uid = UID;
        assert_eq!(reason_of(&full), Reason::Connected);
        check_kind(&full, &BOUND_OR_CONNECTED);
    }

    #[test]
    fn reasons() {
        assert_eq!(reason_of(&listener("0.0.0.0:1")), Reason::Listen);
        assert_eq!(
            reason_of(&socket(TcpState::Close, "0.0.0.0:1", "0.0.0.0:0")),
            Reason::Bound
        );
        assert_eq!(
            reason_of(&time_wait("127.0.0.1:1", "127.0.0.1:2", 5)),
            Reason::TimeWait
        );
        assert_eq!(
            reason_of(&socket(TcpState::SynSent, "127.0.0.1:1", "127.0.0.1:2")),
            Reason::Connected
        );
    }

    struct Existing {
        addr: &'static str,
        v6only: Option<bool>,
        device: u32,
    }
    struct New {
        addr: &'static str,
        v6only: bool,
        device: Option<u32>,
    }
    const fn at(addr: &'static str) -> Existing {
        Existing {
            addr,
            v6only: None,
            device: 0,
        }
    }
    const fn to(addr: &'static str) -> New {
        New {
            addr,
            v6only: false,
            device: None,
        }
    }
    const LO: u32 = 1;
    const V0: u32 = 7;

    /// The address-overlap table (existing LISTEN → new bind without flags):
    /// `true` = EADDRINUSE. v6only of AF_INET6 listeners as sock_diag gives it.
    fn overlap_table() -> Vec<(Existing, New, bool)> {
        let v6only = |mut e: Existing, flag| {
            e.v6only = Some(flag);
            e
        };
        vec![
            (at("127.0.0.1:80"), to("0.0.0.0:80"), X),
            (at("0.0.0.0:80"), to("127.0.0.1:80"), X),
            (at("127.0.0.1:80"), to("127.0.0.2:80"), OK),
            (
                Existing {
                    device: LO,
                    ..at("0.0.0.0:80")
                },
                New {
                    device: Some(V0),
                    ..to("0.0.0.0:80")
                },
                OK,
            ),
            (
                Existing {
                    device: LO,
                    ..at("0.0.0.0:80")
                },
                to("0.0.0.0:80"),
                X,
            ),
            (
                at("0.0.0.0:80"),
                New {
                    device: Some(V0),
                    ..to("0.0.0.0:80")
                },
                X,
            ),
            (v6only(at("[::]:80"), false), to("0.0.0.0:80"), X),
            (v6only(at("[::]:80"), false), to("127.0.0.1:80"), X),
            (v6only(at("[::]:80"), true), to("0.0.0.0:80"), OK),
            (at("0.0.0.0:80"), to("[::]:80"), X),
            (
                at("0.0.0.0:80"),
                New {
                    v6only: true,
                    ..to("[::]:80")
                },
                OK,
            ),
            (at("127.0.0.1:80"), to("[::1]:80"), OK),
            (at("127.0.0.1:80"), to("[::ffff:127.0.0.1]:80"), X),
            (v6only(at("[::1]:80"), true), to("[::]:80"), X),
            (v6only(at("[::1]:80"), true), to("0.0.0.0:80"), OK),
        ]
    }

    fn check_overlap(existing: &Socket, new: &New, devices_known: bool) -> Assessment {
        let intended = IntendedBind {
            v6only: new.v6only,
            device: new.device.map(|_| "v0".to_string()),
            ..bind(new.addr)
        };
        let ctx = RuleContext {
            bind_ifindex: new.device,
            devices_known,
            cap_net_bind_service: true,
            ..context()
        };
        assess(&intended, existing, &ctx)
    }

    fn listening(e: &Existing) -> Socket {
        let mut s = listener(e.addr);
        s.v6only = e.v6only;
        s.bound_device = e.device;
        s
    }

    #[test]
    fn address_overlap_table_from_sock_diag() {
        for (existing, new, in_use) in overlap_table() {
            let got = check_overlap(&listening(&existing), &new, true);
            let expected = if in_use { Conflict::Yes } else { Conflict::No };
            assert_eq!(
                got.conflict, expected,
                "{} vs {}: {}",
                existing.addr, new.addr, got.why
            );
        }
    }

    /// /proc shows neither v6only nor devices: the table's answer, or Unknown
    /// exactly where the hidden value would change it.
    #[test]
    fn address_overlap_table_from_proc() {
        for (existing, new, in_use) in overlap_table() {
            let mut seen = listening(&existing);
            seen.v6only = None;
            let shown_as_unbound = seen.bound_device != 0;
            seen.bound_device = 0;
            let got = check_overlap(&seen, &new, false).conflict;
            let expected = if in_use { Conflict::Yes } else { Conflict::No };
            let hidden_matters = (new.device.is_some() && (shown_as_unbound || in_use))
                || (existing.addr == "[::]:80" && addr(new.addr).is_ipv4());
            if hidden_matters {
                assert_eq!(got, Conflict::Unknown, "{} vs {}", existing.addr, new.addr);
            } else {
                assert_eq!(got, expected, "{} vs {}", existing.addr, new.addr);
            }
        }
    }

    #[test]
    fn v4_mapped_time_wait_from_dual_stack_listener() {
        let tw = time_wait("[::ffff:127.0.0.1]:9527", "[::ffff:127.0.0.1]:40000", 1000);
        let ctx = context();
        for (new, v6only, in_use) in [
            ("127.0.0.1:9527", false, X),
            ("0.0.0.0:9527", false, X),
            ("[::]:9527", false, X),
            ("[::]:9527", true, OK),
            ("[::1]:9527", false, OK),
        ] {
            let intended = IntendedBind {
                v6only,
                ..bind(new)
            };
            let expected = if in_use { Conflict::Yes } else { Conflict::No };
            let got = assess(&intended, &tw, &ctx);
            assert_eq!(got.conflict, expected, "{new} v6only={v6only}: {}", got.why);
        }
    }

    /// A connection on a specific IPv6 address may have inherited either
    /// IPV6_V6ONLY from its listener; with it off, the kernel compares the
    /// IPv4 placeholder 127.0.0.6 against an AF_INET wildcard bind.
    #[test]
    fn ipv6_time_wait_against_ipv4_wildcard_depends_on_its_v6only() {
        let tw = time_wait("[::1]:9527", "[::1]:40000", 1000);
        let ctx = context();
        assert_eq!(
            assess(&bind("0.0.0.0:9527"), &tw, &ctx).conflict,
            Conflict::Unknown
        );
        assert_eq!(
            assess(&bind("127.0.0.1:9527"), &tw, &ctx).conflict,
            Conflict::No
        );
        assert_eq!(
            assess(&bind("[::]:9527"), &tw, &ctx).conflict,
            Conflict::Yes
        );
    }

    #[test]
    fn other_ports_and_request_sockets_never_conflict() {
        let ctx = context();
        let other = listener("0.0.0.0:8080");
        assert_eq!(
            assess(&bind("0.0.0.0:9527"), &other, &ctx).conflict,
            Conflict::No
        );
        let request = socket(TcpState::NewSynRecv, "127.0.0.1:9527", "127.0.0.1:40000");
        assert_eq!(
            assess(&bind("0.0.0.0:9527"), &request, &ctx).conflict,
            Conflict::No
        );
    }

    #[test]
    fn whys_name_the_deciding_fact() {
        let ctx = context();
        let tw = time_wait("127.0.0.1:9527", "127.0.0.1:40000", 1000);
        let plain = assess(&bind("0.0.0.0:9527"), &tw, &ctx);
        assert!(
            plain.why.contains("without SO_REUSEADDR or SO_REUSEPORT"),
            "{}",
            plain.why
        );
        let with_ra = IntendedBind {
            reuseaddr: true,
            ..bind("0.0.0.0:9527")
        };
        let unknown = assess(&with_ra, &tw, &ctx);
        assert!(
            unknown
                .why
                .contains("whether the socket it came from set SO_REUSEADDR"),
            "{}",
            unknown.why
        );
        let listen = assess(&with_ra, &listener("0.0.0.0:9527"), &ctx);
        assert!(listen
            .why
            .contains("SO_REUSEADDR never gets past a listening socket"));
        let other_uid = RuleContext {
            uid: UID + 1,
            ..ctx
        };
        let with_rp = IntendedBind {
            reuseport: true,
            ..bind("0.0.0.0:9527")
        };
        let listen = assess(&with_rp, &listener("0.0.0.0:9527"), &other_uid);
        assert_eq!(listen.conflict, Conflict::Yes);
        assert!(listen.why.contains("uid 1000"), "{}", listen.why);
    }

    #[test]
    fn refusals_come_before_conflicts() {
        let ctx = context();
        let low = refusal(&bind("0.0.0.0:80"), &ctx).expect("EACCES");
        assert_eq!(low.errno, Errno::EACCES);
        assert!(low.why.contains("CAP_NET_BIND_SERVICE"));
        let capable = RuleContext {
            cap_net_bind_service: true,
            ..context()
        };
        assert_eq!(refusal(&bind("0.0.0.0:80"), &capable), None);
        let opened = RuleContext {
            unprivileged_port_start: Some(0),
            ..context()
        };
        assert_eq!(refusal(&bind("0.0.0.0:80"), &opened), None);
        // A captured table from another host: its privileges are unknown.
        let elsewhere = RuleContext {
            unprivileged_port_start: None,
            ..context()
        };
        assert_eq!(refusal(&bind("0.0.0.0:80"), &elsewhere), None);
        assert_eq!(refusal(&bind("0.0.0.0:1024"), &ctx), None);
        let no_device = IntendedBind {
            device: Some("nope0".into()),
            ..bind("0.0.0.0:9527")
        };
        let looked_up = RuleContext {
            device_missing: true,
            ..context()
        };
        assert_eq!(
            refusal(&no_device, &looked_up).map(|r| r.errno),
            Some(Errno::ENODEV)
        );
        assert_eq!(
            refusal(&no_device, &ctx),
            None,
            "not looked up: not claimed"
        );
        let mapped_v6only = IntendedBind {
            v6only: true,
            ..bind("[::ffff:127.0.0.1]:9527")
        };
        assert_eq!(
            refusal(&mapped_v6only, &ctx).map(|r| r.errno),
            Some(Errno::EINVAL)
        );
    }

    #[test]
    fn listen_caveat_names_bound_sockets_a_reuseaddr_bind_may_pass() {
        let ctx = context();
        let bound = socket(TcpState::Bound, "0.0.0.0:9527", "0.0.0.0:0");
        let elsewhere = socket(TcpState::Bound, "127.0.0.2:9527", "0.0.0.0:0");
        let tw = time_wait("127.0.0.1:9527", "127.0.0.1:40000", 1000);
        let sockets = [bound.clone(), elsewhere, tw, listener("0.0.0.0:8080")];
        let with_ra = IntendedBind {
            reuseaddr: true,
            ..bind("127.0.0.1:9527")
        };
        assert_eq!(listen_caveat(&with_ra, &sockets, &ctx), vec![&bound]);
        assert!(listen_caveat(&bind("127.0.0.1:9527"), &sockets, &ctx).is_empty());
    }
}
