//! The faces that print: a human report and a JSON document.

pub mod human;
pub mod inert;
pub mod json;

use std::ffi::CStr;

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
