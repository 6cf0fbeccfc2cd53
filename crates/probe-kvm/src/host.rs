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

    /// Names in a directory (`/sys/module`, `/proc`, `/proc/PID/fd`).
    fn list_dir(&self, path: &str) -> Result<Vec<String>, Errno>;

    /// Target of a symbolic link (`/proc/PID/fd/N`); `None` when it cannot be read.
    fn read_link(&self, path: &str) -> Option<String>;

    /// Who this process is.
    fn identity(&self) -> Identity;

    /// Value of an environment variable.
    fn env(&self, name: &str) -> Option<String>;
}
