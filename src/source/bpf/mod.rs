//! The eBPF watcher behind `--watch`: bind() failing with EADDRINUSE, caught
//! as it happens, and the closes that leave TIME_WAITs behind.
//!
//! The kernel side is `bpf/twi_watch.bpf.c`, compiled by `bpf/build.sh` into
//! `bpf/twi_watch.bpf.o`, which is committed and embedded here (so building
//! needs no clang; a test checks the object matches a rebuild). It has two
//! `tp_btf` programs, the only kind the target kernels accept for this
//! (fentry/fexit/LSM are refused, kprobes absent):
//!
//! - `twi_bind_fail` on `sys_exit`: a bind() that returned -EADDRINUSE, with
//!   the address passed and the options read from the socket itself
//!   → [`WatchEvent::BindFailed`].
//! - `twi_tcp_close` on `inet_sock_set_state`: ESTABLISHED → FIN_WAIT1, the
//!   only transition that runs in the closing process's context (the kernel
//!   never reports the move into TIME_WAIT) → [`WatchEvent::Closed`]. A
//!   TIME_WAIT whose 4-tuple and namespace match was left by that task:
//!   keep them in a [`CloseLog`] and ask it [`CloseLog::left_by`].
//!
//! Pids are as seen from the initial pid namespace (a container's process
//! shows its host pid); `comm` is the thread's name, not the command line.
//!
//! Usage:
//!
//! ```no_run
//! use std::time::Duration;
//! use tw_inspect::source::bpf::{WatchScope, Watcher, WatchEvent};
//!
//! let scope = WatchScope::current_netns().expect("own namespace").with_port(8080);
//! let mut watcher = Watcher::start(scope).unwrap_or_else(|why| {
//!     eprintln!("tw-inspect: cannot watch: {why}");
//!     std::process::exit(2)
//! });
//! loop {
//!     for event in watcher.poll(Duration::from_millis(500)) {
//!         if let WatchEvent::BindFailed(failed) = event {
//!             println!("{} ({}) could not bind {}", failed.task.comm, failed.task.tgid, failed.addr);
//!         }
//!     }
//!     if watcher.lost() > 0 { /* say so */ }
//! }
//! ```
//!
//! Cost: while a [`Watcher`] lives, every system call on the host runs the
//! `sys_exit` program (one compare for all but failed binds). Dropping the
//! watcher detaches both programs.

mod close_log;
mod event;

pub use close_log::{CloseLog, CLOSE_MEMORY_NS};
pub use event::{
    decode, monotonic_now_ns, monotonic_to_system_time, BindFailed, Closed, DecodeError, Task,
    WatchEvent, RECORD_LEN,
};

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use aya::maps::{Array, MapData, RingBuf};
use aya::programs::BtfTracePoint;
use aya::{Btf, Ebpf, EbpfError, EbpfLoader};

/// The programs' names as the kernel lists them (`bpftool prog show`).
pub const PROGRAM_NAMES: [&str; 2] = ["twi_bind_fail", "twi_tcp_close"];

/// Each program and the BTF tracepoint it attaches to.
const ATTACHMENTS: [(&str, &str); 2] = [
    (PROGRAM_NAMES[0], "sys_exit"),
    (PROGRAM_NAMES[1], "inet_sock_set_state"),
];

/// Where the committed object lives, for the rebuild check.
pub const OBJECT_PATH: &str = "bpf/twi_watch.bpf.o";

/// The compiled programs (x86_64 only: the bind syscall number is compiled in).
#[cfg(target_arch = "x86_64")]
const OBJECT: Option<&[u8]> = Some(aya::include_bytes_aligned!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/bpf/twi_watch.bpf.o"
)));
#[cfg(not(target_arch = "x86_64"))]
const OBJECT: Option<&[u8]> = None;

/// What the watcher sees. The default sees everything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WatchScope {
    /// Only this network namespace (its inode); None: every namespace.
    pub netns_inode: Option<u32>,
    /// Only this port (a bind's port; either end of a close); None: every port.
    pub port: Option<u16>,
    /// Leave out the binds of the process that watches: a face that judges
    /// each failure makes probe binds that fail too, and must not be fed its
    /// own probes back without end.
    pub ignore_self: bool,
}

impl WatchScope {
    /// The whole host.
    pub fn all_namespaces() -> WatchScope {
        WatchScope::default()
    }

    /// The namespace of the calling thread.
    pub fn current_netns() -> io::Result<WatchScope> {
        WatchScope::netns(Path::new("/proc/thread-self/ns/net"))
    }

    /// The namespace a file names: `/run/netns/NAME`, `/proc/PID/ns/net`.
    pub fn netns(path: &Path) -> io::Result<WatchScope> {
        Ok(WatchScope {
            netns_inode: Some(netns_inode(path)?),
            ..WatchScope::default()
        })
    }

    /// Narrowed to one port.
    pub fn with_port(self, port: u16) -> WatchScope {
        WatchScope {
            port: Some(port),
            ..self
        }
    }

    /// Without the watching process's own binds.
    pub fn ignoring_self(self) -> WatchScope {
        WatchScope {
            ignore_self: true,
            ..self
        }
    }
}

/// The inode of a network namespace file (what events carry as `netns_inode`).
pub fn netns_inode(path: &Path) -> io::Result<u32> {
    let inode = std::fs::metadata(path)?.ino();
    u32::try_from(inode).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: inode {inode} is not a namespace inode", path.display()),
        )
    })
}

/// Why the watcher cannot run here. Display is one line.
#[derive(Debug)]
pub enum WatchUnavailable {
    /// Not root, and the kernel said no (needs root, or CAP_BPF + CAP_PERFMON).
    NotRoot { euid: u32, errno: i32 },
    /// Root, yet the kernel refused to create the maps (a container without
    /// CAP_BPF/CAP_SYS_ADMIN, lockdown, a seccomp filter...).
    MissingCapability { errno: i32 },
    /// The kernel has no bpf() system call (ENOSYS).
    BpfDisabled,
    /// /sys/kernel/btf/vmlinux is missing or unreadable (errno when there is one).
    NoBtf { errno: Option<i32> },
    /// The kernel refused to load or attach one program.
    ProgramRefused {
        program: &'static str,
        errno: Option<i32>,
    },
    /// The kernel's structures lack a field the programs read (CO-RE failed).
    IncompatibleKernel { detail: String },
    /// The embedded object could not be parsed (a build defect).
    BadObject { detail: String },
    /// Not x86_64: the programs are built for x86_64's syscall table.
    UnsupportedArch,
}

impl fmt::Display for WatchUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WatchUnavailable::NotRoot { euid, errno } => write!(
                f,
                "not root (uid {euid}): loading BPF programs needs root or CAP_BPF and CAP_PERFMON ({})",
                errno_text(*errno)
            ),
            WatchUnavailable::MissingCapability { errno } => write!(
                f,
                "the kernel refused BPF to this process ({}): a container without CAP_BPF, lockdown or seccomp?",
                errno_text(*errno)
            ),
            WatchUnavailable::BpfDisabled => {
                write!(f, "this kernel has no BPF (bpf() is not implemented)")
            }
            WatchUnavailable::NoBtf { errno } => match errno {
                Some(errno) => write!(
                    f,
                    "no kernel BTF: /sys/kernel/btf/vmlinux: {}",
                    errno_text(*errno)
                ),
                None => write!(f, "no usable kernel BTF at /sys/kernel/btf/vmlinux"),
            },
            WatchUnavailable::ProgramRefused { program, errno } => {
                write!(f, "the kernel refused the BPF program {program}")?;
                match errno {
                    Some(errno) => write!(f, " ({})", errno_text(*errno)),
                    None => Ok(()),
                }
            }
            WatchUnavailable::IncompatibleKernel { detail } => {
                write!(f, "this kernel's socket structures do not match: {detail}")
            }
            WatchUnavailable::BadObject { detail } => {
                write!(f, "the embedded BPF object is broken: {detail}")
            }
            WatchUnavailable::UnsupportedArch => {
                write!(f, "watching binds is only built for x86_64")
            }
        }
    }
}

impl std::error::Error for WatchUnavailable {}

fn errno_text(errno: i32) -> String {
    io::Error::from_raw_os_error(errno).to_string()
}

/// The step of [`Watcher::start`] that failed, for [`classify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartStep {
    /// Reading the kernel's BTF.
    Btf,
    /// Creating maps and loading the object's BTF.
    Maps,
    /// Loading or attaching one program.
    Program(&'static str),
}

/// Names the cause of a failed step from its errno and the effective uid.
pub fn classify(step: StartStep, errno: Option<i32>, euid: u32) -> WatchUnavailable {
    match (step, errno) {
        (_, Some(libc::ENOSYS)) => WatchUnavailable::BpfDisabled,
        (_, Some(errno @ (libc::EPERM | libc::EACCES))) if euid != 0 => {
            WatchUnavailable::NotRoot { euid, errno }
        }
        (StartStep::Btf, errno) => WatchUnavailable::NoBtf { errno },
        (StartStep::Maps, Some(errno)) => WatchUnavailable::MissingCapability { errno },
        (StartStep::Maps, None) => WatchUnavailable::BadObject {
            detail: "map setup failed without an errno".into(),
        },
        (StartStep::Program(program), errno) => WatchUnavailable::ProgramRefused { program, errno },
    }
}

/// The errno deepest in an error's source chain, if any.
fn errno_in(error: &(dyn std::error::Error + 'static)) -> Option<i32> {
    let mut current = Some(error);
    let mut found = None;
    while let Some(error) = current {
        if let Some(errno) = error
            .downcast_ref::<io::Error>()
            .and_then(io::Error::raw_os_error)
        {
            found = Some(errno);
        }
        current = error.source();
    }
    found
}

fn classify_load(error: &EbpfError, euid: u32) -> WatchUnavailable {
    match error {
        EbpfError::BtfRelocationError(_) => WatchUnavailable::IncompatibleKernel {
            detail: chain_text(error),
        },
        EbpfError::MapError(_) | EbpfError::BtfError(_) => {
            classify(StartStep::Maps, errno_in(error), euid)
        }
        // Parsing, pinning, call relocation: nothing the kernel decided.
        _ => WatchUnavailable::BadObject {
            detail: chain_text(error),
        },
    }
}

/// An error and its causes on one line.
fn chain_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.replace('\n', " ")
}

/// The attached programs and their ring buffer. Dropping it detaches both.
pub struct Watcher {
    events: RingBuf<MapData>,
    lost: Array<MapData, u64>,
    malformed: u64,
    // Owns the programs and their links; its drop detaches them.
    programs: Ebpf,
}

impl Watcher {
    /// Loads and attaches the programs, scoped to `scope`.
    pub fn start(scope: WatchScope) -> Result<Watcher, WatchUnavailable> {
        let object = OBJECT.ok_or(WatchUnavailable::UnsupportedArch)?;
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        let btf = Btf::from_sys_fs().map_err(|e| classify(StartStep::Btf, errno_in(&e), euid))?;
        let netns_inode = scope.netns_inode.unwrap_or(0);
        let port = scope.port.unwrap_or(0);
        // Events carry host (initial pid namespace) tgids, as this pid is.
        let ignore_tgid = if scope.ignore_self {
            std::process::id()
        } else {
            0
        };
        let mut programs = EbpfLoader::new()
            .btf(Some(&btf))
            .override_global("scope_netns_inode", &netns_inode, true)
            .override_global("scope_port", &port, true)
            .override_global("ignore_tgid", &ignore_tgid, true)
            .load(object)
            .map_err(|e| classify_load(&e, euid))?;
        for (name, tracepoint) in ATTACHMENTS {
            let refused = |e: &(dyn std::error::Error + 'static)| {
                classify(StartStep::Program(name), errno_in(e), euid)
            };
            let program: &mut BtfTracePoint = programs
                .program_mut(name)
                .ok_or_else(|| missing(name))?
                .try_into()
                .map_err(|e| refused(&e))?;
            program.load(tracepoint, &btf).map_err(|e| refused(&e))?;
            program.attach().map_err(|e| refused(&e))?;
        }
        let events = programs
            .take_map("EVENTS")
            .ok_or_else(|| missing("EVENTS"))
            .and_then(|map| RingBuf::try_from(map).map_err(|e| bad_object(&e)))?;
        let lost = programs
            .take_map("LOST")
            .ok_or_else(|| missing("LOST"))
            .and_then(|map| Array::try_from(map).map_err(|e| bad_object(&e)))?;
        Ok(Watcher {
            events,
            lost,
            malformed: 0,
            programs,
        })
    }

    /// The events ready now, or, when there are none, those that arrive
    /// within `timeout` (an empty Vec when none did, or a signal came).
    pub fn poll(&mut self, timeout: Duration) -> Vec<WatchEvent> {
        let events = self.drain();
        if !events.is_empty() {
            return events;
        }
        let mut pollfd = libc::pollfd {
            fd: self.events.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd; EINTR and errors leave revents 0 and are
        // answered by draining whatever is there.
        unsafe { libc::poll(&mut pollfd, 1, millis) };
        self.drain()
    }

    fn drain(&mut self) -> Vec<WatchEvent> {
        let mut events = Vec::new();
        while let Some(record) = self.events.next() {
            match decode(&record) {
                Ok(event) => events.push(event),
                Err(_) => self.malformed += 1,
            }
        }
        events
    }

    /// Events the kernel dropped because the ring buffer was full.
    pub fn lost(&self) -> u64 {
        // Index 0 of a one-entry array always exists; a failed read (it
        // cannot) counts as nothing lost rather than ending the watch.
        self.lost.get(&0, 0).unwrap_or(0)
    }

    /// The kernel's ids of the attached programs (`bpftool prog show id N`).
    pub fn program_ids(&self) -> Vec<u32> {
        self.programs
            .programs()
            .filter_map(|(_, program)| program.info().ok())
            .map(|info| info.id())
            .collect()
    }

    /// Records that did not decode (a mismatch between object and decoder).
    pub fn malformed(&self) -> u64 {
        self.malformed
    }
}

/// The ring buffer's fd: readable when events wait (for a caller's own poll loop).
impl AsFd for Watcher {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.events.as_fd()
    }
}

fn missing(name: &str) -> WatchUnavailable {
    WatchUnavailable::BadObject {
        detail: format!("{name} is not in the object"),
    }
}

fn bad_object(error: &(dyn std::error::Error + 'static)) -> WatchUnavailable {
    WatchUnavailable::BadObject {
        detail: chain_text(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_errors_as_a_user_mean_not_root() {
        for step in [
            StartStep::Btf,
            StartStep::Maps,
            StartStep::Program("twi_bind_fail"),
        ] {
            for errno in [libc::EPERM, libc::EACCES] {
                assert!(matches!(
                    classify(step, Some(errno), 1000),
                    WatchUnavailable::NotRoot { euid: 1000, errno: e } if e == errno
                ));
            }
        }
    }

    #[test]
    fn root_refused_maps_is_a_missing_capability_and_programs_name_themselves() {
        assert!(matches!(
            classify(StartStep::Maps, Some(libc::EPERM), 0),
            WatchUnavailable::MissingCapability { errno: libc::EPERM }
        ));
        let refused = classify(StartStep::Program("twi_tcp_close"), Some(libc::EPERM), 0);
        assert!(matches!(
            refused,
            WatchUnavailable::ProgramRefused {
                program: "twi_tcp_close",
                errno: Some(libc::EPERM)
            }
        ));
        assert_eq!(
            refused.to_string(),
            format!(
                "the kernel refused the BPF program twi_tcp_close ({})",
                io::Error::from_raw_os_error(libc::EPERM)
            )
        );
    }

    #[test]
    fn enosys_is_bpf_disabled_and_btf_failures_are_no_btf() {
        assert!(matches!(
            classify(StartStep::Maps, Some(libc::ENOSYS), 1000),
            WatchUnavailable::BpfDisabled
        ));
        assert!(matches!(
            classify(StartStep::Btf, Some(libc::ENOENT), 0),
            WatchUnavailable::NoBtf {
                errno: Some(libc::ENOENT)
            }
        ));
        assert!(matches!(
            classify(StartStep::Btf, None, 0),
            WatchUnavailable::NoBtf { errno: None }
        ));
    }

    #[test]
    fn every_cause_displays_on_one_line() {
        let causes = [
            classify(StartStep::Maps, Some(libc::EPERM), 1000),
            classify(StartStep::Maps, Some(libc::EPERM), 0),
            classify(StartStep::Maps, Some(libc::ENOSYS), 0),
            classify(StartStep::Btf, Some(libc::ENOENT), 0),
            classify(StartStep::Btf, None, 0),
            classify(StartStep::Program("twi_bind_fail"), None, 0),
            classify(StartStep::Maps, None, 0),
            WatchUnavailable::IncompatibleKernel {
                detail: chain_text(&io::Error::other("field skc_reuse")),
            },
            WatchUnavailable::UnsupportedArch,
        ];
        for cause in causes {
            let text = cause.to_string();
            assert!(!text.is_empty() && !text.contains('\n'), "{text:?}");
        }
    }

    #[test]
    fn the_deepest_errno_in_a_chain_is_found() {
        #[derive(Debug)]
        struct Outer(io::Error);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "outer")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let error = Outer(io::Error::from_raw_os_error(libc::EPERM));
        assert_eq!(errno_in(&error), Some(libc::EPERM));
        assert_eq!(errno_in(&io::Error::other("no errno")), None);
    }

    #[test]
    fn a_watcher_can_move_to_another_thread() {
        fn send<T: Send>() {}
        send::<Watcher>();
        send::<WatchUnavailable>();
    }

    #[test]
    fn scopes_narrow() {
        let scope = WatchScope::all_namespaces().with_port(8080);
        assert_eq!(
            scope,
            WatchScope {
                netns_inode: None,
                port: Some(8080),
                ignore_self: false,
            }
        );
        assert!(WatchScope::all_namespaces().ignoring_self().ignore_self);
        let own = WatchScope::current_netns().unwrap();
        assert_eq!(
            own.netns_inode,
            Some(netns_inode(Path::new("/proc/self/ns/net")).unwrap())
        );
    }
}
