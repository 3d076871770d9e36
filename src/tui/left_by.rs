//! Who left a TIME_WAIT: a TIME_WAIT has no process behind it, but the
//! connection it came from had one. Owners are carried from reading to
//! reading by four-tuple, through the ownerless closing states, into
//! TIME_WAIT; an entry lives only as long as its socket does, so the memory
//! is bounded by the table.

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

/// Last known owner of every connection in the latest reading.
#[derive(Debug, Default)]
pub(crate) struct LeftBy {
    // foldhash: SipHash made this map most of a 100k-socket refresh.
    owners: HashMap<FourTuple, Owner, RandomState>,
}

impl LeftBy {
    /// Folds in a new reading: sockets with a process record it, ownerless
    /// ones keep what the previous reading knew, vanished ones are forgotten.
    pub fn update(&mut self, table: &SocketTable) {
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

    /// The process that left this TIME_WAIT, when a reading saw it alive.
    pub fn of(&self, socket: &Socket) -> Option<&Owner> {
        if !socket.is_time_wait_like() {
            return None;
        }
        self.owners.get(&(socket.local, socket.remote))
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
