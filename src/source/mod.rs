//! Sources of socket tables: sock_diag (netlink), /proc/net/tcp{,6}, captured files.
pub mod owners;
pub mod procnet;
pub mod sysctl;
