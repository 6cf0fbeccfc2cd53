//! Reading codes and VMM log lines written by people and programs.
//!
//! `hvprobe explain` and `hvprobe diagnose` accept codes as names (`EACCES`,
//! `HV_NO_RESOURCES`), decimal (`13`, `-22` as libkrun returns it, `-85377019`),
//! unsigned decimal (`4209590277`) or hex (`0xfae94005`), and VMM log lines from which
//! the embedded code and operation are extracted.

use crate::cause::Operation;
use crate::diagnosis::CreateFailure;
use crate::raw::{RawCode, errno, hv};

/// Why a code could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseCodeError {
    /// Nothing was given.
    #[error("no code given")]
    Empty,
    /// Not a number or a known name.
    #[error(
        "`{0}` is not a code: expected a name (EACCES, HV_NO_RESOURCES), a decimal number (13, -22, -85377019) or hex (0xfae94005)"
    )]
    Unreadable(String),
    /// A number outside 32 bits.
    #[error("`{0}` does not fit in 32 bits")]
    OutOfRange(String),
    /// An errno name given where an hv_return_t was asked for, or the reverse.
    #[error("`{0}` is {1}, not {2}")]
    WrongKind(String, &'static str, &'static str),
}

/// A number as written: hex (`0x...`), signed or unsigned decimal, read as 32 bits.
fn number(text: &str) -> Result<Option<i32>, ParseCodeError> {
    let t = text.trim();
    let (neg, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let value: i64 = if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        match i64::from_str_radix(hex, 16) {
            Ok(v) => v,
            Err(_) if !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()) => {
                return Err(ParseCodeError::OutOfRange(t.to_owned()));
            }
            Err(_) => return Err(ParseCodeError::Unreadable(t.to_owned())),
        }
    } else if !body.is_empty() && body.chars().all(|c| c.is_ascii_digit()) {
        body.parse().map_err(|_| ParseCodeError::OutOfRange(t.to_owned()))?
    } else {
        return Ok(None);
    };
    let value = if neg { -value } else { value };
    // Negative values are read as i32, positive up to u32::MAX as the same 32 bits.
    if (i64::from(i32::MIN)..=i64::from(u32::MAX)).contains(&value) {
        Ok(Some(value as u32 as i32))
    } else {
        Err(ParseCodeError::OutOfRange(t.to_owned()))
    }
}

/// An errno: a name, or a number (a negated errno such as libkrun's `-22` reads as 22).
pub fn parse_errno(text: &str) -> Result<i32, ParseCodeError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(ParseCodeError::Empty);
    }
    if let Some(v) = errno::from_name(t) {
        return Ok(v);
    }
    if hv::from_name(t).is_some() && t.to_ascii_uppercase().starts_with("HV_") {
        return Err(ParseCodeError::WrongKind(t.to_owned(), "an hv_return_t", "an errno"));
    }
    match number(t)? {
        Some(v) if (-4095..0).contains(&v) => Ok(-v),
        Some(v) => Ok(v),
        None => Err(ParseCodeError::Unreadable(t.to_owned())),
    }
}

/// An `hv_return_t`: a name (`HV_NO_RESOURCES`, `NO_RESOURCES`), hex, signed or
/// unsigned decimal.
pub fn parse_hv_return(text: &str) -> Result<i32, ParseCodeError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(ParseCodeError::Empty);
    }
    if let Some(v) = hv::from_name(t) {
        return Ok(v);
    }
    if errno::from_name(t).is_some() {
        return Err(ParseCodeError::WrongKind(t.to_owned(), "an errno", "an hv_return_t"));
    }
    number(t)?.ok_or_else(|| ParseCodeError::Unreadable(t.to_owned()))
}

/// Any code, deciding its kind from its form: `HV_*` names, hex, and values outside
/// the errno range are `hv_return_t`; `E*` names and small numbers are errnos.
pub fn parse_code(text: &str) -> Result<RawCode, ParseCodeError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(ParseCodeError::Empty);
    }
    if t.to_ascii_uppercase().starts_with("HV_") {
        return parse_hv_return(t).map(RawCode::HvReturn);
    }
    if errno::from_name(t).is_some() {
        return parse_errno(t).map(RawCode::Errno);
    }
    let is_hex = t.trim_start_matches('-').to_ascii_lowercase().starts_with("0x");
    match number(t)? {
        Some(v) if !is_hex && (-4095..=4095).contains(&v) => Ok(RawCode::Errno(v.abs())),
        Some(v) => Ok(RawCode::HvReturn(v)),
        None => Err(ParseCodeError::Unreadable(t.to_owned())),
    }
}

/// glibc's `strerror` texts, for VMM logs that print the text instead of the number.
const STRERROR: &[(&str, i32)] = &[
    ("Operation not permitted", 1),
    ("No such file or directory", 2),
    ("Interrupted system call", 4),
    ("Input/output error", 5),
    ("No such device or address", 6),
    ("Bad file descriptor", 9),
    ("Resource temporarily unavailable", 11),
    ("Cannot allocate memory", 12),
    ("Permission denied", 13),
    ("Bad address", 14),
    ("Device or resource busy", 16),
    ("File exists", 17),
    ("No such device", 19),
    ("Invalid argument", 22),
    ("Too many open files in system", 23),
    ("Too many open files", 24),
    ("Inappropriate ioctl for device", 25),
    ("No space left on device", 28),
    ("Function not implemented", 38),
    ("Operation not supported", 95),
];

/// Reads a VMM's log line into a failure: the embedded code (errno as number, name or
/// `strerror` text, `hv_return_t` as hex or name) and, when the line says, the
/// operation. The whole text is kept as the message.
///
/// Recognised forms include libkrun's `Building the microVM failed: ...` and its
/// `-22` status, QEMU's `Could not access KVM kernel module: Permission denied` and
/// `ioctl(KVM_CREATE_VM) failed: 16 Device or resource busy`, Firecracker's
/// `Error creating KVM object: ... (os error 13)` and bare `Error(13)`, and
/// `hv_vm_create failed: 0xfae94005`.
pub fn failure_from_log(text: &str) -> CreateFailure {
    let failure = CreateFailure::message(text.trim());
    let raw = hv_in_text(text).map(RawCode::HvReturn).or_else(|| errno_in_text(text).map(RawCode::Errno));
    let failure = CreateFailure { raw, ..failure };
    failure.with_operation(operation_in_text(text, raw))
}

fn operation_in_text(text: &str, raw: Option<RawCode>) -> Operation {
    let lower = text.to_ascii_lowercase();
    if lower.contains("hv_vm_create") {
        Operation::HvVmCreate
    } else if lower.contains("kvm_create_vcpu") || lower.contains("create_vcpu") {
        Operation::CreateVcpu
    } else if lower.contains("kvm_create_vm") || lower.contains("create_vm") {
        Operation::CreateVm
    } else if lower.contains("kvm_run") {
        Operation::Run
    } else if lower.contains("could not access kvm kernel module")
        || lower.contains("creating kvm object")
        || lower.contains("open /dev/kvm")
        || lower.contains("opening /dev/kvm")
        || lower.contains("failed to open /dev/kvm")
    {
        Operation::Open
    } else if matches!(raw, Some(RawCode::HvReturn(_))) {
        Operation::HvVmCreate
    } else {
        Operation::Unknown
    }
}

/// Words of a text, split on anything that cannot be part of a code.
fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '+'))
        .filter(|t| !t.trim_matches(['-', '+']).is_empty())
}

fn hv_in_text(text: &str) -> Option<i32> {
    for t in tokens(text) {
        let upper = t.to_ascii_uppercase();
        if upper.starts_with("HV_") {
            if let Some(v) = hv::from_name(&upper) {
                return Some(v);
            }
        }
        if upper.starts_with("0XFAE94") {
            if let Ok(Some(v)) = number(t) {
                return Some(v);
            }
        }
        // Signed decimal hv_return_t as some VMMs print them (-85377019).
        if let Ok(Some(v)) = number(t) {
            if hv::mach_parts(v).1 == hv::MACH_SUBSYSTEM && hv::mach_parts(v).0 == hv::MACH_SYSTEM {
                return Some(v);
            }
        }
    }
    None
}

fn errno_in_text(text: &str) -> Option<i32> {
    let lower = text.to_ascii_lowercase();
    // `(os error 13)`, Rust's io::Error.
    if let Some(i) = lower.find("os error ") {
        if let Some(v) = leading_number(&lower[i + 9..]) {
            return Some(v);
        }
    }
    // `errno 13`, `errno=13`, `errno: 13`, `Error(13)`, `error -22`, `status=-22`.
    for key in ["errno", "error(", "error ", "status=", "status ", "returned ", "failed: ", "err="] {
        let mut from = 0;
        while let Some(i) = lower[from..].find(key) {
            let start = from + i + key.len();
            let rest = lower[start..].trim_start_matches([' ', '=', ':']);
            if let Some(v) = leading_number(rest) {
                if v != 0 && (-4095..=4095).contains(&v) {
                    return Some(v.abs());
                }
            }
            from = start;
        }
    }
    // Symbolic names (EBUSY, -EINVAL).
    for t in tokens(text) {
        let name = t.trim_start_matches('-');
        if name.len() > 2 && name.starts_with('E') && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        {
            if let Some(v) = errno::from_name(name) {
                return Some(v);
            }
        }
    }
    // strerror texts, longest first so "Too many open files in system" wins.
    let mut texts: Vec<&(&str, i32)> = STRERROR.iter().collect();
    texts.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
    texts.into_iter().find(|(s, _)| lower.contains(&s.to_ascii_lowercase())).map(|(_, v)| *v)
}

fn leading_number(s: &str) -> Option<i32> {
    let end =
        s.char_indices().find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-'))).map_or(s.len(), |(i, _)| i);
    s[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_in_every_form() {
        assert_eq!(parse_code("EACCES"), Ok(RawCode::Errno(13)));
        assert_eq!(parse_code("13"), Ok(RawCode::Errno(13)));
        assert_eq!(parse_code("-22"), Ok(RawCode::Errno(22)));
        assert_eq!(parse_code("0xfae94005"), Ok(RawCode::HvReturn(hv::HV_NO_RESOURCES)));
        assert_eq!(parse_code("-85377019"), Ok(RawCode::HvReturn(hv::HV_NO_RESOURCES)));
        assert_eq!(parse_code("4209590277"), Ok(RawCode::HvReturn(hv::HV_NO_RESOURCES)));
        assert_eq!(parse_code("HV_NO_RESOURCES"), Ok(RawCode::HvReturn(hv::HV_NO_RESOURCES)));
        assert_eq!(parse_code("hv_denied"), Ok(RawCode::HvReturn(hv::HV_DENIED)));
        assert_eq!(parse_code("0x16"), Ok(RawCode::HvReturn(0x16)));
        assert_eq!(parse_errno("0x16"), Ok(22));
        assert_eq!(parse_hv_return("-85377019"), Ok(hv::HV_NO_RESOURCES));
        assert_eq!(parse_hv_return("NO_RESOURCES"), Ok(hv::HV_NO_RESOURCES));
        assert!(matches!(parse_code("banana"), Err(ParseCodeError::Unreadable(_))));
        assert!(matches!(parse_code("0x1fae94005"), Err(ParseCodeError::OutOfRange(_))));
        assert!(matches!(parse_code("99999999999"), Err(ParseCodeError::OutOfRange(_))));
        assert!(matches!(parse_code("0x"), Err(ParseCodeError::Unreadable(_))));
        assert!(matches!(parse_code("  "), Err(ParseCodeError::Empty)));
        assert!(matches!(parse_errno("HV_DENIED"), Err(ParseCodeError::WrongKind(..))));
        assert!(matches!(parse_hv_return("EBUSY"), Err(ParseCodeError::WrongKind(..))));
    }

    #[test]
    fn real_vmm_log_lines() {
        let cases: &[(&str, Option<RawCode>, Operation)] = &[
            (
                "Building the microVM failed: Internal(Vm(VmCreate(Os { code: 22, kind: InvalidInput, message: \"Invalid argument\" })))",
                Some(RawCode::Errno(22)),
                Operation::Unknown,
            ),
            ("krun_start_enter failed: -22", Some(RawCode::Errno(22)), Operation::Unknown),
            ("Could not access KVM kernel module: Permission denied", Some(RawCode::Errno(13)), Operation::Open),
            (
                "qemu-system-x86_64: Could not access KVM kernel module: No such file or directory",
                Some(RawCode::Errno(2)),
                Operation::Open,
            ),
            ("ioctl(KVM_CREATE_VM) failed: 16 Device or resource busy", Some(RawCode::Errno(16)), Operation::CreateVm),
            (
                "qemu-system-x86_64: failed to initialize kvm: Device or resource busy",
                Some(RawCode::Errno(16)),
                Operation::Unknown,
            ),
            (
                "Error creating KVM object: Error creating KVM object: Permission denied (os error 13)",
                Some(RawCode::Errno(13)),
                Operation::Open,
            ),
            (
                "Failed to start microvm: Error creating KVM object: Error(13)",
                Some(RawCode::Errno(13)),
                Operation::Open,
            ),
            ("hv_vm_create failed: 0xfae94005", Some(RawCode::HvReturn(hv::HV_NO_RESOURCES)), Operation::HvVmCreate),
            ("hv_vm_create failed with HV_DENIED", Some(RawCode::HvReturn(hv::HV_DENIED)), Operation::HvVmCreate),
            ("HVF error -85377009", Some(RawCode::HvReturn(hv::HV_UNSUPPORTED)), Operation::HvVmCreate),
            ("KVM_CREATE_VM: -EINVAL", Some(RawCode::Errno(22)), Operation::CreateVm),
            ("VM failed to start (status=-22)", Some(RawCode::Errno(22)), Operation::Unknown),
            ("something unrelated went wrong", None, Operation::Unknown),
            ("", None, Operation::Unknown),
        ];
        for (line, raw, op) in cases {
            let f = failure_from_log(line);
            assert_eq!(f.raw, *raw, "{line}");
            assert_eq!(f.operation, *op, "{line}");
            assert_eq!(f.message.as_deref(), Some(line.trim()));
        }
    }

    #[test]
    fn too_many_open_files_in_system_is_enfile() {
        assert_eq!(failure_from_log("open: Too many open files in system").raw, Some(RawCode::Errno(23)));
        assert_eq!(failure_from_log("open: Too many open files").raw, Some(RawCode::Errno(24)));
    }
}
