//! The verdict: the rules' view of every socket on the port, settled by the
//! kernel's answer to a probe bind when there is one.

use super::explain::{explain, Findings};
use super::rules::{self, Assessment, RuleContext};
use super::{Blocker, Conflict, IntendedBind, Probe, Reason, Verdict};
use crate::errno::Errno;
use crate::model::KernelContext;
use crate::model::{Socket, TIME_WAIT_LEN_MS};

/// The time-wait timer fires late: a 60 s timer lands in the timer wheel
/// level whose granularity is 2.048 s at HZ=250 (4.096 s at HZ=1000).
/// Measured bindable 0.7–1.4 s after the timer's nominal end on 6.18 with
/// HZ=250; estimates add the middle of that range.
pub const TIMER_SLACK_MS: u64 = 1000;

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
    // Sized up front: on a port held by 100k sockets, growing these vectors
    // step by step costs more than the rules themselves.
    let mut assessed: Vec<(&Socket, Assessment)> = Vec::with_capacity(sockets.len());
    assessed.extend(
        sockets
            .iter()
            .filter(|socket| socket.local.port() == bind.port)
            .map(|socket| (socket, rules::assess(bind, socket, ctx))),
    );
    let refusal = rules::refusal(bind, ctx);
    let intended = probes.iter().find(|probe| probe.bind == *bind);
    let kernel_in_use = intended.is_some_and(|p| p.errno == Some(Errno::EADDRINUSE));
    let certain = assessed
        .iter()
        .filter(|(_, a)| a.conflict == Conflict::Yes)
        .count();
    let unknown = assessed
        .iter()
        .filter(|(_, a)| a.conflict == Conflict::Unknown)
        .count();

    let blocker = |socket: &Socket, assessment: Assessment| Blocker {
        socket: socket.clone(),
        reason: assessment.reason,
        conflict: assessment.conflict,
        why: assessment.why,
    };
    let mut blockers = Vec::with_capacity(certain + unknown);
    let mut passed_unknowns = Vec::new();
    for (socket, assessment) in assessed {
        match (assessment.conflict, intended) {
            (Conflict::No, _) => {}
            // The kernel accepted the bind: an undecided socket did not conflict,
            // and a certain one is a disagreement, kept visible.
            (Conflict::Unknown, Some(probe)) if probe.ok => {
                passed_unknowns.push((socket, assessment))
            }
            // The refusal can only have come from this one socket.
            (Conflict::Unknown, Some(_)) if kernel_in_use && certain == 0 && unknown == 1 => {
                blockers.push(Blocker {
                    conflict: Conflict::Yes,
                    why: format!(
                        "It blocks the bind: the kernel refused it (EADDRINUSE) and no other \
                         socket on the port can conflict, which settles {}.",
                        rules::describe_hidden(&assessment.hidden)
                    )
                    .into(),
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

    let refused = match intended {
        Some(probe) => probe.errno.filter(|errno| *errno != Errno::EADDRINUSE),
        None => refusal.as_ref().map(|r| r.errno),
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
    let client_time_waits = findings.client_side_time_waits.len();
    let (explanation, advice) = explain(&findings);
    Verdict {
        bind: bind.clone(),
        blocked,
        refused,
        free_in_ms,
        blockers,
        probes: probes.to_vec(),
        client_time_waits,
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
            Reason::TimeWait => Some(
                b.socket
                    .time_wait_remaining_ms()
                    .unwrap_or(TIME_WAIT_LEN_MS),
            ),
            Reason::Listen | Reason::Bound | Reason::Connected => None,
        })
        .try_fold(0, |latest: u64, remaining| Some(latest.max(remaining?)))
        .map(|latest| latest + TIMER_SLACK_MS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnosis::wait_command;
    use crate::diagnosis::ProbeKind;
    use crate::model::TcpState;
    use crate::testing::{bind, context, listener, owned_by, socket, time_wait};

    fn probed(bind: &IntendedBind, kind: ProbeKind, errno: Option<Errno>) -> Probe {
        Probe {
            bind: bind.clone(),
            kind,
            ok: errno.is_none(),
            errno,
        }
    }

    fn with_reuseaddr(bind: &IntendedBind) -> IntendedBind {
        IntendedBind {
            reuseaddr: true,
            ..bind.clone()
        }
    }

    fn kernel() -> KernelContext {
        KernelContext {
            tcp_tw_reuse: Some(1),
            tcp_fin_timeout: Some(60),
            ..KernelContext::default()
        }
    }

    fn restart_time_wait() -> Socket {
        time_wait("127.0.0.1:9527", "127.0.0.1:41234", 43_000)
    }

    fn assert_says(text: &str, phrase: &str) {
        assert!(text.contains(phrase), "missing {phrase:?} in: {text}");
    }

    #[test]
    fn restart_case_from_rules_alone() {
        let intended = bind("0.0.0.0:9527");
        let verdict = diagnose(
            &[restart_time_wait()],
            &intended,
            &context(),
            &kernel(),
            &[],
        );
        assert!(verdict.blocked);
        assert_eq!(verdict.free_in_ms, Some(43_000 + TIMER_SLACK_MS));
        assert_eq!(verdict.blockers.len(), 1);
        assert_eq!(verdict.blockers[0].conflict, Conflict::Yes);
        assert_eq!(verdict.blockers[0].reason, Reason::TimeWait);
        let text = &verdict.explanation;
        assert_says(text, "would fail with EADDRINUSE");
        assert_says(
            text,
            "The old server closed first: its connection with 127.0.0.1:41234",
        );
        assert_says(text, "only if the old socket set it too");
        assert_says(text, "Not probed");
        assert_says(text, "tcp_tw_reuse (now 1) does not help");
        assert_says(
            text,
            "tcp_fin_timeout (now 60 s) does not shorten TIME_WAIT",
        );
        assert!(verdict
            .advice
            .iter()
            .any(|a| a.contains("Wait about 44.0s: `tw-inspect --port 9527 --wait`")));
    }

    #[test]
    fn restart_case_probed_old_socket_lacked_reuseaddr() {
        let intended = bind("0.0.0.0:9527");
        let probes = [
            probed(&intended, ProbeKind::Intended, Some(Errno::EADDRINUSE)),
            probed(
                &with_reuseaddr(&intended),
                ProbeKind::WithReuseaddr,
                Some(Errno::EADDRINUSE),
            ),
        ];
        let verdict = diagnose(
            &[restart_time_wait()],
            &intended,
            &context(),
            &kernel(),
            &probes,
        );
        assert!(verdict.blocked);
        assert_eq!(verdict.probes.len(), 2);
        assert_says(
            &verdict.explanation,
            "the old socket did not set SO_REUSEADDR, so its TIME_WAIT blocks even a bind that \
             sets it, for about 44.0s more",
        );
        assert!(!verdict.explanation.contains("Not probed"));
        assert!(verdict.advice.iter().any(|a| a.contains("future restarts")));
    }

    #[test]
    fn reuseaddr_on_both_sides_frees_the_port() {
        let intended = with_reuseaddr(&bind("0.0.0.0:9527"));
        let probes = [probed(&intended, ProbeKind::Intended, None)];
        let verdict = diagnose(
            &[restart_time_wait()],
            &intended,
            &context(),
            &kernel(),
            &probes,
        );
        assert!(!verdict.blocked);
        assert!(verdict.blockers.is_empty());
        assert_eq!(verdict.free_in_ms, None);
        assert_says(&verdict.explanation, "succeeds now");
        assert_says(
            &verdict.explanation,
            "the socket it came from set SO_REUSEADDR as this bind does",
        );
    }

    #[test]
    fn reuseaddr_on_the_new_side_only_is_refused() {
        let intended = with_reuseaddr(&bind("0.0.0.0:9527"));
        let probes = [probed(
            &intended,
            ProbeKind::Intended,
            Some(Errno::EADDRINUSE),
        )];
        let verdict = diagnose(
            &[restart_time_wait()],
            &intended,
            &context(),
            &kernel(),
            &probes,
        );
        assert!(verdict.blocked);
        // The only candidate: the kernel's refusal decides it.
        assert_eq!(verdict.blockers[0].conflict, Conflict::Yes);
        assert_says(
            &verdict.blockers[0].why,
            "which settles whether the socket it came from set SO_REUSEADDR",
        );
        assert_says(
            &verdict.explanation,
            "This bind sets SO_REUSEADDR and was still refused: the old socket did not set \
             SO_REUSEADDR",
        );
        assert!(verdict
            .advice
            .iter()
            .any(|a| a.contains("tw-inspect --port 9527 --reuseaddr --wait")));
    }

    #[test]
    fn unknown_without_probe_stays_unknown_and_blocked() {
        let intended = with_reuseaddr(&bind("0.0.0.0:9527"));
        let verdict = diagnose(
            &[restart_time_wait()],
            &intended,
            &context(),
            &kernel(),
            &[],
        );
        assert!(verdict.blocked);
        assert_eq!(verdict.blockers[0].conflict, Conflict::Unknown);
        assert_says(
            &verdict.explanation,
            "may fail with EADDRINUSE: it depends on whether the socket it came from set \
             SO_REUSEADDR",
        );
        assert!(verdict.advice.iter().any(|a| a.contains("with probes")));
    }

    #[test]
    fn several_undecided_sockets_stay_unknown_after_a_refusal() {
        let intended = with_reuseaddr(&bind("0.0.0.0:9527"));
        let sockets = [
            restart_time_wait(),
            time_wait("127.0.0.1:9527", "127.0.0.1:41236", 50_000),
        ];
        let probes = [probed(
            &intended,
            ProbeKind::Intended,
            Some(Errno::EADDRINUSE),
        )];
        let verdict = diagnose(&sockets, &intended, &context(), &kernel(), &probes);
        assert!(verdict.blocked);
        assert!(verdict
            .blockers
            .iter()
            .all(|b| b.conflict == Conflict::Unknown));
        assert_eq!(verdict.free_in_ms, Some(50_000 + TIMER_SLACK_MS));
        assert_says(
            &verdict.explanation,
            "at least one old socket did not set SO_REUSEADDR",
        );
    }

    #[test]
    fn live_listener_is_not_time_bound() {
        let intended = bind("0.0.0.0:9527");
        let nginx = owned_by(listener("0.0.0.0:9527"), 1234, "nginx");
        let sockets = [nginx, restart_time_wait()];
        let probes = [
            probed(&intended, ProbeKind::Intended, Some(Errno::EADDRINUSE)),
            probed(
                &with_reuseaddr(&intended),
                ProbeKind::WithReuseaddr,
                Some(Errno::EADDRINUSE),
            ),
            probed(
                &IntendedBind {
                    reuseport: true,
                    ..intended.clone()
                },
                ProbeKind::WithReuseport,
                Some(Errno::EADDRINUSE),
            ),
        ];
        let verdict = diagnose(&sockets, &intended, &context(), &kernel(), &probes);
        assert!(verdict.blocked);
        assert_eq!(verdict.free_in_ms, None);
        assert_eq!(verdict.blockers.len(), 2);
        assert_says(
            &verdict.explanation,
            "A listening socket on 0.0.0.0:9527 blocks it",
        );
        assert_says(&verdict.explanation, "pid 1234 nginx");
        assert_says(&verdict.explanation, "will not free by itself");
        // With a listener also refusing, the failed SO_REUSEADDR probe says
        // nothing about the TIME_WAIT's flags.
        assert!(!verdict.explanation.contains("did not set SO_REUSEADDR"));
        assert!(verdict
            .advice
            .iter()
            .any(|a| a.contains("Stop pid 1234 nginx, which holds LISTEN 0.0.0.0:9527")));
        assert!(!verdict.advice.iter().any(|a| a.contains("--wait")));
    }

    #[test]
    fn client_closed_first_blames_nothing() {
        let intended = bind("0.0.0.0:9527");
        let client_side = time_wait("127.0.0.1:41234", "127.0.0.1:9527", 43_000);
        let probes = [probed(&intended, ProbeKind::Intended, None)];
        let verdict = diagnose(&[client_side], &intended, &context(), &kernel(), &probes);
        assert!(!verdict.blocked);
        assert!(verdict.blockers.is_empty());
        assert_eq!(verdict.free_in_ms, None);
        assert_says(&verdict.explanation, "The client closed first");
        assert_says(&verdict.explanation, "(41234)");
        assert!(verdict.advice.is_empty());
    }

    #[test]
    fn privileged_port_without_capability_is_eacces() {
        let intended = bind("0.0.0.0:80");
        let sockets = [time_wait("127.0.0.1:80", "127.0.0.1:41234", 10_000)];
        for probes in [
            vec![],
            vec![probed(&intended, ProbeKind::Intended, Some(Errno::EACCES))],
        ] {
            let verdict = diagnose(&sockets, &intended, &context(), &kernel(), &probes);
            assert!(verdict.blocked);
            assert_eq!(verdict.free_in_ms, None, "waiting does not cure EACCES");
            assert_says(
                &verdict.explanation,
                "fails with EACCES before any conflict",
            );
            assert_says(&verdict.explanation, "would also block it");
            assert!(verdict.advice[0].contains("CAP_NET_BIND_SERVICE"));
        }
    }

    #[test]
    fn kernel_and_rules_disagreeing_stay_visible() {
        let intended = bind("0.0.0.0:9527");
        let accepted = [probed(&intended, ProbeKind::Intended, None)];
        let verdict = diagnose(
            &[restart_time_wait()],
            &intended,
            &context(),
            &kernel(),
            &accepted,
        );
        assert!(!verdict.blocked, "the kernel is the judge");
        assert_eq!(verdict.blockers.len(), 1);
        assert_eq!(verdict.blockers[0].conflict, Conflict::Yes);
        assert_says(&verdict.explanation, "The rules disagree");

        let refused = [probed(
            &intended,
            ProbeKind::Intended,
            Some(Errno::EADDRINUSE),
        )];
        let verdict = diagnose(&[], &intended, &context(), &kernel(), &refused);
        assert!(verdict.blocked);
        assert!(verdict.blockers.is_empty());
        assert_eq!(verdict.free_in_ms, None);
        assert_says(&verdict.explanation, "no socket in the table conflicts");
    }

    #[test]
    fn free_in_ms_is_the_last_time_wait_plus_slack() {
        let intended = bind("0.0.0.0:9527");
        let mut no_timer = restart_time_wait();
        no_timer.timer = None;
        let sockets = [
            time_wait("127.0.0.1:9527", "127.0.0.1:1", 5_000),
            time_wait("127.0.0.1:9527", "127.0.0.1:2", 20_000),
        ];
        let verdict = diagnose(&sockets, &intended, &context(), &kernel(), &[]);
        assert_eq!(verdict.free_in_ms, Some(20_000 + TIMER_SLACK_MS));
        let verdict = diagnose(&[no_timer], &intended, &context(), &kernel(), &[]);
        assert_eq!(verdict.free_in_ms, Some(TIME_WAIT_LEN_MS + TIMER_SLACK_MS));
        let free = diagnose(&[], &intended, &context(), &kernel(), &[]);
        assert!(!free.blocked);
        assert_eq!(free.free_in_ms, None);
    }

    #[test]
    fn listen_caveat_is_explained_when_the_bind_succeeds() {
        let intended = with_reuseaddr(&bind("0.0.0.0:9527"));
        let bound = owned_by(
            socket(TcpState::Bound, "0.0.0.0:9527", "0.0.0.0:0"),
            77,
            "worker",
        );
        let probes = [probed(&intended, ProbeKind::Intended, None)];
        let verdict = diagnose(&[bound], &intended, &context(), &kernel(), &probes);
        assert!(!verdict.blocked);
        assert_says(&verdict.explanation, "listen() may not");
        assert_says(&verdict.explanation, "pid 77 worker");
        assert_says(&verdict.advice[0], "EADDRINUSE: stop pid 77 worker");
    }

    #[test]
    fn accepted_bind_settles_what_the_table_hid() {
        let intended = bind("0.0.0.0:9527");
        let ipv6 = time_wait("[::1]:9527", "[::1]:41234", 43_000);
        let probes = [probed(&intended, ProbeKind::Intended, None)];
        let verdict = diagnose(&[ipv6], &intended, &context(), &kernel(), &probes);
        assert!(!verdict.blocked);
        assert!(verdict.blockers.is_empty());
        assert_says(
            &verdict.explanation,
            "The TIME_WAIT on [::1]:9527 did not block: the kernel settled its IPV6_V6ONLY flag",
        );
    }

    #[test]
    fn dual_stack_bind_blocked_by_ipv4_names_v6only() {
        let intended = bind("[::]:9527");
        let kernel = KernelContext {
            bindv6only: Some(false),
            ..kernel()
        };
        let verdict = diagnose(&[restart_time_wait()], &intended, &context(), &kernel, &[]);
        assert!(verdict.blocked);
        assert_says(
            &verdict.explanation,
            "IPV6_V6ONLY off (net.ipv6.bindv6only=0)",
        );
        let v6only = IntendedBind {
            v6only: true,
            ..intended
        };
        let verdict = diagnose(&[restart_time_wait()], &v6only, &context(), &kernel, &[]);
        assert!(!verdict.blocked);
    }

    #[test]
    fn wait_command_carries_the_bind() {
        let intended = IntendedBind {
            reuseaddr: true,
            reuseport: true,
            v6only: true,
            device: Some("eth 0".to_string()),
            ..bind("[::]:443")
        };
        assert_eq!(
            wait_command(&intended),
            "tw-inspect --port 443 --addr :: --reuseaddr --reuseport --v6only --dev 'eth 0' --wait"
        );
        assert_eq!(
            wait_command(&bind("0.0.0.0:9527")),
            "tw-inspect --port 9527 --wait"
        );
    }
}
