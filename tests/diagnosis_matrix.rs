//! The kernel as judge: each scenario is built with real sockets in a fresh
//! network namespace, read back from /proc/thread-self/net/tcp{,6}, and
//! diagnosed twice, with real probes and from the rules alone. The probed
//! verdict must match the kernel's answer to the same bind made by the test;
//! the rules-only verdict must match it wherever the rules claim certainty.
mod common;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use common::sockets::{self, Opts};
use common::Netns;
use tw_inspect::diagnosis::{
    diagnose, rule_context, run_probes, Conflict, IntendedBind, Reason, Verdict,
};
use tw_inspect::errno::Errno;
use tw_inspect::model::{Protocol, Query, SourceKind};
use tw_inspect::source::{netlink, owners, procnet, sysctl};

const PORT: u16 = 9527;

fn at(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn opts(reuseaddr: bool, reuseport: bool) -> Opts {
    Opts {
        reuseaddr,
        reuseport,
        ..Opts::default()
    }
}

fn v6only(flag: bool) -> Opts {
    Opts {
        v6only: Some(flag),
        ..Opts::default()
    }
}

/// The verdicts for a bind made from the calling (namespaced) thread.
struct Diagnosed {
    /// From the sock_diag table with real probes, as the CLI makes it.
    probed: Verdict,
    /// From the /proc table, rules alone.
    rules_only: Verdict,
    /// From the sock_diag table, rules alone.
    rules_only_netlink: Verdict,
    /// The kernel's own answer: a bind by the test, not by the tool.
    kernel_blocked: bool,
}

/// Where the rules alone must match the kernel.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Certainty {
    /// Whenever they claim certainty, from either table.
    BothTables,
    /// Only from sock_diag: /proc does not list bound-only sockets.
    NetlinkOnly,
}

/// Diagnoses `addr` with `opts` (and an optional device) and judges it.
fn judge(addr: SocketAddr, opts: Opts, device: Option<&'static str>) -> Diagnosed {
    judge_with(addr, opts, device, Certainty::BothTables)
}

fn judge_with(
    addr: SocketAddr,
    opts: Opts,
    device: Option<&'static str>,
    certainty: Certainty,
) -> Diagnosed {
    let kernel = sysctl::read();
    let bind = IntendedBind {
        protocol: Protocol::Tcp,
        addr: addr.ip(),
        port: addr.port(),
        reuseaddr: opts.reuseaddr,
        reuseport: opts.reuseport,
        v6only: opts.v6only.unwrap_or(kernel.default_v6only()),
        device: device.map(str::to_string),
        uid: None,
    };
    // The judge binds first: a successful bind can change how the kernel
    // treats the next one (see run_probes), and the probe repeats this bind.
    let kernel_blocked = !sockets::kernel_allows(addr, Opts { device, ..opts });
    let mut proc_table = procnet::read_sockets(
        Path::new("/proc/thread-self"),
        Protocol::Tcp,
        &Query::everything(),
    )
    .expect("read /proc/thread-self/net/tcp")
    .sockets;
    owners::attach_owners(&mut proc_table, Path::new("/proc"));
    let mut netlink_table =
        netlink::read_sockets(Protocol::Tcp, &Query::everything()).expect("sock_diag");
    owners::attach_owners(&mut netlink_table, Path::new("/proc"));

    let proc_ctx = rule_context(&bind, &kernel, SourceKind::Proc);
    let netlink_ctx = rule_context(&bind, &kernel, SourceKind::Netlink);
    let probes = run_probes(&bind, &netlink_table);
    let probed = diagnose(&netlink_table, &bind, &netlink_ctx, &kernel, &probes);
    let rules_only = diagnose(&proc_table, &bind, &proc_ctx, &kernel, &[]);
    let rules_only_netlink = diagnose(&netlink_table, &bind, &netlink_ctx, &kernel, &[]);
    let context = format!(
        "bind {addr} {bind:?}\nprobes {:?}\nprobed: {}\nrules (proc): {}\nrules (netlink): {}",
        probed.probes, probed.explanation, rules_only.explanation, rules_only_netlink.explanation
    );
    assert_eq!(
        probed.blocked, kernel_blocked,
        "probed verdict vs kernel: {context}"
    );
    let mut checked = vec![&rules_only_netlink];
    if certainty == Certainty::BothTables {
        checked.push(&rules_only);
    }
    for verdict in checked {
        let certain = verdict.blockers.iter().all(|b| b.conflict == Conflict::Yes);
        if certain {
            assert_eq!(
                verdict.blocked, kernel_blocked,
                "certain rules vs kernel: {context}"
            );
        }
    }
    Diagnosed {
        probed,
        rules_only,
        rules_only_netlink,
        kernel_blocked,
    }
}

fn assert_says(verdict: &Verdict, phrase: &str) {
    assert!(
        verdict.explanation.contains(phrase),
        "missing {phrase:?} in: {}",
        verdict.explanation
    );
}

fn only_time_wait_blocker(verdict: &Verdict) {
    assert_eq!(verdict.blockers.len(), 1, "{:?}", verdict.blockers);
    let blocker = &verdict.blockers[0];
    assert_eq!(blocker.reason, Reason::TimeWait);
    assert_eq!(blocker.socket.local.port(), PORT);
}

/// Runs `f` as another uid on this thread only: the raw syscall, unlike
/// libc's setresuid, does not change the other threads of the test process.
fn as_other_uid<R>(f: impl FnOnce() -> R) -> R {
    const NOBODY: libc::c_long = 65534;
    // SAFETY: changes only the calling thread's credentials; the thread ends
    // with the enclosing Netns::run.
    let rc = unsafe { libc::syscall(libc::SYS_setresuid, NOBODY, NOBODY, NOBODY) };
    assert_eq!(rc, 0, "setresuid: {}", std::io::Error::last_os_error());
    f()
}

/// A dual-stack listener ([::], v6only off) accepts an IPv4 client and
/// closes first: its TIME_WAIT is AF_INET6 with v4-mapped addresses.
fn v4_mapped_server_time_wait(port: u16) {
    let listener =
        sockets::listen_with(SocketAddr::new("::".parse().unwrap(), port), v6only(false));
    let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (accepted, _) = listener.accept().unwrap();
    drop(listener);
    drop(accepted);
    client
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 16];
    while (&client).read(&mut buf).map(|n| n > 0).unwrap_or(false) {}
    drop(client);
    std::thread::sleep(std::time::Duration::from_millis(50));
}

#[test]
fn restart_case_without_reuseaddr_anywhere() {
    require_netns!();
    let ns = Netns::new();
    ns.run(|| {
        sockets::server_side_time_wait(at("127.0.0.1:9527"), Opts::default());
        let plain = judge(at("0.0.0.0:9527"), Opts::default(), None);
        assert!(plain.kernel_blocked);
        only_time_wait_blocker(&plain.probed);
        assert_eq!(plain.probed.blockers[0].conflict, Conflict::Yes);
        let free_in = plain.probed.free_in_ms.expect("time-bound");
        assert!((55_000..=61_000).contains(&free_in), "{free_in}");
        assert_says(&plain.probed, "The old server closed first");
        assert_says(&plain.probed, "the old socket did not set SO_REUSEADDR");
        // The SO_REUSEADDR and SO_REUSEPORT counterfactuals ran and failed.
        assert_eq!(plain.probed.probes.len(), 3, "{:?}", plain.probed.probes);
        assert!(plain.probed.probes.iter().all(|p| !p.ok));
        assert!(plain.rules_only.blocked);
        assert_says(&plain.rules_only, "Not probed");

        let with_reuseaddr = judge(at("0.0.0.0:9527"), opts(true, false), None);
        assert!(with_reuseaddr.kernel_blocked);
        assert_says(&with_reuseaddr.probed, "was still refused");
    });
}

#[test]
fn reuseaddr_on_both_sides_is_free() {
    require_netns!();
    let ns = Netns::new();
    ns.run(|| {
        sockets::server_side_time_wait(at("127.0.0.1:9527"), opts(true, false));
        let both = judge(at("0.0.0.0:9527"), opts(true, false), None);
        assert!(!both.kernel_blocked);
        assert!(both.probed.blockers.is_empty());
        assert_eq!(both.probed.free_in_ms, None);
        assert_says(
            &both.probed,
            "the socket it came from set SO_REUSEADDR as this bind does",
        );
        // Without a probe the old socket's flag is unknown: not shown as free.
        assert_eq!(both.rules_only.blockers[0].conflict, Conflict::Unknown);
        assert_eq!(
            both.rules_only_netlink.blockers[0].conflict,
            Conflict::Unknown
        );
        // And the new side still needs the flag itself.
        assert!(judge(at("0.0.0.0:9527"), Opts::default(), None).kernel_blocked);
    });
}

#[test]
fn reuseaddr_on_the_new_side_only_is_blocked() {
    require_netns!();
    let ns = Netns::new();
    ns.run(|| {
        sockets::server_side_time_wait(at("127.0.0.1:9527"), Opts::default());
        let new_only = judge(at("127.0.0.1:9527"), opts(true, false), None);
        assert!(new_only.kernel_blocked);
        only_time_wait_blocker(&new_only.probed);
        // The only candidate: the probe decides what the rules could not.
        assert_eq!(new_only.probed.blockers[0].conflict, Conflict::Yes);
        assert_eq!(new_only.rules_only.blockers[0].conflict, Conflict::Unknown);
    });
}

#[test]
fn live_listener_blocks_and_is_not_time_bound() {
    require_netns!();
    let ns = Netns::new();
    ns.run(|| {
        let _listener = sockets::listen_with(at("0.0.0.0:9527"), Opts::default());
        let live = judge(at("0.0.0.0:9527"), opts(true, false), None);
        assert!(live.kernel_blocked);
        assert_eq!(live.probed.free_in_ms, None);
        assert_eq!(live.probed.blockers.len(), 1);
        assert_eq!(live.probed.blockers[0].reason, Reason::Listen);
        assert_eq!(live.probed.blockers[0].conflict, Conflict::Yes);
        assert_says(&live.probed, &format!("pid {}", std::process::id()));
        assert_says(&live.probed, "will not free by itself");
    });
}

#[test]
fn client_closed_first_is_free_and_blames_nothing() {
    require_netns!();
    let ns = Netns::new();
    ns.run(|| {
        let client = sockets::client_side_time_wait(at("127.0.0.1:9527"));
        let free = judge(at("0.0.0.0:9527"), Opts::default(), None);
        assert!(!free.kernel_blocked);
        assert!(free.probed.blockers.is_empty());
        assert!(free.rules_only.blockers.is_empty());
        assert_says(&free.probed, "The client closed first");
        assert_says(&free.probed, &client.port().to_string());
    });
}

#[test]
fn time_wait_on_one_loopback_address() {
    require_netns!();
    let ns = Netns::new();
    ns.run(|| {
        sockets::server_side_time_wait(at("127.0.0.1:9527"), Opts::default());
        let other_address = judge(at("127.0.0.2:9527"), Opts::default(), None);
        assert!(!other_address.kernel_blocked);
        assert!(other_address.rules_only.blockers.is_empty());
        let wildcard = judge(at("0.0.0.0:9527"), Opts::default(), None);
        assert!(wildcard.kernel_blocked);
        only_time_wait_blocker(&wildcard.rules_only);
    });
}

/// The wildcard is blocked by a TIME_WAIT on 127.0.0.1; the counterfactual
/// picks a local address nobody holds, and the kernel accepts a bind there.
#[test]
fn specific_address_counterfactual() {
    require_netns!();
    let ns = Netns::new();
    for command in [
        &["link", "add", "v0", "type", "veth", "peer", "name", "v1"][..],
        &["addr", "add", "10.9.9.1/24", "dev", "v0"],
    ] {
        if !ns.exec("ip").args(command).status().unwrap().success() {
            eprintln!("SKIP specific_address_counterfactual: ip {command:?} failed");
            return;
        }
    }
    ns.run(|| {
        sockets::server_side_time_wait(at("127.0.0.1:9527"), Opts::default());
        let wildcard = judge(at("0.0.0.0:9527"), Opts::default(), None);
        assert!(wildcard.kernel_blocked);
        let specific = wildcard
            .probed
            .probes
            .iter()
            .find(|p| p.bind.addr != wildcard.probed.bind.addr)
            .expect("an address counterfactual");
        assert_eq!(specific.bind.addr.to_string(), "10.9.9.1");
        assert!(specific.ok);
        assert!(sockets::kernel_allows(at("10.9.9.1:9527"), Opts::default()));
        assert!(wildcard
            .probed
            .advice
            .iter()
            .any(|a| a.contains("Bind 10.9.9.1 instead of the wildcard")));
    });
}

#[test]
fn v4_mapped_time_wait_from_a_dual_stack_listener() {
    require_netns!();
    let ns = Netns::new();
    ns.run(|| {
        v4_mapped_server_time_wait(PORT);
        for (addr, options, blocked) in [
            ("127.0.0.1:9527", Opts::default(), true),
            ("0.0.0.0:9527", Opts::default(), true),
            ("[::]:9527", v6only(false), true),
            ("[::]:9527", v6only(true), false),
            ("[::1]:9527", Opts::default(), false),
        ] {
            let seen = judge(at(addr), options, None);
            assert_eq!(seen.kernel_blocked, blocked, "{addr} {:?}", options.v6only);
            // The mapped address tells the rules its v6only: they are certain.
            assert!(
                seen.rules_only
                    .blockers
                    .iter()
                    .all(|b| b.conflict == Conflict::Yes),
                "{addr}: {:?}",
                seen.rules_only.blockers
            );
        }
    });
}

/// An IPv6 connection's TIME_WAIT blocks an IPv4 wildcard bind exactly when
/// its listener was dual-stack: the rules, which cannot see that from /proc,
/// must say Unknown, and the probe decides.
#[test]
fn ipv6_time_wait_against_ipv4_wildcard_follows_the_listeners_v6only() {
    require_netns!();
    for (listener_v6only, blocked) in [(false, true), (true, false)] {
        let ns = Netns::new();
        ns.run(|| {
            sockets::server_side_time_wait(at("[::1]:9527"), v6only(listener_v6only));
            // A listener on [::1] has IPV6_V6ONLY forced on; [::] keeps the choice.
            let listener_any = at("[::]:9528");
            sockets::server_side_time_wait(listener_any, v6only(listener_v6only));
            let specific = judge(at("0.0.0.0:9527"), Opts::default(), None);
            assert!(!specific.kernel_blocked, "a [::1] listener is IPv6-only");
            let any = judge(at("0.0.0.0:9528"), Opts::default(), None);
            assert_eq!(any.kernel_blocked, blocked, "v6only={listener_v6only}");
            assert_eq!(any.rules_only.blockers.len(), 1);
            assert_eq!(any.rules_only.blockers[0].conflict, Conflict::Unknown);
            if !blocked {
                assert_says(&any.probed, "the kernel settled its IPV6_V6ONLY flag");
            }
        });
    }
}

#[test]
fn reuseport_within_one_uid_and_across_uids() {
    require_netns!();
    let ns = Netns::new();
    let reuseport = opts(false, true);
    let _listener = ns.run(|| {
        sockets::server_side_time_wait(at("127.0.0.1:9528"), reuseport);
        let time_wait = judge(at("127.0.0.1:9528"), reuseport, None);
        assert!(!time_wait.kernel_blocked);

        let listener = sockets::listen_with(at("127.0.0.1:9527"), reuseport);
        let same_uid = judge(at("127.0.0.1:9527"), reuseport, None);
        assert!(!same_uid.kernel_blocked);
        assert!(judge(at("127.0.0.1:9527"), Opts::default(), None).kernel_blocked);
        listener
    });
    ns.run(|| {
        as_other_uid(|| {
            let other_uid = judge(at("127.0.0.1:9527"), reuseport, None);
            assert!(other_uid.kernel_blocked);
            assert_eq!(other_uid.rules_only.blockers[0].conflict, Conflict::Yes);
            // A TIME_WAIT's SO_REUSEPORT is shared across uids.
            assert!(!judge(at("127.0.0.1:9528"), reuseport, None).kernel_blocked);
        })
    });
}

/// Every decision-table cell (LISTEN; bound-only; an accepted connection for
/// "connected"; TIME_WAIT), each in its own namespace. `true` = EADDRINUSE, columns none, RA, RP, RP uidX, RA+RP,
/// RA+RP uidX as in kernel-bind-rules.md.
#[test]
fn decision_table_rows_the_kernel_can_show() {
    require_netns!();
    const X: bool = true;
    const OK: bool = false;
    let columns = [
        (opts(false, false), false),
        (opts(true, false), false),
        (opts(false, true), false),
        (opts(false, true), true),
        (opts(true, true), false),
        (opts(true, true), true),
    ];
    let flags = [
        opts(false, false),
        opts(true, false),
        opts(false, true),
        opts(true, true),
    ];
    let listen = [
        [X, X, X, X, X, X],
        [X, X, X, X, X, X],
        [X, X, OK, X, OK, X],
        [X, X, OK, X, OK, X],
    ];
    let connected = [
        [X, X, X, X, X, X],
        [X, OK, X, X, OK, OK],
        [X, X, OK, X, OK, X],
        [X, OK, OK, X, OK, OK],
    ];
    let time_wait = [
        [X, X, X, X, X, X],
        [X, OK, X, X, OK, OK],
        [X, X, OK, OK, OK, OK],
        [X, OK, OK, OK, OK, OK],
    ];
    let target = at("127.0.0.1:9527");
    for (kind, rows) in [
        (Kind::Listen, listen),
        (Kind::Bound, connected),
        (Kind::Accepted, connected),
        (Kind::TimeWait, time_wait),
    ] {
        for (old, row) in flags.iter().zip(rows) {
            for ((new, other_uid), expected) in columns.iter().zip(row) {
                let ns = Netns::new();
                let _held = ns.run(|| kind.build(target, *old));
                let certainty = kind.certainty();
                let seen = ns.run(|| {
                    if *other_uid {
                        as_other_uid(|| judge_with(target, *new, None, certainty))
                    } else {
                        judge_with(target, *new, None, certainty)
                    }
                });
                assert_eq!(
                    seen.kernel_blocked, expected,
                    "kernel vs table: {kind:?} (RA {}, RP {}) vs new (RA {}, RP {}, other uid \
                     {other_uid})",
                    old.reuseaddr, old.reuseport, new.reuseaddr, new.reuseport
                );
            }
        }
    }
}

/// The existing sockets of the decision table.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Listen,
    /// Bound, never listened: only sock_diag lists it.
    Bound,
    /// An accepted connection whose listener is gone: it keeps the flags.
    Accepted,
    TimeWait,
}

impl Kind {
    /// Builds the socket on `target`; returns what must stay open.
    fn build(self, target: SocketAddr, flags: Opts) -> Vec<OwnedFd> {
        match self {
            Kind::Listen => vec![OwnedFd::from(sockets::listen_with(target, flags))],
            Kind::Bound => vec![sockets::bind_with(target, flags).expect("bind")],
            Kind::Accepted => {
                let listener = sockets::listen_with(target, flags);
                let client = TcpStream::connect(target).unwrap();
                let (accepted, _) = listener.accept().unwrap();
                vec![OwnedFd::from(accepted), OwnedFd::from(client)]
            }
            Kind::TimeWait => {
                sockets::server_side_time_wait(target, flags);
                Vec::new()
            }
        }
    }

    fn certainty(self) -> Certainty {
        match self {
            Kind::Bound => Certainty::NetlinkOnly,
            _ => Certainty::BothTables,
        }
    }
}

/// A successful probe must not change what the kernel answers next: a probe
/// with SO_REUSEADDR and SO_REUSEPORT that passed this connection by
/// SO_REUSEADDR alone would arm the kernel's SO_REUSEPORT fast path, and a
/// later SO_REUSEPORT bind would then wrongly succeed.
#[test]
fn probes_leave_the_kernels_next_answer_unchanged() {
    require_netns!();
    let ns = Netns::new();
    let target = at("127.0.0.1:9527");
    let reuseport = opts(false, true);
    let _held = ns.run(|| Kind::Accepted.build(target, opts(true, false)));
    ns.run(|| {
        assert!(!sockets::kernel_allows(target, reuseport));
        let seen = judge(target, reuseport, None);
        assert!(seen.kernel_blocked);
        assert!(
            seen.probed.probes.iter().any(|p| p.ok),
            "a counterfactual succeeded: {:?}",
            seen.probed.probes
        );
        assert!(!sockets::kernel_allows(target, reuseport));
    });
}

/// Two SO_REUSEADDR sockets can both bind a port; the second to listen()
/// gets EADDRINUSE. Only sock_diag lists the bound-only one (6.5+).
#[test]
fn listen_caveat_matches_the_kernel() {
    require_netns!();
    let ns = Netns::new();
    ns.run(|| {
        let target = at("0.0.0.0:9527");
        let reuseaddr = opts(true, false);
        let other = sockets::bind_with(target, reuseaddr).expect("bound-only socket");
        let seen = judge_with(target, reuseaddr, None, Certainty::NetlinkOnly);
        assert!(!seen.kernel_blocked);
        assert_says(&seen.probed, "listen() may not");
        assert_says(&seen.probed, &format!("pid {}", std::process::id()));

        let ours = sockets::bind_with(target, reuseaddr).expect("the bind the verdict allowed");
        // SAFETY: both are bound sockets owned here.
        unsafe {
            assert_eq!(libc::listen(other.as_raw_fd(), 16), 0);
            assert_eq!(libc::listen(ours.as_raw_fd(), 16), -1);
        }
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::EADDRINUSE)
        );
    });
}

/// The address-overlap table, existing LISTEN → new bind, in the kernel.
#[test]
fn address_overlap_rows() {
    require_netns!();
    let plain = Opts::default();
    for (existing, existing_opts, new, new_opts, blocked) in [
        ("127.0.0.1:9527", plain, "0.0.0.0:9527", plain, true),
        ("0.0.0.0:9527", plain, "127.0.0.1:9527", plain, true),
        ("127.0.0.1:9527", plain, "127.0.0.2:9527", plain, false),
        ("[::]:9527", v6only(false), "0.0.0.0:9527", plain, true),
        ("[::]:9527", v6only(false), "127.0.0.1:9527", plain, true),
        ("[::]:9527", v6only(true), "0.0.0.0:9527", plain, false),
        ("0.0.0.0:9527", plain, "[::]:9527", v6only(false), true),
        ("0.0.0.0:9527", plain, "[::]:9527", v6only(true), false),
        ("127.0.0.1:9527", plain, "[::1]:9527", plain, false),
        (
            "127.0.0.1:9527",
            plain,
            "[::ffff:127.0.0.1]:9527",
            plain,
            true,
        ),
        ("[::1]:9527", plain, "[::]:9527", plain, true),
        ("[::1]:9527", plain, "0.0.0.0:9527", plain, false),
    ] {
        let ns = Netns::new();
        ns.run(|| {
            let _listener = sockets::listen_with(at(existing), existing_opts);
            let seen = judge(at(new), new_opts, None);
            assert_eq!(seen.kernel_blocked, blocked, "{existing} vs {new}");
            // sock_diag shows a listener's IPV6_V6ONLY: the rules are certain.
            assert!(
                seen.rules_only_netlink
                    .blockers
                    .iter()
                    .all(|b| b.conflict == Conflict::Yes),
                "{existing} vs {new}: {:?}",
                seen.rules_only_netlink.blockers
            );
        });
    }
}

#[test]
fn device_rows() {
    require_netns!();
    for (existing_device, new_device, blocked) in [
        (Some("lo"), Some("v0"), false),
        (Some("lo"), None, true),
        (None, Some("v0"), true),
    ] {
        let ns = Netns::new();
        // veth rather than dummy: it needs no module on this kernel.
        let added = ns
            .exec("ip")
            .args(["link", "add", "v0", "type", "veth", "peer", "name", "v1"])
            .status()
            .expect("ip link add");
        if !added.success() {
            eprintln!("SKIP device_rows: cannot create a veth pair");
            return;
        }
        let target = at("0.0.0.0:9527");
        ns.run(|| {
            let _listener = sockets::listen_with(
                target,
                Opts {
                    device: existing_device,
                    ..Opts::default()
                },
            );
            let seen = judge(target, Opts::default(), new_device);
            assert_eq!(
                seen.kernel_blocked, blocked,
                "{existing_device:?} vs {new_device:?}"
            );
            // sock_diag shows the device: the rules are certain (and checked).
            assert!(seen
                .rules_only_netlink
                .blockers
                .iter()
                .all(|b| b.conflict == Conflict::Yes));
        });
    }
}

#[test]
fn missing_device_and_privileged_port_are_named() {
    require_netns!();
    let ns = Netns::new();
    ns.run(|| {
        let missing = judge(at("0.0.0.0:9527"), Opts::default(), Some("nope0"));
        assert_eq!(missing.probed.probes[0].errno, Some(Errno::ENODEV));
        assert_says(&missing.rules_only, "no device named nope0");
        as_other_uid(|| {
            let privileged = judge(at("0.0.0.0:80"), Opts::default(), None);
            assert_eq!(privileged.probed.probes[0].errno, Some(Errno::EACCES));
            assert_says(&privileged.probed, "EACCES before any conflict");
            assert_eq!(privileged.probed.free_in_ms, None);
        });
    });
}

/// The estimate against the clock: the port must become bindable within a
/// second and a half of `free_in_ms`. Takes a full TIME_WAIT (about 61 s):
/// `cargo test --test diagnosis_matrix -- --ignored`.
#[test]
#[ignore = "waits out a whole TIME_WAIT"]
fn free_in_ms_matches_when_the_port_frees() {
    require_netns!();
    let ns = Netns::new();
    ns.run(|| {
        let target = at("127.0.0.1:9527");
        sockets::server_side_time_wait(target, Opts::default());
        let read_at = std::time::Instant::now();
        let seen = judge(at("0.0.0.0:9527"), Opts::default(), None);
        let estimate = seen.rules_only.free_in_ms.expect("a time-bound blocker");
        while !sockets::kernel_allows(target, Opts::default()) {
            assert!(read_at.elapsed().as_secs() < 120, "never freed");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let freed = read_at.elapsed().as_millis() as u64;
        assert!(
            freed.abs_diff(estimate) <= 1500,
            "estimated {estimate} ms, freed after {freed} ms"
        );
        eprintln!("estimated {estimate} ms, freed after {freed} ms");
    });
}
