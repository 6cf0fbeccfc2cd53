//! KVM backend of hvprobe.
//!
//! [`KvmProbe`] asks the kernel, never guesses from CPU flags: it stats and opens the
//! device, checks the API version and the capabilities a VMM needs, reads the limits,
//! creates a VM and a vCPU and, at the full level, runs a one-instruction guest. When a
//! step fails it explains the errno from evidence on the host (`/proc/misc`,
//! `/sys/module`, groups, device cgroups, container markers) and suggests the fix; it
//! changes nothing on the host.
//!
//! ```no_run
//! # #[cfg(target_os = "linux")] {
//! use probe_core::{HypervisorProbe, Level, ProbeOptions};
//! use probe_kvm::KvmProbe;
//!
//! let probe = KvmProbe::new(ProbeOptions::default().with_level(Level::Full));
//! match probe.startup_check() {
//!     Ok(report) => println!("KVM usable ({} checks)", report.checks.len()),
//!     Err(not_usable) => eprintln!("{not_usable}"),
//! }
//! # }
//! ```
//!
//! # Platform support
//! The decision logic compiles on every host and runs against any [`KvmHost`]; the
//! real host ([`LinuxHost`]) exists on Linux only. The guest run is tested on x86_64;
//! the aarch64 guest (a store to an unmapped address, expecting an MMIO exit) is
//! type-checked only.

#![deny(missing_docs)]

pub mod caps;
pub mod evidence;
pub mod host;
#[cfg(target_os = "linux")]
pub mod ioctls;
#[cfg(target_os = "linux")]
mod linux;
mod probe;

pub use evidence::holders;
pub use host::{AclEntry, AclTag, DeviceNode, Errno, Fd, GuestExit, Identity, KvmHost, Rlimit, StepFailure};
#[cfg(target_os = "linux")]
pub use linux::LinuxHost;
pub use probe::{KVM_API_VERSION, KvmProbe, check_id};

#[cfg(target_os = "linux")]
impl KvmProbe<LinuxHost> {
    /// A probe of this Linux host. Makes no system call.
    pub fn new(options: probe_core::ProbeOptions) -> Self {
        KvmProbe::with_host(LinuxHost, options)
    }
}
