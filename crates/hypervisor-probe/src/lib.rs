//! Can this host run a virtual machine, and when a VM fails to start, exactly why?
//!
//! A VMM depends on this crate with the backends it supports
//! (`features = ["kvm", "hvf"]`) and calls [`platform_probe`]; one `cfg_if!` below
//! picks the probe for the target platform. A build without a backend for the
//! platform still compiles and gets a [`NoBackendProbe`] that reports so.
//!
//! ```
//! use hypervisor_probe::{platform_probe, HypervisorProbe, ProbeOptions, CreateFailure};
//!
//! fn start_vm() -> Result<(), Box<dyn std::error::Error>> {
//!     let probe = platform_probe(ProbeOptions::default());
//!     probe.startup_check()?; // the blocking error, with cause, raw code and remedies
//!     // ... create the VM; if that fails with `err`:
//!     # let err = std::io::Error::from_raw_os_error(22);
//!     let diagnosis = probe.diagnose_create_failure(&CreateFailure::io(&err));
//!     eprintln!("{}: {}", diagnosis.verdict, diagnosis.explanation);
//!     Ok(())
//! }
//! # let _ = start_vm();
//! ```
//!
//! # Platform support
//! | target | feature | probe |
//! |---|---|---|
//! | Linux | `kvm` | [`PlatformProbe`] = KVM probe of the real host |
//! | macOS | `hvf` | [`PlatformProbe`] = Hypervisor.framework probe of the real Mac (type-checked only: it has not run on a Mac in this project's CI) |
//! | anything else, or no feature | | [`NoBackendProbe`] |
//! | any | `mock` (dev-dependency) | adds `mock::MockProbe`; [`platform_probe`] is unchanged |
//!
//! Every probe is `Send + Sync` and implements [`HypervisorProbe`]; constructing one
//! makes no system call.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use probe_core::*;

/// The Hypervisor.framework backend (its decision logic compiles on every host).
#[cfg(feature = "hvf")]
pub use probe_hvf as hvf;

/// The KVM backend (its decision logic compiles on every host).
#[cfg(feature = "kvm")]
pub use probe_kvm as kvm;

/// Scripted hosts, [`mock::MockProbe`] and named scenarios, for tests (feature `mock`).
#[cfg(feature = "mock")]
pub use probe_mock as mock;

cfg_if::cfg_if! {
    if #[cfg(all(feature = "kvm", target_os = "linux"))] {
        /// The probe for this platform: KVM on the real Linux host.
        pub type PlatformProbe = probe_kvm::KvmProbe<probe_kvm::LinuxHost>;

        /// The probe for this platform. Makes no system call.
        pub fn platform_probe(options: ProbeOptions) -> PlatformProbe {
            probe_kvm::KvmProbe::new(options)
        }
    } else if #[cfg(all(feature = "hvf", target_os = "macos"))] {
        /// The probe for this platform: Hypervisor.framework on the real Mac.
        pub type PlatformProbe = probe_hvf::HvfProbe<probe_hvf::MacHost>;

        /// The probe for this platform. Makes no system call.
        pub fn platform_probe(options: ProbeOptions) -> PlatformProbe {
            probe_hvf::HvfProbe::new(options)
        }
    } else {
        /// The probe for this platform: none in this build.
        pub type PlatformProbe = NoBackendProbe;

        /// The probe for this platform: a [`NoBackendProbe`] saying why there is none.
        pub fn platform_probe(_options: ProbeOptions) -> PlatformProbe {
            NoBackendProbe::new(NO_BACKEND_REASON)
        }

        const NO_BACKEND_REASON: &str = if cfg!(target_os = "linux") {
            "built without the `kvm` feature"
        } else if cfg!(target_os = "macos") {
            "built without the `hvf` feature"
        } else {
            "no hypervisor backend exists for this operating system"
        };
    }
}

/// The backend [`platform_probe`] returns in this build.
pub const PLATFORM_BACKEND: Backend =
    if cfg!(all(feature = "kvm", target_os = "linux")) { Backend::Kvm } else { Backend::None };

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_probe_matches_the_declared_backend() {
        let probe = platform_probe(ProbeOptions::default());
        assert_eq!(probe.backend(), PLATFORM_BACKEND);
        let boxed: Box<dyn HypervisorProbe> = Box::new(probe);
        assert_eq!(boxed.backend(), PLATFORM_BACKEND);
    }

    #[cfg(not(any(all(feature = "kvm", target_os = "linux"), all(feature = "hvf", target_os = "macos"))))]
    #[test]
    fn without_a_backend_the_probe_says_so() {
        let err = platform_probe(ProbeOptions::default()).startup_check().unwrap_err();
        assert_eq!(err.error().cause(), Cause::NoBackend);
        assert!(err.error().detail().contains("feature") || err.error().detail().contains("operating system"));
    }
}
