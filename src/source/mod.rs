//! Sources of socket tables: sock_diag (netlink), /proc/net/{tcp,udp}{,6},
//! captured files; and the owner lookup that completes them. Everything
//! below reads the kernel; nothing here decides anything.
//!
//! [`read_table`] is the one entry point: a [`ReadRequest`] names the source,
//! the query (port, states) and the protocols (TCP, UDP or both); the table
//! it returns holds the sockets of every protocol asked for, each tagged
//! with its [`Protocol`], and the [`SourceNote`]s of what could not be seen.

pub mod bpf;
pub mod cgroup;
pub mod netlink;
pub mod netns;
pub mod owners;
pub mod procnet;
pub mod sysctl;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::model::{Family, Protocol, ProtocolSet, Query, SocketTable, SourceKind};
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
    /// Captured files: DIR/net/{tcp,udp}{,6}; implies the proc source, no owners.
    pub captured: Option<&'a Path>,
    pub query: Query,
    /// The protocols to read (`ProtocolSet::TCP` for what the tool always read).
    pub protocols: ProtocolSet,
    /// Look up owning processes for the sockets read.
    pub owners: bool,
}

/// Something a reading could not see, for the face to print in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceNote {
    /// The protocol's IPv6 table (DIR/net/tcp6 or udp6) does not exist:
    /// IPv6 is disabled, or a capture left it out. The reading has no IPv6
    /// sockets of that protocol.
    Ipv6TableMissing { protocol: Protocol, path: PathBuf },
}

impl fmt::Display for SourceNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceNote::Ipv6TableMissing { protocol, path } => write!(
                f,
                "{} does not exist: no IPv6 {} sockets were read (IPv6 disabled?)",
                path.display(),
                protocol.as_str().to_uppercase()
            ),
        }
    }
}

/// A table, and the one warning to print when `Auto` fell back to /proc.
#[derive(Debug)]
pub struct Reading {
    pub table: SocketTable,
    pub fallback_warning: Option<String>,
    /// What could not be seen (from /proc and captured files only).
    pub notes: Vec<SourceNote>,
}

/// Reads the table the request asks for: the sockets of every protocol in
/// `request.protocols`, TCP first, all from one source. With `Auto`, a
/// protocol sock_diag cannot dump (no udp_diag module, say) sends the whole
/// reading to /proc, so that one table has one source.
pub fn read_table(request: &ReadRequest) -> Result<Reading> {
    if let Some(dir) = request.captured {
        let (table, notes) = proc_table(dir, request)?;
        return Ok(Reading {
            table,
            fallback_warning: None,
            notes,
        });
    }
    let host = Path::new(HOST_PROC);
    let ((mut table, notes), fallback_warning) = match request.choice {
        SourceChoice::Netlink => ((netlink_table(request)?, Vec::new()), None),
        SourceChoice::Proc => (proc_table(host, request)?, None),
        SourceChoice::Auto => match netlink_table(request) {
            Err(crate::Error::NetlinkUnavailable(why)) => (
                proc_table(host, request)?,
                Some(format!(
                    "warning: sock_diag unavailable ({why}); reading {} instead",
                    proc_files(request.protocols)
                )),
            ),
            other => ((other?, Vec::new()), None),
        },
    };
    if request.owners {
        table.owners_unseen = owners::attach_owners(&mut table.sockets, host).unseen;
    }
    Ok(Reading {
        table,
        fallback_warning,
        notes,
    })
}

/// "/proc/net/tcp", "/proc/net/tcp and /proc/net/udp": the tables a /proc
/// reading of `protocols` opens (their IPv6 twins too, where present).
fn proc_files(protocols: ProtocolSet) -> String {
    protocols
        .iter()
        .map(|protocol| {
            Path::new(HOST_PROC)
                .join("net")
                .join(procnet::table_name(protocol, Family::Ipv4))
                .display()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join(" and ")
}

fn netlink_table(request: &ReadRequest) -> Result<SocketTable> {
    let mut sockets = Vec::new();
    for protocol in request.protocols.iter() {
        sockets.extend(netlink::read_sockets(protocol, &request.query)?);
    }
    Ok(SocketTable {
        source: SourceKind::Netlink,
        sockets,
        skipped_rows: 0,
        owners_unseen: 0,
    })
}

fn proc_table(root: &Path, request: &ReadRequest) -> Result<(SocketTable, Vec<SourceNote>)> {
    let mut table = SocketTable {
        source: SourceKind::Proc,
        sockets: Vec::new(),
        skipped_rows: 0,
        owners_unseen: 0,
    };
    let mut notes = Vec::new();
    for protocol in request.protocols.iter() {
        let parsed = procnet::read_sockets(root, protocol, &request.query)?;
        table.sockets.extend(parsed.sockets);
        table.skipped_rows += parsed.skipped_rows;
        notes.extend(parsed.notes);
    }
    Ok((table, notes))
}

/// The name of a bound device (SO_BINDTODEVICE ifindex), or None for no
/// device; an index that no longer resolves prints as `if<N>`.
pub fn device_name(index: u32) -> Option<String> {
    if index == 0 {
        return None;
    }
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: buf has IF_NAMESIZE bytes, as if_indextoname requires.
    let name = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if name.is_null() {
        return Some(format!("if{index}"));
    }
    // SAFETY: on success if_indextoname wrote a NUL-terminated name into buf.
    let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_names_the_files_it_reads() {
        assert_eq!(proc_files(ProtocolSet::TCP), "/proc/net/tcp");
        assert_eq!(proc_files(ProtocolSet::UDP), "/proc/net/udp");
        assert_eq!(
            proc_files(ProtocolSet::ALL),
            "/proc/net/tcp and /proc/net/udp"
        );
    }

    #[test]
    fn a_missing_ipv6_table_reads_as_one_line() {
        let note = SourceNote::Ipv6TableMissing {
            protocol: Protocol::Udp,
            path: PathBuf::from("/captured/net/udp6"),
        };
        assert_eq!(
            note.to_string(),
            "/captured/net/udp6 does not exist: no IPv6 UDP sockets were read (IPv6 disabled?)"
        );
    }
}
