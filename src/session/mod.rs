//! The port session: the one place that decides, for every face (the report,
//! `--wait`, `--free`, the dashboard, the watcher), what to read for a
//! question, how the intended bind is built from the user's words, how a
//! reading is diagnosed, whether the port frees by itself, and what may be
//! destroyed. Faces call it and render what it returns; none of them holds a
//! policy of its own, so two faces asked the same question give the same
//! answer.
//!
//! `mod.rs` holds the session itself (where to read: source, captured files,
//! network namespace); each question has a file: [`port`] (a bind on one
//! port), [`failure`] (a failed bind the kernel watcher caught), [`table`]
//! (the dashboard's whole table), [`survey`] (every namespace), [`connect`]
//! (the client side).

mod connect;
mod failure;
mod port;
mod survey;
mod table;

pub use connect::ConnectCheck;
pub use failure::{bind_spec, namespace_session, BatchVerdicts, FailureReport, LeftBy};
pub use port::PortCheck;
pub use survey::{NamespaceEntry, Survey};
pub use table::TableCheck;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;

use crate::diagnosis::IntendedBind;
use crate::model::{
    KernelContext, NamespaceId, Protocol, ProtocolSet, Query, Socket, SocketTable, StateSet,
};
use crate::source::netlink::{destroy, DestroyError};
use crate::source::netns::{Netns, NetnsError};
use crate::source::{self, sysctl, ReadRequest, SourceChoice};
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
    /// IPV6_V6ONLY as the server sets it; None when it does not say, and
    /// net.ipv6.bindv6only decides (a socket may also clear it explicitly).
    pub v6only: Option<bool>,
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
            v6only: addr.is_ipv6() && options.v6only.unwrap_or(kernel.default_v6only()),
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
    pub(super) fn inside<T: Send>(&self, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
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

    pub(super) fn kernel_context_here(&self) -> KernelContext {
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

    pub(super) fn read_here(
        &self,
        query: Query,
        protocols: ProtocolSet,
        owners: bool,
    ) -> Result<Reading> {
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

pub(super) fn namespace_error(error: NetnsError) -> Error {
    Error::Namespace(error.to_string())
}

/// Moves a table's sockets out, leaving its facts behind.
pub(super) fn take_table(table: &mut SocketTable) -> SocketTable {
    let empty = empty_like(table);
    std::mem::replace(table, empty)
}

pub(super) fn empty_like(table: &SocketTable) -> SocketTable {
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

    fn spec(addr: &str, v6only: Option<bool>) -> BindSpec {
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
        assert!(session.intended_bind(&spec("::", None), &on).v6only);
        assert!(!session.intended_bind(&spec("::", None), &off).v6only);
        assert!(session.intended_bind(&spec("::", Some(true)), &off).v6only);
        // A socket that clears it explicitly is dual-stack whatever the default.
        assert!(!session.intended_bind(&spec("::", Some(false)), &on).v6only);
        // IPv4 binds never carry it.
        assert!(
            !session
                .intended_bind(&spec("0.0.0.0", Some(true)), &on)
                .v6only
        );
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
}
