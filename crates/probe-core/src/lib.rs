//! Core of hvprobe: the [`HypervisorProbe`] trait, the error taxonomy, reports and
//! diagnoses, and pure classification of raw `hv_return_t` and errno values.
//!
//! ```
//! use probe_core::{Cause, Operation, ProbeError, RawCode};
//!
//! // KVM_CREATE_VM failed with EBUSY: another hypervisor holds VT-x.
//! let err = ProbeError::from_errno(Operation::CreateVm, 16);
//! assert_eq!(err.cause(), Cause::OtherHypervisorActive);
//! assert_eq!(err.raw(), Some(RawCode::Errno(16)));
//! assert_eq!(err.raw().unwrap().to_string(), "EBUSY (16)");
//! assert!(!err.remedies().is_empty());
//! ```
//!
//! # Platform support
//! Pure Rust, no system calls, no unsafe code: compiles and runs everywhere. Errno
//! names follow Linux numbering; `hv_return_t` values are compared as `i32`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod cause;
pub mod classify;
mod diagnosis;
mod error;
mod options;
pub mod parse;
mod probe;
pub mod raw;
mod report;
#[cfg(feature = "serde")]
mod serde_repr;

pub use cause::{Cause, Kind, Operation};
pub use diagnosis::{CreateFailure, Diagnosis, DiagnosisVerdict};
pub use error::ProbeError;
pub use options::{CapabilityProfile, ProbeOptions, UnknownProfile};
pub use probe::{HypervisorProbe, NoBackendProbe};
pub use raw::RawCode;
pub use report::{
    Backend, Check, CheckList, HostFacts, Level, Limits, NotUsable, Report, SCHEMA_VERSION, Status, Verdict, VmHolder,
    VmHolders,
};
