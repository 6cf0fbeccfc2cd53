//! The [`HypervisorProbe`] trait every backend implements.

use crate::cause::{Cause, Operation};
use crate::diagnosis::{CreateFailure, Diagnosis};
use crate::error::ProbeError;
use crate::report::{Backend, Check, HostFacts, Level, Limits, NotUsable, Report};

/// Answers "can this host run a VM, and if not, why?" and "why did my VM fail?".
///
/// Constructing a probe does nothing; work happens only in these methods. Every VM
/// and file descriptor a method creates is released before it returns.
pub trait HypervisorProbe: Send + Sync {
    /// Which backend this is.
    fn backend(&self) -> Backend;

    /// Runs every check and returns the whole report, usable or not.
    fn report(&self) -> Report;

    /// Runs every check: `Ok` with the report when the host can run a VM as asked,
    /// otherwise the blocking error (which still holds the report).
    fn startup_check(&self) -> Result<Report, NotUsable> {
        self.report().into_result()
    }

    /// Reproduces VM creation and explains the VMM's `failure`, which is returned
    /// untouched inside the diagnosis.
    fn diagnose_create_failure(&self, failure: &CreateFailure) -> Diagnosis;
}

/// The probe of a build or platform without a backend: it compiles everywhere and says
/// so honestly instead of pretending.
#[derive(Debug, Clone, Default)]
pub struct NoBackendProbe {
    reason: String,
}

impl NoBackendProbe {
    /// A probe that reports `reason` (e.g. "built without the `kvm` feature").
    pub fn new(reason: impl Into<String>) -> Self {
        NoBackendProbe { reason: reason.into() }
    }

    fn error(&self) -> ProbeError {
        ProbeError::new(Cause::NoBackend, Operation::Unknown, None).with_detail(self.reason.clone())
    }
}

impl HypervisorProbe for NoBackendProbe {
    fn backend(&self) -> Backend {
        Backend::None
    }

    fn report(&self) -> Report {
        let error = self.error();
        let host = HostFacts {
            os: std::env::consts::OS.to_owned(),
            arch: std::env::consts::ARCH.to_owned(),
            ..HostFacts::default()
        };
        let checks = vec![Check::fail("backend", "Hypervisor backend in this build", &error)];
        Report::new(Backend::None, Level::Quick, checks, host, Limits::default(), Some(error))
    }

    fn diagnose_create_failure(&self, failure: &CreateFailure) -> Diagnosis {
        Diagnosis::inconclusive(
            Backend::None,
            failure.clone(),
            format!("No hypervisor backend in this build ({}); only the original code can be read.", self.reason),
            Some(self.error()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trait_is_object_safe_and_thread_safe() {
        fn assert_send_sync<T: Send + Sync + ?Sized>() {}
        assert_send_sync::<dyn HypervisorProbe>();
        let probe: Box<dyn HypervisorProbe> = Box::new(NoBackendProbe::new("test"));
        let err = probe.startup_check().unwrap_err();
        assert_eq!(err.error().cause(), Cause::NoBackend);
        assert!(!err.report().usable);
        assert!(!err.error().remedies().is_empty());
    }
}
