//! Errnos as values: what the code compares (a probe's answer, a refusal, a
//! netlink error) is an [`Errno`], and its name comes from one table.

use std::fmt;
use std::io;

/// A Linux errno number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

/// The names tw-inspect may meet (bind, sock_diag, SOCK_DESTROY).
const NAMES: [(i32, &str); 20] = [
    (libc::EPERM, "EPERM"),
    (libc::ENOENT, "ENOENT"),
    (libc::EINTR, "EINTR"),
    (libc::EAGAIN, "EAGAIN"),
    (libc::ENOMEM, "ENOMEM"),
    (libc::EACCES, "EACCES"),
    (libc::EBUSY, "EBUSY"),
    (libc::ENODEV, "ENODEV"),
    (libc::EINVAL, "EINVAL"),
    (libc::ENFILE, "ENFILE"),
    (libc::EMFILE, "EMFILE"),
    (libc::EMSGSIZE, "EMSGSIZE"),
    (libc::EPROTONOSUPPORT, "EPROTONOSUPPORT"),
    (libc::EOPNOTSUPP, "EOPNOTSUPP"),
    (libc::EAFNOSUPPORT, "EAFNOSUPPORT"),
    (libc::EADDRINUSE, "EADDRINUSE"),
    (libc::EADDRNOTAVAIL, "EADDRNOTAVAIL"),
    (libc::ENOBUFS, "ENOBUFS"),
    (libc::ECONNREFUSED, "ECONNREFUSED"),
    (libc::EIO, "EIO"),
];

impl Errno {
    pub const EADDRINUSE: Errno = Errno(libc::EADDRINUSE);
    pub const EADDRNOTAVAIL: Errno = Errno(libc::EADDRNOTAVAIL);
    pub const EACCES: Errno = Errno(libc::EACCES);
    pub const ENODEV: Errno = Errno(libc::ENODEV);
    pub const EINVAL: Errno = Errno(libc::EINVAL);

    /// The errno of an OS error; EIO for an error that carries none.
    pub fn of(error: &io::Error) -> Errno {
        Errno(error.raw_os_error().unwrap_or(libc::EIO))
    }

    /// "EADDRINUSE", or "errno N" for one outside the table.
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(number, _)| *number == self.0)
            .map_or("errno", |(_, name)| name)
    }

    /// "ENOENT: No such file or directory (os error 2)": name and meaning.
    pub fn describe(self) -> String {
        format!("{}: {}", self, io::Error::from_raw_os_error(self.0))
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            "errno" => write!(f, "errno {}", self.0),
            name => f.write_str(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_one_table() {
        assert_eq!(Errno::EADDRINUSE.to_string(), "EADDRINUSE");
        assert_eq!(Errno(libc::ENOENT).name(), "ENOENT");
        assert_eq!(Errno(4095).to_string(), "errno 4095");
        assert!(Errno(libc::EOPNOTSUPP)
            .describe()
            .starts_with("EOPNOTSUPP: "));
        assert_eq!(
            Errno::of(&io::Error::from_raw_os_error(libc::EACCES)),
            Errno::EACCES
        );
        assert_eq!(Errno::of(&io::Error::other("x")), Errno(libc::EIO));
        let mut numbers: Vec<i32> = NAMES.iter().map(|(n, _)| *n).collect();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), NAMES.len(), "one name per errno");
    }
}
