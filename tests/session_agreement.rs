//! Every face asks the one session: the `--port` report and the dashboard's
//! reading give the same verdict for the same flags, judged by the kernel.
mod common;

use std::net::SocketAddr;

use common::{json, sockets, Netns};
use tw_inspect::diagnosis::Verdict;
use tw_inspect::model::ProtocolSet;
use tw_inspect::session::{BindOptions, BindSpec, Session};
use tw_inspect::source::SourceChoice;
use tw_inspect::tui::{self, CollectRequest};

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

/// What must not differ between two readings of the same port a moment
/// apart (timers count down between them; everything else must agree).
fn stable(verdict: &Verdict) -> impl PartialEq + std::fmt::Debug {
    let blockers: Vec<_> = verdict
        .blockers
        .iter()
        .map(|b| {
            (
                b.socket.local,
                b.socket.remote,
                b.socket.state,
                b.reason,
                b.conflict,
            )
        })
        .collect();
    let probes: Vec<_> = verdict
        .probes
        .iter()
        .map(|p| (p.bind.clone(), p.kind, p.ok, p.errno))
        .collect();
    (
        verdict.bind.clone(),
        verdict.blocked,
        verdict.refused,
        blockers,
        probes,
        verdict.advice.len(),
    )
}

fn dashboard_verdict(ns: &Netns, spec: &BindSpec) -> Verdict {
    let session = Session::new(SourceChoice::Auto, None, true);
    let request = CollectRequest {
        bind: Some(spec.clone()),
        protocols: ProtocolSet::TCP,
        pressure: false,
    };
    ns.run(|| tui::snapshot(&session, &request))
        .expect("dashboard reading")
        .verdict
        .expect("a verdict for the chosen port")
}

/// On a host with net.ipv6.bindv6only=1 a server binding [::] without
/// IPV6_V6ONLY gets it all the same: an IPv4 listener on the port does not
/// block it. The report and the dashboard both apply the sysctl.
#[test]
fn report_and_dashboard_agree_under_bindv6only() {
    require_netns!();
    let ns = Netns::new();
    let sysctl = ns
        .exec("sysctl")
        .args(["-qw", "net.ipv6.bindv6only=1"])
        .status()
        .expect("sysctl");
    assert!(sysctl.success());
    let _listener =
        ns.run(|| sockets::listen_with(addr("127.0.0.1:9531"), sockets::Opts::default()));
    let kernel_free = ns.run(|| sockets::kernel_allows(addr("[::]:9531"), Default::default()));
    assert!(kernel_free, "the kernel lets a v6only [::] bind pass");

    let out = ns.tw_inspect(["--port", "9531", "--addr", "::", "--json"]);
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert_eq!(doc["verdict"]["bind"]["v6only"], true);

    let spec = BindSpec {
        port: 9531,
        options: BindOptions {
            addr: Some("::".parse().unwrap()),
            ..BindOptions::default()
        },
    };
    let dashboard = dashboard_verdict(&ns, &spec);
    assert!(!dashboard.blocked, "{}", dashboard.explanation);
    assert!(dashboard.bind.v6only);

    let session = Session::new(SourceChoice::Auto, None, true);
    let report = ns.run(|| session.check_port(&spec)).expect("check");
    assert_eq!(stable(&report.verdict), stable(&dashboard));
}

/// A port held by the old server's TIME_WAIT, with TIME_WAITs of clients
/// that closed first on other ports: the port query (filtered in the
/// kernel, peer side included) and the dashboard's whole-table reading
/// judge the same sockets and say the same.
#[test]
fn filtered_and_whole_table_readings_agree() {
    require_netns!();
    let ns = Netns::new();
    ns.run(|| {
        sockets::server_side_time_wait(addr("127.0.0.1:9532"), Default::default());
        sockets::client_side_time_wait(addr("127.0.0.1:9533"));
        // A socket on another port entirely: in the dashboard's table only.
        sockets::server_side_time_wait(addr("127.0.0.1:9534"), Default::default());
    });
    for port in [9532, 9533] {
        let spec = BindSpec {
            port,
            options: BindOptions::default(),
        };
        let session = Session::new(SourceChoice::Auto, None, true);
        let report = ns.run(|| session.check_port(&spec)).expect("check");
        let dashboard = dashboard_verdict(&ns, &spec);
        assert_eq!(stable(&report.verdict), stable(&dashboard), "port {port}");
        // The port's own sockets only, in the report's table.
        assert!(report.table.sockets.iter().all(|s| s.local.port() == port));
        let kernel_free =
            ns.run(|| sockets::kernel_allows(addr(&format!("0.0.0.0:{port}")), Default::default()));
        assert_eq!(report.verdict.blocked, !kernel_free, "port {port}");
    }
    // The client-closed-first evidence reaches the explanation from both.
    let spec = BindSpec {
        port: 9533,
        options: BindOptions::default(),
    };
    let dashboard = dashboard_verdict(&ns, &spec);
    assert!(
        dashboard.explanation.to_lowercase().contains("client"),
        "{}",
        dashboard.explanation
    );
}

/// A bound-only socket (bind(), no listen()) holds its port. The port query
/// skips the kernel's costly bind-hash walk only when a probe has just shown
/// that no bound-only socket can matter; these cases pin that it still names
/// every one that does, with probes and without.
#[test]
fn bound_only_sockets_are_named_whenever_they_matter() {
    require_netns!();
    let ns = Netns::new();
    let reuseaddr = sockets::Opts {
        reuseaddr: true,
        ..sockets::Opts::default()
    };
    let _plain = ns.run(|| sockets::bind_with(addr("0.0.0.0:9541"), Default::default()).unwrap());
    let _shared = ns.run(|| sockets::bind_with(addr("127.0.0.1:9542"), reuseaddr).unwrap());

    // It blocks a plain bind: named, with and without probes.
    for extra in [None, Some("--no-probe")] {
        let out = ns.tw_inspect(["--port", "9541", "--json"].into_iter().chain(extra));
        assert_eq!(out.status.code(), Some(1), "{extra:?}");
        let verdict = &json(&out)["verdict"];
        assert_eq!(verdict["blockers"][0]["state"], "BOUND", "{extra:?}");
        assert_eq!(verdict["blockers"][0]["reason"], "bound", "{extra:?}");
    }
    assert!(!ns.run(|| sockets::kernel_allows(addr("0.0.0.0:9541"), Default::default())));

    // A SO_REUSEADDR bind passes it, but listen() would not: the caveat
    // needs the bound-only socket read.
    assert!(ns.run(|| sockets::kernel_allows(addr("127.0.0.1:9542"), reuseaddr)));
    let out = ns.tw_inspect([
        "--port",
        "9542",
        "--addr",
        "127.0.0.1",
        "--reuseaddr",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let doc = json(&out);
    assert_eq!(doc["sockets"][0]["state"], "BOUND");
    let explanation = doc["verdict"]["explanation"].as_str().unwrap();
    assert!(explanation.contains("listen()"), "{explanation}");
}

/// The dashboard's pressure panel reads what `--connect` without a port
/// reads: client-side TIME_WAITs towards 127.0.0.1:9532, counted alike.
#[test]
fn dashboard_pressure_panel_agrees_with_the_session() {
    require_netns!();
    let ns = Netns::new();
    let server = addr("127.0.0.1:9532");
    let clients: Vec<SocketAddr> = (0..3)
        .map(|_| ns.run(|| sockets::client_side_time_wait(server)))
        .collect();
    let session = Session::new(SourceChoice::Auto, None, true);
    let request = CollectRequest {
        bind: None,
        protocols: ProtocolSet::TCP,
        pressure: true,
    };
    let snapshot = ns
        .run(|| tui::snapshot(&session, &request))
        .expect("dashboard reading");
    let panel = snapshot
        .pressure
        .expect("read when the panel is open")
        .expect("pressure");
    let (direct, _) = ns.run(|| session.port_pressure()).expect("port pressure");
    let towards = |p: &tw_inspect::diagnosis::connect::PortPressure| {
        p.destinations
            .iter()
            .find(|d| d.remote == server)
            .map(|d| (d.time_wait, d.ports))
    };
    assert_eq!(towards(&panel), Some((clients.len(), clients.len())));
    assert_eq!(towards(&panel), towards(&direct));
    assert_eq!(panel.range, direct.range);

    let closed = CollectRequest {
        pressure: false,
        ..request
    };
    let snapshot = ns
        .run(|| tui::snapshot(&session, &closed))
        .expect("reading");
    assert!(snapshot.pressure.is_none(), "not read while closed");
}
