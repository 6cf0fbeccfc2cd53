//! Raw codes as the operating system returned them: errno values and `hv_return_t`.
//!
//! A raw code is data. Unknown values are kept and shown as numbers; nothing here panics
//! on any input.

use std::fmt;

/// `hv_return_t` values from Hypervisor.framework, as `i32` (the type is a signed
/// `mach_error_t`; every error is negative).
pub mod hv {
    /// Success.
    pub const HV_SUCCESS: i32 = 0;
    /// Generic failure.
    pub const HV_ERROR: i32 = 0xfae9_4001_u32 as i32;
    /// Owning resource busy; on Apple silicon, this process already has a VM.
    pub const HV_BUSY: i32 = 0xfae9_4002_u32 as i32;
    /// Invalid argument.
    pub const HV_BAD_ARGUMENT: i32 = 0xfae9_4003_u32 as i32;
    /// Illegal vCPU state (arm64 headers only).
    pub const HV_ILLEGAL_GUEST_STATE: i32 = 0xfae9_4004_u32 as i32;
    /// Host out of resources; from `hv_vm_create`: the address-space pool is full.
    pub const HV_NO_RESOURCES: i32 = 0xfae9_4005_u32 as i32;
    /// No VM or vCPU available; on Intel: CPU not supported.
    pub const HV_NO_DEVICE: i32 = 0xfae9_4006_u32 as i32;
    /// Not allowed: the hypervisor entitlement is missing.
    pub const HV_DENIED: i32 = 0xfae9_4007_u32 as i32;
    /// Seen only in a kernel-side header.
    pub const HV_EXISTS: i32 = 0xfae9_4008_u32 as i32;
    /// Not supported (e.g. a Mac that is itself a VM without nested virtualization).
    pub const HV_UNSUPPORTED: i32 = 0xfae9_400f_u32 as i32;

    /// Every named `hv_return_t`, in header order.
    pub const KNOWN: [(i32, &str); 10] = [
        (HV_SUCCESS, "HV_SUCCESS"),
        (HV_ERROR, "HV_ERROR"),
        (HV_BUSY, "HV_BUSY"),
        (HV_BAD_ARGUMENT, "HV_BAD_ARGUMENT"),
        (HV_ILLEGAL_GUEST_STATE, "HV_ILLEGAL_GUEST_STATE"),
        (HV_NO_RESOURCES, "HV_NO_RESOURCES"),
        (HV_NO_DEVICE, "HV_NO_DEVICE"),
        (HV_DENIED, "HV_DENIED"),
        (HV_EXISTS, "HV_EXISTS"),
        (HV_UNSUPPORTED, "HV_UNSUPPORTED"),
    ];

    /// The name of a `hv_return_t`, if it has one.
    pub fn name(value: i32) -> Option<&'static str> {
        KNOWN.iter().find(|(v, _)| *v == value).map(|(_, n)| *n)
    }

    /// The value of a `hv_return_t` name (case-insensitive, `HV_` prefix optional).
    pub fn from_name(name: &str) -> Option<i32> {
        let upper = name.trim().to_ascii_uppercase();
        let full = if upper.starts_with("HV_") { upper } else { format!("HV_{upper}") };
        KNOWN.iter().find(|(_, n)| *n == full).map(|(v, _)| *v)
    }

    /// Mach error structure of a `hv_return_t`: `(system, subsystem, code)`.
    ///
    /// Hypervisor.framework errors are `err_local (0x3e) | err_sub(0xba5) | n`.
    pub fn mach_parts(value: i32) -> (u32, u32, u32) {
        let v = value as u32;
        ((v >> 26) & 0x3f, (v >> 14) & 0xfff, v & 0x3fff)
    }

    /// The Mach subsystem Hypervisor.framework uses.
    pub const MACH_SUBSYSTEM: u32 = 0xba5;
    /// The Mach system Hypervisor.framework uses (`err_local`).
    pub const MACH_SYSTEM: u32 = 0x3e;
}

/// Linux errno values and their names (asm-generic numbering, used by x86_64 and
/// aarch64 alike).
pub mod errno {
    /// Every errno the Linux kernel returns to user space, with its symbolic name.
    pub const KNOWN: [(i32, &str); 131] = [
        (1, "EPERM"),
        (2, "ENOENT"),
        (3, "ESRCH"),
        (4, "EINTR"),
        (5, "EIO"),
        (6, "ENXIO"),
        (7, "E2BIG"),
        (8, "ENOEXEC"),
        (9, "EBADF"),
        (10, "ECHILD"),
        (11, "EAGAIN"),
        (12, "ENOMEM"),
        (13, "EACCES"),
        (14, "EFAULT"),
        (15, "ENOTBLK"),
        (16, "EBUSY"),
        (17, "EEXIST"),
        (18, "EXDEV"),
        (19, "ENODEV"),
        (20, "ENOTDIR"),
        (21, "EISDIR"),
        (22, "EINVAL"),
        (23, "ENFILE"),
        (24, "EMFILE"),
        (25, "ENOTTY"),
        (26, "ETXTBSY"),
        (27, "EFBIG"),
        (28, "ENOSPC"),
        (29, "ESPIPE"),
        (30, "EROFS"),
        (31, "EMLINK"),
        (32, "EPIPE"),
        (33, "EDOM"),
        (34, "ERANGE"),
        (35, "EDEADLK"),
        (36, "ENAMETOOLONG"),
        (37, "ENOLCK"),
        (38, "ENOSYS"),
        (39, "ENOTEMPTY"),
        (40, "ELOOP"),
        (42, "ENOMSG"),
        (43, "EIDRM"),
        (44, "ECHRNG"),
        (45, "EL2NSYNC"),
        (46, "EL3HLT"),
        (47, "EL3RST"),
        (48, "ELNRNG"),
        (49, "EUNATCH"),
        (50, "ENOCSI"),
        (51, "EL2HLT"),
        (52, "EBADE"),
        (53, "EBADR"),
        (54, "EXFULL"),
        (55, "ENOANO"),
        (56, "EBADRQC"),
        (57, "EBADSLT"),
        (59, "EBFONT"),
        (60, "ENOSTR"),
        (61, "ENODATA"),
        (62, "ETIME"),
        (63, "ENOSR"),
        (64, "ENONET"),
        (65, "ENOPKG"),
        (66, "EREMOTE"),
        (67, "ENOLINK"),
        (68, "EADV"),
        (69, "ESRMNT"),
        (70, "ECOMM"),
        (71, "EPROTO"),
        (72, "EMULTIHOP"),
        (73, "EDOTDOT"),
        (74, "EBADMSG"),
        (75, "EOVERFLOW"),
        (76, "ENOTUNIQ"),
        (77, "EBADFD"),
        (78, "EREMCHG"),
        (79, "ELIBACC"),
        (80, "ELIBBAD"),
        (81, "ELIBSCN"),
        (82, "ELIBMAX"),
        (83, "ELIBEXEC"),
        (84, "EILSEQ"),
        (85, "ERESTART"),
        (86, "ESTRPIPE"),
        (87, "EUSERS"),
        (88, "ENOTSOCK"),
        (89, "EDESTADDRREQ"),
        (90, "EMSGSIZE"),
        (91, "EPROTOTYPE"),
        (92, "ENOPROTOOPT"),
        (93, "EPROTONOSUPPORT"),
        (94, "ESOCKTNOSUPPORT"),
        (95, "EOPNOTSUPP"),
        (96, "EPFNOSUPPORT"),
        (97, "EAFNOSUPPORT"),
        (98, "EADDRINUSE"),
        (99, "EADDRNOTAVAIL"),
        (100, "ENETDOWN"),
        (101, "ENETUNREACH"),
        (102, "ENETRESET"),
        (103, "ECONNABORTED"),
        (104, "ECONNRESET"),
        (105, "ENOBUFS"),
        (106, "EISCONN"),
        (107, "ENOTCONN"),
        (108, "ESHUTDOWN"),
        (109, "ETOOMANYREFS"),
        (110, "ETIMEDOUT"),
        (111, "ECONNREFUSED"),
        (112, "EHOSTDOWN"),
        (113, "EHOSTUNREACH"),
        (114, "EALREADY"),
        (115, "EINPROGRESS"),
        (116, "ESTALE"),
        (117, "EUCLEAN"),
        (118, "ENOTNAM"),
        (119, "ENAVAIL"),
        (120, "EISNAM"),
        (121, "EREMOTEIO"),
        (122, "EDQUOT"),
        (123, "ENOMEDIUM"),
        (124, "EMEDIUMTYPE"),
        (125, "ECANCELED"),
        (126, "ENOKEY"),
        (127, "EKEYEXPIRED"),
        (128, "EKEYREVOKED"),
        (129, "EKEYREJECTED"),
        (130, "EOWNERDEAD"),
        (131, "ENOTRECOVERABLE"),
        (132, "ERFKILL"),
        (133, "EHWPOISON"),
    ];

    /// Names that are aliases of another errno.
    const ALIASES: [(&str, i32); 4] = [("EWOULDBLOCK", 11), ("EDEADLOCK", 35), ("ENOTSUP", 95), ("ECANCELLED", 125)];

    /// The symbolic name of an errno, if Linux defines one.
    pub fn name(value: i32) -> Option<&'static str> {
        KNOWN.binary_search_by_key(&value, |(v, _)| *v).ok().map(|i| KNOWN[i].1)
    }

    /// The value of an errno name (case-insensitive), aliases included.
    pub fn from_name(name: &str) -> Option<i32> {
        let upper = name.trim().to_ascii_uppercase();
        KNOWN
            .iter()
            .find(|(_, n)| *n == upper)
            .map(|(v, _)| *v)
            .or_else(|| ALIASES.iter().find(|(n, _)| *n == upper).map(|(_, v)| *v))
    }

    /// Common errno values used by the classification.
    #[allow(missing_docs)]
    pub mod values {
        pub const EPERM: i32 = 1;
        pub const ENOENT: i32 = 2;
        pub const EINTR: i32 = 4;
        pub const EIO: i32 = 5;
        pub const ENXIO: i32 = 6;
        pub const ENOEXEC: i32 = 8;
        pub const EBADF: i32 = 9;
        pub const EAGAIN: i32 = 11;
        pub const ENOMEM: i32 = 12;
        pub const EACCES: i32 = 13;
        pub const EFAULT: i32 = 14;
        pub const EBUSY: i32 = 16;
        pub const EEXIST: i32 = 17;
        pub const ENODEV: i32 = 19;
        pub const ENOTDIR: i32 = 20;
        pub const EINVAL: i32 = 22;
        pub const ENFILE: i32 = 23;
        pub const EMFILE: i32 = 24;
        pub const ENOTTY: i32 = 25;
        pub const ENOSPC: i32 = 28;
        pub const ENOSYS: i32 = 38;
        pub const ELOOP: i32 = 40;
        pub const ENAMETOOLONG: i32 = 36;
        pub const EOPNOTSUPP: i32 = 95;
    }
}

/// A raw code exactly as the operating system or framework returned it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RawCode {
    /// A Linux errno (positive).
    Errno(i32),
    /// A Hypervisor.framework `hv_return_t` (signed, as `i32`).
    HvReturn(i32),
    /// A call succeeded but returned a value the check did not accept (for example
    /// `KVM_GET_API_VERSION` returning 11, or `KVM_CHECK_EXTENSION` returning 0).
    Returned(i64),
}

impl RawCode {
    /// The symbolic name of the code, if it has one.
    pub fn name(&self) -> Option<&'static str> {
        match self {
            RawCode::Errno(v) => errno::name(*v),
            RawCode::HvReturn(v) => hv::name(*v),
            RawCode::Returned(_) => None,
        }
    }

    /// `errno`, `hv_return` or `returned`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            RawCode::Errno(_) => "errno",
            RawCode::HvReturn(_) => "hv_return",
            RawCode::Returned(_) => "returned",
        }
    }

    /// The numeric value, widened without changing it.
    pub fn value(&self) -> i64 {
        match self {
            RawCode::Errno(v) | RawCode::HvReturn(v) => i64::from(*v),
            RawCode::Returned(v) => *v,
        }
    }

    /// The errno, if this is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            RawCode::Errno(v) => Some(*v),
            _ => None,
        }
    }

    /// The `hv_return_t`, if this is one.
    pub fn hv_return(&self) -> Option<i32> {
        match self {
            RawCode::HvReturn(v) => Some(*v),
            _ => None,
        }
    }
}

impl From<&std::io::Error> for RawCode {
    /// The errno of an `io::Error`; an error without one becomes `Errno(0)` (unknown).
    fn from(err: &std::io::Error) -> Self {
        RawCode::Errno(err.raw_os_error().unwrap_or(0))
    }
}

impl fmt::Display for RawCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self, self.name()) {
            (RawCode::Errno(v), Some(n)) => write!(f, "{n} ({v})"),
            (RawCode::Errno(v), None) => write!(f, "errno {v}"),
            (RawCode::HvReturn(v), Some(n)) => write!(f, "{n} ({:#010x})", *v as u32),
            (RawCode::HvReturn(v), None) => write!(f, "hv_return_t {:#010x} ({v})", *v as u32),
            (RawCode::Returned(v), _) => write!(f, "returned {v}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hv_codes_are_negative_and_compare_as_i32() {
        assert_eq!(hv::HV_NO_RESOURCES, -85_377_019);
        assert_eq!(hv::HV_UNSUPPORTED, -85_377_009);
        assert_eq!(hv::HV_DENIED as u32, 0xfae9_4007);
        for (v, _) in &hv::KNOWN[1..] {
            assert!(*v < 0);
            let (system, sub, _) = hv::mach_parts(*v);
            assert_eq!((system, sub), (hv::MACH_SYSTEM, hv::MACH_SUBSYSTEM));
        }
    }

    #[test]
    fn display_shows_name_and_number() {
        assert_eq!(RawCode::Errno(13).to_string(), "EACCES (13)");
        assert_eq!(RawCode::HvReturn(hv::HV_NO_RESOURCES).to_string(), "HV_NO_RESOURCES (0xfae94005)");
        assert_eq!(RawCode::Errno(4242).to_string(), "errno 4242");
        assert_eq!(RawCode::HvReturn(-1).to_string(), "hv_return_t 0xffffffff (-1)");
        assert_eq!(RawCode::Returned(11).to_string(), "returned 11");
    }

    #[test]
    fn names_round_trip() {
        for (v, n) in errno::KNOWN {
            assert_eq!(errno::from_name(n), Some(v));
            assert_eq!(errno::name(v), Some(n));
        }
        for (v, n) in hv::KNOWN {
            assert_eq!(hv::from_name(n), Some(v));
        }
        assert_eq!(hv::from_name("no_resources"), Some(hv::HV_NO_RESOURCES));
        assert_eq!(errno::from_name("ewouldblock"), Some(11));
        assert_eq!(errno::from_name("EBOGUS"), None);
    }

    #[test]
    fn errno_table_is_sorted() {
        assert!(errno::KNOWN.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn errno_table_matches_libc() {
        let pairs = [
            (libc::EPERM, "EPERM"),
            (libc::ENOENT, "ENOENT"),
            (libc::EINTR, "EINTR"),
            (libc::ENXIO, "ENXIO"),
            (libc::EAGAIN, "EAGAIN"),
            (libc::ENOMEM, "ENOMEM"),
            (libc::EACCES, "EACCES"),
            (libc::EBUSY, "EBUSY"),
            (libc::ENODEV, "ENODEV"),
            (libc::EINVAL, "EINVAL"),
            (libc::ENFILE, "ENFILE"),
            (libc::EMFILE, "EMFILE"),
            (libc::ENOTTY, "ENOTTY"),
            (libc::ENOSPC, "ENOSPC"),
            (libc::ENOSYS, "ENOSYS"),
            (libc::ENODATA, "ENODATA"),
            (libc::EOPNOTSUPP, "EOPNOTSUPP"),
            (libc::ETIMEDOUT, "ETIMEDOUT"),
            (libc::ECANCELED, "ECANCELED"),
            (libc::EHWPOISON, "EHWPOISON"),
        ];
        for (v, n) in pairs {
            assert_eq!(errno::name(v), Some(n), "errno {v}");
        }
        use errno::values as e;
        let consts = [
            (e::EPERM, libc::EPERM),
            (e::ENOENT, libc::ENOENT),
            (e::EINTR, libc::EINTR),
            (e::EIO, libc::EIO),
            (e::ENXIO, libc::ENXIO),
            (e::ENOEXEC, libc::ENOEXEC),
            (e::EBADF, libc::EBADF),
            (e::EAGAIN, libc::EAGAIN),
            (e::ENOMEM, libc::ENOMEM),
            (e::EACCES, libc::EACCES),
            (e::EFAULT, libc::EFAULT),
            (e::EBUSY, libc::EBUSY),
            (e::EEXIST, libc::EEXIST),
            (e::ENODEV, libc::ENODEV),
            (e::ENOTDIR, libc::ENOTDIR),
            (e::EINVAL, libc::EINVAL),
            (e::ENFILE, libc::ENFILE),
            (e::EMFILE, libc::EMFILE),
            (e::ENOTTY, libc::ENOTTY),
            (e::ENOSPC, libc::ENOSPC),
            (e::ENOSYS, libc::ENOSYS),
            (e::ELOOP, libc::ELOOP),
            (e::ENAMETOOLONG, libc::ENAMETOOLONG),
            (e::EOPNOTSUPP, libc::EOPNOTSUPP),
        ];
        for (ours, theirs) in consts {
            assert_eq!(ours, theirs);
        }
    }
}
