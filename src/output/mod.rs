//! What the faces print with: the human report, the JSON document, and the
//! small renderings they share (device names, inert text, color).

pub mod connect;
pub mod event;
pub mod human;
pub mod inert;
pub mod json;

/// Color only on a terminal, and never when NO_COLOR is set to a non-empty
/// value (no-color.org): the one check every face makes.
pub fn color_wanted(terminal: bool) -> bool {
    terminal && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}

/// Device names are the source layer's ([`crate::source::device_name`]);
/// re-exported for the writers.
pub use crate::source::device_name;

#[cfg(test)]
mod tests;
