//! The [`HvfHost`] trait: every call the Hypervisor.framework logic makes.
//!
//! The decision logic talks to the host only through this trait, so a scripted host
//! can answer any call with any `hv_return_t` or errno, on any operating system.

use std::fmt;

use probe_core::Operation;
use probe_core::raw::hv;

/// An `hv_return_t`, exactly as returned (signed 32-bit; every error is negative).
pub type HvReturn = i32;

/// An errno, as set by a failed call.
pub type Errno = i32;

/// The architecture this process runs as (the target it was built for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    /// Apple silicon.
    Aarch64,
    /// Intel, or an x86_64 process translated by Rosetta on Apple silicon.
    X86_64,
    /// Any other architecture: Hypervisor.framework does not exist there.
    Other,
}

impl Arch {
    /// The architecture this code was built for.
    pub const fn current() -> Arch {
        if cfg!(target_arch = "aarch64") {
            Arch::Aarch64
        } else if cfg!(target_arch = "x86_64") {
            Arch::X86_64
        } else {
            Arch::Other
        }
    }

    /// `aarch64`, `x86_64` or `other`.
    pub const fn name(self) -> &'static str {
        match self {
            Arch::Aarch64 => "aarch64",
            Arch::X86_64 => "x86_64",
            Arch::Other => "other",
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the entitlement self-check found.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Entitlement {
    /// The process is signed with `com.apple.security.hypervisor` = true.
    Granted,
    /// The entitlement is absent, or not the boolean true.
    Missing,
    /// The self-check could not run; the text says why.
    Unknown(String),
}

/// The entitlement Hypervisor.framework requires.
pub const HYPERVISOR_ENTITLEMENT: &str = "com.apple.security.hypervisor";

/// How the probe asks for a VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct VmConfig {
    /// `None`: the default configuration (`hv_vm_create(NULL)` on Apple silicon,
    /// `HV_VM_DEFAULT` on Intel). `Some(bits)`: a configuration made with
    /// `hv_vm_config_create` and `hv_vm_config_set_ipa_size(bits)` (Apple silicon,
    /// macOS 13.0+).
    pub ipa_bits: Option<u32>,
}

/// One Hypervisor.framework call's result: which call, and its `hv_return_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HvCall {
    /// The call that returned `ret` ([`Operation::HvVmCreate`], or
    /// [`Operation::HvVmConfig`] when building the configuration failed first).
    pub operation: Operation,
    /// Its return code.
    pub ret: HvReturn,
}

impl HvCall {
    /// `hv_vm_create` returned `ret`.
    pub const fn vm_create(ret: HvReturn) -> Self {
        HvCall { operation: Operation::HvVmCreate, ret }
    }

    /// An `hv_vm_config_*` call returned `ret` before any VM was created.
    pub const fn vm_config(ret: HvReturn) -> Self {
        HvCall { operation: Operation::HvVmConfig, ret }
    }

    /// Whether a VM now exists: `hv_vm_create` returned `HV_SUCCESS`.
    pub fn created(self) -> bool {
        self.ret == hv::HV_SUCCESS && self.operation == Operation::HvVmCreate
    }
}

/// What a probe in a child process reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChildOutcome {
    /// The creation step in the child.
    pub create: HvCall,
    /// `hv_vm_destroy` in the child, when a VM was created.
    pub destroy: Option<HvReturn>,
}

/// Why a probe in a child process gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChildProbeError {
    /// The helper could not be started or waited for.
    #[error("cannot run the helper {helper}: {reason}")]
    Spawn {
        /// The helper's path.
        helper: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The helper ran but did not answer with the protocol line.
    #[error("the helper {helper} gave no answer ({status}): {output}")]
    NoAnswer {
        /// The helper's path.
        helper: String,
        /// Its exit status.
        status: String,
        /// What it printed (trimmed).
        output: String,
    },
    /// The helper did not finish in time and was killed.
    #[error("the helper {helper} did not answer within {seconds} s and was killed")]
    TimedOut {
        /// The helper's path.
        helper: String,
        /// The time allowed.
        seconds: u64,
    },
}

/// Every call the HVF logic makes. Implementations must be usable from many threads.
///
/// Sysctls are read by name with `sysctlbyname`; `Ok(None)` means the name does not
/// exist on this system (ENOENT), which older macOS versions and guests without
/// nested virtualization answer for some of them.
pub trait HvfHost: Send + Sync {
    /// True for scripted hosts; reports say they are simulated.
    fn is_simulated(&self) -> bool {
        false
    }

    /// An integer sysctl (`kern.hv_support`, `kern.hv.max_address_spaces`, ...).
    fn sysctl_int(&self, name: &str) -> Result<Option<i64>, Errno>;

    /// A string sysctl (`kern.osproductversion`, `machdep.cpu.features`).
    fn sysctl_string(&self, name: &str) -> Result<Option<String>, Errno>;

    /// The entitlement self-check (`SecTaskCopyValueForEntitlement` on this process).
    fn entitlement(&self) -> Entitlement;

    /// Creates this process's VM. When the result is [`HvCall::created`], a VM exists
    /// and the logic calls [`HvfHost::vm_destroy`] exactly once.
    fn vm_create(&self, config: VmConfig) -> HvCall;

    /// `hv_vm_destroy`.
    fn vm_destroy(&self) -> HvReturn;

    /// Maximum vCPUs per VM: `hv_vm_get_max_vcpu_count` (Apple silicon) or
    /// `hv_capability(HV_CAP_VCPUMAX)` (Intel).
    fn max_vcpu_count(&self) -> Result<u32, HvReturn>;

    /// `hv_vm_config_get_max_ipa_size`; `None` where the symbol does not exist
    /// (before macOS 13.0, and on Intel).
    fn max_ipa_bits(&self) -> Option<Result<u32, HvReturn>>;

    /// `hv_vm_config_get_default_ipa_size`; `None` where the symbol does not exist.
    fn default_ipa_bits(&self) -> Option<Result<u32, HvReturn>>;

    /// `hv_vm_config_get_el2_supported`; `None` where the symbol does not exist
    /// (before macOS 15.0, and on Intel).
    fn el2_supported(&self) -> Option<Result<bool, HvReturn>>;

    /// The architecture this process runs as.
    fn arch(&self) -> Arch;

    /// The macOS version (`kern.osproductversion`).
    fn os_version(&self) -> Option<String> {
        self.sysctl_string("kern.osproductversion").ok().flatten()
    }

    /// Whether this process runs under Rosetta (`sysctl.proc_translated`; absent
    /// means native).
    fn is_translated(&self) -> Result<bool, Errno> {
        self.sysctl_int("sysctl.proc_translated").map(|v| v == Some(1))
    }

    /// Creates and destroys a VM in a child process, so that this process (which may
    /// already own its one VM) is not disturbed. `None` when this host offers no
    /// child probe; the logic then probes in this process.
    fn probe_in_child(&self, config: VmConfig) -> Option<Result<ChildOutcome, ChildProbeError>> {
        let _ = config;
        None
    }
}

impl<H: HvfHost + ?Sized> HvfHost for &H {
    fn is_simulated(&self) -> bool {
        (**self).is_simulated()
    }
    fn sysctl_int(&self, name: &str) -> Result<Option<i64>, Errno> {
        (**self).sysctl_int(name)
    }
    fn sysctl_string(&self, name: &str) -> Result<Option<String>, Errno> {
        (**self).sysctl_string(name)
    }
    fn entitlement(&self) -> Entitlement {
        (**self).entitlement()
    }
    fn vm_create(&self, config: VmConfig) -> HvCall {
        (**self).vm_create(config)
    }
    fn vm_destroy(&self) -> HvReturn {
        (**self).vm_destroy()
    }
    fn max_vcpu_count(&self) -> Result<u32, HvReturn> {
        (**self).max_vcpu_count()
    }
    fn max_ipa_bits(&self) -> Option<Result<u32, HvReturn>> {
        (**self).max_ipa_bits()
    }
    fn default_ipa_bits(&self) -> Option<Result<u32, HvReturn>> {
        (**self).default_ipa_bits()
    }
    fn el2_supported(&self) -> Option<Result<bool, HvReturn>> {
        (**self).el2_supported()
    }
    fn arch(&self) -> Arch {
        (**self).arch()
    }
    fn os_version(&self) -> Option<String> {
        (**self).os_version()
    }
    fn is_translated(&self) -> Result<bool, Errno> {
        (**self).is_translated()
    }
    fn probe_in_child(&self, config: VmConfig) -> Option<Result<ChildOutcome, ChildProbeError>> {
        (**self).probe_in_child(config)
    }
}
