//! The port session: the one place that decides, for every face (the report,
//! `--wait`, `--free`, the dashboard), what to read for a question, how the
//! intended bind is built from the user's words, how a reading is diagnosed,
//! whether the port frees by itself, and what may be destroyed. Faces call
//! it and render what it returns; none of them holds a policy of its own, so
//! two faces asked the same question give the same answer.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::diagnosis::connect::{
    connect_verdict, pressure, ConnectSettings, ConnectVerdict, IntendedConnect, PortPressure,
};
use crate::diagnosis::probe::{
    captured_rule_context, probe, probe_bind_zero, probes_after, rule_context, run_probes,
    source_address_for, ProbeKind,
};
use crate::diagnosis::{diagnose, IntendedBind, Probe, RuleContext, Verdict};
use crate::errno::Errno;
use crate::model::{
    ConnectSysctls, Container, KernelContext, NamespaceId, Protocol, ProtocolSet, Query, Socket,
    SocketTable, SourceKind, StateSet, TcpState,
};
use crate::source::cgroup::read_workload;
use crate::source::netlink::{destroy, DestroyError};
use crate::source::netns::{all_namespaces, Netns, NetnsError};
use crate::source::{self, owners, sysctl, ReadRequest, SourceChoice, SourceNote};
use crate::{Error, Result};

/// How much of this host a diagnosis may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostAccess {
    /// The table is this host's: its sysctls and devices apply; probe when true.
    Live { probing: bool },
    /// Captured files describe another host: rules only, no local facts.
    Captured,
}

/// The bind a server makes, in the user's words: what `--addr`, `--reuseaddr`,
/// `--reuseport`, `--v6only` and `--dev` say (the dashboard edits these too).
/// [`Session::intended_bind`] completes it with the kernel's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BindOptions {
    /// TCP (the default) or UDP.
    pub protocol: Protocol,
    /// None: the IPv4 wildcard, as a server that binds INADDR_ANY.
    pub addr: Option<IpAddr>,
    pub reuseaddr: bool,
    pub reuseport: bool,
    /// IPV6_V6ONLY set explicitly; when false, net.ipv6.bindv6only decides.
    pub v6only: bool,
    pub device: Option<String>,
    /// The uid the server binds as (`--uid`); None: this process's.
    pub uid: Option<u32>,
}

/// A port and the options of the bind made on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindSpec {
    pub port: u16,
    pub options: BindOptions,
}

impl BindSpec {
    /// The bind the user's server intends: the one place the user's words
    /// meet the kernel's defaults (IPV6_V6ONLY follows net.ipv6.bindv6only
    /// when not given).
    pub fn resolve(&self, kernel: &KernelContext) -> IntendedBind {
        let options = &self.options;
        let addr = options.addr.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        IntendedBind {
            protocol: options.protocol,
            addr,
            port: self.port,
            reuseaddr: options.reuseaddr,
            reuseport: options.reuseport,
            v6only: addr.is_ipv6() && (options.v6only || kernel.default_v6only()),
            device: options.device.clone(),
            uid: options.uid,
        }
    }
}

/// Where readings come from and what they may do.
#[derive(Debug, Clone)]
pub struct Session {
    choice: SourceChoice,
    /// Files captured on another host (`--proc-root`).
    captured: Option<PathBuf>,
    access: HostAccess,
    /// The network namespace every socket of the session is made in: the
    /// sock_diag socket, the probe binds, SOCK_DESTROY, and the sysctls read
    /// (a socket's namespace is fixed when it is created). None: the
    /// caller's own.
    netns: Option<Arc<Netns>>,
}

pub use crate::source::Reading;

/// The answer to "can this bind be made now", with what it was judged on.
#[derive(Debug, Clone)]
pub struct PortCheck {
    /// The sockets on the port (every state, with owners). Peer-side
    /// TIME_WAITs read as evidence are in the verdict's explanation only.
    pub table: SocketTable,
    pub kernel: KernelContext,
    pub verdict: Verdict,
    /// The context the rules ran with: the dashboard judges single sockets
    /// with it, so it never builds one of its own.
    pub rule_context: RuleContext,
    pub fallback_warning: Option<String>,
    /// What the source could not see (a missing IPv6 table).
    pub notes: Vec<SourceNote>,
    /// When the table was read: timers count down from here.
    pub read_at: Instant,
}

/// The answer to "will the next connect() to this destination get a local
/// port", with the local port range's use by destination.
#[derive(Debug)]
pub struct ConnectCheck {
    pub verdict: ConnectVerdict,
    pub pressure: PortPressure,
    /// The harmless half of a bind(0) client, when it is one and probing is
    /// allowed: the port the kernel picked, or why it refused.
    pub bind_zero_probe: Option<Result<u16, Errno>>,
    pub source: SourceKind,
    pub fallback_warning: Option<String>,
}

/// One reading of the whole table for the dashboard, and the check of the
/// chosen bind judged on exactly that table.
#[derive(Debug)]
pub struct TableCheck {
    pub table: SocketTable,
    pub kernel: KernelContext,
    /// The verdict and its rule context; None when no port is chosen.
    pub verdict: Option<(Verdict, RuleContext)>,
    pub read_at: Instant,
}

impl Session {
    /// A session that reads `choice` (or `captured` files, which imply
    /// /proc and no probes) and probes this host when `probing`.
    pub fn new(choice: SourceChoice, captured: Option<PathBuf>, probing: bool) -> Session {
        let access = if captured.is_some() {
            // Captured files describe another host: probing this one would lie.
            HostAccess::Captured
        } else {
            HostAccess::Live { probing }
        };
        let choice = if captured.is_some() {
            SourceChoice::Proc
        } else {
            choice
        };
        Session {
            choice,
            captured,
            access,
            netns: None,
        }
    }

    /// The same session, working inside `netns`.
    pub fn in_namespace(self, netns: Netns) -> Session {
        Session {
            netns: Some(Arc::new(netns)),
            ..self
        }
    }

    /// Which namespace the session reads, for the outputs: None for files
    /// captured on another host.
    pub fn namespace(&self) -> Option<NamespaceId> {
        if self.captured.is_some() {
            return None;
        }
        let id = |netns: &Netns| NamespaceId {
            inode: netns.inode(),
            name: netns.name().map(str::to_string),
        };
        match &self.netns {
            Some(netns) => Some(id(netns)),
            None => Netns::current().ok().map(|netns| id(&netns)),
        }
    }

    /// Runs `f` where the session's sockets must be made: on a thread in
    /// its namespace, or right here.
    fn inside<T: Send>(&self, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
        match &self.netns {
            None => f(),
            Some(netns) => netns.run(f).map_err(namespace_error)?,
        }
    }

    pub fn access(&self) -> HostAccess {
        self.access
    }

    pub fn choice(&self) -> SourceChoice {
        self.choice
    }

    pub fn captured(&self) -> Option<&std::path::Path> {
        self.captured.as_deref()
    }

    /// The same session, reading `choice` from now on (the dashboard pins the
    /// source that answered its first reading).
    pub fn with_choice(&self, choice: SourceChoice) -> Session {
        Session {
            choice,
            ..self.clone()
        }
    }

    /// The kernel settings that matter: the namespace's (read from inside
    /// it: net.* sysctls differ per namespace), or none for captured files.
    pub fn kernel_context(&self) -> Result<KernelContext> {
        self.inside(|| Ok(self.kernel_context_here()))
    }

    fn kernel_context_here(&self) -> KernelContext {
        match self.access {
            HostAccess::Live { .. } => sysctl::read(),
            HostAccess::Captured => KernelContext::default(),
        }
    }

    /// The bind the user's server intends; see [`BindSpec::resolve`].
    pub fn intended_bind(&self, spec: &BindSpec, kernel: &KernelContext) -> IntendedBind {
        spec.resolve(kernel)
    }

    /// Reads what `query` asks for, of `protocols`, with owners when wanted
    /// and this host's /proc is the source.
    pub fn read(&self, query: Query, protocols: ProtocolSet, owners: bool) -> Result<Reading> {
        self.inside(|| self.read_here(query, protocols, owners))
    }

    fn read_here(&self, query: Query, protocols: ProtocolSet, owners: bool) -> Result<Reading> {
        source::read_table(&ReadRequest {
            choice: self.choice,
            captured: self.captured.as_deref(),
            query,
            protocols,
            owners: owners && self.captured.is_none(),
        })
    }

    /// The listing: sockets of `protocols` in `states` (all ports), with owners.
    pub fn listing(&self, states: StateSet, protocols: ProtocolSet) -> Result<Reading> {
        self.read(
            Query {
                states,
                ..Query::everything()
            },
            protocols,
            true,
        )
    }

    /// Reads the port (one filtered walk that also brings the peer-side
    /// TIME_WAITs) and judges the bind on it, probing when allowed.
    pub fn check_port(&self, spec: &BindSpec) -> Result<PortCheck> {
        let mut reading = self.read_port(spec)?;
        if self.captured.is_none() {
            attach_owners(std::slice::from_mut(&mut reading.table));
        }
        self.judge_port(reading, spec)
    }

    /// The port's sockets and the peer-side evidence, without owners.
    fn read_port(&self, spec: &BindSpec) -> Result<PortReading> {
        self.inside(|| {
            let kernel = self.kernel_context_here();
            let mut query = Query::port_with_evidence(spec.port);
            let intended = self.probe_intended(&spec.resolve(&kernel));
            if intended
                .as_ref()
                .is_some_and(bound_only_sockets_cannot_matter)
            {
                // Bound-only sockets cost the kernel a walk of its whole bind
                // hash (every TIME_WAIT of the host), whatever the port filter.
                query.states = query
                    .states
                    .iter()
                    .filter(|state| *state != TcpState::Bound)
                    .collect();
            }
            let protocol = spec.options.protocol;
            let mut reading = self.read_here(query, protocol.into(), false)?;
            // The other protocol too, where it can be read from the same
            // source: the report says when it uses the port (it never
            // blocks, but it may be why the user looked).
            if let Ok(other) = self.read_here(query, protocol.other().into(), false) {
                if other.table.source == reading.table.source {
                    reading.table.sockets.extend(other.table.sockets);
                }
            }
            let read_at = Instant::now();
            let (table, evidence) = split_evidence(reading.table, spec.port);
            Ok(PortReading {
                table,
                evidence,
                intended,
                kernel,
                fallback_warning: reading.fallback_warning,
                notes: reading.notes,
                read_at,
            })
        })
    }

    /// The probe of the intended bind, made first (before the table is
    /// read) when probing is allowed: its answer decides what to read.
    fn probe_intended(&self, bind: &IntendedBind) -> Option<Probe> {
        (self.access == HostAccess::Live { probing: true })
            .then(|| probe(bind, ProbeKind::Intended))
    }

    /// The verdict on a port reading (owners attached), in the namespace.
    fn judge_port(&self, reading: PortReading, spec: &BindSpec) -> Result<PortCheck> {
        let PortReading {
            table,
            evidence,
            intended,
            kernel,
            fallback_warning,
            notes,
            read_at,
        } = reading;
        let bind = self.intended_bind(spec, &kernel);
        let (verdict, rule_context) =
            self.inside(|| Ok(self.judge(&table, &evidence, &bind, &kernel, intended)))?;
        Ok(PortCheck {
            table,
            kernel,
            verdict,
            rule_context,
            fallback_warning,
            notes,
            read_at,
        })
    }

    /// Will the next connect() to `connect.remote` get a local port: the
    /// rules on the namespace's TCP table and its sysctls, read inside it.
    /// The local address is the client's (`connect.local`) or the one
    /// routing picks. Never a probe connect(): that would send a SYN to
    /// someone's host; a bind(0) client's bind is probed (harmless).
    pub fn check_connect(&self, connect: &IntendedConnect) -> Result<ConnectCheck> {
        self.inside(|| {
            let mut connect = connect.clone();
            if connect.local.is_none() && self.captured.is_none() {
                connect.local = source_address_for(connect.remote).ok();
            }
            let (reading, sysctls) = self.read_ephemeral_here()?;
            let verdict = connect_verdict(&connect, &sysctls, &reading.table.sockets);
            let pressure = pressure(
                &reading.table.sockets,
                &ConnectSettings::from_sysctls(&sysctls),
            );
            let probing = self.access == HostAccess::Live { probing: true };
            let bind_zero_probe = (probing && connect.bind_zero && !connect.no_port)
                .then(|| probe_bind_zero(&connect));
            Ok(ConnectCheck {
                verdict,
                pressure,
                bind_zero_probe,
                source: reading.table.source,
                fallback_warning: reading.fallback_warning,
            })
        })
    }

    /// The local port range's use by destination ("which backend is eating
    /// my ports"), with the sysctls read in the namespace.
    pub fn port_pressure(&self) -> Result<(PortPressure, Reading)> {
        self.inside(|| {
            let (reading, sysctls) = self.read_ephemeral_here()?;
            let pressure = pressure(
                &reading.table.sockets,
                &ConnectSettings::from_sysctls(&sysctls),
            );
            Ok((pressure, reading))
        })
    }

    /// The TCP table and what connect() depends on, read here.
    fn read_ephemeral_here(&self) -> Result<(Reading, ConnectSysctls)> {
        let sysctls = match self.access {
            HostAccess::Live { .. } => sysctl::read_connect(),
            HostAccess::Captured => ConnectSysctls::default(),
        };
        let reading = self.read_here(Query::everything(), ProtocolSet::TCP, false)?;
        Ok((reading, sysctls))
    }

    /// `check_port` in every network namespace of the host that has a
    /// socket on the port: one filtered walk per namespace, one owner scan
    /// for all of them, probes in each namespace that needs a verdict.
    pub fn check_port_everywhere(&self, spec: &BindSpec) -> Result<Survey<PortCheck>> {
        let (entries, mut warnings) = self.every_namespace()?;
        let mut found = Vec::new();
        for (entry, session) in entries {
            match session.read_port(spec) {
                Ok(reading) if !reading.table.sockets.is_empty() => {
                    found.push((entry, session, reading))
                }
                Ok(_) => {}
                Err(error) => warnings.push(format!("net:[{}]: {error}", entry.id.inode)),
            }
        }
        let mut tables: Vec<SocketTable> = found
            .iter_mut()
            .map(|(_, _, reading)| take_table(&mut reading.table))
            .collect();
        attach_owners(&mut tables);
        let mut answers = Vec::with_capacity(found.len());
        for ((entry, session, mut reading), table) in found.into_iter().zip(tables) {
            reading.table = table;
            match session.judge_port(reading, spec) {
                Ok(check) => answers.push((entry, check)),
                Err(error) => warnings.push(format!("net:[{}]: {error}", entry.id.inode)),
            }
        }
        Ok(Survey { answers, warnings })
    }

    /// The listing of every network namespace on the host (with owners, one
    /// scan for all).
    pub fn listing_everywhere(
        &self,
        states: StateSet,
        protocols: ProtocolSet,
    ) -> Result<Survey<Reading>> {
        let (entries, mut warnings) = self.every_namespace()?;
        let query = Query {
            states,
            ..Query::everything()
        };
        let mut answers = Vec::new();
        for (entry, session) in entries {
            match session.read(query, protocols, false) {
                Ok(reading) => answers.push((entry, reading)),
                Err(error) => warnings.push(format!("net:[{}]: {error}", entry.id.inode)),
            }
        }
        let mut tables: Vec<SocketTable> = answers
            .iter_mut()
            .map(|(_, reading)| take_table(&mut reading.table))
            .collect();
        attach_owners(&mut tables);
        for ((_, reading), table) in answers.iter_mut().zip(tables) {
            reading.table = table;
        }
        Ok(Survey { answers, warnings })
    }

    /// Every network namespace on the host, each opened for a session like
    /// this one; the ones that vanish or cannot be opened are warnings.
    fn every_namespace(&self) -> Result<(Vec<NamespaceSession>, Vec<String>)> {
        let scan = all_namespaces().map_err(namespace_error)?;
        let mut warnings = Vec::new();
        let mut sessions = Vec::with_capacity(scan.namespaces.len());
        for info in scan.namespaces {
            match info.open() {
                Ok(netns) => {
                    let entry = NamespaceEntry {
                        id: NamespaceId {
                            inode: info.inode,
                            name: info.name.clone(),
                        },
                        container: info
                            .pids
                            .iter()
                            .find_map(|pid| read_workload(*pid).ok()?.container),
                        pids: info.pids,
                    };
                    sessions.push((entry, self.clone().in_namespace(netns)));
                }
                Err(error) => warnings.push(error.to_string()),
            }
        }
        Ok((sessions, warnings))
    }

    /// Reads the whole table (with owners) and, when a port is chosen, judges
    /// its bind on that same table with the same evidence
    /// [`Session::check_port`] reads from the kernel.
    pub fn check_table(
        &self,
        spec: Option<&BindSpec>,
        protocols: ProtocolSet,
    ) -> Result<TableCheck> {
        self.inside(|| self.check_table_here(spec, protocols))
    }

    fn check_table_here(
        &self,
        spec: Option<&BindSpec>,
        protocols: ProtocolSet,
    ) -> Result<TableCheck> {
        let kernel = self.kernel_context_here();
        let reading = self.read_here(Query::everything(), protocols, true)?;
        let read_at = Instant::now();
        let verdict = spec.map(|spec| {
            let query = Query::port_with_evidence(spec.port);
            let (on_port, evidence): (Vec<Socket>, Vec<Socket>) = reading
                .table
                .sockets
                .iter()
                .filter(|socket| query.matches(socket))
                .cloned()
                .partition(|socket| socket.local.port() == spec.port);
            let table = SocketTable {
                sockets: on_port,
                ..empty_like(&reading.table)
            };
            let bind = self.intended_bind(spec, &kernel);
            self.judge(&table, &evidence, &bind, &kernel, None)
        });
        Ok(TableCheck {
            table: reading.table,
            kernel,
            verdict,
            read_at,
        })
    }

    /// The verdict for `bind` on the port's sockets plus the peer-side
    /// evidence, probing this namespace when the host allows it.
    fn judge(
        &self,
        table: &SocketTable,
        evidence: &[Socket],
        bind: &IntendedBind,
        kernel: &KernelContext,
        intended: Option<Probe>,
    ) -> (Verdict, RuleContext) {
        let ctx = match self.access {
            HostAccess::Live { .. } => rule_context(bind, kernel, table.source),
            HostAccess::Captured => captured_rule_context(table.source),
        };
        // The port's sockets and the peer-side evidence in one slice; copied
        // only when there is evidence (a port held by 100k sockets has none).
        let combined;
        let sockets: &[Socket] = if evidence.is_empty() {
            &table.sockets
        } else {
            combined = [table.sockets.as_slice(), evidence].concat();
            &combined
        };
        // The intended bind's probe from before the reading, when one was
        // made for this very bind; the counterfactuals its answer calls for.
        let probes = match (self.access, intended) {
            (HostAccess::Live { probing: true }, Some(intended)) if intended.bind == *bind => {
                probes_after(intended, sockets)
            }
            (HostAccess::Live { probing: true }, _) => run_probes(bind, sockets),
            _ => Vec::new(),
        };
        (diagnose(sockets, bind, &ctx, kernel, &probes), ctx)
    }

    /// Destroys one socket (SOCK_DESTROY by its cookie), from inside the
    /// session's namespace.
    pub fn destroy(&self, socket: &Socket) -> Result<(), DestroyError> {
        match &self.netns {
            None => destroy(socket),
            Some(netns) => netns
                .run(|| destroy(socket))
                .unwrap_or_else(|error| Err(DestroyError::Other(error.to_string()))),
        }
    }

    /// Frees a port: destroys `sockets`, where one that expired since the
    /// reading is not an error. Returns the sockets destroyed.
    pub fn destroy_all<'s>(
        &self,
        sockets: impl IntoIterator<Item = &'s Socket>,
    ) -> Result<Vec<Socket>, DestroyError> {
        let mut destroyed = Vec::new();
        for socket in sockets {
            match self.destroy(socket) {
                Ok(()) => destroyed.push(socket.clone()),
                // Expired between the read and now: the goal is reached all the same.
                Err(DestroyError::NotFound) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(destroyed)
    }
}

/// A network namespace found on the host, as the outputs name it: its
/// inode and name, the processes in it, and the container they belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceEntry {
    pub id: NamespaceId,
    /// Processes whose main thread is in it, ascending.
    pub pids: Vec<u32>,
    /// The container of its processes: the lowest pid's that has one (a
    /// pod's containers share one namespace; its pause container starts
    /// first). None for the host's own and plain `ip netns` namespaces.
    pub container: Option<Container>,
}

/// One question asked in every namespace on the host.
#[derive(Debug)]
pub struct Survey<T> {
    /// The namespaces that answered, ascending by inode, with their answer.
    pub answers: Vec<(NamespaceEntry, T)>,
    /// Namespaces that could not be read (gone mid-scan, not enterable):
    /// one line each, the rest is reported.
    pub warnings: Vec<String>,
}

/// A namespace found on the host and a session working inside it.
type NamespaceSession = (NamespaceEntry, Session);

/// True when the kernel has just accepted the intended bind made without
/// SO_REUSEADDR and SO_REUSEPORT: then no bound-only socket overlaps it (one
/// would have conflicted), and none can make its listen() fail (that takes
/// SO_REUSEADDR), so reading them would change no verdict. Without a probe
/// (rules alone, captured files) they are always read.
fn bound_only_sockets_cannot_matter(intended: &Probe) -> bool {
    intended.ok && !intended.bind.reuseaddr && !intended.bind.reuseport
}

/// A port read but not yet judged.
struct PortReading {
    table: SocketTable,
    evidence: Vec<Socket>,
    /// The intended bind's probe, made before the reading.
    intended: Option<Probe>,
    kernel: KernelContext,
    fallback_warning: Option<String>,
    notes: Vec<SourceNote>,
    read_at: Instant,
}

/// Owners from one pass over this host's /proc for every table at once
/// (socket inodes are unique across namespaces; processes are the host's).
fn attach_owners(tables: &mut [SocketTable]) {
    let lengths: Vec<usize> = tables.iter().map(|t| t.sockets.len()).collect();
    let mut sockets: Vec<Socket> = tables
        .iter_mut()
        .flat_map(|table| std::mem::take(&mut table.sockets))
        .collect();
    owners::attach_owners(&mut sockets, Path::new(source::HOST_PROC));
    let mut rest = sockets.into_iter();
    for (table, length) in tables.iter_mut().zip(lengths) {
        table.sockets = rest.by_ref().take(length).collect();
        table.owners_unseen = table
            .sockets
            .iter()
            .filter(|s| s.inode != 0 && s.processes.is_empty())
            .count();
    }
}

fn namespace_error(error: NetnsError) -> Error {
    Error::Namespace(error.to_string())
}

/// Splits a port reading into the sockets on the port and the peer-side
/// time-wait evidence (sockets whose peer is the port).
fn split_evidence(table: SocketTable, port: u16) -> (SocketTable, Vec<Socket>) {
    let (on_port, evidence): (Vec<Socket>, Vec<Socket>) = table
        .sockets
        .into_iter()
        .partition(|socket| socket.local.port() == port);
    (
        SocketTable {
            sockets: on_port,
            ..table
        },
        evidence,
    )
}

/// Moves a table's sockets out, leaving its facts behind.
fn take_table(table: &mut SocketTable) -> SocketTable {
    let empty = empty_like(table);
    std::mem::replace(table, empty)
}

fn empty_like(table: &SocketTable) -> SocketTable {
    SocketTable {
        sockets: Vec::new(),
        source: table.source,
        skipped_rows: table.skipped_rows,
        owners_unseen: table.owners_unseen,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SourceKind;

    fn spec(addr: &str, v6only: bool) -> BindSpec {
        BindSpec {
            port: 8080,
            options: BindOptions {
                addr: Some(addr.parse().unwrap()),
                v6only,
                ..BindOptions::default()
            },
        }
    }

    #[test]
    fn bindv6only_decides_an_ipv6_bind_that_does_not_say() {
        let session = Session::new(SourceChoice::Auto, None, false);
        let on = KernelContext {
            bindv6only: Some(true),
            ..KernelContext::default()
        };
        let off = KernelContext::default();
        assert!(session.intended_bind(&spec("::", false), &on).v6only);
        assert!(!session.intended_bind(&spec("::", false), &off).v6only);
        assert!(session.intended_bind(&spec("::", true), &off).v6only);
        // IPv4 binds never carry it.
        assert!(!session.intended_bind(&spec("0.0.0.0", true), &on).v6only);
        let wildcard = BindSpec {
            port: 1,
            options: BindOptions::default(),
        };
        assert_eq!(
            session.intended_bind(&wildcard, &on).addr,
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        );
    }

    #[test]
    fn captured_files_mean_proc_and_no_probes() {
        let session = Session::new(SourceChoice::Netlink, Some("/x".into()), true);
        assert_eq!(session.choice(), SourceChoice::Proc);
        assert_eq!(session.access(), HostAccess::Captured);
        assert_eq!(session.kernel_context().unwrap(), KernelContext::default());
    }

    #[test]
    fn evidence_is_split_from_the_port() {
        let on_port = crate::testing::listener("127.0.0.1:8080");
        let peer = crate::testing::time_wait("127.0.0.1:40001", "127.0.0.1:8080", 1000);
        let table = SocketTable {
            sockets: vec![on_port.clone(), peer.clone()],
            source: SourceKind::Netlink,
            skipped_rows: 0,
            owners_unseen: 0,
        };
        let (table, evidence) = split_evidence(table, 8080);
        assert_eq!(table.sockets, vec![on_port]);
        assert_eq!(evidence, vec![peer]);
    }
}
