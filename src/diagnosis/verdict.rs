//! The verdict: the rules' view of every socket on the port, settled by the
//! kernel's answer to a probe bind when there is one.

use super::explain::explain;
use super::rules::{self, Assessment, Refusal, RuleContext};
use super::{Blocker, Conflict, IntendedBind, Probe, Reason, Verdict};
use crate::model::Socket;
use crate::source::sysctl::KernelContext;

/// TCP_TIMEWAIT_LEN: no sysctl changes it.
pub const TIME_WAIT_LEN_MS: u64 = 60_000;
/// The time-wait timer fires late (timer-wheel slack): measured bindable
/// 60.7–60.9 s after close, so estimates add this much.
pub const TIMER_SLACK_MS: u64 = 900;

/// Everything the explanation draws on.
pub(crate) struct Findings<'a> {
    pub bind: &'a IntendedBind,
    pub ctx: &'a RuleContext,
    pub kernel: &'a KernelContext,
    /// The errno the rules predict before any conflict check.
    pub refusal: Option<Refusal>,
    /// The probe of the bind exactly as intended, if one ran.
    pub intended: Option<&'a Probe>,
    pub probes: &'a [Probe],
    pub blocked: bool,
    pub blockers: &'a [Blocker],
    pub free_in_ms: Option<u64>,
    /// Sockets on the port the rules could not decide and the kernel passed.
    pub passed_unknowns: Vec<&'a Socket>,
    /// Bound-only sockets that can make listen() fail after the bind.
    pub listen_caveat: Vec<&'a Socket>,
    /// TIME_WAITs whose peer is this port: the client side closed first.
    pub client_side_time_waits: Vec<&'a Socket>,
}

/// Decides whether `bind` can succeed now, which sockets stop it and until
/// when. `sockets` are the sockets on the bind's port (others are ignored);
/// `probes` are real binds already made in the sockets' namespace (see
/// [`super::probe::run_probes`]), or empty for a verdict from the rules alone.
pub fn diagnose(
    sockets: &[Socket],
    bind: &IntendedBind,
    ctx: &RuleContext,
    kernel: &KernelContext,
    probes: &[Probe],
) -> Verdict {
    let assessed: Vec<(&Socket, Assessment)> = sockets
        .iter()
        .filter(|socket| socket.local.port() == bind.port)
        .map(|socket| (socket, rules::assess(bind, socket, ctx)))
        .collect();
    let refusal = rules::refusal(bind, ctx);
    let intended = probes.iter().find(|probe| probe.bind == *bind);
    let kernel_in_use = intended.is_some_and(|p| p.errno.as_deref() == Some("EADDRINUSE"));
    let certain = assessed
        .iter()
        .filter(|(_, a)| a.conflict == Conflict::Yes)
        .count();
    let unknown = assessed
        .iter()
        .filter(|(_, a)| a.conflict == Conflict::Unknown)
        .count();

    let blocker = |socket: &Socket, assessment: &Assessment| Blocker {
        socket: socket.clone(),
        reason: assessment.reason,
        conflict: assessment.conflict,
        why: assessment.why.clone(),
    };
    let mut blockers = Vec::new();
    let mut passed_unknowns = Vec::new();
    for (socket, assessment) in &assessed {
        match (assessment.conflict, intended) {
            (Conflict::No, _) => {}
            // The kernel accepted the bind: an undecided socket did not conflict,
            // and a certain one is a disagreement, kept visible.
            (Conflict::Unknown, Some(probe)) if probe.ok => passed_unknowns.push(*socket),
            // The refusal can only have come from this one socket.
            (Conflict::Unknown, Some(_)) if kernel_in_use && certain == 0 && unknown == 1 => {
                blockers.push(Blocker {
                    conflict: Conflict::Yes,
                    why: format!(
                        "The kernel refused the bind with EADDRINUSE and no other socket on \
                         the port can conflict. {}",
                        assessment.why
                    ),
                    ..blocker(socket, assessment)
                })
            }
            _ => blockers.push(blocker(socket, assessment)),
        }
    }

    let blocked = match intended {
        Some(probe) => !probe.ok,
        None => refusal.is_some() || !blockers.is_empty(),
    };
    let waiting_helps = match intended {
        Some(_) => kernel_in_use,
        None => refusal.is_none(),
    };
    let free_in_ms = if blocked && waiting_helps {
        time_until_free(&blockers)
    } else {
        None
    };

    let listen_caveat = if blocked {
        Vec::new()
    } else {
        rules::listen_caveat(bind, sockets, ctx)
    };
    let client_side_time_waits = sockets
        .iter()
        .filter(|s| s.is_time_wait_like() && s.remote.port() == bind.port)
        .filter(|s| s.local.port() != bind.port)
        .collect();

    let findings = Findings {
        bind,
        ctx,
        kernel,
        refusal,
        intended,
        probes,
        blocked,
        blockers: &blockers,
        free_in_ms,
        passed_unknowns,
        listen_caveat,
        client_side_time_waits,
    };
    let (explanation, advice) = explain(&findings);
    Verdict {
        bind: bind.clone(),
        blocked,
        free_in_ms,
        blockers,
        probes: probes.to_vec(),
        explanation,
        advice,
    }
}

/// When the last blocker expires, if every blocker expires by itself.
fn time_until_free(blockers: &[Blocker]) -> Option<u64> {
    if blockers.is_empty() {
        return None;
    }
    blockers
        .iter()
        .map(|b| match b.reason {
            // No timer in the table: at most a full TIME_WAIT from now.
            Reason::TimeWait => {
                Some(b.socket.time_wait_remaining_ms().unwrap_or(TIME_WAIT_LEN_MS))
            }
            Reason::Listen | Reason::Bound | Reason::Connected => None,
        })
        .try_fold(0, |latest: u64, remaining| Some(latest.max(remaining?)))
        .map(|latest| latest + TIMER_SLACK_MS)
}
