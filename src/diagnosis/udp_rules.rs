//! The kernel's UDP bind() conflict rule as pure code, after net/ipv4/udp.c
//! `udp_lib_lport_inuse`: a new UDP socket conflicts with an existing one on
//! its port when
//! 1. their devices overlap (either has no SO_BINDTODEVICE, or both name the
//!    same device), and
//! 2. their addresses overlap (`inet_rcv_saddr_equal` with wildcards: the
//!    same logic as TCP, v4-mapped and dual-stack sockets included), and
//! 3. neither exception applies:
//!    a. both set SO_REUSEADDR (for UDP that is enough: there is no TIME_WAIT
//!    and no listening socket to make an exception for);
//!    b. both set SO_REUSEPORT and have the same uid.
//!
//! The checks 1 and 2 are TCP's (`rules::assess_as`); only 3 is
//! UDP's own. An existing socket's SO_REUSEADDR and SO_REUSEPORT are not in
//! sock_diag or /proc, so where the answer depends on them it is `Unknown`,
//! and the probe (a real UDP bind(), closed at once) settles it.
//!
//! The kernel has a second lookup for a crowded port (`udp_lib_lport_inuse2`,
//! by address, once more than ten sockets share the port's hash slot); it
//! gives the same answers (measured on 6.18: twelve sockets on 127.0.0.1 to
//! 127.0.0.12 still block a wildcard bind, see tests/udp_source.rs).

use super::rules::{assess_as, reason_of, Assessment, RuleContext};
use super::{IntendedBind, Reason, Why};
use crate::model::{Protocol, Socket};

/// Does the UDP `socket` stop a UDP `bind` (ignoring errors that come
/// first, see [`super::rules::refusal`])? A TCP socket never does.
pub fn assess(bind: &IntendedBind, socket: &Socket, ctx: &RuleContext) -> Assessment {
    let same_uid = socket.uid == ctx.uid;
    assess_as(
        Protocol::Udp,
        bind,
        socket,
        ctx,
        |old_reuseaddr, old_reuseport| {
            flags_conflict(
                bind.reuseaddr,
                bind.reuseport,
                old_reuseaddr,
                old_reuseport,
                same_uid,
            )
        },
        || certain_conflict_why(bind, socket, ctx),
    )
}

/// The exceptions of `udp_lib_lport_inuse` for two overlapping sockets.
fn flags_conflict(
    new_reuseaddr: bool,
    new_reuseport: bool,
    old_reuseaddr: bool,
    old_reuseport: bool,
    same_uid: bool,
) -> bool {
    if new_reuseaddr && old_reuseaddr {
        return false;
    }
    !(new_reuseport && old_reuseport && same_uid)
}

/// Why a UDP socket blocks the bind whatever options it set: the bind sets
/// none, or only SO_REUSEPORT and the socket belongs to another uid.
fn certain_conflict_why(bind: &IntendedBind, socket: &Socket, ctx: &RuleContext) -> Why {
    let subject = match reason_of(socket) {
        Reason::Connected => "This connected UDP socket",
        _ => "This UDP socket",
    };
    if !bind.reuseaddr && !bind.reuseport {
        return format!(
            "{subject} holds an overlapping address on this port, and a UDP bind without \
             SO_REUSEADDR or SO_REUSEPORT never shares it."
        )
        .into();
    }
    format!(
        "{subject} blocks the bind whatever options it set: SO_REUSEPORT shares a port only \
         within one uid (it belongs to uid {}, the bind runs as uid {}).",
        socket.uid, ctx.uid
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnosis::rules::Hidden;
    use crate::diagnosis::Conflict;
    use crate::model::TcpState;
    use crate::testing::{bind, context, listener, socket, UID};

    /// An unconnected UDP socket as sock_diag shows it.
    fn udp(local: &str) -> Socket {
        let wildcard = if local.starts_with('[') {
            "[::]:0"
        } else {
            "0.0.0.0:0"
        };
        Socket {
            protocol: Protocol::Udp,
            ..socket(TcpState::Close, local, wildcard)
        }
    }

    fn connected_udp(local: &str, remote: &str) -> Socket {
        Socket {
            protocol: Protocol::Udp,
            ..socket(TcpState::Established, local, remote)
        }
    }

    fn with(reuseaddr: bool, reuseport: bool, target: &str) -> IntendedBind {
        IntendedBind {
            reuseaddr,
            reuseport,
            ..bind(target)
        }
    }

    /// The table, second bind to 0.0.0.0:5353, with the old
    /// socket's flags given: `true` = EADDRINUSE.
    #[test]
    fn kernel_predicate_reproduces_the_measured_table() {
        // (old RA, old RP, new RA, new RP, EADDRINUSE)
        let rows = [
            (false, false, false, false, true),
            (true, false, true, false, false),
            (true, false, false, false, true),
            (false, false, true, false, true),
            (false, true, false, true, false),
        ];
        for (old_ra, old_rp, new_ra, new_rp, in_use) in rows {
            assert_eq!(
                flags_conflict(new_ra, new_rp, old_ra, old_rp, true),
                in_use,
                "old RA {old_ra} RP {old_rp}, new RA {new_ra} RP {new_rp}"
            );
        }
        // SO_REUSEPORT across uids does not share; SO_REUSEADDR does.
        assert!(flags_conflict(false, true, false, true, false));
        assert!(!flags_conflict(true, false, true, false, false));
    }

    /// The same table through `assess`, which cannot see the old socket's
    /// flags: a bind without options is certainly blocked; a bind with
    /// SO_REUSEADDR or SO_REUSEPORT depends on the old socket's (Unknown,
    /// naming the flag that would let it through).
    #[test]
    fn the_table_as_the_rules_see_it() {
        let ctx = context();
        let old = udp("0.0.0.0:5353");
        let plain = assess(&bind("0.0.0.0:5353"), &old, &ctx);
        assert_eq!(plain.conflict, Conflict::Yes);
        assert_eq!(plain.reason, Reason::Bound);
        assert!(plain.why.contains("without SO_REUSEADDR or SO_REUSEPORT"));
        for (ra, rp, flags) in [
            (true, false, "SO_REUSEADDR"),
            (false, true, "SO_REUSEPORT"),
            (true, true, "SO_REUSEADDR or SO_REUSEPORT"),
        ] {
            let got = assess(&with(ra, rp, "0.0.0.0:5353"), &old, &ctx);
            assert_eq!(got.conflict, Conflict::Unknown, "RA {ra} RP {rp}");
            assert_eq!(
                got.hidden,
                [Hidden::ReuseFlags {
                    flags,
                    time_wait: false
                }]
            );
            assert!(got.why.contains(&format!("whether it set {flags}")));
        }
    }

    #[test]
    fn reuseport_from_another_uid_is_certainly_blocked() {
        let other_uid = RuleContext {
            uid: UID + 1,
            ..context()
        };
        let old = udp("0.0.0.0:5353");
        let got = assess(&with(false, true, "0.0.0.0:5353"), &old, &other_uid);
        assert_eq!(got.conflict, Conflict::Yes);
        assert!(got.why.contains("uid 1000"), "{}", got.why);
        // With SO_REUSEADDR too, the old socket's SO_REUSEADDR would do.
        let both = assess(&with(true, true, "0.0.0.0:5353"), &old, &other_uid);
        assert_eq!(both.conflict, Conflict::Unknown);
    }

    /// A connected UDP socket holds its port like an unconnected one; with
    /// SO_REUSEADDR it shares with a new SO_REUSEADDR bind, so the answer
    /// hangs on its hidden flag.
    #[test]
    fn connected_udp_with_reuseaddr() {
        let old = connected_udp("127.0.0.1:5353", "127.0.0.1:40000");
        let got = assess(&with(true, false, "0.0.0.0:5353"), &old, &context());
        assert_eq!(got.conflict, Conflict::Unknown);
        assert_eq!(got.reason, Reason::Connected);
        assert!(flags_conflict(true, false, false, false, true));
        assert!(!flags_conflict(true, false, true, false, true));
        let plain = assess(&bind("0.0.0.0:5353"), &old, &context());
        assert_eq!(plain.conflict, Conflict::Yes);
        assert!(plain.why.starts_with("This connected UDP socket"));
    }

    #[test]
    fn addresses_and_devices_as_for_tcp() {
        let ctx = context();
        for (old, new, expected) in [
            ("127.0.0.1:5353", "127.0.0.2:5353", Conflict::No),
            ("127.0.0.1:5353", "0.0.0.0:5353", Conflict::Yes),
            ("0.0.0.0:5353", "127.0.0.1:5353", Conflict::Yes),
            ("127.0.0.1:5353", "[::1]:5353", Conflict::No),
            ("127.0.0.1:5353", "[::ffff:127.0.0.1]:5353", Conflict::Yes),
            ("127.0.0.1:5353", "[::]:5353", Conflict::Yes),
            ("[::1]:5353", "0.0.0.0:5353", Conflict::No),
            ("[::1]:5353", "[::]:5353", Conflict::Yes),
            ("0.0.0.0:5354", "0.0.0.0:5353", Conflict::No),
        ] {
            let mut existing = udp(old);
            if old.starts_with('[') {
                existing.v6only = Some(true);
            }
            let got = assess(&bind(new), &existing, &ctx);
            assert_eq!(got.conflict, expected, "{old} then {new}: {}", got.why);
        }
        // A dual-stack [::] holds IPv4 too, unless IPV6_V6ONLY.
        let mut dual = udp("[::]:5353");
        dual.v6only = Some(false);
        assert_eq!(
            assess(&bind("0.0.0.0:5353"), &dual, &ctx).conflict,
            Conflict::Yes
        );
        dual.v6only = Some(true);
        assert_eq!(
            assess(&bind("0.0.0.0:5353"), &dual, &ctx).conflict,
            Conflict::No
        );
        // Different devices never conflict; no device overlaps any.
        let on_lo = Socket {
            bound_device: 1,
            ..udp("0.0.0.0:5353")
        };
        let on_v0 = IntendedBind {
            device: Some("v0".into()),
            ..bind("0.0.0.0:5353")
        };
        let v0 = RuleContext {
            bind_ifindex: Some(7),
            ..context()
        };
        assert_eq!(assess(&on_v0, &on_lo, &v0).conflict, Conflict::No);
        assert_eq!(
            assess(&bind("0.0.0.0:5353"), &on_lo, &ctx).conflict,
            Conflict::Yes
        );
    }

    /// TCP and UDP ports are separate spaces, both ways.
    #[test]
    fn protocols_never_block_each_other() {
        let ctx = context();
        let udp_holder = udp("0.0.0.0:5353");
        let tcp_holder = listener("0.0.0.0:5353");
        let tcp_verdict = crate::diagnosis::rules::assess(&bind("0.0.0.0:5353"), &udp_holder, &ctx);
        assert_eq!(tcp_verdict.conflict, Conflict::No);
        assert!(
            tcp_verdict.why.contains("never blocks a TCP bind"),
            "{}",
            tcp_verdict.why
        );
        let udp_verdict = assess(&bind("0.0.0.0:5353"), &tcp_holder, &ctx);
        assert_eq!(udp_verdict.conflict, Conflict::No);
        assert!(udp_verdict.why.contains("never blocks a UDP bind"));
    }
}
