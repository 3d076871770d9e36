//! A bind on one port: the reading (one filtered walk, the peer side
//! included), the probe that decides what to read, and the verdict.

use std::time::Instant;

use super::survey::attach_owners;
use super::{HostAccess, Session};
use crate::diagnosis::probe::{
    captured_rule_context, probe, probes_after, rule_context, run_probes, ProbeKind,
};
use crate::diagnosis::{diagnose, IntendedBind, Probe, RuleContext, Verdict};
use crate::model::{KernelContext, Query, Socket, SocketTable, TcpState};
use crate::session::BindSpec;
use crate::source::SourceNote;
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

impl Session {
    /// One probe of `bind` in the session's namespace: has the port freed?
    /// (`--wait` asks between two full readings.)
    pub fn probe_bind(&self, bind: &IntendedBind) -> Result<bool> {
        self.inside(|| Ok(probe(bind, ProbeKind::Intended).ok))
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
    pub(super) fn read_port(&self, spec: &BindSpec) -> Result<PortReading> {
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
    pub(super) fn judge_port(&self, reading: PortReading, spec: &BindSpec) -> Result<PortCheck> {
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

    /// The verdict for `bind` on the port's sockets plus the peer-side
    /// evidence, probing this namespace when the host allows it.
    pub(super) fn judge(
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
