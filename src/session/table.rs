//! The dashboard's reading: the whole table, and the chosen bind judged on
//! that same table with the same evidence a port query reads.

use std::time::Instant;

use super::{empty_like, BindSpec, Session};
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
}
