//! A bind on one port: the reading (one filtered walk, the peer side
//! included), the probe that decides what to read, and the verdict.

use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::survey::attach_owners;
use super::{HostAccess, Session};
use crate::diagnosis::probe::{
    captured_rule_context, held_addresses, probe, probes_after, rule_context, ProbeKind,
};
use crate::diagnosis::{diagnose, IntendedBind, Probe, RuleContext, Verdict};
use crate::model::{KernelContext, Protocol, Query, Socket, SocketTable, TcpState};
use crate::session::BindSpec;
use crate::source::owners::{read_socket_fds, SocketFds};
use crate::source::{netlink, SourceChoice, SourceNote, HOST_PROC};
use crate::threads::joined;
use crate::Result;

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

/// True when the kernel has just accepted the intended bind made without
/// SO_REUSEADDR and SO_REUSEPORT: then no bound-only socket overlaps it (one
/// would have conflicted), and none can make its listen() fail (that takes
/// SO_REUSEADDR), so reading them would change no verdict. Without a probe
/// (rules alone, captured files) they are always read.
fn bound_only_sockets_cannot_matter(intended: &Probe) -> bool {
    intended.ok && !intended.bind.reuseaddr && !intended.bind.reuseport
}

/// What the probes of a bind need from a reading.
pub(super) struct ProbePlan {
    bind: IntendedBind,
    /// The intended bind's probe, if made before the reading.
    intended: Option<Probe>,
    /// [`held_addresses`] of the port's sockets.
    held: Vec<IpAddr>,
}

impl ProbePlan {
    pub(super) fn new(bind: IntendedBind, sockets: &[Socket]) -> ProbePlan {
        ProbePlan {
            held: held_addresses(&bind, sockets),
            bind,
            intended: None,
        }
    }
}

/// A port read but not yet judged.
pub(super) struct PortReading {
    pub(super) table: SocketTable,
    evidence: Vec<Socket>,
    /// The intended bind's probe, made before the reading.
    intended: Option<Probe>,
    kernel: KernelContext,
    fallback_warning: Option<String>,
    notes: Vec<SourceNote>,
    read_at: Instant,
}

/// Splits a port reading into the sockets on the port and the peer-side
/// time-wait evidence (sockets whose peer is the port). Sockets move only
/// when there is evidence: a port held by 100k sockets usually has none.
fn split_evidence(mut table: SocketTable, port: u16) -> (SocketTable, Vec<Socket>) {
    let on_port = |socket: &Socket| socket.local.port() == port;
    if table.sockets.iter().all(on_port) {
        return (table, Vec::new());
    }
    let (sockets, evidence) = std::mem::take(&mut table.sockets)
        .into_iter()
        .partition(on_port);
    table.sockets = sockets;
    (table, evidence)
}

impl PortReading {
    /// The probes' plan for `bind`, which takes the intended bind's probe
    /// made before the reading.
    fn probe_plan(&mut self, bind: IntendedBind) -> ProbePlan {
        ProbePlan {
            intended: self.intended.take(),
            ..ProbePlan::new(bind, &self.table.sockets)
        }
    }
}

impl Session {
    /// One probe of `bind` in the session's namespace: has the port freed?
    /// (`--wait` asks between two full readings.)
    pub fn probe_bind(&self, bind: &IntendedBind) -> Result<bool> {
        self.inside(|| Ok(probe(bind, ProbeKind::Intended).ok))
    }

    /// Reads the port (one filtered walk that also brings the peer-side
    /// TIME_WAITs) and judges the bind on it, probing when allowed.
    pub fn check_port(&self, spec: &BindSpec) -> Result<PortCheck> {
        let (reading, early_scan) = self.read_port_scanning_ahead(spec);
        let mut reading = reading?;
        if !self.owners_wanted(&reading.table) {
            return self.judge_port(reading, spec, None);
        }
        let plan = reading.probe_plan(self.intended_bind(spec, &reading.kernel));
        // The probes need the port's addresses, not its owners: they are
        // made while /proc is scanned.
        let probes = std::thread::scope(|scope| {
            let probing = scope.spawn(|| self.inside(|| Ok(self.make_probes(plan))));
            attach_owners(std::slice::from_mut(&mut reading.table), early_scan);
            joined(probing)
        })?;
        self.judge_port(reading, spec, Some(probes))
    }

    /// True when the table's owners are to be looked up: some socket has an
    /// inode (time-wait and request sockets have none) and this host's /proc
    /// is the one the table came from.
    fn owners_wanted(&self, table: &SocketTable) -> bool {
        self.captured.is_none() && table.sockets.iter().any(|s| s.inode != 0)
    }

    /// [`Self::read_port`] and, when a live listener holds the port (owners
    /// will be looked up), this host's socket fds read meanwhile: /proc is
    /// scanned while the kernel walks its tables. The scan is called off
    /// when no socket read has an inode.
    fn read_port_scanning_ahead(
        &self,
        spec: &BindSpec,
    ) -> (Result<PortReading>, Option<SocketFds>) {
        let called_off = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let mut early_scan = None;
            let reading = self.read_port_then(spec, |intended| {
                let in_use = !intended.is_some_and(|intended| intended.ok);
                if self.captured.is_none() && in_use && self.listener_on(spec) {
                    early_scan =
                        Some(scope.spawn(|| read_socket_fds(Path::new(HOST_PROC), &called_off)));
                }
            });
            let owners_wanted = reading
                .as_ref()
                .is_ok_and(|reading| self.owners_wanted(&reading.table));
            if !owners_wanted {
                called_off.store(true, Ordering::Relaxed);
            }
            (reading, early_scan.and_then(joined))
        })
    }

    /// True when a TCP listener with an inode holds the port, by a dump that
    /// costs the kernel only a walk of its listening hash (sock_diag only),
    /// in the namespace of the calling thread.
    fn listener_on(&self, spec: &BindSpec) -> bool {
        let listeners = Query {
            port: Some(spec.port),
            peer_time_waits: false,
            states: [TcpState::Listen].into_iter().collect(),
        };
        spec.options.protocol == Protocol::Tcp
            && self.choice != SourceChoice::Proc
            && netlink::read_sockets(Protocol::Tcp, &listeners)
                .is_ok_and(|sockets| sockets.iter().any(|s| s.inode != 0))
    }

    /// The port's sockets and the peer-side evidence, without owners.
    pub(super) fn read_port(&self, spec: &BindSpec) -> Result<PortReading> {
        self.read_port_then(spec, |_| {})
    }

    /// [`Self::read_port`], calling `before_walks` in the namespace with the
    /// intended bind's probe (if made) before the tables are walked.
    fn read_port_then(
        &self,
        spec: &BindSpec,
        before_walks: impl FnOnce(Option<&Probe>) + Send,
    ) -> Result<PortReading> {
        self.inside(|| {
            let kernel = self.kernel_context_here();
            let mut query = Query::port_with_evidence(spec.port);
            let intended = self.probe_intended(&spec.resolve(&kernel));
            before_walks(intended.as_ref());
            if intended
                .as_ref()
                .is_some_and(bound_only_sockets_cannot_matter)
            {
                // Bound-only sockets cost the kernel a walk of its whole bind
                // hash (every TIME_WAIT of the host), whatever the port filter.
                query.states.remove(TcpState::Bound);
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

    /// The verdict on a port reading (owners attached), with the probes
    /// [`Self::make_probes`] made for it, or made now (in the namespace, on
    /// the way to the verdict) when None.
    pub(super) fn judge_port(
        &self,
        mut reading: PortReading,
        spec: &BindSpec,
        probes: Option<Vec<Probe>>,
    ) -> Result<PortCheck> {
        let bind = self.intended_bind(spec, &reading.kernel);
        let plan = reading.probe_plan(bind.clone());
        let PortReading {
            table,
            evidence,
            intended: _,
            kernel,
            fallback_warning,
            notes,
            read_at,
        } = reading;
        let (verdict, rule_context) = self.inside(|| {
            let probes = probes.unwrap_or_else(|| self.make_probes(plan));
            Ok(self.judge(&table, &evidence, &bind, &kernel, &probes))
        })?;
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

    /// The probes `plan` calls for, made here (in the namespace): none
    /// unless the host allows probing; the intended bind's own unless it was
    /// made before the reading.
    pub(super) fn make_probes(&self, plan: ProbePlan) -> Vec<Probe> {
        if self.access != (HostAccess::Live { probing: true }) {
            return Vec::new();
        }
        let intended = plan
            .intended
            .filter(|intended| intended.bind == plan.bind)
            .unwrap_or_else(|| probe(&plan.bind, ProbeKind::Intended));
        probes_after(intended, &plan.held)
    }

    /// The verdict for `bind` on the port's sockets plus the peer-side
    /// evidence, with the probes made for it.
    pub(super) fn judge(
        &self,
        table: &SocketTable,
        evidence: &[Socket],
        bind: &IntendedBind,
        kernel: &KernelContext,
        probes: &[Probe],
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
        (diagnose(sockets, bind, &ctx, kernel, probes), ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SourceKind;

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
