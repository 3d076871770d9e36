//! Socket inode → the processes holding it, by one pass over `/proc/*/fd`.
//!
//! `ss -p` and `lsof` resolve every fd of every process; here only the inodes
//! of the sockets asked about are wanted, and comm/cmdline/stat/cgroup are
//! read only for the processes that matched. The scan reads every process:
//! a socket has as many holders as processes that inherited it (a pre-fork
//! server's parent and each worker), and stopping at the first would name
//! one worker of many.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::model::{Process, Socket};
use crate::source::cgroup::read_workload_from;
use crate::threads::joined;

/// Longest command line kept: enough to recognise a program, bounded so a
/// hostile process cannot make the report huge.
const MAX_CMDLINE: usize = 4096;
/// comm is at most 16 bytes in the kernel; this only guards a captured tree.
const MAX_COMM: usize = 64;
/// /proc/PID/stat is a few hundred bytes; only its first fields are read.
const MAX_STAT: usize = 1024;

/// What an owner scan saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OwnerScan {
    /// Sockets with an inode that no process could be found for: held by a
    /// process whose fds could not be read (another user's, when not root),
    /// by one that exited mid-scan, or by none (in flight, kernel-owned).
    pub unseen: usize,
    /// Process directories whose fds were read; 0 when the scan was skipped
    /// because no socket had an inode.
    pub pids_scanned: usize,
    /// Process directories whose fd list could not be read.
    pub pids_unreadable: usize,
}

/// Fills `processes` of every socket with an inode from the fds under
/// `proc_root` (the /proc mount, whose numeric entries are processes).
/// Sockets with inode 0 (time-wait, request sockets) get no process: they
/// have none. Processes found are in pid order; a socket shared after fork
/// lists every holder.
pub fn attach_owners<'a>(
    sockets: impl IntoIterator<Item = &'a mut Socket>,
    proc_root: &Path,
) -> OwnerScan {
    attach_owners_after(sockets, proc_root, None)
}

/// Every socket fd under a /proc, read ahead of the socket table it will
/// name owners in, so that the scan runs while the table is read.
#[derive(Debug)]
pub struct SocketFds {
    holders: HashMap<u64, Vec<u32>>,
    pids_scanned: usize,
    pids_unreadable: usize,
}

/// Reads every socket fd of every process under `proc_root`; None when
/// `stop` was raised before the end (the table needs no owner after all).
pub fn read_socket_fds(proc_root: &Path, stop: &AtomicBool) -> Option<SocketFds> {
    scan_fds(proc_root, &|_| true, Some(stop))
}

/// [`attach_owners`] with the fds read ahead, if any. A socket made after
/// its process was read ahead is not in them: whatever they miss is looked
/// for again by a scan now, so every socket of the reading is looked for
/// after it was read. (A socket they did see keeps the holders it had then,
/// milliseconds before: both are snapshots taken around the reading.)
pub fn attach_owners_after<'a>(
    sockets: impl IntoIterator<Item = &'a mut Socket>,
    proc_root: &Path,
    early: Option<SocketFds>,
) -> OwnerScan {
    let mut sockets: Vec<&mut Socket> = sockets.into_iter().filter(|s| s.inode != 0).collect();
    let mut holders: HashMap<u64, Vec<u32>> =
        sockets.iter().map(|s| (s.inode, Vec::new())).collect();
    let mut scan = OwnerScan::default();
    if let Some(early) = early {
        for (inode, pids) in &mut holders {
            if let Some(found) = early.holders.get(inode) {
                pids.clone_from(found);
            }
        }
        scan.pids_scanned = early.pids_scanned;
        scan.pids_unreadable = early.pids_unreadable;
    }
    let missed = |inode: u64| holders.get(&inode).is_some_and(Vec::is_empty);
    if holders.values().any(Vec::is_empty) {
        if let Some(found) = scan_fds(proc_root, &missed, None) {
            holders.extend(found.holders);
            scan.pids_scanned = found.pids_scanned;
            scan.pids_unreadable = found.pids_unreadable;
        }
    }

    let mut processes: HashMap<u32, Process> = HashMap::new();
    for socket in &mut sockets {
        let pids = holders
            .get(&socket.inode)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if pids.is_empty() {
            scan.unseen += 1;
            continue;
        }
        socket.processes = pids
            .iter()
            .map(|pid| {
                processes
                    .entry(*pid)
                    .or_insert_with(|| describe(proc_root, *pid))
                    .clone()
            })
            .collect();
    }
    scan
}

/// The holders (in pid order, each once) of the socket inodes `wanted`
/// accepts, from every process under `proc_root`; None when `stop` was
/// raised before the end. A missing /proc has no holders.
fn scan_fds(
    proc_root: &Path,
    wanted: &(dyn Fn(u64) -> bool + Sync),
    stop: Option<&AtomicBool>,
) -> Option<SocketFds> {
    let mut fds = SocketFds {
        holders: HashMap::new(),
        pids_scanned: 0,
        pids_unreadable: 0,
    };
    let Ok(entries) = fs::read_dir(proc_root) else {
        return Some(fds);
    };
    let pids: Vec<u32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    let stopped = || stop.is_some_and(|stop| stop.load(Ordering::Relaxed));
    // The kernel does the work (a directory listing per process, a readlink
    // per fd): processes are shared out over the CPUs, each thread taking
    // the next as it finishes one. (The fds of one process are not: parallel
    // readlinks in one fd directory contend in the kernel, measured slower
    // than one thread.)
    let finds = share_out(&pids, |pid, found: &mut ScannerFinds| {
        if !stopped() {
            scan_process(proc_root, *pid, wanted, found)
        }
    });
    if stopped() {
        return None;
    }
    for found in finds {
        fds.pids_scanned += found.pids_scanned;
        fds.pids_unreadable += found.pids_unreadable;
        for (inode, pid) in found.holders {
            fds.holders.entry(inode).or_default().push(pid);
        }
    }
    // In pid order, one entry per process however many fds it has on it.
    for pids in fds.holders.values_mut() {
        pids.sort_unstable();
        pids.dedup();
    }
    Some(fds)
}

/// Threads that read /proc at most: it is read as fast as a few CPUs ask.
const MAX_SCANNERS: usize = 4;

/// `each` over `items` on up to [`MAX_SCANNERS`] threads (this one among
/// them), each taking the next item as it finishes one; what each thread
/// gathered.
fn share_out<T: Sync, R: Default + Send>(items: &[T], each: impl Fn(&T, &mut R) + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_SCANNERS)
        .min(items.len().max(1));
    let next = AtomicUsize::new(0);
    let work = || {
        let mut gathered = R::default();
        while let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) {
            each(item, &mut gathered);
        }
        gathered
    };
    std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mut gathered = vec![work()];
        gathered.extend(helpers.into_iter().map(joined));
        gathered
    })
}

/// What one thread found: (socket inode, pid) pairs of wanted inodes.
#[derive(Default)]
struct ScannerFinds {
    holders: Vec<(u64, u32)>,
    pids_scanned: usize,
    pids_unreadable: usize,
}

/// The fds of one process that are wanted sockets.
fn scan_process(
    proc_root: &Path,
    pid: u32,
    wanted: &(dyn Fn(u64) -> bool + Sync),
    found: &mut ScannerFinds,
) {
    let fd_dir = proc_root.join(pid.to_string()).join("fd");
    // The directory is opened once for readlinkat and listed by path:
    // resolving each link relative to it measured ~25% faster than
    // read_link on full paths (procfs, which opens and stats every fd,
    // was slower still).
    let (Ok(dir), Ok(entries)) = (fs::File::open(&fd_dir), fs::read_dir(&fd_dir)) else {
        found.pids_unreadable += 1;
        return;
    };
    found.pids_scanned += 1;
    let mut link = [0u8; 64];
    for entry in entries.flatten() {
        // The process may close the fd or exit meanwhile: then it is gone.
        let inode = read_link_at(&dir, &entry.file_name(), &mut link).and_then(socket_inode);
        if let Some(inode) = inode.filter(|inode| wanted(*inode)) {
            found.holders.push((inode, pid));
        }
    }
}

/// The target of the symlink `name` in the directory `dir`, if it fits in
/// `buf` (socket links are at most 29 bytes; longer targets are not sockets).
fn read_link_at<'b>(dir: &fs::File, name: &OsStr, buf: &'b mut [u8; 64]) -> Option<&'b [u8]> {
    let mut c_name = [0u8; 32];
    let name = name.as_bytes();
    // Room for the NUL, and no NUL inside (fd names are digits).
    if name.len() >= c_name.len() || name.contains(&0) {
        return None;
    }
    c_name.get_mut(..name.len())?.copy_from_slice(name);
    // SAFETY: c_name is NUL-terminated, buf is writable for buf.len() bytes,
    // and dir is an open directory that outlives the call.
    let len = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            c_name.as_ptr().cast(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    let len = usize::try_from(len).ok().filter(|n| *n < buf.len())?;
    buf.get(..len)
}

/// The N of an fd link `socket:[N]`.
fn socket_inode(target: &[u8]) -> Option<u64> {
    let digits = target.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// comm, cmdline, parent, group, unit and container of a process that held a wanted
/// socket; empty when it has exited since (it did hold the socket, so it is
/// still reported).
fn describe(proc_root: &Path, pid: u32) -> Process {
    let dir = proc_root.join(pid.to_string());
    let comm = read_capped(&dir.join("comm"), MAX_COMM);
    let comm = comm.strip_suffix(b"\n").unwrap_or(&comm);
    let cmdline = read_capped(&dir.join("cmdline"), MAX_CMDLINE);
    let cmdline = cmdline.strip_suffix(b"\0").unwrap_or(&cmdline);
    let cmdline: Vec<u8> = cmdline
        .iter()
        .map(|b| if *b == 0 { b' ' } else { *b })
        .collect();
    let stat = read_capped(&dir.join("stat"), MAX_STAT);
    let (ppid, pgid) = parent_and_group(&stat).unzip();
    let workload = read_workload_from(proc_root, pid).unwrap_or_default();
    Process {
        pid,
        comm: String::from_utf8_lossy(comm).into_owned(),
        cmdline: String::from_utf8_lossy(&cmdline).into_owned(),
        ppid,
        pgid,
        unit: workload.unit,
        container: workload.container,
    }
}

/// ppid and pgrp from the text of /proc/PID/stat: `pid (comm) state ppid
/// pgrp ...`. comm may hold spaces and parentheses, so fields are counted
/// from the last ')'.
fn parent_and_group(stat: &[u8]) -> Option<(u32, u32)> {
    let close = stat.iter().rposition(|b| *b == b')')?;
    let rest = std::str::from_utf8(stat.get(close + 1..)?).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    let _state = fields.next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgid = fields.next()?.parse().ok()?;
    Some((ppid, pgid))
}

fn read_capped(path: &Path, cap: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    if let Ok(file) = fs::File::open(path) {
        // A read error leaves what was read: a partial name beats none.
        let _ = file.take(cap as u64).read_to_end(&mut bytes);
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_the_name() {
        assert_eq!(
            parent_and_group(b"42 (a) b) c) S 7 42 42 0 -1 4194560"),
            Some((7, 42))
        );
        assert_eq!(parent_and_group(b"42 (x) S 1"), None);
        assert_eq!(parent_and_group(b"42 (x) S one 2"), None);
        assert_eq!(parent_and_group(b""), None);
    }

    #[test]
    fn socket_links_only() {
        assert_eq!(socket_inode(b"socket:[12345]"), Some(12345));
        assert_eq!(
            socket_inode(b"socket:[18446744073709551615]"),
            Some(u64::MAX)
        );
        assert_eq!(socket_inode(b"socket:[18446744073709551616]"), None);
        assert_eq!(socket_inode(b"socket:[]"), None);
        assert_eq!(socket_inode(b"socket:[+1]"), None);
        assert_eq!(socket_inode(b"pipe:[12345]"), None);
        assert_eq!(socket_inode(b"/tmp/socket:[1]"), None);
    }
}
