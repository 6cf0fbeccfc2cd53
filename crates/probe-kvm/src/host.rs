//! The [`KvmHost`] trait: every system call and file read the KVM logic makes.
//!
//! The decision logic in this crate talks to the host only through this trait, so a
//! scripted host (probe-mock) can answer any call with any value or errno.

use std::path::Path;

use probe_core::Operation;

/// An errno, as returned by a failed call.
pub type Errno = i32;

/// A file descriptor handed out by a host. The logic closes every one it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fd(pub i32);

/// What `stat` says about the device path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceNode {
    /// A character device.
    pub is_char_device: bool,
    /// Major number (10 for misc devices).
    pub major: u32,
    /// Minor number (232 for kvm).
    pub minor: u32,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// Permission bits (`0o660`).
    pub mode: u32,
}

impl DeviceNode {
    /// Whether this is the KVM device, char 10:232.
    pub fn is_kvm(&self) -> bool {
        self.is_char_device && self.major == 10 && self.minor == 232
    }
}

/// How the one-instruction guest stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestExit {
    /// `KVM_EXIT_HLT`: the x86_64 guest ran `hlt`.
    Hlt,
    /// `KVM_EXIT_MMIO`: the aarch64 guest stored to an unmapped address.
    Mmio {
        /// Guest physical address of the access.
        address: u64,
    },
    /// Any other exit, by its `KVM_EXIT_*` number (FAIL_ENTRY = 9, SHUTDOWN = 8, ...).
    Other(u32),
}

/// A failure of a composite host step, naming the call that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepFailure {
    /// The call that failed.
    pub operation: Operation,
    /// Its errno.
    pub errno: Errno,
}

/// Resource limits the logic reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rlimit {
    /// RLIMIT_NOFILE.
    Nofile,
    /// RLIMIT_MEMLOCK.
    Memlock,
}

/// `RLIM_INFINITY` as the hosts report it.
pub const RLIM_INFINITY: u64 = u64::MAX;

/// Who this process is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    /// Effective uid.
    pub uid: u32,
    /// Effective gid.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
}

/// Every call the KVM logic makes. Implementations must be usable from many threads.
pub trait KvmHost: Send + Sync {
    /// True for scripted hosts; reports say they are simulated.
    fn is_simulated(&self) -> bool {
        false
    }

    /// `stat` of the device path.
    fn stat(&self, path: &Path) -> Result<DeviceNode, Errno>;

    /// `open(path, O_RDWR | O_CLOEXEC)`.
    fn open(&self, path: &Path) -> Result<Fd, Errno>;

    /// `close`. Called exactly once for every fd handed out.
    fn close(&self, fd: Fd);

    /// `KVM_GET_API_VERSION`.
    fn get_api_version(&self, kvm: Fd) -> Result<i32, Errno>;

    /// `KVM_CHECK_EXTENSION` on the system or a VM fd.
    fn check_extension(&self, fd: Fd, cap: u32) -> Result<i32, Errno>;

    /// `KVM_CREATE_VM` with this machine type.
    fn create_vm(&self, kvm: Fd, vm_type: u64) -> Result<Fd, Errno>;

    /// `KVM_CREATE_VCPU` with this id.
    fn create_vcpu(&self, vm: Fd, id: u64) -> Result<Fd, Errno>;

    /// Maps one page of guest memory holding a single instruction, points the vCPU at
    /// it, runs it once and unmaps everything, whatever happens.
    fn run_guest(&self, kvm: Fd, vm: Fd, vcpu: Fd) -> Result<GuestExit, StepFailure>;

    /// `getrlimit`: (soft, hard), [`RLIM_INFINITY`] when unlimited.
    fn rlimit(&self, resource: Rlimit) -> Result<(u64, u64), Errno>;

    /// Contents of a small text file (`/proc`, `/sys`, `/etc`); `None` when it
    /// cannot be read.
    fn read_file(&self, path: &str) -> Option<String>;

    /// The beginning of a text file: read until `enough` says the text so far
    /// suffices, or to the end; `None` when it cannot be read. The kernel computes
    /// `/proc/cpuinfo` entry by entry as it is read (on x86 each entry samples that
    /// CPU's frequency), so the facts read only the first CPU's entry.
    fn read_head(&self, path: &str, enough: &dyn Fn(&str) -> bool) -> Option<String> {
        let _ = enough;
        self.read_file(path)
    }

    /// Names in a directory (`/sys/module`, `/proc`, `/proc/PID/fd`).
    fn list_dir(&self, path: &str) -> Result<Vec<String>, Errno>;

    /// Target of a symbolic link (`/proc/PID/fd/N`); `None` when it cannot be read.
    fn read_link(&self, path: &str) -> Option<String>;

    /// Who this process is.
    fn identity(&self) -> Identity;

    /// Value of an environment variable.
    fn env(&self, name: &str) -> Option<String>;

    /// The POSIX access ACL of a path (`system.posix_acl_access`); `Ok(None)` when it
    /// has none beyond its mode bits.
    fn access_acl(&self, path: &Path) -> Result<Option<Vec<AclEntry>>, Errno> {
        let _ = path;
        Ok(None)
    }
}

/// Whom an ACL entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclTag {
    /// The owner (`user::`).
    UserObj,
    /// A named user (`user:ID:`).
    User(u32),
    /// The owning group (`group::`).
    GroupObj,
    /// A named group (`group:ID:`).
    Group(u32),
    /// The mask of named entries and the owning group (`mask::`).
    Mask,
    /// Everyone else (`other::`).
    Other,
}

/// One ACL entry: whom, and read/write/execute bits (`0o4`, `0o2`, `0o1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AclEntry {
    /// Whom.
    pub tag: AclTag,
    /// rwx bits.
    pub perm: u16,
}

/// Parses the kernel's `system.posix_acl_access` value (version 2, then entries of
/// tag u16, perm u16, id u32, little-endian). `None` for anything malformed.
pub fn parse_posix_acl(bytes: &[u8]) -> Option<Vec<AclEntry>> {
    let (header, body) = bytes.split_first_chunk::<4>()?;
    if u32::from_le_bytes(*header) != 2 || body.len() % 8 != 0 {
        return None;
    }
    body.chunks_exact(8)
        .map(|e| {
            let tag = u16::from_le_bytes([e[0], e[1]]);
            let perm = u16::from_le_bytes([e[2], e[3]]);
            let id = u32::from_le_bytes([e[4], e[5], e[6], e[7]]);
            let tag = match tag {
                0x01 => AclTag::UserObj,
                0x02 => AclTag::User(id),
                0x04 => AclTag::GroupObj,
                0x08 => AclTag::Group(id),
                0x10 => AclTag::Mask,
                0x20 => AclTag::Other,
                _ => return None,
            };
            Some(AclEntry { tag, perm })
        })
        .collect()
}

/// `user:1000:rw-` style text of an ACL entry.
pub fn describe_acl_entry(e: &AclEntry) -> String {
    let rwx = format!(
        "{}{}{}",
        if e.perm & 4 != 0 { 'r' } else { '-' },
        if e.perm & 2 != 0 { 'w' } else { '-' },
        if e.perm & 1 != 0 { 'x' } else { '-' }
    );
    match e.tag {
        AclTag::UserObj => format!("user::{rwx}"),
        AclTag::User(id) => format!("user:{id}:{rwx}"),
        AclTag::GroupObj => format!("group::{rwx}"),
        AclTag::Group(id) => format!("group:{id}:{rwx}"),
        AclTag::Mask => format!("mask::{rwx}"),
        AclTag::Other => format!("other::{rwx}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posix_acl_values_parse() {
        // getfacl: user::rw- user:1000:rw- group::--- mask::rw- other::---
        let mut v = 2u32.to_le_bytes().to_vec();
        for (tag, perm, id) in
            [(1u16, 6u16, u32::MAX), (2, 6, 1000), (4, 0, u32::MAX), (0x10, 6, u32::MAX), (0x20, 0, u32::MAX)]
        {
            v.extend(tag.to_le_bytes());
            v.extend(perm.to_le_bytes());
            v.extend(id.to_le_bytes());
        }
        let acl = parse_posix_acl(&v).unwrap();
        assert_eq!(acl[1], AclEntry { tag: AclTag::User(1000), perm: 6 });
        assert_eq!(describe_acl_entry(&acl[1]), "user:1000:rw-");
        assert_eq!(parse_posix_acl(&v[..7]), None);
        assert_eq!(parse_posix_acl(&[1, 0, 0, 0]), None, "version 1 is not an access ACL");
        assert_eq!(parse_posix_acl(&[]), None);
    }
}
