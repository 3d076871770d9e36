//! The client side (issue 15): will the next connect() to a destination get
//! a local port, and if not, why; and which destinations use up the range.
//! Pure rules over a socket table and the namespace's sysctls; the one
//! kernel call that may confirm them is the harmless bind(0) probe,
//! [`super::probe::probe_bind_zero`]. A probe connect() would send a SYN to
//! someone else's host: the verdict for connect() comes from the rules alone.
//!
//! # The kernel's rules (net/ipv4/inet_hashtables.c, tcp_ipv4.c, inet_connection_sock.c)
//! * connect() on an unbound socket (`__inet_hash_connect`) walks
//!   `ip_local_port_range`, skipping `ip_local_reserved_ports`. A port whose
//!   bind bucket was made by bind() (a listener, a bound socket, their
//!   accepted connections: `fastreuse >= 0`) is never taken. Otherwise the
//!   port is taken when no socket has the same four-tuple
//!   (`__inet_check_established`): a local port is shared across
//!   destinations. A same-tuple socket blocks the port unless it is a
//!   TIME_WAIT that `tcp_twsk_unique` lets go: `tcp_tw_reuse` 1, or 2 when an
//!   end of it is a loopback address (or it is bound to `lo`); not a
//!   FIN_WAIT2 mini-socket; it had TCP timestamps; and it is older than
//!   `tcp_tw_reuse_delay` ms (one second on kernels without the sysctl).
//!   When no port qualifies: EADDRNOTAVAIL.
//! * The bind hash is keyed by port alone (per namespace): a listener on
//!   `[::1]:P` holds P from IPv4 connect()s too. The four-tuple check compares
//!   addresses as the kernel does, a v4-mapped IPv6 address as its IPv4 one.
//! * bind() to port 0 (`inet_csk_find_open_port`) takes only a port on which
//!   no socket overlaps its address, TIME_WAIT included; `tcp_tw_reuse`
//!   never helps it. With `ip_autobind_reuse` = 1 and SO_REUSEADDR on the
//!   binder, a second pass may share a port with non-listening SO_REUSEADDR
//!   sockets (whose flag no table shows: such ports count as unsure).
//!   When no port qualifies: EADDRINUSE. IP_BIND_ADDRESS_NO_PORT defers the
//!   choice to connect(), whose rules above then apply with the bound address.
//! * Parity: connect() scans the ports of `lo`'s parity first and bind(0) the
//!   other parity first (and, with SO_REUSEADDR, the lower half of the range
//!   first). That changes which port is picked, not whether one exists, with
//!   one exception: each scan covers an even number of ports, so in a range of
//!   odd size one end port (lo or hi; for bind(0) with SO_REUSEADDR, the
//!   upper half's first port or hi) is skipped by a given call, chosen at
//!   random. When that port is the only one left the verdict is not certain.
//!
//! # What the table cannot show
//! * Whether a TIME_WAIT had timestamps: `net.ipv4.tcp_timestamps` stands in
//!   for it (a TIME_WAIT made before the sysctl changed may differ).
//! * Which call made a port's bind bucket: ports of a LISTEN or bound socket
//!   count as held; other ports as made by connect(). A client that called
//!   bind(0) before connect(), or a server whose listener is gone, holds its
//!   ports for real and makes `shared` and `reusable_now` too high. /proc
//!   does not list bound-only sockets at all: from /proc their ports count
//!   as free (sock_diag lists them).
//! * A TIME_WAIT's age: its remaining time subtracted from the 60 s it
//!   started with (its FIN_WAIT2 time before, if any, is not counted, so the
//!   age is a lower bound and "reusable" is claimed late, never early).
//! * The source address connect() picks when the client binds none: fill
//!   [`IntendedConnect::local`] with [`super::probe::source_address_for`];
//!   without it, TIME_WAITs to the destination from any local address count
//!   as the same four-tuple.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use super::rules::{self, RuleContext};
use super::{Conflict, IntendedBind, Reason};
use crate::errno::Errno;
use crate::model::{ConnectSysctls, ReservedPorts, TwReuse};
use crate::model::{Protocol, Socket, TcpState, TIME_WAIT_LEN_MS};

/// The kernel's defaults, assumed for a sysctl that could not be read.
pub const DEFAULT_PORT_RANGE: (u16, u16) = (32768, 60999);
pub const DEFAULT_TW_REUSE: TwReuse = TwReuse::LoopbackOnly;
/// tcp_tw_reuse_delay's default, and the fixed delay before 6.14.
pub const DEFAULT_TW_REUSE_DELAY_MS: u32 = 1000;

/// The connection a client intends to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntendedConnect {
    pub remote: SocketAddr,
    /// The four-tuple's local address: the address the client binds, or the
    /// one routing picks ([`super::probe::source_address_for`]); None (or a
    /// wildcard) when unknown.
    pub local: Option<IpAddr>,
    /// The client calls bind(address, 0) before connect().
    pub bind_zero: bool,
    /// ... with IP_BIND_ADDRESS_NO_PORT set (only meaningful with `bind_zero`).
    pub no_port: bool,
    /// The client sets SO_REUSEADDR (matters to bind(0) only).
    pub reuseaddr: bool,
}

impl IntendedConnect {
    /// The address a bind(0) of this client binds: `local`, else the
    /// wildcard of the destination's family.
    pub fn bind_address(&self) -> IpAddr {
        self.local
            .unwrap_or_else(|| crate::model::Family::of(&self.remote.ip()).unspecified())
    }

    /// The four-tuple's local address when known (not a wildcard).
    fn known_local(&self) -> Option<IpAddr> {
        self.local.filter(|addr| !addr.is_unspecified())
    }

    /// Whether a bind() to port 0 picks the port (not connect()).
    fn port_from_bind(&self) -> bool {
        self.bind_zero && !self.no_port
    }
}

/// The call that fails when no port is left: bind() to port 0 with
/// EADDRINUSE, connect() with EADDRNOTAVAIL.
pub fn failing_call(errno: Errno) -> &'static str {
    if errno == Errno::EADDRINUSE {
        "bind() to port 0"
    } else {
        "connect()"
    }
}

/// The sysctls with the kernel's defaults filled in where unreadable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectSettings {
    /// ip_local_port_range, inclusive.
    pub range: (u16, u16),
    pub reserved: ReservedPorts,
    pub tw_reuse: TwReuse,
    pub tw_reuse_delay_ms: u32,
    /// Whether the kernel has the tcp_tw_reuse_delay sysctl (6.14+).
    pub tw_reuse_delay_sysctl: bool,
    pub autobind_reuse: bool,
    /// tcp_timestamps != 0: the proxy for "the TIME_WAITs had timestamps".
    pub timestamps: bool,
    /// Names of the sysctls that could not be read (defaults assumed).
    pub assumed: Vec<&'static str>,
}

impl ConnectSettings {
    pub fn from_sysctls(sysctls: &ConnectSysctls) -> ConnectSettings {
        let mut assumed = Vec::new();
        fn or_default<T>(
            value: Option<T>,
            default: T,
            name: &'static str,
            assumed: &mut Vec<&'static str>,
        ) -> T {
            value.unwrap_or_else(|| {
                assumed.push(name);
                default
            })
        }
        let range = or_default(
            sysctls.ip_local_port_range,
            DEFAULT_PORT_RANGE,
            "net.ipv4.ip_local_port_range",
            &mut assumed,
        );
        let tw_reuse = or_default(
            sysctls.tcp_tw_reuse,
            DEFAULT_TW_REUSE,
            "net.ipv4.tcp_tw_reuse",
            &mut assumed,
        );
        let autobind_reuse = or_default(
            sysctls.ip_autobind_reuse,
            false,
            "net.ipv4.ip_autobind_reuse",
            &mut assumed,
        );
        let timestamps = or_default(
            sysctls.tcp_timestamps.map(|value| value != 0),
            true,
            "net.ipv4.tcp_timestamps",
            &mut assumed,
        );
        let reserved = match &sysctls.ip_local_reserved_ports {
            Some(reserved) => reserved.clone(),
            None => {
                assumed.push("net.ipv4.ip_local_reserved_ports");
                ReservedPorts::default()
            }
        };
        ConnectSettings {
            range,
            reserved,
            tw_reuse,
            tw_reuse_delay_ms: sysctls
                .tcp_tw_reuse_delay_ms
                .unwrap_or(DEFAULT_TW_REUSE_DELAY_MS),
            tw_reuse_delay_sysctl: sysctls.tcp_tw_reuse_delay_ms.is_some(),
            autobind_reuse,
            timestamps,
            assumed,
        }
    }

    /// The ports automatic choice may pick: the range without reserved ones.
    pub fn usable_ports(&self) -> impl Iterator<Item = u16> + '_ {
        let (lo, hi) = self.range;
        (lo..=hi).filter(move |port| !self.reserved.contains(*port))
    }

    /// Reserved ports inside the range.
    pub fn reserved_in_range(&self) -> usize {
        let (lo, hi) = self.range;
        (lo..=hi)
            .filter(|port| self.reserved.contains(*port))
            .count()
    }
}

/// What a bind() to port 0 finds (when the client binds before connect()
/// without IP_BIND_ADDRESS_NO_PORT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindZeroUse {
    /// Usable ports with no socket overlapping the bind's address.
    pub available: usize,
    /// Ports the ip_autobind_reuse pass can share with SO_REUSEADDR sockets
    /// for certain (listeners never; a TIME_WAIT's flag is hidden, so
    /// mostly 0).
    pub shared_by_autobind_reuse: usize,
    /// Ports that depend on what the table does not show (a socket's
    /// IPV6_V6ONLY, or its SO_REUSEADDR for the ip_autobind_reuse pass).
    pub unsure: usize,
    /// Usable ports in use on an overlapping address.
    pub in_use: usize,
    /// ... of which by a TIME_WAIT (and nothing else).
    pub in_use_time_wait_only: usize,
}

/// What to do, typed so that faces and tests can tell the kinds apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdviceKind {
    /// Retry once a TIME_WAIT passes tcp_tw_reuse_delay.
    RetrySoon,
    /// Enable tcp_tw_reuse (with its conditions).
    TwReuse,
    /// Turn TCP timestamps on: tcp_tw_reuse needs them.
    Timestamps,
    /// Set IP_BIND_ADDRESS_NO_PORT instead of a bare bind(0).
    NoPort,
    /// Reuse connections (keep-alive, pooling).
    Pooling,
    /// Widen ip_local_port_range.
    WidenRange,
    /// Release ports from ip_local_reserved_ports.
    ReservedPorts,
    /// SO_LINGER {1, 0}: RST instead of TIME_WAIT, the last resort.
    LingerZero,
}

impl AdviceKind {
    /// The name JSON uses.
    pub fn as_str(self) -> &'static str {
        match self {
            AdviceKind::RetrySoon => "retry_soon",
            AdviceKind::TwReuse => "tw_reuse",
            AdviceKind::Timestamps => "timestamps",
            AdviceKind::NoPort => "no_port",
            AdviceKind::Pooling => "pooling",
            AdviceKind::WidenRange => "widen_range",
            AdviceKind::ReservedPorts => "reserved_ports",
            AdviceKind::LingerZero => "linger_zero",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advice {
    pub kind: AdviceKind,
    pub text: String,
}

/// The answer to "will the next connect() to this destination get a local port".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectVerdict {
    pub connect: IntendedConnect,
    pub settings: ConnectSettings,
    /// The client's next attempt fails (for bind_zero without
    /// IP_BIND_ADDRESS_NO_PORT: its bind(0); otherwise its connect()).
    pub blocked: bool,
    /// False when the answer depends on what the table does not show or on
    /// the kernel's random starting point (see the module docs); `blocked`
    /// is then the worst case.
    pub certain: bool,
    /// The errno the failing call returns; None when not blocked.
    pub errno: Option<Errno>,
    /// The one port left, when it is an end port of a range of odd size: a
    /// given call's scan skips it or not at random (see the module docs), so
    /// the call may fail (`blocked` true, `certain` false).
    pub skippable_last_port: Option<u16>,
    /// ip_local_port_range (inclusive).
    pub range: (u16, u16),
    /// ip_local_reserved_ports inside the range: skipped.
    pub reserved: usize,
    /// Ports in the range that automatic choice may pick.
    pub usable: usize,
    // The counts below partition the usable ports, by connect()'s rules.
    /// No socket at all.
    pub free: usize,
    /// Used only by other four-tuples: connect() shares them.
    pub shared: usize,
    /// Held by bind() or a listener: connect() never takes them.
    pub held: usize,
    /// A live connection to this very destination from this local address.
    pub in_use_same_tuple: usize,
    /// In TIME_WAIT (or FIN_WAIT2) to this very destination from this local address.
    pub time_wait_same_tuple: usize,
    /// Of those, how many tcp_tw_reuse lets connect() take over now.
    pub reusable_now: usize,
    /// When the next of those TIME_WAITs passes tcp_tw_reuse_delay; None
    /// when none is waiting for it.
    pub next_reusable_in_ms: Option<u64>,
    /// When the first same-tuple TIME_WAIT's timer ends (its port is then
    /// free for this destination), by the timer as read.
    pub next_time_wait_end_in_ms: Option<u64>,
    pub tw_reuse: TwReuse,
    /// For a bind(0) before connect() (without IP_BIND_ADDRESS_NO_PORT).
    pub bind_zero: Option<BindZeroUse>,
    /// Plain words, specific to the case.
    pub explanation: String,
    /// What to do, most useful first (empty when there is plenty of room).
    pub advice: Vec<Advice>,
}

impl ConnectVerdict {
    /// Ports connect() can take now: free, shared, or a reusable TIME_WAIT.
    pub fn available(&self) -> usize {
        self.free + self.shared + self.reusable_now
    }
}

/// How connect() sees one usable port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortUse {
    Free,
    Shared,
    Held,
    SameTupleLive,
    /// A same-tuple time-wait socket: reusable after this many ms (0: now),
    /// or never (None).
    SameTupleTimeWait {
        reusable_in_ms: Option<u64>,
        ends_in_ms: Option<u64>,
    },
}

/// The verdict for `connect` from the namespace's `sockets` (any states,
/// both families; a table filtered by port or state gives wrong counts) and
/// its sysctls.
pub fn connect_verdict(
    connect: &IntendedConnect,
    sysctls: &ConnectSysctls,
    sockets: &[Socket],
) -> ConnectVerdict {
    let settings = ConnectSettings::from_sysctls(sysctls);
    let by_port = sockets_by_port(sockets, &settings);
    let no_sockets: Vec<&Socket> = Vec::new();
    let uses: Vec<(u16, PortUse)> = settings
        .usable_ports()
        .map(|port| {
            let on_port = by_port.get(&port).unwrap_or(&no_sockets);
            (port, port_use(connect, on_port, &settings))
        })
        .collect();

    let count = |wanted: fn(&PortUse) -> bool| uses.iter().filter(|(_, u)| wanted(u)).count();
    let time_waits = uses.iter().filter_map(|(_, u)| match u {
        PortUse::SameTupleTimeWait {
            reusable_in_ms,
            ends_in_ms,
        } => Some((*reusable_in_ms, *ends_in_ms)),
        _ => None,
    });
    let reusable_now = time_waits.clone().filter(|(r, _)| *r == Some(0)).count();
    let next_reusable_in_ms = time_waits
        .clone()
        .filter_map(|(r, _)| r.filter(|ms| *ms > 0))
        .min();
    let next_time_wait_end_in_ms = time_waits.clone().filter_map(|(_, e)| e).min();

    let connect_ports: Vec<u16> = uses
        .iter()
        .filter(|(_, u)| {
            matches!(
                u,
                PortUse::Free
                    | PortUse::Shared
                    | PortUse::SameTupleTimeWait {
                        reusable_in_ms: Some(0),
                        ..
                    }
            )
        })
        .map(|(port, _)| *port)
        .collect();

    let mut verdict = ConnectVerdict {
        connect: connect.clone(),
        range: settings.range,
        reserved: settings.reserved_in_range(),
        usable: uses.len(),
        free: count(|u| *u == PortUse::Free),
        shared: count(|u| *u == PortUse::Shared),
        held: count(|u| *u == PortUse::Held),
        in_use_same_tuple: count(|u| *u == PortUse::SameTupleLive),
        time_wait_same_tuple: time_waits.count(),
        reusable_now,
        next_reusable_in_ms,
        next_time_wait_end_in_ms,
        tw_reuse: settings.tw_reuse,
        bind_zero: None,
        blocked: false,
        certain: true,
        errno: None,
        skippable_last_port: None,
        explanation: String::new(),
        advice: Vec::new(),
        settings,
    };

    if connect.port_from_bind() {
        let (use_of_bind_zero, ports) = bind_zero_use(connect, &by_port, &verdict.settings);
        let skippable = scan_may_skip(&verdict.settings, connect.reuseaddr);
        verdict.skippable_last_port = only_a_skippable_port(&ports, skippable);
        verdict.blocked = ports.is_empty() || verdict.skippable_last_port.is_some();
        verdict.certain = use_of_bind_zero.unsure == 0 && verdict.skippable_last_port.is_none();
        verdict.errno = verdict.blocked.then_some(Errno::EADDRINUSE);
        verdict.bind_zero = Some(use_of_bind_zero);
    } else {
        let skippable = scan_may_skip_connect(&verdict.settings);
        verdict.skippable_last_port = only_a_skippable_port(&connect_ports, skippable);
        verdict.blocked = connect_ports.is_empty() || verdict.skippable_last_port.is_some();
        verdict.certain = verdict.skippable_last_port.is_none();
        verdict.errno = verdict.blocked.then_some(Errno::EADDRNOTAVAIL);
    }
    verdict.explanation = explain(&verdict);
    verdict.advice = advise(&verdict);
    verdict
}

/// Sockets on each usable port. Request sockets (NEW_SYN_RECV) are in the
/// four-tuple table but not the bind table: kept, and told apart later.
fn sockets_by_port<'a>(
    sockets: &'a [Socket],
    settings: &ConnectSettings,
) -> HashMap<u16, Vec<&'a Socket>> {
    let (lo, hi) = settings.range;
    let mut by_port: HashMap<u16, Vec<&Socket>> = HashMap::new();
    for socket in sockets {
        let port = socket.local.port();
        if (lo..=hi).contains(&port) && !settings.reserved.contains(port) {
            by_port.entry(port).or_default().push(socket);
        }
    }
    by_port
}

/// `__inet_hash_connect` for one port: held by bind()? else the four-tuple check.
fn port_use(connect: &IntendedConnect, on_port: &[&Socket], settings: &ConnectSettings) -> PortUse {
    if on_port.is_empty() {
        return PortUse::Free;
    }
    if on_port
        .iter()
        .any(|socket| matches!(rules::reason_of(socket), Reason::Listen | Reason::Bound))
    {
        return PortUse::Held;
    }
    match on_port.iter().find(|socket| same_tuple(connect, socket)) {
        None => PortUse::Shared,
        Some(socket) if socket.is_time_wait_like() => PortUse::SameTupleTimeWait {
            reusable_in_ms: reusable_in_ms(socket, settings),
            ends_in_ms: socket.time_wait_remaining_ms(),
        },
        Some(_) => PortUse::SameTupleLive,
    }
}

/// `inet_match` / `inet6_match`: the same remote address and port, the same
/// local address (any, when unknown), and a socket bound to no device (the
/// new socket binds none).
fn same_tuple(connect: &IntendedConnect, socket: &Socket) -> bool {
    socket.state != TcpState::Listen
        && socket.bound_device == 0
        && socket.remote.port() == connect.remote.port()
        && socket.remote.ip().to_canonical() == connect.remote.ip().to_canonical()
        && connect
            .known_local()
            .is_none_or(|local| socket.local.ip().to_canonical() == local.to_canonical())
}

/// `tcp_twsk_unique` for a connect() that picks its port: ms until the
/// TIME_WAIT may be taken over (0: now), or None when it never may.
fn reusable_in_ms(socket: &Socket, settings: &ConnectSettings) -> Option<u64> {
    if socket.state == TcpState::FinWait2 || !settings.timestamps {
        return None;
    }
    match settings.tw_reuse {
        TwReuse::Off => return None,
        TwReuse::LoopbackOnly if !loopback_time_wait(socket) => return None,
        TwReuse::On | TwReuse::LoopbackOnly => {}
    }
    let Some(remaining) = socket.time_wait_remaining_ms() else {
        return Some(0);
    };
    let age = TIME_WAIT_LEN_MS.saturating_sub(remaining);
    // time_after32(now, entry + delay): strictly later.
    let due = u64::from(settings.tw_reuse_delay_ms) + 1;
    Some(due.saturating_sub(age))
}

/// tcp_tw_reuse = 2's test: either end loopback (v4-mapped too). The kernel
/// also counts a TIME_WAIT bound to `lo`, but a socket bound to a device is
/// never the four-tuple of a client bound to none (see [`same_tuple`]).
fn loopback_time_wait(socket: &Socket) -> bool {
    socket.local.ip().to_canonical().is_loopback()
        || socket.remote.ip().to_canonical().is_loopback()
}

/// `inet_csk_find_open_port` over the usable ports: the counts, and the
/// ports a bind(0) can take for certain.
fn bind_zero_use(
    connect: &IntendedConnect,
    by_port: &HashMap<u16, Vec<&Socket>>,
    settings: &ConnectSettings,
) -> (BindZeroUse, Vec<u16>) {
    let ctx = RuleContext {
        bind_ifindex: None,
        device_missing: false,
        devices_known: true,
        // Only SO_REUSEPORT compares uids, and bind(0) never passes by it.
        uid: 0,
        caller_uid: 0,
        unprivileged_port_start: None,
        cap_net_bind_service: true,
        captured: false,
    };
    let relax = settings.autobind_reuse && connect.reuseaddr;
    let mut counts = BindZeroUse {
        available: 0,
        shared_by_autobind_reuse: 0,
        unsure: 0,
        in_use: 0,
        in_use_time_wait_only: 0,
    };
    let mut ports = Vec::new();
    let no_sockets: Vec<&Socket> = Vec::new();
    for port in settings.usable_ports() {
        let on_port = by_port.get(&port).unwrap_or(&no_sockets);
        // First pass: any overlapping socket conflicts, whatever its flags
        // (inet_bind_conflict with relax = false and reuseport_ok = false):
        // the rules' answer for a bind without SO_REUSEADDR/SO_REUSEPORT.
        let plain = IntendedBind {
            protocol: Protocol::Tcp,
            addr: connect.bind_address(),
            port,
            reuseaddr: false,
            reuseport: false,
            v6only: false,
            device: None,
            uid: None,
        };
        let first = worst(on_port, &plain, &ctx);
        if first == Conflict::No {
            counts.available += 1;
            ports.push(port);
            continue;
        }
        // The relaxed pass: SO_REUSEADDR on both sides passes a non-listener.
        let second = if relax {
            let with_reuseaddr = IntendedBind {
                reuseaddr: true,
                ..plain
            };
            worst(on_port, &with_reuseaddr, &ctx)
        } else {
            first
        };
        match (first, second) {
            (_, Conflict::No) => {
                counts.shared_by_autobind_reuse += 1;
                ports.push(port);
            }
            (Conflict::Unknown, _) | (_, Conflict::Unknown) => counts.unsure += 1,
            (_, Conflict::Yes) => {
                counts.in_use += 1;
                if on_port
                    .iter()
                    .filter(|socket| socket.state != TcpState::NewSynRecv)
                    .all(|socket| socket.is_time_wait_like())
                {
                    counts.in_use_time_wait_only += 1;
                }
            }
        }
    }
    (counts, ports)
}

/// Yes if any socket surely conflicts, else Unknown if any may, else No.
fn worst(on_port: &[&Socket], bind: &IntendedBind, ctx: &RuleContext) -> Conflict {
    let mut answer = Conflict::No;
    for socket in on_port {
        match rules::assess(bind, socket, ctx).conflict {
            Conflict::Yes => return Conflict::Yes,
            Conflict::Unknown => answer = Conflict::Unknown,
            Conflict::No => {}
        }
    }
    answer
}

/// The two end ports of which connect()'s scan skips one, in a range of odd
/// size (its scan covers `remaining & ~1` ports).
fn scan_may_skip_connect(settings: &ConnectSettings) -> Option<(u16, u16)> {
    let (lo, hi) = settings.range;
    odd_span(lo, hi)
}

/// The same for bind(0): with SO_REUSEADDR (and at least 4 ports) it scans
/// the lower half, then the upper half [half, hi], whose size may be odd.
fn scan_may_skip(settings: &ConnectSettings, reuseaddr: bool) -> Option<(u16, u16)> {
    let (lo, hi) = settings.range;
    let size = u32::from(hi).checked_sub(u32::from(lo))? + 1;
    if reuseaddr && size >= 4 {
        let half = u32::from(lo) + ((size >> 2) << 1);
        return odd_span(u16::try_from(half).ok()?, hi);
    }
    odd_span(lo, hi)
}

fn odd_span(lo: u16, hi: u16) -> Option<(u16, u16)> {
    let size = u32::from(hi).checked_sub(u32::from(lo))? + 1;
    (size > 1 && size % 2 == 1).then_some((lo, hi))
}

/// The only takeable port, when a scan may skip it.
fn only_a_skippable_port(ports: &[u16], skippable: Option<(u16, u16)>) -> Option<u16> {
    match (ports, skippable) {
        ([port], Some((a, b))) if *port == a || *port == b => Some(*port),
        _ => None,
    }
}

/// The sentence for a last port a scan may skip.
fn skip_words(port: u16, range: (u16, u16)) -> String {
    format!(
        "The one port left, {port}, is an end port of a range of odd size ({}-{}): each          scan covers an even number of ports and skips one end port, chosen by where the          scan starts (for connect(), fixed per destination until a connect() succeeds), so          the call may fail.",
        range.0, range.1
    )
}

/// "1 port", "2 ports" (or "1 is", "2 are").
fn count_noun(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// The destination's four-tuple in words.
fn tuple_words(connect: &IntendedConnect) -> String {
    match connect.known_local() {
        Some(local) => format!("from {local} to {}", connect.remote),
        None => format!("to {}", connect.remote),
    }
}

fn explain(v: &ConnectVerdict) -> String {
    let c = &v.connect;
    let (lo, hi) = v.range;
    let mut text = Vec::new();
    let range_words = if v.reserved > 0 {
        format!(
            "the {} of ip_local_port_range {lo}-{hi} ({} reserved by \
             ip_local_reserved_ports are skipped)",
            count_noun(v.usable, "usable port", "usable ports"),
            v.reserved
        )
    } else {
        format!(
            "the {} of ip_local_port_range {lo}-{hi}",
            count_noun(v.usable, "port", "ports")
        )
    };
    if let Some(port) = v.skippable_last_port {
        text.push(format!(
            "{} {} may fail with {}.",
            v.errno.map_or("The call", failing_call),
            tuple_words(c),
            v.errno.map_or("an error", Errno::name)
        ));
        text.push(skip_words(port, v.range));
    } else if let Some(b) = &v.bind_zero {
        let target = c.bind_address();
        if v.blocked {
            text.push(format!(
                "bind() to {target} port 0 fails with EADDRINUSE: bind(0) takes only a port \
                 no socket uses on an overlapping address, TIME_WAIT included, and all of {range_words} \
                 are in use ({} of them only by TIME_WAITs). tcp_tw_reuse never helps bind().",
                b.in_use_time_wait_only
            ));
        } else {
            text.push(format!(
                "bind() to {target} port 0 gets a port: {} of {range_words} unused.",
                count_noun(b.available + b.shared_by_autobind_reuse, "is", "are")
            ));
        }
        if b.unsure > 0 {
            text.push(format!(
                "{} ports depend on what the table does not show (a socket's IPV6_V6ONLY, or \
                 whether a TIME_WAIT's socket set SO_REUSEADDR for ip_autobind_reuse).",
                b.unsure
            ));
        }
        text.push(format!(
            "Without the bind(0), or with IP_BIND_ADDRESS_NO_PORT, connect() {} would {}: it \
             shares a port with other destinations.",
            tuple_words(c),
            if v.available() > 0 {
                format!("get one of {} ports", v.available())
            } else {
                "fail too".to_string()
            }
        ));
    } else if v.blocked {
        text.push(format!(
            "connect() {} fails with EADDRNOTAVAIL (Cannot assign requested address): no port \
             among {range_words} is left for this four-tuple.",
            tuple_words(c)
        ));
        let mut parts = Vec::new();
        if v.time_wait_same_tuple > 0 {
            parts.push(format!(
                "{} in TIME_WAIT towards {}",
                v.time_wait_same_tuple, c.remote
            ));
        }
        if v.in_use_same_tuple > 0 {
            parts.push(format!(
                "{} carry live connections to {}",
                v.in_use_same_tuple, c.remote
            ));
        }
        if v.held > 0 {
            parts.push(format!(
                "{} held by bind() or listeners, which connect() never takes",
                v.held
            ));
        }
        if !parts.is_empty() {
            text.push(format!("Of them: {}.", parts.join("; ")));
        }
        if v.time_wait_same_tuple > 0 {
            text.push(why_not_reused(v));
        }
    } else {
        let mut parts = Vec::new();
        if v.free > 0 {
            parts.push(format!("{} free", v.free));
        }
        if v.shared > 0 {
            parts.push(format!(
                "{} used only towards other destinations (connect() shares a local port \
                 across different four-tuples)",
                v.shared
            ));
        }
        if v.reusable_now > 0 {
            parts.push(format!(
                "{} in TIME_WAIT to {} that tcp_tw_reuse={} lets it take over",
                v.reusable_now,
                c.remote,
                v.tw_reuse.sysctl_value()
            ));
        }
        text.push(format!(
            "connect() {} gets a local port: of {range_words}, {}.",
            tuple_words(c),
            parts.join(", ")
        ));
        if v.time_wait_same_tuple > v.reusable_now {
            text.push(format!(
                "{} more are in TIME_WAIT towards {}.",
                v.time_wait_same_tuple - v.reusable_now,
                c.remote
            ));
        }
    }
    if !v.certain {
        text.push(
            "Not certain: the answer rests on a port the kernel's scan may skip or on what the \
             table does not show; `blocked` is the worst case."
                .to_string(),
        );
    }
    if c.known_local().is_none() && v.time_wait_same_tuple + v.in_use_same_tuple > 0 {
        text.push(
            "The local address is not known: connections to the destination from any local \
             address were counted as the same four-tuple."
                .to_string(),
        );
    }
    if c.no_port && !c.bind_zero {
        text.push(
            "IP_BIND_ADDRESS_NO_PORT matters only with a bind() before connect(): ignored."
                .to_string(),
        );
    }
    if !v.settings.assumed.is_empty() {
        text.push(format!(
            "Could not read {}: the kernel's defaults were assumed.",
            v.settings.assumed.join(", ")
        ));
    }
    text.join(" ")
}

/// Why the same-tuple TIME_WAITs are not taken over, in the order tcp_twsk_unique checks.
fn why_not_reused(v: &ConnectVerdict) -> String {
    let s = &v.settings;
    if s.tw_reuse == TwReuse::Off {
        return "tcp_tw_reuse is 0, so connect() never takes over a TIME_WAIT.".to_string();
    }
    if !s.timestamps {
        return "net.ipv4.tcp_timestamps is 0, so these TIME_WAITs most likely carry no TCP \
                timestamps, and tcp_tw_reuse takes over only those that do (the table does \
                not show a TIME_WAIT's timestamps; the sysctl stands in for them)."
            .to_string();
    }
    if v.reusable_now == 0 && v.next_reusable_in_ms.is_none() {
        return if s.tw_reuse == TwReuse::LoopbackOnly {
            "tcp_tw_reuse is 2, which takes over only loopback TIME_WAITs, and these are not \
             loopback."
                .to_string()
        } else {
            "These are FIN_WAIT2 time-wait sockets, which tcp_tw_reuse never takes over."
                .to_string()
        };
    }
    match v.next_reusable_in_ms {
        Some(ms) => format!(
            "tcp_tw_reuse takes over a TIME_WAIT only once it is older than \
             tcp_tw_reuse_delay ({} ms); the next one is in about {ms} ms.",
            s.tw_reuse_delay_ms
        ),
        None => String::new(),
    }
}

fn advise(v: &ConnectVerdict) -> Vec<Advice> {
    let s = &v.settings;
    let mut advice = Vec::new();
    let mut add = |kind, text: String| advice.push(Advice { kind, text });
    let scarce = v.blocked || v.available() * 10 < v.usable;
    if !scarce {
        return Vec::new();
    }
    let bind_zero_blocked = v.blocked && v.bind_zero.is_some();
    if bind_zero_blocked {
        add(
            AdviceKind::NoPort,
            "Set IP_BIND_ADDRESS_NO_PORT before bind(address, 0), or drop the bind(0): the \
             port is then chosen at connect(), which shares ports across destinations and \
             can take over TIME_WAITs; bind(0) needs a port no socket uses."
                .to_string(),
        );
    }
    if v.blocked && !bind_zero_blocked {
        if let Some(ms) = v.next_reusable_in_ms {
            add(
                AdviceKind::RetrySoon,
                format!(
                    "Retry in about {ms} ms: a TIME_WAIT to {} then passes \
                     tcp_tw_reuse_delay ({} ms) and connect() takes it over.",
                    v.connect.remote, s.tw_reuse_delay_ms
                ),
            );
        }
    }
    if v.time_wait_same_tuple > 0 && v.reusable_now == 0 && v.next_reusable_in_ms.is_none() {
        if !s.timestamps {
            add(
                AdviceKind::Timestamps,
                "Turn TCP timestamps back on (sysctl -w net.ipv4.tcp_timestamps=1; the peer \
                 must use them too): tcp_tw_reuse takes over only TIME_WAITs that had them."
                    .to_string(),
            );
        }
        if s.tw_reuse != TwReuse::On {
            add(
                AdviceKind::TwReuse,
                format!(
                    "Set net.ipv4.tcp_tw_reuse=1 (now {}): connect() may then take over a \
                     TIME_WAIT to the same destination once it is older than \
                     tcp_tw_reuse_delay ({} ms), if the connection had TCP timestamps \
                     (net.ipv4.tcp_timestamps on both hosts). It concerns outgoing connections \
                     only; 2 does it for loopback only. It is not SO_REUSEADDR, and it never \
                     helps bind().",
                    s.tw_reuse.sysctl_value(),
                    s.tw_reuse_delay_ms
                ),
            );
        }
    }
    add(
        AdviceKind::Pooling,
        format!(
            "Reuse connections to {} (keep-alive, a connection pool) instead of opening one \
             per request: each connection the client closes first leaves a TIME_WAIT that \
             holds its four-tuple for 60 s.",
            v.connect.remote
        ),
    );
    let (lo, hi) = v.range;
    add(
        AdviceKind::WidenRange,
        format!(
            "Widen net.ipv4.ip_local_port_range (now {lo}-{hi}, {} usable), e.g. \
             sysctl -w net.ipv4.ip_local_port_range=\"10000 65000\", and list the ports your \
             own servers listen on in net.ipv4.ip_local_reserved_ports.",
            v.usable
        ),
    );
    if v.reserved > 0 && v.blocked {
        add(
            AdviceKind::ReservedPorts,
            format!(
                "{} ports of the range are in net.ipv4.ip_local_reserved_ports: release the \
                 ones no service needs.",
                v.reserved
            ),
        );
    }
    add(
        AdviceKind::LingerZero,
        "As a last resort, SO_LINGER {on, 0} on the client makes close() send a RST and leave \
         no TIME_WAIT, giving up TIME_WAIT's protection against old segments and any unsent \
         data."
            .to_string(),
    );
    advice
}

/// One destination's use of the local port range.
#[derive(Debug, Clone, PartialEq)]
pub struct DestinationPressure {
    /// The remote address and port (v4-mapped addresses shown as IPv4).
    pub remote: SocketAddr,
    /// Distinct usable local ports with a socket towards it.
    pub ports: usize,
    /// Of its sockets, the TIME_WAIT (and FIN_WAIT2 time-wait) ones.
    pub time_wait: usize,
    /// Its other sockets (live connections).
    pub live: usize,
    /// `ports` as a share of the usable ports (0.0 to 1.0): the share of the
    /// range this destination alone has used up for itself.
    pub share: f64,
}

/// The local port range's use, by destination.
#[derive(Debug, Clone, PartialEq)]
pub struct PortPressure {
    pub range: (u16, u16),
    pub reserved: usize,
    pub usable: usize,
    /// Usable ports with at least one socket.
    pub used: usize,
    /// Usable ports with none.
    pub free: usize,
    /// Usable ports held by a listener or a bound socket.
    pub held: usize,
    /// Destinations, most TIME_WAITs first (then most ports, then address).
    pub destinations: Vec<DestinationPressure>,
}

/// Which destinations use up the local port range ("which backend is eating
/// my ports"). `sockets` should be the whole table of the namespace.
pub fn pressure(sockets: &[Socket], settings: &ConnectSettings) -> PortPressure {
    let by_port = sockets_by_port(sockets, settings);
    let usable = settings.usable_ports().count();
    let held = by_port
        .values()
        .filter(|on_port| {
            on_port
                .iter()
                .any(|s| matches!(rules::reason_of(s), Reason::Listen | Reason::Bound))
        })
        .count();
    #[derive(Default)]
    struct Tally {
        ports: Vec<u16>,
        time_wait: usize,
        live: usize,
    }
    let mut tallies: HashMap<SocketAddr, Tally> = HashMap::new();
    for (port, on_port) in &by_port {
        for socket in on_port {
            if socket.remote.port() == 0
                || matches!(rules::reason_of(socket), Reason::Listen | Reason::Bound)
            {
                continue;
            }
            let remote = SocketAddr::new(socket.remote.ip().to_canonical(), socket.remote.port());
            let tally = tallies.entry(remote).or_default();
            if tally.ports.last() != Some(port) {
                tally.ports.push(*port);
            }
            if socket.is_time_wait_like() {
                tally.time_wait += 1;
            } else {
                tally.live += 1;
            }
        }
    }
    let mut destinations: Vec<DestinationPressure> = tallies
        .into_iter()
        .map(|(remote, tally)| DestinationPressure {
            remote,
            ports: tally.ports.len(),
            time_wait: tally.time_wait,
            live: tally.live,
            share: if usable == 0 {
                0.0
            } else {
                tally.ports.len() as f64 / usable as f64
            },
        })
        .collect();
    destinations.sort_by(|a, b| {
        b.time_wait
            .cmp(&a.time_wait)
            .then(b.ports.cmp(&a.ports))
            .then(a.remote.cmp(&b.remote))
    });
    PortPressure {
        range: settings.range,
        reserved: settings.reserved_in_range(),
        usable,
        used: by_port.len(),
        free: usable.saturating_sub(by_port.len()),
        held,
        destinations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TcpState;
    use crate::testing::{addr, listener, socket, time_wait};

    /// TIME_WAIT remaining when the test TIME_WAITs are well past the delay.
    const OLD: u64 = 50_000;

    fn sysctls(reuse: u8) -> ConnectSysctls {
        ConnectSysctls {
            ip_local_port_range: Some((40000, 40009)),
            ip_local_reserved_ports: Some(ReservedPorts::default()),
            tcp_tw_reuse: TwReuse::from_sysctl(reuse),
            tcp_tw_reuse_delay_ms: Some(1000),
            ip_autobind_reuse: Some(false),
            tcp_timestamps: Some(1),
        }
    }

    fn to(remote: &str) -> IntendedConnect {
        IntendedConnect {
            remote: addr(remote),
            local: None,
            bind_zero: false,
            no_port: false,
            reuseaddr: false,
        }
    }

    fn from(local: &str, remote: &str) -> IntendedConnect {
        IntendedConnect {
            local: Some(local.parse().unwrap()),
            ..to(remote)
        }
    }

    /// TIME_WAITs from `local`:P to `remote` for each P in `ports`.
    fn time_waits(local: &str, remote: &str, ports: impl IntoIterator<Item = u16>) -> Vec<Socket> {
        ports
            .into_iter()
            .map(|port| {
                let local = SocketAddr::new(local.parse().unwrap(), port).to_string();
                time_wait(&local, remote, OLD)
            })
            .collect()
    }

    fn text_of(v: &ConnectVerdict) -> String {
        let advice: Vec<&str> = v.advice.iter().map(|a| a.text.as_str()).collect();
        format!("{} {}", v.explanation, advice.join(" "))
    }

    #[test]
    fn a_full_range_of_same_tuple_time_waits_blocks_only_without_tw_reuse() {
        let sockets = time_waits("127.0.0.1", "127.0.0.1:80", 40000..=40009);
        let off = connect_verdict(&to("127.0.0.1:80"), &sysctls(0), &sockets);
        assert!(off.blocked && off.certain);
        assert_eq!(off.errno, Some(Errno::EADDRNOTAVAIL));
        assert_eq!((off.usable, off.free, off.shared, off.held), (10, 0, 0, 0));
        assert_eq!((off.time_wait_same_tuple, off.reusable_now), (10, 0));
        assert!(
            off.explanation.contains("EADDRNOTAVAIL"),
            "{}",
            off.explanation
        );
        assert!(
            off.explanation.contains("tcp_tw_reuse is 0"),
            "{}",
            off.explanation
        );
        let kinds: Vec<AdviceKind> = off.advice.iter().map(|a| a.kind).collect();
        assert_eq!(kinds[0], AdviceKind::TwReuse);
        assert!(kinds.contains(&AdviceKind::Pooling) && kinds.contains(&AdviceKind::WidenRange));
        assert_eq!(kinds.last(), Some(&AdviceKind::LingerZero));

        for reuse in [1, 2] {
            let v = connect_verdict(&to("127.0.0.1:80"), &sysctls(reuse), &sockets);
            assert!(!v.blocked, "tcp_tw_reuse={reuse}");
            assert_eq!(v.reusable_now, 10);
            assert_eq!(v.errno, None);
        }
        // Another destination shares every port.
        let other = connect_verdict(&to("127.0.0.1:81"), &sysctls(0), &sockets);
        assert!(!other.blocked);
        assert_eq!((other.shared, other.time_wait_same_tuple), (10, 0));
    }

    #[test]
    fn range_edges_count_and_ports_outside_do_not() {
        let mut sockets = time_waits("127.0.0.1", "127.0.0.1:80", 40000..=40008);
        sockets.extend(time_waits("127.0.0.1", "127.0.0.1:80", [39999, 40010]));
        let v = connect_verdict(&to("127.0.0.1:80"), &sysctls(0), &sockets);
        assert!(!v.blocked && v.certain);
        assert_eq!((v.free, v.time_wait_same_tuple), (1, 9));
        sockets.extend(time_waits("127.0.0.1", "127.0.0.1:80", [40009]));
        assert!(connect_verdict(&to("127.0.0.1:80"), &sysctls(0), &sockets).blocked);
    }

    #[test]
    fn reserved_ports_are_skipped() {
        let mut settings = sysctls(0);
        settings.ip_local_reserved_ports = ReservedPorts::parse("40000-40004,50000");
        let sockets = time_waits("127.0.0.1", "127.0.0.1:80", 40005..=40009);
        let v = connect_verdict(&to("127.0.0.1:80"), &settings, &sockets);
        assert!(v.blocked);
        assert_eq!((v.reserved, v.usable, v.free), (5, 5, 0));
        assert!(v.explanation.contains("5 reserved"), "{}", v.explanation);
        assert!(v.advice.iter().any(|a| a.kind == AdviceKind::ReservedPorts));
    }

    #[test]
    fn parity_does_not_change_whether_a_port_exists() {
        for free in [40000, 40001, 40004, 40009] {
            let sockets = time_waits(
                "127.0.0.1",
                "127.0.0.1:80",
                (40000..=40009).filter(|port| *port != free),
            );
            let v = connect_verdict(&to("127.0.0.1:80"), &sysctls(0), &sockets);
            assert!(!v.blocked && v.certain, "free port {free}");
            let mut bind_zero = to("127.0.0.1:80");
            bind_zero.bind_zero = true;
            let v = connect_verdict(&bind_zero, &sysctls(0), &sockets);
            assert!(!v.blocked && v.certain, "bind(0), free port {free}");
        }
    }

    #[test]
    fn an_odd_sized_range_may_skip_an_end_port() {
        let mut settings = sysctls(0);
        settings.ip_local_port_range = Some((40000, 40010));
        let all_but = |free: u16| {
            time_waits(
                "127.0.0.1",
                "127.0.0.1:80",
                (40000..=40010).filter(move |port| *port != free),
            )
        };
        for (free, certain) in [(40000, false), (40010, false), (40005, true), (40004, true)] {
            let v = connect_verdict(&to("127.0.0.1:80"), &settings, &all_but(free));
            assert_eq!(v.certain, certain, "free port {free}");
            assert_eq!(v.blocked, !certain, "free port {free}: the worst case");
            assert_eq!(v.skippable_last_port, (!certain).then_some(free));
            if !certain {
                assert!(
                    v.explanation.contains("may fail with EADDRNOTAVAIL"),
                    "{}",
                    v.explanation
                );
            }
        }
        // Two end ports left: one of them is always scanned.
        let sockets = time_waits("127.0.0.1", "127.0.0.1:80", 40001..=40009);
        let v = connect_verdict(&to("127.0.0.1:80"), &settings, &sockets);
        assert!(!v.blocked && v.certain);
        // bind(0) with SO_REUSEADDR scans the halves [40000, 40004) and
        // [40004, 40010]: the upper half's ends may be skipped.
        let mut bind_zero = to("127.0.0.1:81");
        bind_zero.bind_zero = true;
        bind_zero.reuseaddr = true;
        for (free, skippable) in [(40004, true), (40010, true), (40000, false), (40003, false)] {
            let v = connect_verdict(&bind_zero, &settings, &all_but(free));
            assert_eq!(
                v.skippable_last_port.is_some(),
                skippable,
                "bind(0), free port {free}"
            );
        }
    }

    #[test]
    fn listeners_and_bound_sockets_hold_their_ports_in_either_family() {
        let mut sockets = time_waits("127.0.0.1", "127.0.0.1:80", 40000..=40007);
        sockets.push(listener("[::1]:40008"));
        sockets.push(socket(TcpState::Bound, "127.0.0.1:40009", "0.0.0.0:0"));
        let v = connect_verdict(&to("127.0.0.1:80"), &sysctls(0), &sockets);
        assert!(v.blocked);
        assert_eq!((v.held, v.time_wait_same_tuple), (2, 8));
        assert!(
            v.explanation.contains("held by bind()"),
            "{}",
            v.explanation
        );
        // Held ports stay held even from a destination that could share them.
        let other = connect_verdict(&to("127.0.0.1:81"), &sysctls(0), &sockets);
        assert_eq!((other.held, other.shared), (2, 8));
        // A connection accepted by a listener on a range port is held with it.
        let accepted = vec![
            listener("0.0.0.0:40000"),
            socket(TcpState::Established, "127.0.0.1:40000", "127.0.0.1:80"),
        ];
        let v = connect_verdict(&to("127.0.0.1:80"), &sysctls(0), &accepted);
        assert_eq!((v.held, v.in_use_same_tuple), (1, 0));
    }

    #[test]
    fn families_compare_as_the_kernel_does() {
        let sockets = time_waits("127.0.0.1", "127.0.0.1:80", 40000..=40009);
        // IPv4 TIME_WAITs are other four-tuples for an IPv6 destination.
        let v6 = connect_verdict(&to("[::1]:80"), &sysctls(0), &sockets);
        assert_eq!((v6.shared, v6.time_wait_same_tuple), (10, 0));
        // A v4-mapped TIME_WAIT is the IPv4 four-tuple.
        let mapped = time_waits("::ffff:127.0.0.1", "[::ffff:127.0.0.1]:80", 40000..=40009);
        let v4 = connect_verdict(&to("127.0.0.1:80"), &sysctls(0), &mapped);
        assert!(v4.blocked);
        assert_eq!(v4.time_wait_same_tuple, 10);
        // IPv6 TIME_WAITs block an IPv6 destination the same way.
        let native = time_waits("::1", "[::1]:80", 40000..=40009);
        assert!(connect_verdict(&to("[::1]:80"), &sysctls(0), &native).blocked);
        assert!(!connect_verdict(&to("[::1]:80"), &sysctls(2), &native).blocked);
    }

    #[test]
    fn the_local_address_narrows_the_four_tuple() {
        let sockets = time_waits("127.0.0.2", "127.0.0.1:80", 40000..=40009);
        // Unknown local address: counted as the same four-tuple, and said so.
        let unknown = connect_verdict(&to("127.0.0.1:80"), &sysctls(0), &sockets);
        assert!(unknown.blocked);
        assert!(
            unknown.explanation.contains("not known"),
            "{}",
            unknown.explanation
        );
        // The wildcard is no better known than None.
        let wildcard = connect_verdict(&from("0.0.0.0", "127.0.0.1:80"), &sysctls(0), &sockets);
        assert!(wildcard.blocked);
        // From 127.0.0.1, those are other four-tuples.
        let known = connect_verdict(&from("127.0.0.1", "127.0.0.1:80"), &sysctls(0), &sockets);
        assert!(!known.blocked);
        assert_eq!(known.shared, 10);
    }

    #[test]
    fn a_live_connection_on_the_same_tuple_blocks_its_port() {
        let mut sockets = time_waits("127.0.0.1", "127.0.0.1:80", 40000..=40008);
        sockets.push(socket(
            TcpState::Established,
            "127.0.0.1:40009",
            "127.0.0.1:80",
        ));
        let v = connect_verdict(&to("127.0.0.1:80"), &sysctls(0), &sockets);
        assert!(v.blocked);
        assert_eq!(v.in_use_same_tuple, 1);
        let reuse = connect_verdict(&to("127.0.0.1:80"), &sysctls(1), &sockets);
        assert_eq!((reuse.reusable_now, reuse.blocked), (9, false));
    }

    #[test]
    fn tw_reuse_two_is_for_loopback_only() {
        let sockets = time_waits("10.0.0.1", "10.0.0.2:80", 40000..=40009);
        let two = connect_verdict(&to("10.0.0.2:80"), &sysctls(2), &sockets);
        assert!(two.blocked);
        assert_eq!(two.reusable_now, 0);
        assert!(two.explanation.contains("loopback"), "{}", two.explanation);
        assert!(two.advice.iter().any(|a| a.kind == AdviceKind::TwReuse));
        let one = connect_verdict(&to("10.0.0.2:80"), &sysctls(1), &sockets);
        assert_eq!((one.blocked, one.reusable_now), (false, 10));
        // A socket bound to a device is not the unbound client's four-tuple.
        let mut on_lo = sockets.clone();
        on_lo[0].bound_device = 1;
        let v = connect_verdict(&to("10.0.0.2:80"), &sysctls(2), &on_lo);
        assert_eq!((v.blocked, v.shared), (false, 1));
    }

    #[test]
    fn tw_reuse_waits_for_the_delay() {
        let young = vec![time_wait("127.0.0.1:40000", "127.0.0.1:80", 59_600)];
        let mut settings = sysctls(1);
        settings.ip_local_port_range = Some((40000, 40000));
        let v = connect_verdict(&to("127.0.0.1:80"), &settings, &young);
        assert!(v.blocked);
        assert_eq!(v.reusable_now, 0);
        // Age 400 ms; reusable once strictly past 1000 ms.
        assert_eq!(v.next_reusable_in_ms, Some(601));
        assert_eq!(v.next_time_wait_end_in_ms, Some(59_600));
        assert_eq!(v.advice[0].kind, AdviceKind::RetrySoon);
        assert!(
            v.explanation.contains("tcp_tw_reuse_delay"),
            "{}",
            v.explanation
        );
        // A shorter delay lets it go now; an older kernel has the fixed second.
        settings.tcp_tw_reuse_delay_ms = Some(100);
        assert!(!connect_verdict(&to("127.0.0.1:80"), &settings, &young).blocked);
        settings.tcp_tw_reuse_delay_ms = None;
        let old_kernel = connect_verdict(&to("127.0.0.1:80"), &settings, &young);
        assert!(old_kernel.blocked);
        assert!(!old_kernel.settings.tw_reuse_delay_sysctl);
        assert_eq!(old_kernel.settings.tw_reuse_delay_ms, 1000);
    }

    #[test]
    fn no_timestamps_no_reuse() {
        let sockets = time_waits("127.0.0.1", "127.0.0.1:80", 40000..=40009);
        let mut settings = sysctls(1);
        settings.tcp_timestamps = Some(0);
        let v = connect_verdict(&to("127.0.0.1:80"), &settings, &sockets);
        assert!(v.blocked);
        assert!(
            v.explanation.contains("tcp_timestamps is 0"),
            "{}",
            v.explanation
        );
        assert!(v.explanation.contains("stands in"), "{}", v.explanation);
        assert_eq!(v.advice[0].kind, AdviceKind::Timestamps);
    }

    #[test]
    fn a_fin_wait2_mini_socket_is_never_reused() {
        let mut fin_wait2 = socket(TcpState::FinWait2, "127.0.0.1:40000", "127.0.0.1:80");
        fin_wait2.timer = Some(crate::model::Timer {
            kind: crate::model::TimerKind::Timewait,
            expires_ms: 1000,
            retransmits: 0,
        });
        let mut settings = sysctls(1);
        settings.ip_local_port_range = Some((40000, 40000));
        let v = connect_verdict(&to("127.0.0.1:80"), &settings, &[fin_wait2]);
        assert!(v.blocked);
        assert_eq!((v.time_wait_same_tuple, v.reusable_now), (1, 0));
        assert!(v.explanation.contains("FIN_WAIT2"), "{}", v.explanation);
    }

    #[test]
    fn bind_zero_avoids_every_port_in_use_and_no_port_does_not() {
        let sockets = time_waits("127.0.0.1", "127.0.0.1:80", 40000..=40009);
        let mut bind_zero = to("127.0.0.1:81");
        bind_zero.bind_zero = true;
        for reuse in [0, 1, 2] {
            let v = connect_verdict(&bind_zero, &sysctls(reuse), &sockets);
            assert!(v.blocked && v.certain, "tcp_tw_reuse={reuse}");
            assert_eq!(v.errno, Some(Errno::EADDRINUSE));
            let b = v.bind_zero.as_ref().unwrap();
            assert_eq!(
                (b.available, b.in_use, b.in_use_time_wait_only),
                (0, 10, 10)
            );
            assert_eq!(v.advice[0].kind, AdviceKind::NoPort);
            assert!(v
                .explanation
                .contains("connect() to 127.0.0.1:81 would get one of 10"));
        }
        // On another local address, none of those overlap.
        let mut elsewhere = bind_zero.clone();
        elsewhere.local = Some("127.0.0.2".parse().unwrap());
        assert!(!connect_verdict(&elsewhere, &sysctls(0), &sockets).blocked);
        // IP_BIND_ADDRESS_NO_PORT: connect()'s rules.
        let mut no_port = bind_zero.clone();
        no_port.no_port = true;
        let v = connect_verdict(&no_port, &sysctls(0), &sockets);
        assert!(!v.blocked);
        assert!(v.bind_zero.is_none());
        assert_eq!(v.shared, 10);
    }

    #[test]
    fn autobind_reuse_depends_on_hidden_flags() {
        let sockets = time_waits("127.0.0.1", "127.0.0.1:80", 40000..=40009);
        let mut settings = sysctls(0);
        settings.ip_autobind_reuse = Some(true);
        let mut bind_zero = to("127.0.0.1:81");
        bind_zero.bind_zero = true;
        // Without SO_REUSEADDR on the client the relaxed pass does not run.
        assert!(connect_verdict(&bind_zero, &settings, &sockets).certain);
        bind_zero.reuseaddr = true;
        let v = connect_verdict(&bind_zero, &settings, &sockets);
        assert!(v.blocked && !v.certain);
        assert_eq!(v.bind_zero.as_ref().unwrap().unsure, 10);
        // Listeners are never shared by the relaxed pass.
        let listeners: Vec<Socket> = (40000..=40009)
            .map(|port| listener(&format!("0.0.0.0:{port}")))
            .collect();
        let v = connect_verdict(&bind_zero, &settings, &listeners);
        assert!(v.blocked && v.certain);
    }

    #[test]
    fn unreadable_sysctls_are_assumed_and_said() {
        let v = connect_verdict(&to("127.0.0.1:80"), &ConnectSysctls::default(), &[]);
        assert_eq!(v.range, DEFAULT_PORT_RANGE);
        assert_eq!(v.tw_reuse, TwReuse::LoopbackOnly);
        assert_eq!(v.free, v.usable);
        assert!(v.advice.is_empty());
        assert!(
            v.explanation.contains("defaults were assumed"),
            "{}",
            v.explanation
        );
    }

    #[test]
    fn advice_never_names_tw_recycle_nor_fin_timeout() {
        let loopback = time_waits("127.0.0.1", "127.0.0.1:80", 40000..=40009);
        let remote = time_waits("10.0.0.1", "10.0.0.2:80", 40000..=40009);
        let mut verdicts = Vec::new();
        for reuse in [0, 1, 2] {
            for timestamps in [0, 1] {
                for bind_zero in [false, true] {
                    for (sockets, destination) in
                        [(&loopback, "127.0.0.1:80"), (&remote, "10.0.0.2:80")]
                    {
                        let mut settings = sysctls(reuse);
                        settings.tcp_timestamps = Some(timestamps);
                        let mut connect = to(destination);
                        connect.bind_zero = bind_zero;
                        verdicts.push(connect_verdict(&connect, &settings, sockets));
                    }
                }
            }
        }
        assert!(verdicts.iter().any(|v| v.advice.len() >= 4));
        for v in &verdicts {
            let text = text_of(v).to_lowercase();
            assert!(!text.contains("tw_recycle"), "{text}");
            assert!(!text.contains("fin_timeout"), "{text}");
        }
    }

    #[test]
    fn pressure_ranks_destinations_by_time_wait() {
        let mut sockets = time_waits("127.0.0.1", "127.0.0.1:80", 40000..=40005);
        sockets.extend(time_waits("127.0.0.1", "10.0.0.9:443", 40000..=40001));
        sockets.extend(time_waits(
            "::ffff:127.0.0.1",
            "[::ffff:10.0.0.9]:443",
            [40002],
        ));
        sockets.push(socket(
            TcpState::Established,
            "127.0.0.1:40006",
            "10.0.0.9:443",
        ));
        sockets.push(socket(
            TcpState::Established,
            "127.0.0.1:40007",
            "10.0.0.7:5432",
        ));
        sockets.push(listener("0.0.0.0:40008"));
        sockets.push(time_wait("127.0.0.1:39000", "127.0.0.1:80", OLD));
        let mut settings = ConnectSettings::from_sysctls(&sysctls(2));
        settings.reserved = ReservedPorts::parse("40009").unwrap();
        let p = pressure(&sockets, &settings);
        assert_eq!(
            (p.usable, p.reserved, p.used, p.free, p.held),
            (9, 1, 9, 0, 1)
        );
        let summary: Vec<(String, usize, usize, usize)> = p
            .destinations
            .iter()
            .map(|d| (d.remote.to_string(), d.ports, d.time_wait, d.live))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("127.0.0.1:80".to_string(), 6, 6, 0),
                ("10.0.0.9:443".to_string(), 4, 3, 1),
                ("10.0.0.7:5432".to_string(), 1, 0, 1),
            ]
        );
        assert!((p.destinations[0].share - 6.0 / 9.0).abs() < 1e-9);
    }
}
