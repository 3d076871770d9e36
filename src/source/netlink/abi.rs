//! The kernel's netlink and inet_diag wire format, as both the requests
//! (request.rs) and the replies (message.rs) lay it out: message types and
//! struct sizes from include/uapi/linux/{netlink,inet_diag}.h. Kept apart so
//! that neither side imports the other.

/// `struct nlmsghdr`.
pub(super) const NLMSG_HDR_LEN: usize = 16;

/// TCPDIAG_GETSOCK (include/uapi/linux/inet_diag.h): the pre-sock_diag TCP
/// dump request, which the kernel answers for both families in one walk of
/// its tables (AF_UNSPEC) where SOCK_DIAG_BY_FAMILY walks them once per
/// family. Replies carry this type too.
pub(super) const TCPDIAG_GETSOCK: u16 = 18;

/// `struct inet_diag_msg`: family, state, timer, retrans (u8 each), the
/// 48-byte socket id, then expires, rqueue, wqueue, uid, inode (u32 each).
pub const INET_DIAG_MSG_LEN: usize = 72;

/// `struct nlattr` header.
pub(super) const NLA_HDR_LEN: usize = 4;

/// nla_type without NLA_F_NESTED / NLA_F_NET_BYTEORDER.
pub(super) const NLA_TYPE_MASK: u16 = 0x3fff;
