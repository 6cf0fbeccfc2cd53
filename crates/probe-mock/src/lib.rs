//! Scripted hosts and a mock probe for testing failure paths without a hypervisor.
//!
//! The scripted hosts implement the backends' host traits, so the **real** decision
//! logic runs against them: any errno or value can be injected at any step, in
//! sequence, and the host keeps an account of every fd and VM handed out and released.
//! [`MockProbe`] wraps that logic behind [`HypervisorProbe`] for a VMM's own tests.
//!
//! ```
//! use probe_core::{Cause, CreateFailure, DiagnosisVerdict, HypervisorProbe, ProbeOptions};
//! use probe_mock::{Answer, KvmCall, MockProbe, ScriptedKvmHost};
//!
//! // KVM_CREATE_VM fails once with ENOMEM, then works: the startup check fails...
//! let host = ScriptedKvmHost::healthy().then(KvmCall::CreateVm, [Answer::Errno(12)]);
//! let probe = MockProbe::kvm(host, ProbeOptions::default());
//! let err = probe.startup_check().unwrap_err();
//! assert_eq!(err.error().cause(), Cause::KernelMemoryExhausted);
//! // ...and the diagnosis of the VMM's ENOMEM finds the condition has cleared.
//! let d = probe.diagnose_create_failure(&CreateFailure::errno(12));
//! assert_eq!(d.verdict, DiagnosisVerdict::TransientCleared);
//! assert!(probe.kvm_account().unwrap().balanced());
//! ```
//!
//! # Platform support
//! Pure Rust without unsafe code: compiles and runs on every host, with or without a
//! hypervisor.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod hvf;
mod kvm;
#[cfg(test)]
mod properties;
pub mod scenarios;
#[cfg(any(test, feature = "proptest"))]
pub mod strategies;

use probe_core::{Backend, CreateFailure, Diagnosis, HypervisorProbe, NoBackendProbe, ProbeOptions, Report};
use probe_hvf::HvfProbe;
use probe_kvm::KvmProbe;

pub use hvf::{Reading, ScriptedHvf};
pub use kvm::{Account, Answer, KVM_GID, KvmCall, ScriptedKvmHost, USER_UID};
pub use scenarios::{SCENARIOS, Scenario};

/// A probe whose outcomes are scripted: the real backend logic over a scripted host.
#[derive(Debug)]
pub struct MockProbe {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Kvm(Box<KvmProbe<ScriptedKvmHost>>),
    Hvf(Box<HvfProbe<ScriptedHvf>>),
    None(NoBackendProbe),
}

impl MockProbe {
    /// The KVM logic over a scripted host.
    pub fn kvm(host: ScriptedKvmHost, options: ProbeOptions) -> Self {
        MockProbe { inner: Inner::Kvm(Box::new(KvmProbe::with_host(host, options))) }
    }

    /// The Hypervisor.framework logic over a scripted Mac.
    pub fn hvf(host: ScriptedHvf, options: ProbeOptions) -> Self {
        MockProbe { inner: Inner::Hvf(Box::new(HvfProbe::with_host(host, options))) }
    }

    /// A healthy KVM host.
    pub fn kvm_healthy() -> Self {
        Self::kvm(ScriptedKvmHost::healthy(), ProbeOptions::default())
    }

    /// A KVM host where every `call` fails with `errno`.
    pub fn kvm_failing(call: KvmCall, errno: i32) -> Self {
        Self::kvm(ScriptedKvmHost::healthy().fail(call, errno), ProbeOptions::default())
    }

    /// A build without a backend.
    pub fn no_backend(reason: &str) -> Self {
        MockProbe { inner: Inner::None(NoBackendProbe::new(reason)) }
    }

    /// The scripted KVM host's account, for a KVM mock.
    pub fn kvm_account(&self) -> Option<Account> {
        match &self.inner {
            Inner::Kvm(p) => Some(p.host().account()),
            Inner::Hvf(_) | Inner::None(_) => None,
        }
    }

    /// The scripted Mac, for an HVF mock.
    pub fn hvf_host(&self) -> Option<&ScriptedHvf> {
        match &self.inner {
            Inner::Hvf(p) => Some(p.host()),
            Inner::Kvm(_) | Inner::None(_) => None,
        }
    }

    /// True when every fd and VM the logic got from the scripted host was released.
    pub fn balanced(&self) -> bool {
        match &self.inner {
            Inner::Kvm(p) => p.host().account().balanced(),
            Inner::Hvf(p) => p.host().balanced(),
            Inner::None(_) => true,
        }
    }

    fn probe(&self) -> &dyn HypervisorProbe {
        match &self.inner {
            Inner::Kvm(p) => p.as_ref(),
            Inner::Hvf(p) => p.as_ref(),
            Inner::None(p) => p,
        }
    }
}

impl HypervisorProbe for MockProbe {
    fn backend(&self) -> Backend {
        self.probe().backend()
    }

    fn report(&self) -> Report {
        let mut r = self.probe().report();
        r.simulated = true;
        r
    }

    fn diagnose_create_failure(&self, failure: &CreateFailure) -> Diagnosis {
        let mut d = self.probe().diagnose_create_failure(failure);
        d.simulated = true;
        d
    }
}
