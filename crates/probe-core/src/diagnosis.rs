//! [`Diagnosis`]: what really happened when a VMM failed to create a VM.

use std::fmt;

use crate::cause::Operation;
use crate::classify::{is_process_local, is_transient};
use crate::error::ProbeError;
use crate::raw::RawCode;
use crate::report::{Backend, Check, SCHEMA_VERSION};

/// The failure a VMM reported, kept exactly as given.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CreateFailure {
    /// The raw code the VMM saw, if it kept one.
    pub raw: Option<RawCode>,
    /// The operation that failed, if known.
    pub operation: Operation,
    /// The VMM's own message, if any.
    pub message: Option<String>,
}

impl CreateFailure {
    /// A failure with this errno (positive, or negated as libkrun returns it).
    pub fn errno(errno: i32) -> Self {
        CreateFailure {
            raw: Some(RawCode::Errno(errno.saturating_abs())),
            operation: Operation::Unknown,
            message: None,
        }
    }

    /// A failure with this `hv_return_t`.
    pub fn hv_return(ret: i32) -> Self {
        CreateFailure { raw: Some(RawCode::HvReturn(ret)), operation: Operation::Unknown, message: None }
    }

    /// A failure described by an `io::Error`: its errno and its text.
    pub fn io(err: &std::io::Error) -> Self {
        CreateFailure {
            raw: err.raw_os_error().map(RawCode::Errno),
            operation: Operation::Unknown,
            message: Some(err.to_string()),
        }
    }

    /// A failure known only by its text.
    pub fn message(text: impl Into<String>) -> Self {
        CreateFailure { raw: None, operation: Operation::Unknown, message: Some(text.into()) }
    }

    /// Names the operation that failed.
    #[must_use]
    pub fn with_operation(mut self, operation: Operation) -> Self {
        self.operation = operation;
        self
    }

    /// Attaches the VMM's message.
    #[must_use]
    pub fn with_message(mut self, text: impl Into<String>) -> Self {
        self.message = Some(text.into());
        self
    }

    /// The original failure classified on its own, without reproducing anything.
    pub fn classify(&self) -> Option<ProbeError> {
        let raw = self.raw?;
        let error = match raw {
            RawCode::Errno(v) => Some(ProbeError::from_errno(self.operation, v)),
            RawCode::HvReturn(v) => ProbeError::from_hv_return(self.operation, v),
            RawCode::Returned(_) => None,
        }?;
        Some(error.with_detail(format!("as reported by the VMM: {raw}")))
    }
}

impl fmt::Display for CreateFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.raw, &self.message) {
            (Some(raw), Some(m)) => write!(f, "{raw} from {}: {m}", self.operation),
            (Some(raw), None) => write!(f, "{raw} from {}", self.operation),
            (None, Some(m)) => f.write_str(m),
            (None, None) => f.write_str("an unspecified failure"),
        }
    }
}

/// Which of the four answers a diagnosis gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum DiagnosisVerdict {
    /// The hypervisor fails now too: it caused the failure; `error` says how.
    HypervisorCause,
    /// The hypervisor works, so the cause lies elsewhere (VMM configuration, image,
    /// the VMM's own process).
    CauseElsewhere,
    /// The original code names a condition that clears by itself, and it has cleared.
    TransientCleared,
    /// The probe could not tell.
    Inconclusive,
}

impl DiagnosisVerdict {
    /// The stable snake_case name.
    pub const fn name(self) -> &'static str {
        match self {
            DiagnosisVerdict::HypervisorCause => "hypervisor_cause",
            DiagnosisVerdict::CauseElsewhere => "cause_elsewhere",
            DiagnosisVerdict::TransientCleared => "transient_cleared",
            DiagnosisVerdict::Inconclusive => "inconclusive",
        }
    }
}

impl fmt::Display for DiagnosisVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The answer of `diagnose_create_failure`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Diagnosis {
    /// [`SCHEMA_VERSION`].
    pub schema: u32,
    /// The backend that reproduced the failure.
    pub backend: Backend,
    /// True when a scripted host produced this diagnosis.
    pub simulated: bool,
    /// The answer.
    pub verdict: DiagnosisVerdict,
    /// The VMM's failure, untouched.
    pub original: CreateFailure,
    /// What the original code means on its own.
    pub original_cause: Option<ProbeError>,
    /// The recovered cause: the reproduced error, or the original cause when it is the
    /// best explanation.
    pub error: Option<ProbeError>,
    /// Why the verdict holds, for people.
    pub explanation: String,
    /// The reproduction steps.
    pub checks: Vec<Check>,
    /// Who holds VMs, gathered when the cause is an exhaustion.
    #[cfg_attr(feature = "serde", serde(default))]
    pub holders: Option<crate::report::VmHolders>,
}

impl Diagnosis {
    /// Decides the verdict from the original failure and the outcome of reproducing
    /// the creation step (`Ok` when a VM could be created now).
    pub fn decide(
        backend: Backend,
        original: CreateFailure,
        reproduction: Result<(), ProbeError>,
        checks: Vec<Check>,
    ) -> Self {
        let original_cause = original.classify();
        let (verdict, error, explanation) = match (reproduction, &original_cause) {
            (Err(now), Some(then)) if is_process_local(now.cause()) && now.cause() != then.cause() => (
                DiagnosisVerdict::Inconclusive,
                Some(now.clone()),
                format!(
                    "The probe could not reproduce the creation step because of its own process ({}), which differs from the VMM's failure ({}). Fix that or run the probe as the VMM's user.",
                    now.cause(),
                    then.cause()
                ),
            ),
            (Err(now), _) => {
                let same = original.raw.is_some() && original.raw == now.raw();
                let explanation = if same {
                    format!("Creating a VM fails now with the same code: {}.", now.cause().summary())
                } else {
                    format!("Creating a VM fails now: {}", now.cause().summary())
                };
                (DiagnosisVerdict::HypervisorCause, Some(now), explanation)
            }
            (Ok(()), Some(then)) if is_transient(then.cause()) => (
                DiagnosisVerdict::TransientCleared,
                Some(then.clone()),
                format!(
                    "The original code means \"{}\" That condition has cleared: a VM can be created now. Retrying is likely to work; if it recurs, see the remedies.",
                    then.cause().summary()
                ),
            ),
            (Ok(()), Some(then)) if is_process_local(then.cause()) => (
                DiagnosisVerdict::CauseElsewhere,
                Some(then.clone()),
                format!(
                    "A VM can be created from this process, so the hypervisor works; the original code points at the VMM's own process: {}",
                    then.cause().summary()
                ),
            ),
            (Ok(()), Some(then)) => (
                DiagnosisVerdict::CauseElsewhere,
                None,
                format!(
                    "A VM can be created now, so the hypervisor works; the VMM's {} did not come from creating a VM here. Look at the VMM's configuration (VM type, memory layout, kernel and disk images).",
                    then.raw().map(|r| r.to_string()).unwrap_or_default()
                ),
            ),
            (Ok(()), None) => (
                DiagnosisVerdict::CauseElsewhere,
                None,
                "A VM can be created now, so the hypervisor works; the VMM's failure lies elsewhere.".to_owned(),
            ),
        };
        Diagnosis {
            schema: SCHEMA_VERSION,
            backend,
            simulated: false,
            verdict,
            original,
            original_cause,
            error,
            explanation,
            checks,
            holders: None,
        }
    }

    /// A diagnosis that could not reproduce anything (no backend, or the probe itself
    /// could not run).
    pub fn inconclusive(
        backend: Backend,
        original: CreateFailure,
        why: impl Into<String>,
        error: Option<ProbeError>,
    ) -> Self {
        let original_cause = original.classify();
        Diagnosis {
            schema: SCHEMA_VERSION,
            backend,
            simulated: false,
            verdict: DiagnosisVerdict::Inconclusive,
            original,
            original_cause,
            error,
            explanation: why.into(),
            checks: Vec::new(),
            holders: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Cause;
    use crate::raw::hv;

    fn ok() -> Result<(), ProbeError> {
        Ok(())
    }

    #[test]
    fn libkrun_einval_with_working_hypervisor_is_elsewhere() {
        let d = Diagnosis::decide(Backend::Hvf, CreateFailure::errno(-22), ok(), vec![]);
        assert_eq!(d.verdict, DiagnosisVerdict::CauseElsewhere);
        assert_eq!(d.original.raw, Some(RawCode::Errno(22)));
    }

    #[test]
    fn pool_slot_freed_since_is_transient() {
        let d = Diagnosis::decide(Backend::Hvf, CreateFailure::hv_return(hv::HV_NO_RESOURCES), ok(), vec![]);
        assert_eq!(d.verdict, DiagnosisVerdict::TransientCleared);
        assert_eq!(d.error.unwrap().cause(), Cause::AddressSpacesExhausted);
    }

    #[test]
    fn reproduced_failure_is_the_hypervisor() {
        let now = ProbeError::from_errno(Operation::CreateVm, 16);
        let d = Diagnosis::decide(Backend::Kvm, CreateFailure::errno(22), Err(now.clone()), vec![]);
        assert_eq!(d.verdict, DiagnosisVerdict::HypervisorCause);
        assert_eq!(d.error, Some(now));
        assert_eq!(d.original, CreateFailure::errno(22), "original kept untouched");
    }

    #[test]
    fn probe_blocked_by_its_own_process_is_inconclusive() {
        let now = ProbeError::from_errno(Operation::Open, 24);
        let d = Diagnosis::decide(Backend::Kvm, CreateFailure::errno(16), Err(now), vec![]);
        assert_eq!(d.verdict, DiagnosisVerdict::Inconclusive);
    }

    #[test]
    fn process_local_original_with_working_host_is_elsewhere_with_its_cause() {
        let d = Diagnosis::decide(Backend::Kvm, CreateFailure::errno(13), ok(), vec![]);
        assert_eq!(d.verdict, DiagnosisVerdict::CauseElsewhere);
        assert_eq!(d.error.unwrap().cause(), Cause::DeviceAccessDenied);
    }
}
