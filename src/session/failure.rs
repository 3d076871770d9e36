//! One failed bind caught by the kernel watcher ([`crate::source::bpf`]),
//! judged: the [`FailureReport`] both the `--watch` face and the dashboard
//! render. [`Session::judge_failure`] builds the [`BindSpec`] from the
//! event ([`bind_spec`]), finds the event's namespace
//! ([`namespace_session`]), asks [`Session::check_port`] there, and names
//! who left each TIME_WAIT blocker from the [`CloseLog`].

use std::net::SocketAddr;
use std::time::SystemTime;

use crate::diagnosis::{IntendedBind, Reason, Verdict};
use crate::model::{NamespaceId, Workload};
use crate::session::{BindOptions, BindSpec, Session};
use crate::source::bpf::{monotonic_to_system_time, BindFailed, CloseLog};
use crate::source::cgroup::read_workload;
use crate::source::device_name;
use crate::source::netns::{all_namespaces, Netns, NetnsSpec};

/// Who left a TIME_WAIT: the task that closed the connection first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftBy {
    pub pid: u32,
    pub comm: String,
    pub at: SystemTime,
}

/// A failed bind, where it was made, and what blocked it.
#[derive(Debug, Clone)]
pub struct FailureReport {
    /// When bind() returned EADDRINUSE (wall clock).
    pub time: SystemTime,
    /// The process (tgid, as seen from the initial pid namespace).
    pub pid: u32,
    pub comm: String,
    pub uid: u32,
    /// /proc/PID/cmdline with NULs as spaces; empty when the process is gone.
    pub cmdline: String,
    pub netns: NamespaceId,
    pub workload: Workload,
    /// The bind as the process made it: options read from its socket.
    pub bind: IntendedBind,
    /// The verdict judged at once in its namespace with its options, or why
    /// there is none (the namespace vanished before it could be read).
    pub verdict: Result<Verdict, String>,
    /// For each of the verdict's blockers (same order): who left it, when it
    /// is a TIME_WAIT whose close the watcher saw.
    pub left_by: Vec<Option<LeftBy>>,
}

/// Verdicts already judged in the current batch of events, by namespace
/// and bind: a process retrying a failed bind in a loop sends many identical
/// events, and judging each again would only make the watcher fall behind
/// (and the ring buffer overflow). Cleared after each batch, so a verdict is
/// never older than one poll.
#[derive(Default)]
pub struct BatchVerdicts(Vec<((u32, BindSpec), Judged)>);

/// The namespace an event was judged in, and the verdict (or why none).
type Judged = (NamespaceId, Result<Verdict, String>);

impl BatchVerdicts {
    /// Forgets every verdict: call after each batch of events.
    pub fn clear(&mut self) {
        self.0.clear();
    }

    fn judge(&mut self, failed: &BindFailed, spec: &BindSpec, session: &Session) -> Judged {
        let key = (failed.netns_inode, spec.clone());
        if let Some((_, answer)) = self.0.iter().find(|(seen, _)| *seen == key) {
            return answer.clone();
        }
        let answer = judge(failed, spec, session);
        self.0.push((key, answer.clone()));
        answer
    }
}

/// The verdict on `spec` in the event's namespace, and that namespace's name.
fn judge(failed: &BindFailed, spec: &BindSpec, session: &Session) -> Judged {
    let unnamed = NamespaceId {
        inode: u64::from(failed.netns_inode),
        name: None,
    };
    match namespace_session(session, failed.netns_inode, failed.task.tgid) {
        Ok(session) => {
            let verdict = session
                .check_port(spec)
                .map(|check| check.verdict)
                .map_err(|e| e.to_string());
            (session.namespace().unwrap_or(unnamed), verdict)
        }
        Err(why) => (unnamed, Err(why)),
    }
}

impl Session {
    /// Everything about one failed bind, its verdict judged now in the
    /// event's namespace with the options read from its socket; `left_by`
    /// names who closed each TIME_WAIT blocker when `close_log` saw it.
    /// `verdicts` reuses a verdict already judged in the same batch.
    pub fn judge_failure(
        &self,
        failed: &BindFailed,
        close_log: &CloseLog,
        verdicts: &mut BatchVerdicts,
    ) -> FailureReport {
        let session = self;
        let spec = bind_spec(failed);
        let pid = failed.task.tgid;
        let (netns, verdict) = verdicts.judge(failed, &spec, session);
        let left_by = match &verdict {
            Ok(verdict) => verdict
                .blockers
                .iter()
                .map(|blocker| {
                    let socket = &blocker.socket;
                    if blocker.reason != Reason::TimeWait {
                        return None;
                    }
                    left_by(close_log, failed.netns_inode, socket.local, socket.remote)
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        FailureReport {
            time: monotonic_to_system_time(failed.at_monotonic_ns),
            pid,
            comm: failed.task.comm.clone(),
            uid: failed.task.uid,
            cmdline: cmdline(pid),
            netns,
            workload: read_workload(pid).unwrap_or_default(),
            bind: event_bind(failed),
            verdict,
            left_by,
        }
    }
}

fn left_by(
    close_log: &CloseLog,
    netns_inode: u32,
    local: SocketAddr,
    remote: SocketAddr,
) -> Option<LeftBy> {
    let closed = close_log.left_by(netns_inode, local, remote)?;
    Some(LeftBy {
        pid: closed.task.tgid,
        comm: closed.task.comm.clone(),
        at: monotonic_to_system_time(closed.at_monotonic_ns),
    })
}

/// The bind as the process made it, in the user's words for the session.
pub fn bind_spec(failed: &BindFailed) -> BindSpec {
    BindSpec {
        port: failed.addr.port(),
        options: BindOptions {
            protocol: failed.protocol,
            addr: Some(failed.addr.ip()),
            reuseaddr: failed.reuseaddr,
            reuseport: failed.reuseport,
            // As the socket has it: set or cleared, whatever bindv6only says.
            v6only: Some(failed.v6only),
            device: failed.bound_dev_if.and_then(device_name),
            // SO_REUSEPORT shares a port only within one uid: the process's.
            uid: Some(failed.task.uid),
        },
    }
}

/// The bind exactly as read from the socket (no kernel default applied).
fn event_bind(failed: &BindFailed) -> IntendedBind {
    let options = bind_spec(failed).options;
    IntendedBind {
        protocol: options.protocol,
        addr: failed.addr.ip(),
        port: failed.addr.port(),
        reuseaddr: options.reuseaddr,
        reuseport: options.reuseport,
        v6only: failed.addr.is_ipv6() && failed.v6only,
        device: options.device,
        uid: options.uid,
    }
}

/// A session in the namespace with inode `inode`: the given session when it
/// is already there, else through the process (`/proc/PID/ns/net`, when it
/// still lives and its main thread is in that namespace), else any way in
/// the host offers (a /run/netns name, another process in it).
pub fn namespace_session(session: &Session, inode: u32, pid: u32) -> Result<Session, String> {
    let inode = u64::from(inode);
    if session.namespace().is_some_and(|id| id.inode == inode) {
        return Ok(session.clone());
    }
    if let Ok(netns) = Netns::open(&NetnsSpec::Pid(pid)) {
        if netns.inode() == inode {
            return Ok(session.clone().in_namespace(netns));
        }
    }
    let scan = all_namespaces().map_err(|e| e.to_string())?;
    let info = scan
        .namespaces
        .iter()
        .find(|info| info.inode == inode)
        .ok_or_else(|| format!("net:[{inode}]: the namespace is gone"))?;
    let netns = info.open().map_err(|e| e.to_string())?;
    Ok(session.clone().in_namespace(netns))
}

/// /proc/PID/cmdline with its NULs as spaces; empty when unreadable.
fn cmdline(pid: u32) -> String {
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(bytes) => String::from_utf8_lossy(&bytes)
            .trim_end_matches('\0')
            .replace('\0', " "),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::bpf::Task;

    fn failed(addr: &str, bound_dev_if: Option<u32>) -> BindFailed {
        BindFailed {
            task: Task {
                pid: 2,
                tgid: 1,
                uid: 0,
                comm: "server".into(),
            },
            netns_inode: 1,
            protocol: crate::model::Protocol::Udp,
            addr: addr.parse().unwrap(),
            reuseaddr: true,
            reuseport: false,
            v6only: true,
            bound_dev_if,
            at_monotonic_ns: 0,
        }
    }

    #[test]
    fn the_spec_is_the_event_bind() {
        let spec = bind_spec(&failed("[::1]:7001", None));
        assert_eq!(spec.port, 7001);
        assert_eq!(spec.options.protocol, crate::model::Protocol::Udp);
        assert_eq!(spec.options.addr, Some("::1".parse().unwrap()));
        assert!(
            spec.options.reuseaddr && !spec.options.reuseport && spec.options.v6only == Some(true)
        );
        assert_eq!(spec.options.device, None);
        // The loopback device is index 1 in every namespace.
        let on_lo = bind_spec(&failed("127.0.0.1:7001", Some(1)));
        assert_eq!(on_lo.options.device.as_deref(), Some("lo"));
    }

    #[test]
    fn v6only_means_nothing_on_ipv4() {
        assert!(!event_bind(&failed("127.0.0.1:7001", None)).v6only);
        assert!(event_bind(&failed("[::1]:7001", None)).v6only);
    }
}
