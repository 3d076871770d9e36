//! Builders of sockets, binds and rule contexts for unit tests across the crate.

use std::net::SocketAddr;

use crate::diagnosis::rules::RuleContext;
use crate::diagnosis::IntendedBind;
use crate::model::{Family, Process, Protocol, Socket, TcpState, Timer, TimerKind};

/// The uid the test binds run as.
pub const UID: u32 = 1000;

pub fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// A socket as sock_diag reports it (bound device and v6only known).
pub fn socket(state: TcpState, local: &str, remote: &str) -> Socket {
    let local = addr(local);
    let family = if local.is_ipv4() {
        Family::Ipv4
    } else {
        Family::Ipv6
    };
    let timer = matches!(state, TcpState::TimeWait | TcpState::FinWait2).then_some(Timer {
        kind: TimerKind::Timewait,
        expires_ms: 43_000,
        retransmits: 0,
    });
    let mini = timer.is_some();
    Socket {
        protocol: Protocol::Tcp,
        family,
        state,
        local,
        remote: addr(remote),
        bound_device: 0,
        timer,
        rx_queue: 0,
        tx_queue: 0,
        uid: if mini { 0 } else { UID },
        inode: if mini { 0 } else { 4242 },
        cookie: None,
        v6only: None,
        processes: Vec::new(),
    }
}

pub fn listener(local: &str) -> Socket {
    let wildcard = if addr(local).is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    socket(TcpState::Listen, local, wildcard)
}

pub fn time_wait(local: &str, remote: &str, remaining_ms: u64) -> Socket {
    let mut tw = socket(TcpState::TimeWait, local, remote);
    if let Some(timer) = tw.timer.as_mut() {
        timer.expires_ms = remaining_ms;
    }
    tw
}

pub fn owned_by(mut socket: Socket, pid: u32, comm: &str) -> Socket {
    socket.processes.push(Process {
        pid,
        comm: comm.to_string(),
        cmdline: comm.to_string(),
        ..Process::default()
    });
    socket
}

pub fn bind(text: &str) -> IntendedBind {
    let target = addr(text);
    IntendedBind {
        protocol: crate::model::Protocol::Tcp,
        addr: target.ip(),
        port: target.port(),
        reuseaddr: false,
        reuseport: false,
        v6only: false,
        device: None,
        uid: None,
    }
}

pub fn context() -> RuleContext {
    RuleContext {
        bind_ifindex: None,
        device_missing: false,
        devices_known: true,
        uid: UID,
        unprivileged_port_start: Some(1024),
        cap_net_bind_service: false,
        captured: false,
        caller_uid: UID,
    }
}

/// A blocked verdict for 0.0.0.0:8080 that blames exactly `blockers`.
pub fn verdict_blaming(blockers: Vec<crate::diagnosis::Blocker>) -> crate::diagnosis::Verdict {
    crate::diagnosis::Verdict {
        bind: bind("0.0.0.0:8080"),
        blocked: true,
        refused: None,
        free_in_ms: None,
        blockers,
        probes: Vec::new(),
        explanation: String::new(),
        client_time_waits: 0,
        advice: Vec::new(),
    }
}
