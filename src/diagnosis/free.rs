//! What may be destroyed to free a port: the one rule `--free` and the
//! dashboard share. Only sockets that would expire by themselves (TIME_WAIT,
//! FIN_WAIT2 time-wait), each named exactly by its sock_diag cookie; never a
//! socket that belongs to a live process.

use super::{Blocker, Reason, Verdict};
use crate::model::Socket;

/// What destroying a TIME_WAIT gives up; every confirmation says it.
pub const TIME_WAIT_CAUTION: &str = "TIME_WAIT guards against late segments of the old connection.";

/// Why a blocker is spared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spared {
    /// A LISTEN, bound or connected socket: destroying it would break the
    /// process that holds it, which must be stopped instead.
    LiveProcess,
    /// Read without a sock_diag cookie: it cannot be named exactly.
    NoCookie,
}

/// The rule for one blocker: destroyable when it would expire by itself and
/// is named by its cookie.
pub fn destroyable(blocker: &Blocker) -> Result<&Socket, Spared> {
    if blocker.reason != Reason::TimeWait {
        return Err(Spared::LiveProcess);
    }
    if blocker.socket.cookie.is_none() {
        return Err(Spared::NoCookie);
    }
    Ok(&blocker.socket)
}

/// Freeing a whole port: what would be destroyed, and what stands in the way.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FreePlan<'v> {
    /// Every destroyable blocker.
    pub targets: Vec<&'v Socket>,
    /// Blockers held by live processes: while there is one, nothing is
    /// destroyed (the port would stay blocked all the same).
    pub live: Vec<&'v Socket>,
    /// Time-wait blockers read without a cookie (from /proc).
    pub without_cookie: usize,
}

impl FreePlan<'_> {
    /// True when destroying the targets is both possible and worth it.
    pub fn can_free(&self) -> bool {
        self.live.is_empty() && self.without_cookie == 0 && !self.targets.is_empty()
    }
}

/// Sorts the verdict's blockers into what may be destroyed and what may not.
pub fn plan_free(verdict: &Verdict) -> FreePlan<'_> {
    let mut plan = FreePlan::default();
    for blocker in &verdict.blockers {
        match destroyable(blocker) {
            Ok(socket) => plan.targets.push(socket),
            Err(Spared::LiveProcess) => plan.live.push(&blocker.socket),
            Err(Spared::NoCookie) => plan.without_cookie += 1,
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnosis::Conflict;
    use crate::testing::{listener, time_wait};

    fn blocker(socket: Socket, reason: Reason) -> Blocker {
        Blocker {
            socket,
            reason,
            conflict: Conflict::Yes,
            why: "".into(),
        }
    }

    #[test]
    fn only_time_waits_with_cookies_are_destroyable() {
        let mut tw = time_wait("127.0.0.1:8080", "127.0.0.1:40000", 1000);
        tw.cookie = Some(7);
        let mut no_cookie = tw.clone();
        no_cookie.cookie = None;
        let live = listener("0.0.0.0:8080");
        assert_eq!(destroyable(&blocker(tw.clone(), Reason::TimeWait)), Ok(&tw));
        assert_eq!(
            destroyable(&blocker(no_cookie.clone(), Reason::TimeWait)),
            Err(Spared::NoCookie)
        );
        assert_eq!(
            destroyable(&blocker(live.clone(), Reason::Listen)),
            Err(Spared::LiveProcess)
        );
        let verdict = crate::testing::verdict_blaming(vec![
            blocker(tw.clone(), Reason::TimeWait),
            blocker(no_cookie, Reason::TimeWait),
            blocker(live.clone(), Reason::Listen),
        ]);
        let plan = plan_free(&verdict);
        assert_eq!(plan.targets, vec![&tw]);
        assert_eq!(plan.live, vec![&live]);
        assert_eq!(plan.without_cookie, 1);
        assert!(!plan.can_free());
    }
}
