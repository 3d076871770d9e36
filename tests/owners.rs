//! Owner lookup: on a fake /proc tree (exact scan behaviour: shared sockets,
//! every holder, vanished processes, skipped scan) and on the real one in a
//! network namespace (a child process and this process as holders).
mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use common::{sockets, Netns};
use std::sync::atomic::AtomicBool;
use tw_inspect::model::{Family, Protocol, Query, Socket, TcpState};
use tw_inspect::source::owners::{attach_owners, attach_owners_after, read_socket_fds, OwnerScan};
use tw_inspect::source::procnet::read_sockets;

fn socket(inode: u64) -> Socket {
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9527);
    Socket {
        protocol: Protocol::Tcp,
        family: Family::Ipv4,
        state: if inode == 0 {
            TcpState::TimeWait
        } else {
            TcpState::Listen
        },
        local: addr,
        remote: addr,
        bound_device: 0,
        timer: None,
        rx_queue: 0,
        tx_queue: 0,
        uid: 0,
        inode,
        cookie: None,
        v6only: None,
        processes: Vec::new(),
    }
}

/// A fake /proc: numeric process directories with fd symlinks, comm and
/// cmdline; removed on drop.
struct FakeProc(PathBuf);

impl FakeProc {
    fn new() -> FakeProc {
        static N: AtomicU32 = AtomicU32::new(0);
        let root = std::env::temp_dir().join(format!(
            "twi-owners-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(root.join("net")).unwrap();
        symlink("100", root.join("self")).unwrap();
        let proc = FakeProc(root);
        proc.process(
            100,
            &["/dev/null", "socket:[1111]", "socket:[1111]", "pipe:[9]"],
            b"nginx\n",
            b"nginx\0-g\0daemon off;\0",
        );
        // A fork of 100 sharing socket 1111; a command line that is not UTF-8.
        proc.process(
            200,
            &["socket:[1111]", "socket:[2222]"],
            b"worker\n",
            b"worker\0\xff\xfe\0",
        );
        // 300 vanished (or its fd directory is unreadable): no fd directory.
        std::fs::create_dir_all(proc.0.join("300")).unwrap();
        let long = vec![b'a'; 10_000];
        proc.process(400, &["socket:[3333]"], b"long\n", &long);
        proc
    }

    fn process(&self, pid: u32, fds: &[&str], comm: &[u8], cmdline: &[u8]) {
        let dir = self.0.join(pid.to_string());
        std::fs::create_dir_all(dir.join("fd")).unwrap();
        for (fd, target) in fds.iter().enumerate() {
            symlink(target, dir.join("fd").join(fd.to_string())).unwrap();
        }
        std::fs::write(dir.join("comm"), comm).unwrap();
        std::fs::write(dir.join("cmdline"), cmdline).unwrap();
    }
}

impl Drop for FakeProc {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn pids(socket: &Socket) -> Vec<u32> {
    socket.processes.iter().map(|p| p.pid).collect()
}

#[test]
fn full_scan_finds_every_holder() {
    let proc = FakeProc::new();
    // 9999 is held by nobody visible, so the scan cannot stop early.
    let mut table = vec![
        socket(1111),
        socket(2222),
        socket(0),
        socket(9999),
        socket(3333),
    ];
    let scan = attach_owners(&mut table, &proc.0);
    assert_eq!(
        scan,
        OwnerScan {
            unseen: 1,
            pids_scanned: 3,
            pids_unreadable: 1,
        }
    );
    assert_eq!(pids(&table[0]), [100, 200]);
    assert_eq!(pids(&table[1]), [200]);
    assert_eq!(pids(&table[2]), Vec::<u32>::new());
    assert_eq!(pids(&table[3]), Vec::<u32>::new());
    assert_eq!(pids(&table[4]), [400]);

    let nginx = &table[0].processes[0];
    assert_eq!(nginx.comm, "nginx");
    assert_eq!(nginx.cmdline, "nginx -g daemon off;");
    let worker = &table[1].processes[0];
    assert_eq!(worker.comm, "worker");
    assert_eq!(worker.cmdline, "worker \u{fffd}\u{fffd}");
    assert_eq!(table[0].processes[1], *worker);
    let long = &table[4].processes[0];
    assert_eq!(long.cmdline.len(), 4096);
}

#[test]
fn every_holder_is_named_after_each_inode_has_one() {
    let proc = FakeProc::new();
    // A late worker of the pre-fork server 100, after every inode has a
    // holder: a scan that stopped there would miss it.
    proc.process(500, &["socket:[1111]"], b"worker\n", b"worker\0");
    std::fs::write(
        proc.0.join("500/stat"),
        "500 (worker) S 100 100 100 0 -1 4194560 0 0",
    )
    .unwrap();
    std::fs::write(proc.0.join("500/cgroup"), "0::/system.slice/web.service\n").unwrap();
    let mut table = vec![socket(1111), socket(2222)];
    let scan = attach_owners(&mut table, &proc.0);
    assert_eq!(
        scan,
        OwnerScan {
            unseen: 0,
            pids_scanned: 4,
            pids_unreadable: 1,
        }
    );
    assert_eq!(pids(&table[0]), [100, 200, 500]);
    assert_eq!(pids(&table[1]), [200]);
    let worker = &table[0].processes[2];
    assert_eq!((worker.ppid, worker.pgid), (Some(100), Some(100)));
    assert_eq!(worker.unit.as_deref(), Some("web.service"));
    // No stat or cgroup file: nothing is made up.
    let nginx = &table[0].processes[0];
    assert_eq!(
        (nginx.ppid, nginx.pgid, nginx.unit.as_deref()),
        (None, None, None)
    );
}

/// The fds read ahead (while the table was read) name the same owners as a
/// scan after the reading, even for a socket made after its process was
/// read ahead: what they miss is scanned for again.
#[test]
fn fds_read_ahead_name_the_owners_a_later_scan_names() {
    let proc = FakeProc::new();
    let early = read_socket_fds(&proc.0, &AtomicBool::new(false)).expect("not called off");
    // After the early read: a new socket in process 200 and a new process
    // holding one.
    symlink("socket:[5555]", proc.0.join("200/fd/7")).unwrap();
    proc.process(600, &["socket:[6666]"], b"late\n", b"late\0");

    let mut after = vec![
        socket(1111),
        socket(2222),
        socket(5555),
        socket(6666),
        socket(9999),
    ];
    let scan = attach_owners_after(&mut after, &proc.0, Some(early));
    let mut plain = after.clone();
    plain.iter_mut().for_each(|s| s.processes.clear());
    let plain_scan = attach_owners(&mut plain, &proc.0);

    assert_eq!(pids(&after[0]), [100, 200]);
    assert_eq!(pids(&after[2]), [200], "a socket made after the early read");
    assert_eq!(pids(&after[3]), [600], "a process started after it");
    assert_eq!(pids(&after[4]), Vec::<u32>::new());
    assert_eq!(after, plain);
    assert_eq!(scan, plain_scan);
}

#[test]
fn fds_read_ahead_alone_when_they_miss_nothing() {
    let proc = FakeProc::new();
    let early = read_socket_fds(&proc.0, &AtomicBool::new(false)).expect("not called off");
    // Gone before the attach: only the early read can have seen it.
    std::fs::remove_dir_all(proc.0.join("400")).unwrap();
    let mut table = vec![socket(1111), socket(3333)];
    let scan = attach_owners_after(&mut table, &proc.0, Some(early));
    assert_eq!(scan.unseen, 0);
    assert_eq!(pids(&table[0]), [100, 200]);
    assert_eq!(pids(&table[1]), [400]);
}

#[test]
fn a_called_off_read_ahead_returns_nothing() {
    let proc = FakeProc::new();
    assert!(read_socket_fds(&proc.0, &AtomicBool::new(true)).is_none());
}

#[test]
fn no_inode_no_scan() {
    let proc = FakeProc::new();
    let mut table = vec![socket(0), socket(0)];
    assert_eq!(attach_owners(&mut table, &proc.0), OwnerScan::default());
    assert!(table.iter().all(|s| s.processes.is_empty()));
    // Not even a missing /proc is looked at.
    assert_eq!(
        attach_owners(&mut table, Path::new("/nonexistent/twi-proc")),
        OwnerScan::default()
    );
}

#[test]
fn missing_proc_means_unseen() {
    let mut table = vec![socket(1111), socket(0)];
    let scan = attach_owners(&mut table, Path::new("/nonexistent/twi-proc"));
    assert_eq!(scan.unseen, 1);
    assert_eq!(scan.pids_scanned, 0);
}

#[test]
fn real_holders_in_a_namespace() {
    require_netns!();
    let ns = Netns::new();
    let marker = "twi-owner-marker";
    let code = "import socket, time\n\
                s = socket.socket(socket.AF_INET6)\n\
                s.bind(('::1', 9600))\n\
                s.listen()\n\
                print('ready', flush=True)\n\
                time.sleep(60)";
    let mut child = ns.spawn("python3", &["-c", code, marker]);
    assert_eq!(child.read_line(), "ready");

    // This process holds a listener; a TIME_WAIT has no holder.
    let own: SocketAddr = "127.0.0.1:9601".parse().unwrap();
    let _listener = ns.run(|| sockets::listen_with(own, sockets::Opts::default()));
    ns.run(|| sockets::client_side_time_wait("127.0.0.1:9602".parse().unwrap()));

    let mut table = ns
        .run(|| {
            read_sockets(
                Path::new("/proc/thread-self"),
                Protocol::Tcp,
                &Query::everything(),
            )
        })
        .unwrap();
    let scan = attach_owners(&mut table.sockets, Path::new("/proc"));
    assert_eq!(scan.unseen, 0, "{scan:?}");
    assert!(scan.pids_scanned > 0);

    let find = |port: u16, state: TcpState| {
        table
            .sockets
            .iter()
            .find(|s| s.local.port() == port && s.state == state)
            .unwrap_or_else(|| panic!("no {state} on {port}: {:?}", table.sockets))
    };
    let python = find(9600, TcpState::Listen);
    assert_eq!(pids(python), [child.pid()]);
    let process = &python.processes[0];
    assert!(process.comm.starts_with("python"), "{process:?}");
    assert!(
        process
            .cmdline
            .ends_with(&format!("time.sleep(60) {marker}")),
        "{process:?}"
    );
    assert!(!process.cmdline.contains('\0'));

    let mine = find(9601, TcpState::Listen);
    assert_eq!(pids(mine), [std::process::id()]);
    let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
    assert_eq!(mine.processes[0].comm, comm.trim_end());

    let time_wait = table
        .sockets
        .iter()
        .find(|s| s.state == TcpState::TimeWait)
        .expect("a TIME_WAIT");
    assert_eq!(time_wait.inode, 0);
    assert!(time_wait.processes.is_empty());
}
