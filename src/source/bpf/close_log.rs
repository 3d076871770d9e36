//! Who left each TIME_WAIT: the watcher's [`Closed`] events, kept for as
//! long as the TIME_WAITs they became can last, looked up by namespace and
//! 4-tuple (the kernel never reports the move into TIME_WAIT itself).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

use super::event::Closed;

/// How long a close is kept: Linux's TIME_WAIT lasts 60 s (TCP_TIMEWAIT_LEN),
/// plus the FIN_WAIT states before it.
pub const CLOSE_MEMORY_NS: u64 = 120 * 1_000_000_000;

type Key = (u32, SocketAddr, SocketAddr);

/// Recent closes by (netns inode, local, remote), bounded in age and count.
#[derive(Debug)]
pub struct CloseLog {
    capacity: usize,
    by_tuple: HashMap<Key, Closed>,
    /// Insertion order, for pruning: (key, at) of each record.
    order: VecDeque<(Key, u64)>,
}

impl CloseLog {
    /// A log that keeps at most `capacity` closes (the oldest go first).
    pub fn new(capacity: usize) -> CloseLog {
        CloseLog {
            capacity: capacity.max(1),
            by_tuple: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Remembers a close; the latest close of a 4-tuple wins.
    pub fn record(&mut self, closed: Closed) {
        let key = key(closed.netns_inode, closed.local, closed.remote);
        self.order.push_back((key, closed.at_monotonic_ns));
        self.by_tuple.insert(key, closed);
        while self.order.len() > self.capacity {
            self.pop_oldest();
        }
    }

    /// Forgets closes older than [`CLOSE_MEMORY_NS`] before `now_monotonic_ns`.
    pub fn prune(&mut self, now_monotonic_ns: u64) {
        while let Some(&(_, at)) = self.order.front() {
            if now_monotonic_ns.saturating_sub(at) <= CLOSE_MEMORY_NS {
                break;
            }
            self.pop_oldest();
        }
    }

    /// The close that left the socket `local` ↔ `remote` in namespace
    /// `netns_inode` (IPv4-mapped IPv6 addresses match their IPv4 form).
    pub fn left_by(
        &self,
        netns_inode: u32,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Option<&Closed> {
        self.by_tuple.get(&key(netns_inode, local, remote))
    }

    pub fn len(&self) -> usize {
        self.by_tuple.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_tuple.is_empty()
    }

    fn pop_oldest(&mut self) {
        if let Some((key, at)) = self.order.pop_front() {
            // Only if no newer close of the same tuple replaced it.
            if self
                .by_tuple
                .get(&key)
                .is_some_and(|closed| closed.at_monotonic_ns == at)
            {
                self.by_tuple.remove(&key);
            }
        }
    }
}

fn key(netns_inode: u32, local: SocketAddr, remote: SocketAddr) -> Key {
    (netns_inode, canonical(local), canonical(remote))
}

fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::bpf::Task;

    fn closed(pid: u32, local: &str, remote: &str, at_monotonic_ns: u64) -> Closed {
        Closed {
            task: Task {
                pid,
                tgid: pid,
                uid: 0,
                comm: "server".into(),
            },
            netns_inode: 7,
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            at_monotonic_ns,
        }
    }

    #[test]
    fn a_close_is_found_by_namespace_and_four_tuple_only() {
        let mut log = CloseLog::new(10);
        log.record(closed(100, "127.0.0.1:8080", "127.0.0.1:40000", 1));
        let local = "127.0.0.1:8080".parse().unwrap();
        let remote = "127.0.0.1:40000".parse().unwrap();
        assert_eq!(log.left_by(7, local, remote).map(|c| c.task.pid), Some(100));
        assert!(log.left_by(8, local, remote).is_none());
        assert!(log.left_by(7, remote, local).is_none());
        assert!(log
            .left_by(7, local, "127.0.0.1:40001".parse().unwrap())
            .is_none());
    }

    #[test]
    fn ipv4_mapped_addresses_match_their_ipv4_form() {
        let mut log = CloseLog::new(10);
        log.record(closed(
            5,
            "[::ffff:10.0.0.1]:80",
            "[::ffff:10.0.0.2]:5000",
            1,
        ));
        let found = log.left_by(
            7,
            "10.0.0.1:80".parse().unwrap(),
            "10.0.0.2:5000".parse().unwrap(),
        );
        assert_eq!(found.map(|c| c.task.pid), Some(5));
    }

    #[test]
    fn the_latest_close_of_a_tuple_wins_and_survives_pruning_of_the_older() {
        let mut log = CloseLog::new(10);
        log.record(closed(1, "127.0.0.1:80", "127.0.0.1:5000", 10));
        log.record(closed(2, "127.0.0.1:80", "127.0.0.1:5000", CLOSE_MEMORY_NS));
        log.prune(CLOSE_MEMORY_NS + 11);
        let found = log.left_by(
            7,
            "127.0.0.1:80".parse().unwrap(),
            "127.0.0.1:5000".parse().unwrap(),
        );
        assert_eq!(found.map(|c| c.task.pid), Some(2));
        log.prune(3 * CLOSE_MEMORY_NS);
        assert!(log.is_empty());
    }

    #[test]
    fn capacity_drops_the_oldest() {
        let mut log = CloseLog::new(2);
        for port in 0..3u16 {
            log.record(closed(
                u32::from(port),
                &format!("127.0.0.1:{}", 1000 + port),
                "127.0.0.1:9",
                u64::from(port),
            ));
        }
        assert_eq!(log.len(), 2);
        let remote = "127.0.0.1:9".parse().unwrap();
        assert!(log
            .left_by(7, "127.0.0.1:1000".parse().unwrap(), remote)
            .is_none());
        assert!(log
            .left_by(7, "127.0.0.1:1002".parse().unwrap(), remote)
            .is_some());
    }
}
