//! Who left a TIME_WAIT: a TIME_WAIT has no process behind it, but the
//! connection it came from had one. Owners are carried from reading to
//! reading by four-tuple, through the ownerless closing states, into
//! TIME_WAIT; an entry lives only as long as its socket does, so the memory
//! is bounded by the table.
//!
//! When the kernel watcher runs, its record of each close (the task that
//! closed first, [`LeftBy::record_close`]) is preferred: sampling misses a
//! connection that opened and closed between two readings. Such a record
//! lives until one reading has come in without its socket.

use std::collections::HashMap;
use std::net::SocketAddr;

use foldhash::fast::RandomState;

use crate::model::{Socket, SocketTable, TcpState};

/// The process that last owned a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owner {
    pub pid: u32,
    /// Untrusted: draw through `inert()`.
    pub comm: String,
}

type FourTuple = (SocketAddr, SocketAddr);

/// Kernel records kept at most (a close storm must not grow the memory
/// without bound; the sampled owners still answer for the rest).
const KERNEL_RECORDS: usize = 65_536;

/// Last known owner of every connection in the latest reading.
#[derive(Debug, Default)]
pub(crate) struct LeftBy {
    // foldhash: SipHash made this map most of a 100k-socket refresh.
    owners: HashMap<FourTuple, Owner, RandomState>,
    /// The kernel's closes, with the reading (generation) that last
    /// showed their socket, or for a record not yet read, the next one.
    kernel: HashMap<FourTuple, (Owner, u64), RandomState>,
    /// Readings folded in so far.
    generation: u64,
}

impl LeftBy {
    /// Folds in a new reading: sockets with a process record it, ownerless
    /// ones keep what the previous reading knew, vanished ones are forgotten.
    pub fn update(&mut self, table: &SocketTable) {
        self.generation += 1;
        if !self.kernel.is_empty() {
            for socket in &table.sockets {
                if let Some((_, seen)) = self.kernel.get_mut(&(socket.local, socket.remote)) {
                    *seen = self.generation;
                }
            }
            // Still in this reading, or recorded since the last one.
            let generation = self.generation;
            self.kernel.retain(|_, (_, seen)| *seen >= generation);
        }
        let mut previous = std::mem::take(&mut self.owners);
        self.owners.reserve(previous.len());
        for socket in &table.sockets {
            // A listener never turns into a TIME_WAIT of its own four-tuple.
            if matches!(socket.state, TcpState::Listen | TcpState::Bound) {
                continue;
            }
            let tuple = (socket.local, socket.remote);
            let known = previous.remove(&tuple);
            let owner = match (socket.processes.first(), known) {
                // The same owner as last time: no new copy of its name.
                (Some(process), Some(known))
                    if known.pid == process.pid && known.comm == process.comm =>
                {
                    known
                }
                (Some(process), _) => Owner {
                    pid: process.pid,
                    comm: process.comm.clone(),
                },
                (None, Some(known)) => known,
                (None, None) => continue,
            };
            self.owners.insert(tuple, owner);
        }
    }

    /// The kernel watcher saw `pid` (`comm`) close the connection
    /// `local` ↔ `remote` first: the one that leaves the TIME_WAIT.
    pub fn record_close(&mut self, local: SocketAddr, remote: SocketAddr, pid: u32, comm: &str) {
        if self.kernel.len() >= KERNEL_RECORDS {
            return;
        }
        let owner = Owner {
            pid,
            comm: comm.to_string(),
        };
        self.kernel
            .insert((local, remote), (owner, self.generation + 1));
    }

    /// The process that left this TIME_WAIT: the kernel's record of its
    /// close, else the owner a reading saw alive.
    pub fn of(&self, socket: &Socket) -> Option<&Owner> {
        if !socket.is_time_wait_like() {
            return None;
        }
        let tuple = (socket.local, socket.remote);
        match self.kernel.get(&tuple) {
            Some((owner, _)) => Some(owner),
            None => self.owners.get(&tuple),
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.owners.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::test_fixtures::{established, table, time_wait};

    #[test]
    fn remembers_who_left_a_time_wait() {
        let mut left_by = LeftBy::default();
        left_by.update(&table(vec![established(
            "10.0.0.1:8080",
            "10.0.0.9:50000",
            Some((1234, "nginx")),
        )]));
        let tw = time_wait("10.0.0.1:8080", "10.0.0.9:50000", 59_000);
        left_by.update(&table(vec![tw.clone()]));
        let owner = left_by.of(&tw).expect("owner remembered");
        assert_eq!((owner.pid, owner.comm.as_str()), (1234, "nginx"));
        // Still remembered at the next reading while the TIME_WAIT lives.
        left_by.update(&table(vec![tw.clone()]));
        assert!(left_by.of(&tw).is_some());
    }

    #[test]
    fn carries_the_owner_through_an_ownerless_closing_state() {
        let mut left_by = LeftBy::default();
        left_by.update(&table(vec![established(
            "10.0.0.1:8080",
            "10.0.0.9:50000",
            Some((7, "app")),
        )]));
        let mut orphan = established("10.0.0.1:8080", "10.0.0.9:50000", None);
        orphan.state = TcpState::FinWait2;
        left_by.update(&table(vec![orphan]));
        let tw = time_wait("10.0.0.1:8080", "10.0.0.9:50000", 30_000);
        left_by.update(&table(vec![tw.clone()]));
        assert_eq!(left_by.of(&tw).map(|o| o.pid), Some(7));
    }

    #[test]
    fn the_kernel_record_wins_and_lives_while_its_socket_does() {
        let mut left_by = LeftBy::default();
        left_by.update(&table(vec![established(
            "10.0.0.1:8080",
            "10.0.0.9:50000",
            Some((1234, "nginx")),
        )]));
        // Closed between two readings by a worker the readings never saw.
        left_by.record_close(
            "10.0.0.1:8080".parse().unwrap(),
            "10.0.0.9:50000".parse().unwrap(),
            4321,
            "worker",
        );
        let tw = time_wait("10.0.0.1:8080", "10.0.0.9:50000", 59_000);
        assert_eq!(left_by.of(&tw).map(|o| o.pid), Some(4321));
        left_by.update(&table(vec![tw.clone()]));
        left_by.update(&table(vec![tw.clone()]));
        assert_eq!(left_by.of(&tw).map(|o| o.pid), Some(4321));
        // Gone from a reading: forgotten, as the sampled owner is.
        left_by.update(&table(vec![]));
        left_by.update(&table(vec![tw.clone()]));
        assert_eq!(left_by.of(&tw), None);
        // A record whose socket never shows lasts one reading only.
        left_by.record_close(
            "10.0.0.1:8080".parse().unwrap(),
            "10.0.0.9:1".parse().unwrap(),
            1,
            "brief",
        );
        left_by.update(&table(vec![]));
        let brief = time_wait("10.0.0.1:8080", "10.0.0.9:1", 1_000);
        assert_eq!(left_by.of(&brief).map(|o| o.pid), Some(1));
        left_by.update(&table(vec![]));
        assert_eq!(left_by.of(&brief), None);
    }

    #[test]
    fn forgets_when_the_time_wait_is_gone_and_never_guesses() {
        let mut left_by = LeftBy::default();
        left_by.update(&table(vec![established(
            "10.0.0.1:8080",
            "10.0.0.9:50000",
            Some((1, "a")),
        )]));
        let tw = time_wait("10.0.0.1:8080", "10.0.0.9:50000", 1_000);
        left_by.update(&table(vec![tw.clone()]));
        left_by.update(&table(vec![]));
        assert_eq!(left_by.len(), 0);
        // The same four-tuple in TIME_WAIT again, never seen owned: unknown.
        left_by.update(&table(vec![tw.clone()]));
        assert_eq!(left_by.of(&tw), None);
        // A TIME_WAIT whose four-tuple differs from the owned socket: unknown.
        left_by.update(&table(vec![
            established("10.0.0.1:8080", "10.0.0.9:1", Some((2, "b"))),
            time_wait("10.0.0.1:8080", "10.0.0.9:2", 1_000),
        ]));
        assert_eq!(
            left_by.of(&time_wait("10.0.0.1:8080", "10.0.0.9:2", 1_000)),
            None
        );
    }
}
