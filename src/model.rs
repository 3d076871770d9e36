//! The one socket model every source produces and every output reads.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// TCP_TIMEWAIT_LEN, the 2MSL lifetime of every TIME_WAIT: no sysctl changes
/// it (tcp_fin_timeout is the orphaned FIN_WAIT2 lifetime, not this).
pub const TIME_WAIT_LEN_MS: u64 = 60_000;

/// Address family of a socket, as the kernel files it (a dual-stack socket
/// talking to an IPv4 peer is still `Ipv6`, with v4-mapped addresses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }

    pub fn unspecified(self) -> IpAddr {
        match self {
            Family::Ipv4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Family::Ipv6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        }
    }
}

/// The transport protocol of a socket. TCP and UDP ports are separate
/// spaces: a socket of one never blocks a bind of the other.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
}

impl Protocol {
    pub const ALL: [Protocol; 2] = [Protocol::Tcp, Protocol::Udp];

    /// UDP for TCP, TCP for UDP.
    pub fn other(self) -> Protocol {
        match self {
            Protocol::Tcp => Protocol::Udp,
            Protocol::Udp => Protocol::Tcp,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which protocols a reading covers (`--proto tcp|udp|all`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProtocolSet {
    tcp: bool,
    udp: bool,
}

impl ProtocolSet {
    pub const TCP: ProtocolSet = ProtocolSet {
        tcp: true,
        udp: false,
    };
    pub const UDP: ProtocolSet = ProtocolSet {
        tcp: false,
        udp: true,
    };
    pub const ALL: ProtocolSet = ProtocolSet {
        tcp: true,
        udp: true,
    };

    pub fn contains(self, protocol: Protocol) -> bool {
        match protocol {
            Protocol::Tcp => self.tcp,
            Protocol::Udp => self.udp,
        }
    }

    /// The protocols in the set, TCP first.
    pub fn iter(self) -> impl Iterator<Item = Protocol> {
        Protocol::ALL.into_iter().filter(move |p| self.contains(*p))
    }
}

impl From<Protocol> for ProtocolSet {
    fn from(protocol: Protocol) -> ProtocolSet {
        match protocol {
            Protocol::Tcp => ProtocolSet::TCP,
            Protocol::Udp => ProtocolSet::UDP,
        }
    }
}

/// TCP states with the kernel's numbering (include/net/tcp_states.h), plus
/// `Bound` for a bound-but-not-listening socket (sock_diag reports those as
/// CLOSE when asked for TCPF_BOUND_INACTIVE; they hold a port all the same).
///
/// UDP sockets use the same numbers and names (the kernel reuses TCP's state
/// field): `Close` (7) is an unconnected UDP socket (ss says UNCONN),
/// `Established` (1) a connected one; no other state occurs for UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TcpState {
    Established = 1,
    SynSent = 2,
    SynRecv = 3,
    FinWait1 = 4,
    FinWait2 = 5,
    TimeWait = 6,
    Close = 7,
    CloseWait = 8,
    LastAck = 9,
    Listen = 10,
    Closing = 11,
    NewSynRecv = 12,
    Bound = 13,
}

impl TcpState {
    pub const ALL: [TcpState; 13] = [
        TcpState::Established,
        TcpState::SynSent,
        TcpState::SynRecv,
        TcpState::FinWait1,
        TcpState::FinWait2,
        TcpState::TimeWait,
        TcpState::Close,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::Listen,
        TcpState::Closing,
        TcpState::NewSynRecv,
        TcpState::Bound,
    ];

    /// The state for a kernel state number (`st` in /proc/net/tcp,
    /// `idiag_state` in sock_diag). 13 is TCP_BOUND_INACTIVE.
    pub fn from_kernel(number: u8) -> Option<TcpState> {
        TcpState::ALL
            .get(usize::from(number).checked_sub(1)?)
            .copied()
    }

    /// The kernel's number, which is also this state's bit in a sock_diag
    /// state mask (`1 << number`).
    pub fn kernel_number(self) -> u8 {
        self as u8
    }

    /// The Linux name, as `ss` and /proc documentation spell it.
    pub fn name(self) -> &'static str {
        match self {
            TcpState::Established => "ESTABLISHED",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::FinWait1 => "FIN_WAIT1",
            TcpState::FinWait2 => "FIN_WAIT2",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::Listen => "LISTEN",
            TcpState::Closing => "CLOSING",
            TcpState::NewSynRecv => "NEW_SYN_RECV",
            TcpState::Bound => "BOUND",
        }
    }

    /// Parses a state name as a user types it: the Linux name in any case,
    /// with `-` or `_`, or ss's spellings (`time-wait`, `syn-recv`,
    /// `bound-inactive`, `close-wait`...).
    pub fn parse_user(text: &str) -> Option<TcpState> {
        let normal: String = text
            .trim()
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        match normal.as_str() {
            "BOUNDINACTIVE" | "UNCONN" => Some(TcpState::Bound),
            "SYNRECEIVED" => Some(TcpState::SynRecv),
            "CLOSED" => Some(TcpState::Close),
            "LISTENING" => Some(TcpState::Listen),
            "ESTAB" => Some(TcpState::Established),
            _ => TcpState::ALL
                .into_iter()
                .find(|state| state.name().replace('_', "") == normal),
        }
    }

    /// A time-wait mini-socket: TIME_WAIT, or an orphaned FIN_WAIT2 that the
    /// kernel keeps as a mini-socket with the time-wait timer (timer 3).
    pub fn is_time_wait_like(self, timer: Option<&Timer>) -> bool {
        self == TcpState::TimeWait
            || (self == TcpState::FinWait2 && timer.is_some_and(|t| t.kind == TimerKind::Timewait))
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of states, as a bit mask over the kernel's numbering; the same mask
/// sock_diag takes in `idiag_states`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StateSet(u32);

impl StateSet {
    pub const EMPTY: StateSet = StateSet(0);

    pub fn all() -> StateSet {
        TcpState::ALL.into_iter().collect()
    }

    pub fn contains(self, state: TcpState) -> bool {
        self.0 & (1 << state.kernel_number()) != 0
    }

    pub fn insert(&mut self, state: TcpState) {
        self.0 |= 1 << state.kernel_number();
    }

    pub fn remove(&mut self, state: TcpState) {
        self.0 &= !(1 << state.kernel_number());
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn bits(self) -> u32 {
        self.0
    }

    pub fn iter(self) -> impl Iterator<Item = TcpState> {
        TcpState::ALL.into_iter().filter(move |s| self.contains(*s))
    }
}

impl FromIterator<TcpState> for StateSet {
    fn from_iter<I: IntoIterator<Item = TcpState>>(iter: I) -> Self {
        let mut set = StateSet::EMPTY;
        for state in iter {
            set.insert(state);
        }
        set
    }
}

/// Which TCP timer is armed (`tr` in /proc/net/tcp, `idiag_timer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimerKind {
    Retransmit,
    Keepalive,
    Timewait,
    Probe,
}

impl TimerKind {
    /// `idiag_timer` / `tr` number: 1 retransmit, 2 keepalive, 3 time-wait,
    /// 4 zero-window probe (0 is "no timer"; /proc also prints 1 for the
    /// loss-probe and reorder timers).
    pub fn from_kernel(number: u8) -> Option<TimerKind> {
        match number {
            1 => Some(TimerKind::Retransmit),
            2 => Some(TimerKind::Keepalive),
            3 => Some(TimerKind::Timewait),
            4 => Some(TimerKind::Probe),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TimerKind::Retransmit => "retransmit",
            TimerKind::Keepalive => "keepalive",
            TimerKind::Timewait => "timewait",
            TimerKind::Probe => "probe",
        }
    }
}

/// An armed timer and its remaining time at the moment the table was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timer {
    pub kind: TimerKind,
    /// Remaining milliseconds when read (/proc has tick precision: 10 ms).
    pub expires_ms: u64,
    pub retransmits: u8,
}

/// A process that holds a socket's file descriptor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    /// /proc/PID/comm, untrusted: may hold any byte a process chose.
    pub comm: String,
    /// /proc/PID/cmdline with NULs turned into spaces, untrusted.
    pub cmdline: String,
    /// Parent pid and process group (/proc/PID/stat): who to stop when a
    /// socket is shared by a pre-fork server's workers. None when unread.
    pub ppid: Option<u32>,
    pub pgid: Option<u32>,
    /// The systemd service it runs in (/proc/PID/cgroup), untrusted text.
    pub unit: Option<String>,
    /// The container it runs in (/proc/PID/cgroup); None for a plain process
    /// or a cgroup layout no runtime is known to use.
    pub container: Option<Container>,
}

/// One TCP or UDP socket from any source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    pub protocol: Protocol,
    pub family: Family,
    pub state: TcpState,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// SO_BINDTODEVICE interface index; 0 when unbound (and always 0 from /proc).
    pub bound_device: u32,
    /// Always None for UDP, which has no timers.
    pub timer: Option<Timer>,
    pub rx_queue: u32,
    pub tx_queue: u32,
    pub uid: u32,
    /// 0 for time-wait mini-sockets and request sockets.
    pub inode: u64,
    /// The kernel's socket cookie (sock_diag only): what SOCK_DESTROY needs.
    pub cookie: Option<u64>,
    /// IPV6_V6ONLY as sock_diag reports it for LISTEN and bound AF_INET6 sockets;
    /// None where no source can tell.
    pub v6only: Option<bool>,
    pub processes: Vec<Process>,
}

impl Socket {
    /// True for TIME_WAIT and FIN_WAIT2 time-wait mini-sockets: sockets that
    /// hold a port until their timer fires, with no process behind them.
    pub fn is_time_wait_like(&self) -> bool {
        self.state.is_time_wait_like(self.timer.as_ref())
    }

    /// Remaining lifetime of a time-wait-like socket at reading time.
    pub fn time_wait_remaining_ms(&self) -> Option<u64> {
        self.timer
            .filter(|t| t.kind == TimerKind::Timewait)
            .map(|t| t.expires_ms)
    }
}

/// Where a table came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Netlink,
    Proc,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Netlink => "netlink",
            SourceKind::Proc => "proc",
        }
    }
}

/// What to read: the sources filter by these (the kernel, for netlink).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    /// Keep only sockets whose local port is this.
    pub port: Option<u16>,
    /// With `port`: also keep the time-wait-like sockets whose *peer* port is
    /// `port`, the TIME_WAITs that clients which closed first left on their
    /// own ephemeral ports. They do not hold the port, but they tell which
    /// side closed first.
    pub peer_time_waits: bool,
    /// Keep only these states; `StateSet::all()` for everything.
    pub states: StateSet,
}

impl Query {
    pub fn everything() -> Query {
        Query {
            port: None,
            peer_time_waits: false,
            states: StateSet::all(),
        }
    }

    /// Every socket on `port`, in every state, and the peer-side TIME_WAITs:
    /// everything a diagnosis of a bind on `port` looks at.
    pub fn port_with_evidence(port: u16) -> Query {
        Query {
            port: Some(port),
            peer_time_waits: true,
            states: StateSet::all(),
        }
    }

    pub fn matches(&self, socket: &Socket) -> bool {
        let on_port = match self.port {
            None => true,
            Some(port) => {
                socket.local.port() == port
                    || (self.peer_time_waits
                        && socket.remote.port() == port
                        && socket.is_time_wait_like())
            }
        };
        on_port && self.states.contains(socket.state)
    }
}

/// A table as read: its sockets and what could not be seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketTable {
    pub source: SourceKind,
    pub sockets: Vec<Socket>,
    /// Rows of a /proc file that could not be parsed and were left out.
    pub skipped_rows: usize,
    /// Sockets with an inode whose owning process could not be seen
    /// (unreadable /proc/PID/fd, or the process exited mid-scan).
    pub owners_unseen: usize,
}

/// The network namespace's settings, as the reading thread sees them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelContext {
    /// net.ipv4.tcp_tw_reuse: 0, 1, or 2 (loopback only). Affects connect() only.
    pub tcp_tw_reuse: Option<u8>,
    /// net.ipv4.tcp_max_tw_buckets: past it, no TIME_WAIT is created.
    pub tcp_max_tw_buckets: Option<u64>,
    /// TIME_WAIT sockets in the namespace now (`tw` in /proc/net/sockstat).
    pub time_wait_count: Option<u64>,
    /// net.ipv4.tcp_fin_timeout in seconds: the orphaned FIN_WAIT2 lifetime only.
    pub tcp_fin_timeout: Option<u32>,
    /// net.ipv4.ip_local_port_range: the ephemeral ports connect() picks from.
    pub ip_local_port_range: Option<(u16, u16)>,
    /// net.ipv6.bindv6only: the IPV6_V6ONLY default of new AF_INET6 sockets.
    pub bindv6only: Option<bool>,
    /// net.ipv4.ip_unprivileged_port_start.
    pub ip_unprivileged_port_start: Option<u32>,
}

impl KernelContext {
    /// IPV6_V6ONLY for a bind that does not say: net.ipv6.bindv6only, else off.
    pub fn default_v6only(&self) -> bool {
        self.bindv6only.unwrap_or(false)
    }
}

/// net.ipv4.tcp_tw_reuse: when connect() may take over a TIME_WAIT with its
/// own four-tuple. It never affects bind().
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwReuse {
    /// 0: never.
    Off,
    /// 1: for any connection.
    On,
    /// 2 (the default since 4.x): only when an end of the TIME_WAIT is a
    /// loopback address or it is bound to `lo`.
    LoopbackOnly,
}

impl TwReuse {
    /// The sysctl's value (0, 1, 2); None for anything else.
    pub fn from_sysctl(value: u8) -> Option<TwReuse> {
        match value {
            0 => Some(TwReuse::Off),
            1 => Some(TwReuse::On),
            2 => Some(TwReuse::LoopbackOnly),
            _ => None,
        }
    }

    pub fn sysctl_value(self) -> u8 {
        match self {
            TwReuse::Off => 0,
            TwReuse::On => 1,
            TwReuse::LoopbackOnly => 2,
        }
    }
}

/// net.ipv4.ip_local_reserved_ports: ports that automatic port choice
/// (connect(), bind() to port 0) skips; an explicit bind() may still use them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReservedPorts {
    /// Inclusive (first, last) runs, as the file lists them.
    pub runs: Vec<(u16, u16)>,
}

impl ReservedPorts {
    /// Parses the file's "a-b,c" list (empty: none reserved); None when garbled.
    pub fn parse(text: &str) -> Option<ReservedPorts> {
        let text = text.trim();
        if text.is_empty() {
            return Some(ReservedPorts::default());
        }
        let runs = text
            .split(',')
            .map(|item| {
                let item = item.trim();
                match item.split_once('-') {
                    Some((first, last)) => {
                        let first: u16 = first.trim().parse().ok()?;
                        let last: u16 = last.trim().parse().ok()?;
                        (first <= last).then_some((first, last))
                    }
                    None => item.parse().ok().map(|port| (port, port)),
                }
            })
            .collect::<Option<Vec<_>>>()?;
        Some(ReservedPorts { runs })
    }

    pub fn contains(&self, port: u16) -> bool {
        self.runs
            .iter()
            .any(|&(first, last)| (first..=last).contains(&port))
    }
}

/// What decides whether a connect() (or a bind() to port 0) gets a local
/// port, read in the connecting socket's network namespace. Each value is
/// optional: a missing or garbled file gives None (the rules then assume the
/// kernel's default and say so).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectSysctls {
    /// net.ipv4.ip_local_port_range (also used by IPv6).
    pub ip_local_port_range: Option<(u16, u16)>,
    /// net.ipv4.ip_local_reserved_ports.
    pub ip_local_reserved_ports: Option<ReservedPorts>,
    /// net.ipv4.tcp_tw_reuse (also used by IPv6).
    pub tcp_tw_reuse: Option<TwReuse>,
    /// net.ipv4.tcp_tw_reuse_delay in ms; None on kernels before 6.14, which
    /// have a fixed delay of one second.
    pub tcp_tw_reuse_delay_ms: Option<u32>,
    /// net.ipv4.ip_autobind_reuse: bind() to port 0 may, once no port is
    /// free, share one with SO_REUSEADDR sockets when the binder set it too.
    pub ip_autobind_reuse: Option<bool>,
    /// net.ipv4.tcp_timestamps: 0 off; 1 and 2 offer timestamps.
    pub tcp_timestamps: Option<u8>,
}

/// A network namespace as the outputs name it: its inode (N in `net:[N]`,
/// what `ls -l /proc/PID/ns/net` shows) and its /run/netns name, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceId {
    pub inode: u64,
    pub name: Option<String>,
}

/// The container runtime whose naming a cgroup path follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Runtime {
    Docker,
    Containerd,
    CriO,
    Podman,
    Nspawn,
}

impl Runtime {
    /// The name JSON uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Containerd => "containerd",
            Runtime::CriO => "cri-o",
            Runtime::Podman => "podman",
            Runtime::Nspawn => "nspawn",
        }
    }
}

/// A container a process runs in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Container {
    pub runtime: Runtime,
    /// 64 hex digits, or the machine name for nspawn.
    pub id: String,
    /// The Kubernetes pod's uid (with dashes), when the container is in a pod.
    pub pod_uid: Option<String>,
}

impl Container {
    /// The id as `docker ps` shows it: 12 characters of a hex id; a name whole.
    pub fn short_id(&self) -> &str {
        if is_container_id(&self.id) {
            &self.id[..12]
        } else {
            &self.id
        }
    }
}

/// Who a process is, beyond its pid: its container and its systemd unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Workload {
    /// The last `<name>.service` in its cgroup path.
    pub unit: Option<String>,
    pub container: Option<Container>,
}

/// 64 lowercase hex digits: a container id as docker, containerd, CRI-O and
/// podman write it.
pub fn is_container_id(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Counts by state, in the kernel's state order.
pub fn counts_by_state(sockets: &[Socket]) -> Vec<(TcpState, usize)> {
    let mut counts = [0usize; TcpState::ALL.len()];
    for socket in sockets {
        counts[usize::from(socket.state.kernel_number()) - 1] += 1;
    }
    TcpState::ALL
        .into_iter()
        .zip(counts)
        .filter(|(_, n)| *n > 0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_numbers_round_trip() {
        for state in TcpState::ALL {
            assert_eq!(TcpState::from_kernel(state.kernel_number()), Some(state));
        }
        assert_eq!(TcpState::from_kernel(0), None);
        assert_eq!(TcpState::from_kernel(14), None);
    }

    #[test]
    fn user_state_names() {
        assert_eq!(TcpState::parse_user("time-wait"), Some(TcpState::TimeWait));
        assert_eq!(TcpState::parse_user("TIME_WAIT"), Some(TcpState::TimeWait));
        assert_eq!(TcpState::parse_user("syn-recv"), Some(TcpState::SynRecv));
        assert_eq!(TcpState::parse_user("estab"), Some(TcpState::Established));
        assert_eq!(
            TcpState::parse_user("bound-inactive"),
            Some(TcpState::Bound)
        );
        assert_eq!(
            TcpState::parse_user("new-syn-recv"),
            Some(TcpState::NewSynRecv)
        );
        assert_eq!(TcpState::parse_user("close"), Some(TcpState::Close));
        assert_eq!(TcpState::parse_user("closing"), Some(TcpState::Closing));
        assert_eq!(TcpState::parse_user("fin-wait-2"), Some(TcpState::FinWait2));
        assert_eq!(TcpState::parse_user("nonsense"), None);
    }

    #[test]
    fn fin_wait2_with_timewait_timer_is_time_wait_like() {
        let tw_timer = Timer {
            kind: TimerKind::Timewait,
            expires_ms: 1000,
            retransmits: 0,
        };
        assert!(TcpState::FinWait2.is_time_wait_like(Some(&tw_timer)));
        assert!(!TcpState::FinWait2.is_time_wait_like(None));
        assert!(TcpState::TimeWait.is_time_wait_like(None));
        assert!(!TcpState::Listen.is_time_wait_like(Some(&tw_timer)));
    }

    #[test]
    fn protocol_sets() {
        assert_eq!(ProtocolSet::ALL.iter().collect::<Vec<_>>(), Protocol::ALL);
        assert_eq!(ProtocolSet::UDP.iter().collect::<Vec<_>>(), [Protocol::Udp]);
        assert_eq!(ProtocolSet::from(Protocol::Tcp), ProtocolSet::TCP);
        assert!(!ProtocolSet::TCP.contains(Protocol::Udp));
        assert_eq!(Protocol::Udp.to_string(), "udp");
        assert_eq!(Protocol::Tcp.as_str(), "tcp");
    }

    #[test]
    fn state_set_bits_follow_kernel_numbers() {
        let set: StateSet = [TcpState::TimeWait, TcpState::FinWait2]
            .into_iter()
            .collect();
        assert_eq!(set.bits(), (1 << 6) | (1 << 5));
        assert!(set.contains(TcpState::TimeWait));
        assert!(!set.contains(TcpState::Listen));
        assert_eq!(StateSet::all().iter().count(), 13);
    }
}
