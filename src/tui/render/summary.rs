//! Many alike sockets in a few lines: the confirmation before F and the
//! explain overlay group them (state and reasoning, count, when they
//! expire, a few examples) instead of listing 19k rows.

use std::time::Instant;

use crate::duration::seconds_text;
use crate::model::{Socket, TcpState};
use crate::tui::countdown;

/// Examples shown per group; the rest are counted.
pub(super) const EXAMPLES: usize = 3;

/// Alike sockets: same state, same reasoning.
pub(super) struct Group<'a> {
    pub state: TcpState,
    pub why: Option<&'a str>,
    pub members: Vec<&'a Socket>,
}

impl Group<'_> {
    /// "expire in 0.4s to 59.9s" at `now`, for the members with a timer.
    pub fn expiry_text(&self, read_at: Instant, now: Instant) -> Option<String> {
        let left = self
            .members
            .iter()
            .filter_map(|socket| socket.time_wait_remaining_ms())
            .map(|ms| countdown::remaining_ms(ms, read_at, now));
        let (first, last) = left.fold(None, |range: Option<(u64, u64)>, ms| {
            Some(range.map_or((ms, ms), |(lo, hi)| (lo.min(ms), hi.max(ms))))
        })?;
        Some(if first == last {
            format!("expires in {}", seconds_text(first))
        } else {
            format!(
                "expire in {} to {}",
                seconds_text(first),
                seconds_text(last)
            )
        })
    }
}

/// Groups `sockets` (each with its reasoning, if any) in order of first
/// appearance.
pub(super) fn groups<'a>(
    sockets: impl IntoIterator<Item = (&'a Socket, Option<&'a str>)>,
) -> Vec<Group<'a>> {
    let mut groups: Vec<Group<'a>> = Vec::new();
    for (socket, why) in sockets {
        match groups
            .iter_mut()
            .find(|group| group.state == socket.state && group.why == why)
        {
            Some(group) => group.members.push(socket),
            None => groups.push(Group {
                state: socket.state,
                why,
                members: vec![socket],
            }),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::test_fixtures::{listen, time_wait};
    use std::time::Duration;

    #[test]
    fn alike_sockets_group_with_their_expiry_range() {
        let sockets = [
            time_wait("127.0.0.1:8080", "127.0.0.1:40000", 30_000),
            listen("0.0.0.0:8080", (1, "nginx")),
            time_wait("127.0.0.1:8080", "127.0.0.1:40001", 5_000),
            time_wait("127.0.0.1:8080", "127.0.0.1:40002", 59_000),
        ];
        let groups = groups(sockets.iter().map(|s| (s, None)));
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].members.len(), 3);
        let read_at = Instant::now();
        assert_eq!(
            groups[0].expiry_text(read_at, read_at + Duration::from_secs(1)),
            Some("expire in 4.0s to 58.0s".to_string())
        );
        assert_eq!(groups[1].expiry_text(read_at, read_at), None);
    }
}
