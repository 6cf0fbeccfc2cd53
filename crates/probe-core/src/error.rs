//! [`ProbeError`]: one failure, with its cause, the raw code and the operation that
//! produced it, a client-safe summary and operator remedies.

use std::fmt;

use crate::cause::{Cause, Kind, Operation};
use crate::classify;
use crate::raw::RawCode;

/// A failure of the hypervisor, explained.
///
/// The raw code is never dropped: it is kept exactly as returned, together with the
/// operation that produced it. [`ProbeError::summary`] is safe to show an end user;
/// [`ProbeError::detail`] and [`ProbeError::remedies`] are for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(into = "crate::serde_repr::ErrorRepr"))]
#[cfg_attr(feature = "serde", serde(try_from = "crate::serde_repr::ErrorRepr"))]
pub struct ProbeError {
    pub(crate) cause: Cause,
    pub(crate) operation: Operation,
    pub(crate) raw: Option<RawCode>,
    pub(crate) detail: String,
    pub(crate) remedies: Vec<String>,
}

impl ProbeError {
    /// An error with this cause, from this operation, carrying this raw code, with the
    /// cause's generic remedies.
    pub fn new(cause: Cause, operation: Operation, raw: Option<RawCode>) -> Self {
        ProbeError {
            cause,
            operation,
            raw,
            detail: String::new(),
            remedies: cause.generic_remedies().iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    /// The error for an errno from `operation`, classified without host evidence.
    pub fn from_errno(operation: Operation, errno: i32) -> Self {
        Self::new(classify::classify_errno(operation, errno), operation, Some(RawCode::Errno(errno)))
    }

    /// The error for a failing `hv_return_t` from `operation`; `None` for `HV_SUCCESS`.
    pub fn from_hv_return(operation: Operation, ret: i32) -> Option<Self> {
        classify::classify_hv_return(operation, ret)
            .map(|cause| Self::new(cause, operation, Some(RawCode::HvReturn(ret))))
    }

    /// Replaces the operator detail (evidence, paths, values).
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    /// Puts an evidence-specific remedy before the generic ones.
    #[must_use]
    pub fn with_remedy(mut self, remedy: impl Into<String>) -> Self {
        let remedy = remedy.into();
        if !self.remedies.contains(&remedy) {
            self.remedies.insert(0, remedy);
        }
        self
    }

    /// Replaces every remedy with these, when the evidence makes the generic ones
    /// wrong. An empty list keeps the cause's generic remedies, so there is always one.
    #[must_use]
    pub fn with_remedies(mut self, remedies: Vec<String>) -> Self {
        if !remedies.is_empty() {
            self.remedies = remedies;
        }
        self
    }

    /// Re-files the error under a finer cause found from evidence; the raw code and
    /// the operation stay as they were. The new cause's remedies replace the old.
    #[must_use]
    pub fn refine(mut self, cause: Cause) -> Self {
        if cause != self.cause {
            self.cause = cause;
            self.remedies = cause.generic_remedies().iter().map(|r| (*r).to_owned()).collect();
        }
        self
    }

    /// The stable kind.
    pub fn kind(&self) -> Kind {
        self.cause.kind()
    }

    /// The precise cause.
    pub fn cause(&self) -> Cause {
        self.cause
    }

    /// The cause's stable numeric code.
    pub fn code(&self) -> u16 {
        self.cause.code()
    }

    /// The operation that produced the raw code.
    pub fn operation(&self) -> Operation {
        self.operation
    }

    /// The raw `errno`, `hv_return_t` or returned value, exactly as produced.
    pub fn raw(&self) -> Option<RawCode> {
        self.raw
    }

    /// A one-line summary safe for an end user: no paths, commands or host internals.
    pub fn summary(&self) -> &'static str {
        self.cause.summary()
    }

    /// Operator detail: the evidence behind the cause.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// Operator remedies, most specific first. Never empty.
    pub fn remedies(&self) -> &[String] {
        &self.remedies
    }
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{} {}", self.summary(), self.cause, self.cause.code())?;
        if let Some(raw) = self.raw {
            write!(f, "; {raw} from {}", self.operation)?;
        }
        f.write_str("]")?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for ProbeError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw::hv;

    #[test]
    fn keeps_raw_code_and_operation() {
        let e = ProbeError::from_errno(Operation::Open, 13).with_detail("mode 0660 group kvm");
        assert_eq!(e.raw(), Some(RawCode::Errno(13)));
        assert_eq!(e.operation(), Operation::Open);
        assert_eq!(e.kind(), Kind::PermissionDenied);
        assert!(e.to_string().contains("EACCES (13) from open"), "{e}");
        let e = e.refine(Cause::StaleGroupSession).with_remedy("Run `newgrp kvm`.");
        assert_eq!(e.raw(), Some(RawCode::Errno(13)));
        assert_eq!(e.remedies()[0], "Run `newgrp kvm`.");
    }

    #[test]
    fn hv_success_is_not_an_error() {
        assert!(ProbeError::from_hv_return(Operation::HvVmCreate, hv::HV_SUCCESS).is_none());
        let e = ProbeError::from_hv_return(Operation::HvVmCreate, hv::HV_NO_RESOURCES).unwrap();
        assert_eq!(e.cause(), Cause::AddressSpacesExhausted);
        assert!(e.to_string().contains("HV_NO_RESOURCES (0xfae94005) from hv_vm_create"), "{e}");
    }
}
