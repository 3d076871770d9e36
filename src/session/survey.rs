//! One question asked in every network namespace of the host.

use std::path::Path;

use super::port::PortCheck;
use super::{namespace_error, take_table, BindSpec, Reading, Session};
use crate::model::{Container, NamespaceId, ProtocolSet, Query, SocketTable, StateSet};
use crate::source;
use crate::source::cgroup::read_workload;
use crate::source::netns::all_namespaces;
use crate::source::owners::{self, SocketFds};
use crate::Result;

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

/// Owners from one pass over this host's /proc for every table at once
/// (socket inodes are unique across namespaces; processes are the host's),
/// or from its socket fds read ahead, and a pass for what they missed.
pub(super) fn attach_owners(tables: &mut [SocketTable], early: Option<SocketFds>) {
    owners::attach_owners_after(
        tables.iter_mut().flat_map(|table| table.sockets.iter_mut()),
        Path::new(source::HOST_PROC),
        early,
    );
    for table in tables {
        table.owners_unseen = table
            .sockets
            .iter()
            .filter(|s| s.inode != 0 && s.processes.is_empty())
            .count();
    }
}

/// A namespace found on the host and a session working inside it.
type NamespaceSession = (NamespaceEntry, Session);

impl Session {
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
        attach_owners(&mut tables, None);
        let mut answers = Vec::with_capacity(found.len());
        for ((entry, session, mut reading), table) in found.into_iter().zip(tables) {
            reading.table = table;
            match session.judge_port(reading, spec, None) {
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
        attach_owners(&mut tables, None);
        for ((_, reading), table) in answers.iter_mut().zip(tables) {
            reading.table = table;
        }
        Ok(Survey { answers, warnings })
    }

    /// Every network namespace on the host, each opened for a session like
    /// this one; the ones that vanish or cannot be opened are warnings.
    pub(super) fn every_namespace(&self) -> Result<(Vec<NamespaceSession>, Vec<String>)> {
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
}
