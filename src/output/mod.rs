//! What the faces print with: the human report, the JSON document, and the
//! small renderings they share (device names, inert text, color).

pub mod connect;
pub mod event;
pub mod human;
pub mod inert;
pub mod json;

use std::ffi::CStr;

/// Color only on a terminal, and never when NO_COLOR is set to a non-empty
/// value (no-color.org): the one check every face makes.
pub fn color_wanted(terminal: bool) -> bool {
    terminal && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}

/// The name of a bound device (SO_BINDTODEVICE ifindex), or None for no
/// device; an index that no longer resolves prints as `if<N>`.
pub fn device_name(index: u32) -> Option<String> {
    if index == 0 {
        return None;
    }
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: buf has IF_NAMESIZE bytes, as if_indextoname requires.
    let name = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if name.is_null() {
        return Some(format!("if{index}"));
    }
    // SAFETY: on success if_indextoname wrote a NUL-terminated name into buf.
    let name = unsafe { CStr::from_ptr(buf.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests;
