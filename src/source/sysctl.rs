//! Reading the kernel settings ([`KernelContext`]) that explain a bind() failure or a TIME_WAIT pile-up, read
//! from /proc/sys (per network namespace). Each value is optional: a missing
//! or garbled file gives None, never an error.

use std::fs;
use std::path::Path;

use crate::model::{ConnectSysctls, KernelContext, ReservedPorts, TwReuse};

/// Reads the calling thread's namespace (/proc/sys/net, /proc/thread-self/net).
pub fn read() -> KernelContext {
    read_from(
        Path::new("/proc/sys/net"),
        Path::new("/proc/thread-self/net"),
    )
}

/// Reads from a /proc/sys/net and a /proc/PID/net directory (or copies of them).
pub fn read_from(sys_net: &Path, proc_net: &Path) -> KernelContext {
    let value = |name: &str| fs::read_to_string(sys_net.join(name)).ok();
    KernelContext {
        tcp_tw_reuse: number(&value, "ipv4/tcp_tw_reuse"),
        tcp_max_tw_buckets: number(&value, "ipv4/tcp_max_tw_buckets"),
        time_wait_count: fs::read_to_string(proc_net.join("sockstat"))
            .ok()
            .and_then(|text| sockstat_time_wait(&text)),
        tcp_fin_timeout: number(&value, "ipv4/tcp_fin_timeout"),
        ip_local_port_range: value("ipv4/ip_local_port_range").and_then(|text| port_range(&text)),
        bindv6only: number::<u8>(&value, "ipv6/bindv6only").map(|flag| flag != 0),
        ip_unprivileged_port_start: number(&value, "ipv4/ip_unprivileged_port_start"),
    }
}

/// Reads what connect() depends on in the calling thread's namespace.
pub fn read_connect() -> ConnectSysctls {
    read_connect_from(Path::new("/proc/sys/net"))
}

/// Reads what connect() depends on from a /proc/sys/net directory (or a
/// copy of it).
pub fn read_connect_from(sys_net: &Path) -> ConnectSysctls {
    let value = |name: &str| fs::read_to_string(sys_net.join(name)).ok();
    {
        ConnectSysctls {
            ip_local_port_range: value("ipv4/ip_local_port_range")
                .and_then(|text| port_range(&text)),
            ip_local_reserved_ports: value("ipv4/ip_local_reserved_ports")
                .and_then(|text| ReservedPorts::parse(&text)),
            tcp_tw_reuse: number(&value, "ipv4/tcp_tw_reuse").and_then(TwReuse::from_sysctl),
            tcp_tw_reuse_delay_ms: number(&value, "ipv4/tcp_tw_reuse_delay"),
            ip_autobind_reuse: number::<u8>(&value, "ipv4/ip_autobind_reuse").map(|v| v != 0),
            tcp_timestamps: number(&value, "ipv4/tcp_timestamps"),
        }
    }
}

/// A sysctl file's one number.
fn number<T: std::str::FromStr>(value: &impl Fn(&str) -> Option<String>, name: &str) -> Option<T> {
    value(name).and_then(|text| text.trim().parse().ok())
}

/// "32768\t60999" → (32768, 60999).
fn port_range(text: &str) -> Option<(u16, u16)> {
    let mut fields = text.split_whitespace().map(str::parse::<u16>);
    match (fields.next(), fields.next(), fields.next()) {
        (Some(Ok(low)), Some(Ok(high)), None) => Some((low, high)),
        _ => None,
    }
}

/// The `tw` count of the "TCP:" line of /proc/net/sockstat.
fn sockstat_time_wait(text: &str) -> Option<u64> {
    let line = text.lines().find_map(|line| line.strip_prefix("TCP:"))?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    fields
        .chunks_exact(2)
        .find(|pair| pair[0] == "tw")
        .and_then(|pair| pair[1].parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_port_range_and_rejects_garbage() {
        assert_eq!(port_range("32768\t60999\n"), Some((32768, 60999)));
        assert_eq!(port_range("32768"), None);
        assert_eq!(port_range("1 2 3"), None);
        assert_eq!(port_range("a b"), None);
    }

    #[test]
    fn parses_reserved_ports_lists() {
        assert_eq!(ReservedPorts::parse("\n"), Some(ReservedPorts::default()));
        let reserved = ReservedPorts::parse("40003,40005-40006\n").unwrap();
        assert_eq!(reserved.runs, vec![(40003, 40003), (40005, 40006)]);
        assert!(reserved.contains(40003));
        assert!(reserved.contains(40006));
        assert!(!reserved.contains(40004));
        assert!(!reserved.contains(40007));
        assert_eq!(ReservedPorts::parse("1-a"), None);
        assert_eq!(ReservedPorts::parse("9-3"), None);
        assert_eq!(ReservedPorts::parse("70000"), None);
    }

    #[test]
    fn tw_reuse_values() {
        assert_eq!(TwReuse::from_sysctl(0), Some(TwReuse::Off));
        assert_eq!(TwReuse::from_sysctl(1), Some(TwReuse::On));
        assert_eq!(TwReuse::from_sysctl(2), Some(TwReuse::LoopbackOnly));
        assert_eq!(TwReuse::from_sysctl(3), None);
        assert_eq!(TwReuse::LoopbackOnly.sysctl_value(), 2);
    }

    #[test]
    fn reads_connect_sysctls_and_tolerates_an_older_kernel() {
        let root = std::env::temp_dir().join(format!("twi-connect-sysctl-{}", std::process::id()));
        let ipv4 = root.join("ipv4");
        fs::create_dir_all(&ipv4).unwrap();
        fs::write(ipv4.join("ip_local_port_range"), "40000\t40009\n").unwrap();
        fs::write(ipv4.join("ip_local_reserved_ports"), "40001-40002\n").unwrap();
        fs::write(ipv4.join("tcp_tw_reuse"), "1\n").unwrap();
        fs::write(ipv4.join("ip_autobind_reuse"), "0\n").unwrap();
        fs::write(ipv4.join("tcp_timestamps"), "1\n").unwrap();
        // No tcp_tw_reuse_delay: a kernel before 6.14.
        let sysctls = read_connect_from(&root);
        fs::remove_dir_all(&root).unwrap();
        assert_eq!(
            sysctls,
            ConnectSysctls {
                ip_local_port_range: Some((40000, 40009)),
                ip_local_reserved_ports: Some(ReservedPorts {
                    runs: vec![(40001, 40002)]
                }),
                tcp_tw_reuse: Some(TwReuse::On),
                tcp_tw_reuse_delay_ms: None,
                ip_autobind_reuse: Some(false),
                tcp_timestamps: Some(1),
            }
        );
    }

    #[test]
    fn parses_sockstat_time_wait() {
        let text =
            "sockets: used 5\nTCP: inuse 2 orphan 0 tw 17 alloc 4 mem 1\nUDP: inuse 0 mem 0\n";
        assert_eq!(sockstat_time_wait(text), Some(17));
        assert_eq!(sockstat_time_wait("TCP: inuse 2\n"), None);
        assert_eq!(sockstat_time_wait(""), None);
    }

    #[test]
    fn reads_a_copied_tree_and_tolerates_missing_files() {
        let root = std::env::temp_dir().join(format!("twi-sysctl-{}", std::process::id()));
        let ipv4 = root.join("sys/ipv4");
        fs::create_dir_all(&ipv4).unwrap();
        fs::write(ipv4.join("tcp_tw_reuse"), "2\n").unwrap();
        fs::write(ipv4.join("tcp_max_tw_buckets"), "not a number\n").unwrap();
        fs::write(ipv4.join("ip_local_port_range"), "1024\t2048\n").unwrap();
        let context = read_from(&root.join("sys"), &root.join("net"));
        fs::remove_dir_all(&root).unwrap();
        assert_eq!(
            context,
            KernelContext {
                tcp_tw_reuse: Some(2),
                ip_local_port_range: Some((1024, 2048)),
                ..KernelContext::default()
            }
        );
        assert!(!context.default_v6only());
    }
}
