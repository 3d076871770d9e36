//! The dashboard's reading: the whole table, and the chosen bind judged on
//! that same table with the same evidence a port query reads.

use std::time::Instant;

use super::port::ProbePlan;
use super::survey::attach_owners;
use super::{empty_like, take_table, BindSpec, Session, Survey};
use crate::diagnosis::{RuleContext, Verdict};
use crate::model::{KernelContext, ProtocolSet, Query, Socket, SocketTable};
use crate::Result;

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
    /// Reads the whole table (with owners) and, when a port is chosen, judges
    /// its bind on that same table with the same evidence
    /// [`Session::check_port`] reads from the kernel.
    pub fn check_table(
        &self,
        spec: Option<&BindSpec>,
        protocols: ProtocolSet,
    ) -> Result<TableCheck> {
        self.inside(|| {
            let kernel = self.kernel_context_here();
            let reading = self.read_here(Query::everything(), protocols, true)?;
            let read_at = Instant::now();
            let verdict = spec.map(|spec| self.verdict_on_table(&reading.table, spec, &kernel));
            Ok(TableCheck {
                table: reading.table,
                kernel,
                verdict,
                read_at,
            })
        })
    }

    /// The dashboard's reading of every network namespace of the host: each
    /// table read in its namespace, one owner scan for all, and the chosen
    /// bind judged in each namespace that has a socket on its port (the
    /// others have nothing to say about it).
    pub fn check_table_everywhere(
        &self,
        spec: Option<&BindSpec>,
        protocols: ProtocolSet,
    ) -> Result<Survey<TableCheck>> {
        let (entries, mut warnings) = self.every_namespace()?;
        let mut read = Vec::with_capacity(entries.len());
        for (entry, session) in entries {
            let reading = session.inside(|| {
                let kernel = session.kernel_context_here();
                let reading = session.read_here(Query::everything(), protocols, false)?;
                Ok((kernel, reading.table, Instant::now()))
            });
            match reading {
                Ok(reading) => read.push((entry, session, reading)),
                Err(error) => warnings.push(format!("net:[{}]: {error}", entry.id.inode)),
            }
        }
        let mut tables: Vec<SocketTable> = read
            .iter_mut()
            .map(|(_, _, (_, table, _))| take_table(table))
            .collect();
        attach_owners(&mut tables, None);
        let mut answers = Vec::with_capacity(read.len());
        for ((entry, session, (kernel, _, read_at)), table) in read.into_iter().zip(tables) {
            let on_port =
                |spec: &&BindSpec| table.sockets.iter().any(|s| s.local.port() == spec.port);
            let verdict = match spec.filter(on_port) {
                Some(spec) => {
                    match session.inside(|| Ok(session.verdict_on_table(&table, spec, &kernel))) {
                        Ok(verdict) => Some(verdict),
                        Err(error) => {
                            warnings.push(format!("net:[{}]: {error}", entry.id.inode));
                            continue;
                        }
                    }
                }
                None => None,
            };
            answers.push((
                entry,
                TableCheck {
                    table,
                    kernel,
                    verdict,
                    read_at,
                },
            ));
        }
        Ok(Survey { answers, warnings })
    }

    /// The verdict for `spec` on a whole table: its port's sockets and the
    /// peer-side evidence, picked out as a port query asks the kernel for them.
    fn verdict_on_table(
        &self,
        table: &SocketTable,
        spec: &BindSpec,
        kernel: &KernelContext,
    ) -> (Verdict, RuleContext) {
        let query = Query::port_with_evidence(spec.port);
        let (on_port, evidence): (Vec<Socket>, Vec<Socket>) = table
            .sockets
            .iter()
            .filter(|socket| query.matches(socket))
            .cloned()
            .partition(|socket| socket.local.port() == spec.port);
        let on_port = SocketTable {
            sockets: on_port,
            ..empty_like(table)
        };
        let bind = self.intended_bind(spec, kernel);
        let probes = self.make_probes(ProbePlan::new(bind.clone(), &on_port.sockets));
        self.judge(&on_port, &evidence, &bind, kernel, &probes)
    }
}
