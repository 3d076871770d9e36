//! Sources of socket tables: sock_diag (netlink), /proc/net/tcp{,6}, captured
//! files; and the owner lookup that completes them. Everything below reads
//! the kernel; nothing here decides anything.

pub mod bpf;
pub mod cgroup;
pub mod netlink;
pub mod netns;
pub mod owners;
pub mod procnet;
pub mod sysctl;

use std::path::Path;

use crate::model::{Query, SocketTable, SourceKind};
use crate::Result;

/// Which table to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceChoice {
    /// sock_diag; /proc when sock_diag is unavailable.
    Auto,
    Netlink,
    Proc,
}

/// This host's /proc.
pub const HOST_PROC: &str = "/proc";

/// What to read and from where.
#[derive(Debug, Clone, Copy)]
pub struct ReadRequest<'a> {
    pub choice: SourceChoice,
    /// Captured files: DIR/net/tcp{,6}; implies the proc source, no owners.
    pub captured: Option<&'a Path>,
    pub query: Query,
    /// Look up owning processes for the sockets read.
    pub owners: bool,
}

/// A table, and the one warning to print when `Auto` fell back to /proc.
#[derive(Debug)]
pub struct Reading {
    pub table: SocketTable,
    pub fallback_warning: Option<String>,
}

/// Reads the table the request asks for.
pub fn read_table(request: &ReadRequest) -> Result<Reading> {
    if let Some(dir) = request.captured {
        let parsed = procnet::read_sockets(dir, &request.query)?;
        return Ok(Reading {
            table: SocketTable {
                source: SourceKind::Proc,
                sockets: parsed.sockets,
                skipped_rows: parsed.skipped_rows,
                owners_unseen: 0,
            },
            fallback_warning: None,
        });
    }
    let host = Path::new(HOST_PROC);
    let (mut table, fallback_warning) = match request.choice {
        SourceChoice::Netlink => (netlink_table(&request.query)?, None),
        SourceChoice::Proc => (proc_table(host, &request.query)?, None),
        SourceChoice::Auto => match netlink_table(&request.query) {
            Err(crate::Error::NetlinkUnavailable(why)) => (
                proc_table(host, &request.query)?,
                Some(format!(
                    "warning: sock_diag unavailable ({why}); reading /proc/net/tcp instead"
                )),
            ),
            other => (other?, None),
        },
    };
    if request.owners {
        table.owners_unseen = owners::attach_owners(&mut table.sockets, host).unseen;
    }
    Ok(Reading {
        table,
        fallback_warning,
    })
}

fn netlink_table(query: &Query) -> Result<SocketTable> {
    Ok(SocketTable {
        source: SourceKind::Netlink,
        sockets: netlink::read_sockets(query)?,
        skipped_rows: 0,
        owners_unseen: 0,
    })
}

fn proc_table(root: &Path, query: &Query) -> Result<SocketTable> {
    let parsed = procnet::read_sockets(root, query)?;
    Ok(SocketTable {
        source: SourceKind::Proc,
        sockets: parsed.sockets,
        skipped_rows: parsed.skipped_rows,
        owners_unseen: 0,
    })
}
