//! Network namespaces: naming one, entering it, and listing every one on the host.
//!
//! A socket's namespace is fixed when it is created, by the creating thread's
//! namespace. So everything that must happen in another namespace (the
//! sock_diag socket, probe binds, SOCK_DESTROY, reading /proc/sys/net) runs in
//! a closure given to [`Netns::run`], on a thread that has entered it with
//! setns(2); the rest of the process stays where it is.
//!
//! - [`NetnsSpec::parse`] reads what a user typed: a name under /run/netns (as
//!   `ip netns add` makes them), a pid (its /proc/PID/ns/net), or a path.
//! - [`Netns::open`] opens it, checks it is a network namespace, and learns
//!   its inode (`net:[N]` in `ls -l /proc/PID/ns/net`) and its /run/netns name.
//!   [`Netns::current`] is the calling thread's own.
//! - [`Netns::run`] runs a closure inside it; [`Netns::read_sysctl`] and
//!   [`Netns::kernel_context`] read its settings.
//! - [`all_namespaces`] lists every distinct network namespace: those of all
//!   processes plus those only bind-mounted under /run/netns, each with its
//!   pids and a way in ([`NetnsInfo::open`]).
//!
//! Every failure is a [`NetnsError`] whose Display is one line naming the subject.
//!
//! Kernel behaviour this relies on (tests/netns_source.rs checks each):
//! /proc/sys/net resolves to the namespace of the thread that opens the file
//! (at open time), so a file opened inside [`Netns::run`] shows that
//! namespace's values; and /proc/PID/ns/net of a pid shows the namespace of
//! its main thread only (a thread that called setns is not listed apart).

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::model::KernelContext;
use crate::source::sysctl;
use crate::threads::joined;

/// Where `ip netns` bind-mounts named namespaces.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// A network namespace as a user names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetnsSpec {
    /// A name under /run/netns.
    Name(String),
    /// A process: its /proc/PID/ns/net.
    Pid(u32),
    /// A namespace file (anything with a '/').
    Path(PathBuf),
}

impl NetnsSpec {
    /// All digits (and fitting a pid) → a pid; containing '/' → a path; else a name.
    pub fn parse(text: &str) -> NetnsSpec {
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(pid) = text.parse() {
                return NetnsSpec::Pid(pid);
            }
        }
        if text.contains('/') {
            NetnsSpec::Path(PathBuf::from(text))
        } else {
            NetnsSpec::Name(text.to_string())
        }
    }

    /// The file to open.
    pub fn path(&self) -> PathBuf {
        match self {
            NetnsSpec::Name(name) => Path::new(NETNS_RUN_DIR).join(name),
            NetnsSpec::Pid(pid) => PathBuf::from(format!("/proc/{pid}/ns/net")),
            NetnsSpec::Path(path) => path.clone(),
        }
    }
}

impl fmt::Display for NetnsSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetnsSpec::Name(name) => write!(f, "netns {name:?}"),
            NetnsSpec::Pid(pid) => write!(f, "pid {pid}"),
            NetnsSpec::Path(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Why a namespace could not be opened or entered.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// No such name under /run/netns, or no such file.
    #[error("{spec}: not found{}", not_found_detail(.spec))]
    NotFound { spec: NetnsSpec },
    /// The file exists but is no network namespace (a regular file, another
    /// kind of namespace).
    #[error("{spec}: not a network namespace")]
    NotNetns { spec: NetnsSpec },
    /// Opening the file (EACCES) or entering the namespace (setns: EPERM) was refused.
    #[error("{spec}: permission denied {action}")]
    PermissionDenied {
        spec: NetnsSpec,
        action: DeniedAction,
    },
    /// The process is gone (never existed, or exited while being read).
    #[error("pid {pid}: no such process")]
    ProcessExited { pid: u32 },
    /// A namespace from [`all_namespaces`] vanished before it could be
    /// opened: its processes exited and its /run/netns name (if any) was removed.
    #[error("net:[{inode}]: namespace gone (its processes exited)")]
    Gone { inode: u64 },
    /// Anything else: the namespace file, /proc, or starting the thread.
    #[error("{subject}: {source}")]
    Io { subject: String, source: io::Error },
}

/// Where a name was looked for; a path says it already.
fn not_found_detail(spec: &NetnsSpec) -> String {
    match spec {
        NetnsSpec::Name(_) => format!(" (no {})", spec.path().display()),
        NetnsSpec::Pid(_) | NetnsSpec::Path(_) => String::new(),
    }
}

/// What was refused, for [`NetnsError::PermissionDenied`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeniedAction {
    /// open(2) of the namespace file.
    Opening,
    /// setns(2) into it.
    Entering,
}

impl fmt::Display for DeniedAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            // /proc/PID/ns/* need ptrace access to the process.
            DeniedAction::Opening => "opening it (needs root or the process's owner)",
            DeniedAction::Entering => "entering it (setns needs CAP_SYS_ADMIN)",
        })
    }
}

/// An open network namespace.
#[derive(Debug)]
pub struct Netns {
    file: OwnedFd,
    spec: NetnsSpec,
    dev: u64,
    inode: u64,
    name: Option<String>,
}

impl Netns {
    /// Opens the namespace `spec` names and checks it is a network namespace.
    pub fn open(spec: &NetnsSpec) -> Result<Netns, NetnsError> {
        let path = spec.path();
        // O_NONBLOCK: a FIFO given as the path must not hang the open.
        let file = File::options()
            .read(true)
            .custom_flags(libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(&path)
            .map_err(|source| open_error(spec, source))?;
        let meta = file.metadata().map_err(|source| NetnsError::Io {
            subject: spec.to_string(),
            source,
        })?;
        let file = OwnedFd::from(file);
        if !is_network_namespace(&file) {
            return Err(NetnsError::NotNetns { spec: spec.clone() });
        }
        let (dev, inode) = (meta.dev(), meta.ino());
        let name = match spec {
            NetnsSpec::Name(name) => Some(name.clone()),
            _ => name_of(dev, inode, &named_namespaces()),
        };
        Ok(Netns {
            file,
            spec: spec.clone(),
            dev,
            inode,
            name,
        })
    }

    /// The calling thread's own network namespace.
    pub fn current() -> Result<Netns, NetnsError> {
        Netns::open(&NetnsSpec::Path(PathBuf::from("/proc/thread-self/ns/net")))
    }

    /// The namespace's inode: N in `net:[N]`.
    pub fn inode(&self) -> u64 {
        self.inode
    }

    /// Its name under /run/netns, if it is bind-mounted there.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// What it was opened from.
    pub fn spec(&self) -> &NetnsSpec {
        &self.spec
    }

    /// Whether the calling thread is in this namespace now.
    pub fn is_current(&self) -> bool {
        fs::metadata("/proc/thread-self/ns/net")
            .is_ok_and(|meta| (meta.dev(), meta.ino()) == (self.dev, self.inode))
    }

    /// Runs `f` inside the namespace: on a fresh thread that first enters it
    /// (setns), so every socket `f` creates lives there, and /proc/sys/net and
    /// /proc/thread-self/net files `f` opens show it. When the calling thread
    /// is already in it, `f` runs right here. A panic in `f` is resumed on
    /// the caller.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, NetnsError> {
        if self.is_current() {
            return Ok(f());
        }
        std::thread::scope(|scope| {
            let thread = std::thread::Builder::new()
                .name("netns".to_string())
                .spawn_scoped(scope, || {
                    // SAFETY: setns on a namespace fd we own; it changes only this thread.
                    if unsafe { libc::setns(self.file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                        return Err(self.setns_error(io::Error::last_os_error()));
                    }
                    Ok(f())
                })
                .map_err(|source| NetnsError::Io {
                    subject: format!("{}: starting a thread", self.spec),
                    source,
                })?;
            joined(thread)
        })
    }

    /// Reads a file (meant for /proc/sys/net/...) opened from inside the
    /// namespace. Failing to enter the namespace is an error of kind
    /// PermissionDenied or Other whose source is the [`NetnsError`].
    pub fn read_sysctl(&self, path: &Path) -> io::Result<String> {
        self.run(|| fs::read_to_string(path))
            .map_err(|error| {
                let kind = match error {
                    NetnsError::PermissionDenied { .. } => io::ErrorKind::PermissionDenied,
                    _ => io::ErrorKind::Other,
                };
                io::Error::new(kind, error)
            })
            .and_then(|read| read)
    }

    /// The namespace's kernel settings ([`sysctl::read`] inside it).
    pub fn kernel_context(&self) -> Result<KernelContext, NetnsError> {
        self.run(sysctl::read)
    }

    fn setns_error(&self, source: io::Error) -> NetnsError {
        match source.raw_os_error() {
            Some(libc::EPERM) => NetnsError::PermissionDenied {
                spec: self.spec.clone(),
                action: DeniedAction::Entering,
            },
            _ => NetnsError::Io {
                subject: format!("{}: setns", self.spec),
                source,
            },
        }
    }
}

fn open_error(spec: &NetnsSpec, source: io::Error) -> NetnsError {
    match (source.raw_os_error(), spec) {
        // ESRCH: /proc/PID/ns/net of a process that is exiting.
        (Some(libc::ENOENT | libc::ESRCH), NetnsSpec::Pid(pid)) => {
            NetnsError::ProcessExited { pid: *pid }
        }
        (Some(libc::ENOENT), _) => NetnsError::NotFound { spec: spec.clone() },
        (Some(libc::EACCES | libc::EPERM), _) => NetnsError::PermissionDenied {
            spec: spec.clone(),
            action: DeniedAction::Opening,
        },
        _ => NetnsError::Io {
            subject: spec.to_string(),
            source,
        },
    }
}

/// NS_GET_NSTYPE (Linux 4.11+) says which kind of namespace a nsfs file is;
/// any other file answers ENOTTY. Kernels without the ioctl answer ENOTTY
/// too: there the file's name in /proc/self/fd (`net:[N]`) tells.
fn is_network_namespace(file: &OwnedFd) -> bool {
    // SAFETY: NS_GET_NSTYPE takes no argument and only returns a value.
    let kind = unsafe { libc::ioctl(file.as_raw_fd(), libc::NS_GET_NSTYPE) };
    if kind >= 0 {
        return kind == libc::CLONE_NEWNET;
    }
    fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .is_ok_and(|target| target.to_string_lossy().starts_with("net:["))
}

/// (dev, inode, name) of every namespace bind-mounted under /run/netns, by
/// name. Entries that are no namespace (an unmounted leftover file is a
/// plain file on tmpfs) never match a namespace's dev and inode.
fn named_namespaces() -> Vec<(u64, u64, String)> {
    let Ok(entries) = fs::read_dir(NETNS_RUN_DIR) else {
        return Vec::new();
    };
    let mut named: Vec<(u64, u64, String)> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            // fs::metadata follows the bind mount to the namespace itself.
            let meta = fs::metadata(entry.path()).ok()?;
            Some((meta.dev(), meta.ino(), name))
        })
        .collect();
    named.sort_by(|a, b| a.2.cmp(&b.2));
    named
}

/// The first name (in name order) a namespace has under /run/netns.
fn name_of(dev: u64, inode: u64, named: &[(u64, u64, String)]) -> Option<String> {
    named
        .iter()
        .find(|(d, i, _)| (*d, *i) == (dev, inode))
        .map(|(_, _, name)| name.clone())
}

/// One network namespace found by [`all_namespaces`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetnsInfo {
    /// N in `net:[N]`.
    pub inode: u64,
    /// Its name under /run/netns, if bind-mounted there (the first, by name).
    pub name: Option<String>,
    /// Processes whose main thread is in it, ascending; empty for a namespace
    /// held only by its /run/netns bind mount.
    pub pids: Vec<u32>,
    dev: u64,
}

impl NetnsInfo {
    /// Opens it to enter it: by its /run/netns name, else through one of its
    /// pids that is still in it. [`NetnsError::Gone`] when neither works any
    /// more (the caller can warn and go on).
    pub fn open(&self) -> Result<Netns, NetnsError> {
        let by_name = self.name.iter().map(|name| NetnsSpec::Name(name.clone()));
        let by_pid = self.pids.iter().map(|pid| NetnsSpec::Pid(*pid));
        for spec in by_name.chain(by_pid) {
            match Netns::open(&spec) {
                // A pid may have been reused, or its process may have moved.
                Ok(netns) if (netns.dev, netns.inode) == (self.dev, self.inode) => {
                    return Ok(netns)
                }
                Ok(_)
                | Err(NetnsError::NotFound { .. })
                | Err(NetnsError::ProcessExited { .. })
                | Err(NetnsError::NotNetns { .. }) => continue,
                Err(other) => return Err(other),
            }
        }
        Err(NetnsError::Gone { inode: self.inode })
    }
}

/// Every network namespace on the host, and what the scan had to skip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceScan {
    /// Ascending by inode.
    pub namespaces: Vec<NetnsInfo>,
    /// Processes listed in /proc whose namespace could not be read: exited
    /// during the scan, or not ours to inspect (EACCES without root).
    pub skipped_pids: usize,
}

/// Lists every distinct network namespace: the /proc/PID/ns/net of every
/// process (one readdir of /proc, one stat per pid) plus those bind-mounted
/// under /run/netns that no process is in.
pub fn all_namespaces() -> Result<NamespaceScan, NetnsError> {
    scan_namespaces(Path::new(crate::source::HOST_PROC))
}

fn scan_namespaces(proc_root: &Path) -> Result<NamespaceScan, NetnsError> {
    let entries = fs::read_dir(proc_root).map_err(|source| NetnsError::Io {
        subject: proc_root.display().to_string(),
        source,
    })?;
    let mut by_key: BTreeMap<(u64, u64), NetnsInfo> = BTreeMap::new();
    let mut skipped_pids = 0;
    let mut ns_path = proc_root.to_path_buf();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        ns_path.push(entry.file_name());
        ns_path.push("ns/net");
        let meta = fs::metadata(&ns_path);
        ns_path.pop();
        ns_path.pop();
        ns_path.pop();
        match meta {
            Ok(meta) => add_pid(&mut by_key, meta.dev(), meta.ino(), pid),
            Err(_) => skipped_pids += 1,
        }
    }
    for (dev, inode, name) in named_namespaces() {
        let info = by_key.entry((dev, inode)).or_insert_with(|| NetnsInfo {
            inode,
            name: None,
            pids: Vec::new(),
            dev,
        });
        // named_namespaces is in name order: the first name stays.
        info.name.get_or_insert(name);
    }
    let mut namespaces: Vec<NetnsInfo> = by_key.into_values().collect();
    for info in &mut namespaces {
        info.pids.sort_unstable();
    }
    namespaces.sort_by_key(|info| (info.inode, info.dev));
    Ok(NamespaceScan {
        namespaces,
        skipped_pids,
    })
}

fn add_pid(by_key: &mut BTreeMap<(u64, u64), NetnsInfo>, dev: u64, inode: u64, pid: u32) {
    by_key
        .entry((dev, inode))
        .or_insert_with(|| NetnsInfo {
            inode,
            name: None,
            pids: Vec::new(),
            dev,
        })
        .pids
        .push(pid);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_tells_names_pids_and_paths_apart() {
        assert_eq!(NetnsSpec::parse("blue"), NetnsSpec::Name("blue".into()));
        assert_eq!(NetnsSpec::parse("1234"), NetnsSpec::Pid(1234));
        assert_eq!(
            NetnsSpec::parse("/proc/1/ns/net"),
            NetnsSpec::Path("/proc/1/ns/net".into())
        );
        assert_eq!(NetnsSpec::parse("./ns"), NetnsSpec::Path("./ns".into()));
        // Digits too large for a pid, and names with digits, are names.
        assert_eq!(
            NetnsSpec::parse("99999999999"),
            NetnsSpec::Name("99999999999".into())
        );
        assert_eq!(NetnsSpec::parse("ns1"), NetnsSpec::Name("ns1".into()));
        assert_eq!(NetnsSpec::parse("-1"), NetnsSpec::Name("-1".into()));
        assert_eq!(NetnsSpec::parse(""), NetnsSpec::Name(String::new()));
    }

    #[test]
    fn spec_paths() {
        assert_eq!(
            NetnsSpec::Name("blue".into()).path(),
            Path::new("/run/netns/blue")
        );
        assert_eq!(NetnsSpec::Pid(7).path(), Path::new("/proc/7/ns/net"));
        assert_eq!(NetnsSpec::Path("/x/y".into()).path(), Path::new("/x/y"));
    }

    #[test]
    fn errors_are_one_line_naming_the_subject() {
        let cases = [
            (
                NetnsError::NotFound {
                    spec: NetnsSpec::Name("blue".into()),
                },
                "netns \"blue\": not found (no /run/netns/blue)",
            ),
            (
                NetnsError::NotFound {
                    spec: NetnsSpec::Path("/x/y".into()),
                },
                "/x/y: not found",
            ),
            (
                NetnsError::NotNetns {
                    spec: NetnsSpec::Path("/proc/self/ns/mnt".into()),
                },
                "/proc/self/ns/mnt: not a network namespace",
            ),
            (
                NetnsError::PermissionDenied {
                    spec: NetnsSpec::Pid(42),
                    action: DeniedAction::Entering,
                },
                "pid 42: permission denied entering it (setns needs CAP_SYS_ADMIN)",
            ),
            (
                NetnsError::ProcessExited { pid: 42 },
                "pid 42: no such process",
            ),
            (
                NetnsError::Gone { inode: 4026532000 },
                "net:[4026532000]: namespace gone (its processes exited)",
            ),
            (
                NetnsError::Io {
                    subject: "/proc".into(),
                    source: io::Error::from_raw_os_error(libc::EIO),
                },
                "/proc: Input/output error (os error 5)",
            ),
        ];
        for (error, expected) in cases {
            assert_eq!(error.to_string(), expected);
        }
    }

    #[test]
    fn open_errors_by_errno() {
        let name = NetnsSpec::Name("x".into());
        let pid = NetnsSpec::Pid(9);
        let errno = io::Error::from_raw_os_error;
        assert!(matches!(
            open_error(&pid, errno(libc::ENOENT)),
            NetnsError::ProcessExited { pid: 9 }
        ));
        assert!(matches!(
            open_error(&pid, errno(libc::ESRCH)),
            NetnsError::ProcessExited { pid: 9 }
        ));
        assert!(matches!(
            open_error(&name, errno(libc::ENOENT)),
            NetnsError::NotFound { .. }
        ));
        assert!(matches!(
            open_error(&name, errno(libc::EACCES)),
            NetnsError::PermissionDenied {
                action: DeniedAction::Opening,
                ..
            }
        ));
        assert!(matches!(
            open_error(&name, errno(libc::EIO)),
            NetnsError::Io { .. }
        ));
    }

    /// A fake /proc: pids whose ns/net are files (two share one), a
    /// non-pid entry, and a pid without ns/net (exited mid-scan).
    #[test]
    fn scan_groups_pids_by_namespace_file_and_counts_the_unreadable() {
        let root = std::env::temp_dir().join(format!("twi-netns-scan-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        for pid in ["10", "11", "12", "13"] {
            fs::create_dir_all(root.join(pid).join("ns")).unwrap();
        }
        fs::create_dir_all(root.join("self/ns")).unwrap();
        fs::write(root.join("10/ns/net"), "a").unwrap();
        fs::write(root.join("11/ns/net"), "b").unwrap();
        fs::hard_link(root.join("10/ns/net"), root.join("12/ns/net")).unwrap();
        fs::write(root.join("self/ns/net"), "c").unwrap();
        let scan = scan_namespaces(&root).unwrap();
        let inode = |pid: &str| fs::metadata(root.join(pid).join("ns/net")).unwrap().ino();
        let got: Vec<(u64, Vec<u32>)> = scan
            .namespaces
            .iter()
            .filter(|info| info.inode == inode("10") || info.inode == inode("11"))
            .map(|info| (info.inode, info.pids.clone()))
            .collect();
        let mut expected = vec![(inode("10"), vec![10, 12]), (inode("11"), vec![11])];
        expected.sort();
        assert_eq!(got, expected);
        assert_eq!(scan.skipped_pids, 1, "pid 13 has no ns/net");
        assert!(scan.namespaces.windows(2).all(|w| w[0].inode <= w[1].inode));
        fs::remove_dir_all(&root).unwrap();
    }
}
