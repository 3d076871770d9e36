//! tw-inspect: why does bind() fail with EADDRINUSE, and when will it not?
//!
//! Data flows one way: [`source`] (sock_diag, /proc, captured files) →
//! [`model`] (one socket model) → [`diagnosis`] (pure rules, probes at the
//! edge) → [`output`] (human, JSON) and [`tui`]. [`cli`] wires them.

pub mod cli;
pub mod diagnosis;
pub mod error;
pub mod model;
pub mod output;
pub mod source;
#[cfg(test)]
mod testing;
pub mod tui;

pub use error::{Error, Result};
