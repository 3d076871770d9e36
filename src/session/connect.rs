//! The client side: will the next connect() get a local port, and which
//! destinations use up the range.

use super::{HostAccess, Reading, Session};
use crate::diagnosis::connect::{
    connect_verdict, pressure, ConnectSettings, ConnectVerdict, IntendedConnect, PortPressure,
};
use crate::diagnosis::probe::{probe_bind_zero, source_address_for};
use crate::errno::Errno;
use crate::model::{ConnectSysctls, ProtocolSet, Query, SourceKind};
use crate::source::sysctl;
use crate::Result;

/// The answer to "will the next connect() to this destination get a local
/// port", with the local port range's use by destination.
#[derive(Debug)]
pub struct ConnectCheck {
    pub verdict: ConnectVerdict,
    pub pressure: PortPressure,
    /// The harmless half of a bind(0) client, when it is one and probing is
    /// allowed: the port the kernel picked, or why it refused.
    pub bind_zero_probe: Option<Result<u16, Errno>>,
    pub source: SourceKind,
    pub fallback_warning: Option<String>,
}

impl Session {
    /// Will the next connect() to `connect.remote` get a local port: the
    /// rules on the namespace's TCP table and its sysctls, read inside it.
    /// The local address is the client's (`connect.local`) or the one
    /// routing picks. Never a probe connect(): that would send a SYN to
    /// someone's host; a bind(0) client's bind is probed (harmless).
    pub fn check_connect(&self, connect: &IntendedConnect) -> Result<ConnectCheck> {
        self.inside(|| {
            let mut connect = connect.clone();
            if connect.local.is_none() && self.captured.is_none() {
                connect.local = source_address_for(connect.remote).ok();
            }
            let (reading, sysctls) = self.read_ephemeral_here()?;
            let verdict = connect_verdict(&connect, &sysctls, &reading.table.sockets);
            let pressure = pressure(
                &reading.table.sockets,
                &ConnectSettings::from_sysctls(&sysctls),
            );
            let probing = self.access == HostAccess::Live { probing: true };
            let bind_zero_probe = (probing && connect.bind_zero && !connect.no_port)
                .then(|| probe_bind_zero(&connect));
            Ok(ConnectCheck {
                verdict,
                pressure,
                bind_zero_probe,
                source: reading.table.source,
                fallback_warning: reading.fallback_warning,
            })
        })
    }

    /// The local port range's use by destination ("which backend is eating
    /// my ports"), with the sysctls read in the namespace.
    pub fn port_pressure(&self) -> Result<(PortPressure, Reading)> {
        self.inside(|| {
            let (reading, sysctls) = self.read_ephemeral_here()?;
            let pressure = pressure(
                &reading.table.sockets,
                &ConnectSettings::from_sysctls(&sysctls),
            );
            Ok((pressure, reading))
        })
    }

    /// The TCP table and what connect() depends on, read here.
    fn read_ephemeral_here(&self) -> Result<(Reading, ConnectSysctls)> {
        let sysctls = match self.access {
            HostAccess::Live { .. } => sysctl::read_connect(),
            HostAccess::Captured => ConnectSysctls::default(),
        };
        let reading = self.read_here(Query::everything(), ProtocolSet::TCP, false)?;
        Ok((reading, sysctls))
    }
}
