//! Hypervisor.framework backend of hvprobe.
//!
//! [`HvfProbe`] asks the system and the framework, and decodes every `hv_return_t`:
//! it reads the hypervisor sysctls (`kern.hv_support`, `kern.hv_disable`,
//! `kern.hv_vmm_present`, `kern.hv.max_address_spaces`, `sysctl.proc_translated`),
//! checks its own `com.apple.security.hypervisor` entitlement, reads the limits
//! (vCPUs, IPA size, EL2 where the OS has the symbol), then creates and destroys a
//! VM. A failure keeps its raw `hv_return_t` and gets a precise cause and remedies.
//!
//! ```no_run
//! # #[cfg(target_os = "macos")] {
//! use probe_core::{CreateFailure, HypervisorProbe, ProbeOptions};
//! use probe_hvf::HvfProbe;
//!
//! let probe = HvfProbe::new(ProbeOptions::default().with_memory_mib(4096));
//! match probe.startup_check() {
//!     Ok(report) => println!("Hypervisor.framework usable ({} checks)", report.checks.len()),
//!     Err(not_usable) => eprintln!("{not_usable}"),
//! }
//! // libkrun said -EINVAL: what really happened?
//! let diagnosis = probe.diagnose_create_failure(&CreateFailure::errno(-22));
//! println!("{}: {}", diagnosis.verdict, diagnosis.explanation);
//! # }
//! ```
//!
//! The decision logic runs against any [`HvfHost`], so a scripted host can drive it
//! with any `hv_return_t` on any operating system:
//!
//! ```
//! # use probe_hvf::*;
//! # struct Scripted;
//! # impl HvfHost for Scripted {
//! #     fn sysctl_int(&self, name: &str) -> Result<Option<i64>, Errno> {
//! #         Ok(match name { "kern.hv_support" => Some(1), "kern.hv.max_address_spaces" => Some(128), _ => None })
//! #     }
//! #     fn sysctl_string(&self, _: &str) -> Result<Option<String>, Errno> { Ok(None) }
//! #     fn entitlement(&self) -> Entitlement { Entitlement::Granted }
//! #     fn vm_create(&self, _: VmConfig) -> HvCall { HvCall::vm_create(probe_core::raw::hv::HV_NO_RESOURCES) }
//! #     fn vm_destroy(&self) -> HvReturn { 0 }
//! #     fn max_vcpu_count(&self) -> Result<u32, HvReturn> { Ok(64) }
//! #     fn max_ipa_bits(&self) -> Option<Result<u32, HvReturn>> { None }
//! #     fn default_ipa_bits(&self) -> Option<Result<u32, HvReturn>> { None }
//! #     fn el2_supported(&self) -> Option<Result<bool, HvReturn>> { None }
//! #     fn arch(&self) -> Arch { Arch::Aarch64 }
//! # }
//! use probe_core::{Cause, HypervisorProbe, ProbeOptions, RawCode};
//! use probe_core::raw::hv::HV_NO_RESOURCES;
//!
//! // `Scripted` answers hv_vm_create with HV_NO_RESOURCES.
//! let probe = HvfProbe::with_host(Scripted, ProbeOptions::default());
//! let err = probe.startup_check().unwrap_err();
//! assert_eq!(err.error().cause(), Cause::AddressSpacesExhausted);
//! assert_eq!(err.error().raw(), Some(RawCode::HvReturn(HV_NO_RESOURCES)));
//! assert!(err.error().detail().contains("kern.hv.max_address_spaces = 128"));
//! ```
//!
//! # Platform support
//! The decision logic compiles and runs on every host. The real host (`MacHost`,
//! `HvfProbe::new`) and the helper side of the child probe (`child::serve`) exist
//! on macOS only; they are type-checked for `aarch64-apple-darwin` and
//! `x86_64-apple-darwin` and have not run on a Mac in this project's CI.
//!
//! Test binaries that create VMs must be signed with `hvf.entitlements` at the
//! workspace root (`cargo xtask sign BINARY`; `.cargo/config.toml` sets a signing
//! runner for the Apple targets).

#![deny(missing_docs)]
// Unsafe code lives in the real host only.
#![deny(unsafe_code)]

pub mod child;
pub mod evidence;
pub mod host;
#[cfg(target_os = "macos")]
#[allow(unsafe_code)]
mod macos;
mod probe;

pub use host::{
    Arch, ChildOutcome, ChildProbeError, Entitlement, Errno, HYPERVISOR_ENTITLEMENT, HvCall, HvReturn, HvfHost,
    VmConfig,
};
#[cfg(target_os = "macos")]
pub use macos::MacHost;
pub use probe::{HvfProbe, check_id};

#[cfg(target_os = "macos")]
impl HvfProbe<MacHost> {
    /// A probe of this Mac, creating its test VM in this process. Makes no system
    /// call.
    pub fn new(options: probe_core::ProbeOptions) -> Self {
        HvfProbe::with_host(MacHost::new(), options)
    }

    /// A probe of this Mac that creates its test VM in a child process running
    /// `helper` (see [`child`]), so that a VMM that already owns its one VM is not
    /// disturbed. Makes no system call.
    pub fn with_child_probe(options: probe_core::ProbeOptions, helper: impl Into<std::path::PathBuf>) -> Self {
        HvfProbe::with_host(MacHost::with_child_probe(helper), options)
    }
}
