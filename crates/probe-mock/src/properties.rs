//! Properties of the classification and of the real KVM logic under any scripted host.
//! Cases per property: `PROPTEST_CASES` (CI sets 10,000; the default is 256).

use probe_core::classify::{classify_errno, classify_hv_return};
use probe_core::{Cause, Diagnosis, DiagnosisVerdict, HypervisorProbe, Level, ProbeError, RawCode, Report, Status};
use proptest::prelude::*;

use crate::MockProbe;
use crate::kvm::{Answer, KvmCall, ScriptedKvmHost};
use crate::strategies::*;

/// Text an end user may see must not leak paths, commands or device names.
fn client_safe(s: &str) -> bool {
    !(s.contains('/') || s.contains('`') || s.to_ascii_lowercase().contains("kvm") || s.contains("hv_"))
}

/// Invariants every report holds, whatever the host did.
fn check_report(r: &Report) -> Result<(), TestCaseError> {
    prop_assert_eq!(r.usable, r.error.is_none());
    prop_assert!(r.simulated);
    for c in &r.checks {
        if c.status == Status::Fail {
            prop_assert!(!c.remedies.is_empty(), "FAIL without remedy: {:?}", c);
            prop_assert!(c.cause.is_some(), "FAIL without cause: {:?}", c);
        }
    }
    if let Some(e) = &r.error {
        prop_assert!(!e.remedies().is_empty());
        prop_assert!(client_safe(e.summary()), "summary not safe for clients: {}", e.summary());
        prop_assert!(r.checks.iter().any(|c| c.status == Status::Fail && c.cause == Some(e.cause())));
    }
    Ok(())
}

proptest! {
    /// Every errno under every operation classifies without panic, keeps its raw value
    /// and operation, and its cause's stable code round-trips.
    #[test]
    fn errno_classification_is_total(op in operation(), v in errno()) {
        let cause = classify_errno(op, v);
        let e = ProbeError::from_errno(op, v);
        prop_assert_eq!(e.cause(), cause);
        prop_assert_eq!(e.raw(), Some(RawCode::Errno(v)));
        prop_assert_eq!(e.operation(), op);
        prop_assert_eq!(Cause::from_code(e.code()), Some(cause));
        prop_assert_eq!(Cause::from_name(cause.name()), Some(cause));
        prop_assert_eq!(e.kind(), cause.kind());
        prop_assert!(!e.remedies().is_empty());
        prop_assert!(!e.to_string().is_empty());
    }

    /// Every hv_return_t under every operation: success is not an error, everything else
    /// is, with the raw value kept bit for bit.
    #[test]
    fn hv_return_classification_is_total(op in operation(), v in hv_return()) {
        match (v, ProbeError::from_hv_return(op, v)) {
            (0, None) => {}
            (0, Some(e)) => prop_assert!(false, "HV_SUCCESS classified as {e}"),
            (_, None) => prop_assert!(false, "{v:#x} not classified"),
            (_, Some(e)) => {
                prop_assert_eq!(Some(e.cause()), classify_hv_return(op, v));
                prop_assert_eq!(e.raw(), Some(RawCode::HvReturn(v)));
                prop_assert_eq!(Cause::from_code(e.code()), Some(e.cause()));
                prop_assert!(!e.remedies().is_empty());
                let shown = e.to_string();
                prop_assert!(shown.contains(&format!("{:#010x}", v as u32)), "{}", shown);
            }
        }
    }

    /// Errors keep their shape through JSON.
    #[test]
    fn errors_round_trip_through_json(op in operation(), raw in raw_code(), detail in "[ -~]{0,30}") {
        let e = match raw {
            RawCode::Errno(v) => ProbeError::from_errno(op, v),
            RawCode::HvReturn(v) => match ProbeError::from_hv_return(op, v) { Some(e) => e, None => return Ok(()) },
            RawCode::Returned(_) => ProbeError::new(Cause::CapabilityMissing, op, Some(raw)),
        }.with_detail(detail);
        let back: ProbeError = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        prop_assert_eq!(back, e);
    }

    /// Any host behaviour: no panic, every fd and VM released, FAIL always with a
    /// remedy, a client-safe summary, a raw errno that the host really returned, and
    /// reports and diagnoses that survive JSON unchanged.
    #[test]
    fn any_kvm_host_behaviour_is_handled(b in kvm_behaviour(), failure in create_failure()) {
        let probe = MockProbe::kvm(b.host(), b.options());
        let report = probe.report();
        check_report(&report)?;
        let d = probe.diagnose_create_failure(&failure);
        let account = probe.kvm_account().unwrap();
        prop_assert!(account.balanced(), "leaked: {:?}", account);
        if let Some(RawCode::Errno(e)) = report.error.as_ref().and_then(|e| e.raw()) {
            prop_assert!(account.calls.iter().any(|(_, a)| a.errno() == Some(e)), "errno {} was never injected", e);
        }
        prop_assert_eq!(&d.original, &failure);
        let reproduced_fail = d.checks.iter().any(|c| c.status == Status::Fail);
        if reproduced_fail {
            prop_assert!(matches!(d.verdict, DiagnosisVerdict::HypervisorCause | DiagnosisVerdict::Inconclusive), "{:?}", d.verdict);
            prop_assert!(d.error.is_some());
        } else {
            prop_assert!(d.verdict != DiagnosisVerdict::HypervisorCause);
        }
        let back: Report = serde_json::from_str(&serde_json::to_string(&report).unwrap()).unwrap();
        prop_assert_eq!(back, report);
        let back: Diagnosis = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
        prop_assert_eq!(back, d);
    }

    /// One fault at one step: the report names exactly that errno and that step.
    #[test]
    fn the_injected_errno_is_the_one_reported(
        call in proptest::sample::select(vec![KvmCall::Stat, KvmCall::Open, KvmCall::GetApiVersion, KvmCall::CheckExtension, KvmCall::CreateVm, KvmCall::CreateVcpu, KvmCall::RunGuest]),
        e in errno(),
    ) {
        let host = ScriptedKvmHost::healthy().always(call, Answer::Errno(e));
        let probe = MockProbe::kvm(host, probe_core::ProbeOptions::default().with_level(Level::Full));
        let r = probe.report();
        let err = r.error.clone().expect("a failing step makes the host unusable");
        prop_assert_eq!(err.raw(), Some(RawCode::Errno(e)));
        prop_assert_eq!(err.operation(), call.operation());
        prop_assert!(probe.balanced());
        check_report(&r)?;
    }
}

/// FACTS.md §2 as an oracle: (call, errno, cause) on a host whose other evidence is
/// healthy (the kernel lists kvm, the user is in the device's group).
const FACTS_ROWS: &[(KvmCall, i32, Cause)] = &[
    (KvmCall::Stat, 2, Cause::DeviceNodeMissing),
    (KvmCall::Open, 2, Cause::DeviceNodeMissing),
    (KvmCall::Open, 13, Cause::DeviceAccessDenied),
    (KvmCall::Open, 1, Cause::ContainerDevicePolicy),
    (KvmCall::Open, 24, Cause::FileDescriptorsExhausted),
    (KvmCall::Open, 23, Cause::SystemFileTableFull),
    (KvmCall::Open, 6, Cause::StaleDeviceNode),
    (KvmCall::Open, 19, Cause::StaleDeviceNode),
    (KvmCall::GetApiVersion, 25, Cause::NotAKvmDevice),
    (KvmCall::CheckExtension, 25, Cause::NotAKvmDevice),
    (KvmCall::CreateVm, 16, Cause::OtherHypervisorActive),
    (KvmCall::CreateVm, 12, Cause::KernelMemoryExhausted),
    (KvmCall::CreateVm, 22, Cause::InvalidVmType),
    (KvmCall::CreateVm, 4, Cause::InterruptedRepeatedly),
    (KvmCall::CreateVm, 28, Cause::HostResourcesExhausted),
    (KvmCall::CreateVm, 1, Cause::BlockedBySecurityPolicy),
    (KvmCall::CreateVm, 24, Cause::FileDescriptorsExhausted),
    (KvmCall::RunGuest, 14, Cause::HypervisorIoError),
];

proptest! {
    /// Every FACTS.md row holds through the whole logic, whatever the level, the
    /// profile and the size of VM asked for.
    #[test]
    fn facts_rows_hold_through_the_logic(
        row in proptest::sample::select(FACTS_ROWS),
        full in any::<bool>(),
        vcpus in proptest::option::of(1u32..=288),
        profile in proptest::sample::select(probe_core::CapabilityProfile::NAMED.to_vec()),
    ) {
        let (call, errno, cause) = row;
        let mut options = probe_core::ProbeOptions::default()
            .with_level(if full || call == KvmCall::RunGuest { Level::Full } else { Level::Quick })
            .with_profile(profile);
        options.vcpus = vcpus;
        let probe = MockProbe::kvm(ScriptedKvmHost::healthy().fail(call, errno), options);
        let err = probe.report().error.expect("the fault blocks the host");
        prop_assert_eq!(err.cause(), cause, "{:?} {} -> {}", call, RawCode::Errno(errno), err);
        prop_assert_eq!(err.raw(), Some(RawCode::Errno(errno)));
    }
}

proptest! {
    /// Any Mac behaviour: no panic, every VM created is destroyed, FAIL always with a
    /// remedy, a raw hv_return_t that the host really returned, JSON round trips.
    #[test]
    fn any_hvf_host_behaviour_is_handled(b in hvf_behaviour(), failure in create_failure()) {
        let probe = MockProbe::hvf(b.host(), b.options());
        let report = probe.report();
        check_report(&report)?;
        let d = probe.diagnose_create_failure(&failure);
        prop_assert!(probe.balanced(), "VMs created {} destroyed {}", probe.hvf_host().unwrap().created(), probe.hvf_host().unwrap().destroyed());
        if let Some(RawCode::HvReturn(v)) = report.error.as_ref().and_then(|e| e.raw()) {
            prop_assert!(b.injected().contains(&v), "hv_return_t {:#x} was never injected", v);
        }
        prop_assert_eq!(&d.original, &failure);
        let back: Report = serde_json::from_str(&serde_json::to_string(&report).unwrap()).unwrap();
        prop_assert_eq!(back, report);
        let back: Diagnosis = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
        prop_assert_eq!(back, d);
    }

    /// Any failing code at hv_vm_create on an otherwise healthy Mac is the code reported.
    #[test]
    fn the_injected_hv_return_is_the_one_reported(v in hv_return().prop_filter("a failure", |v| *v != 0)) {
        let probe = MockProbe::hvf(crate::ScriptedHvf::apple_silicon().vm_create_returns(v), probe_core::ProbeOptions::default());
        let r = probe.report();
        let err = r.error.clone().expect("a failing hv_vm_create makes the Mac unusable");
        prop_assert_eq!(err.raw(), Some(RawCode::HvReturn(v)));
        prop_assert_eq!(err.operation(), probe_core::Operation::HvVmCreate);
        prop_assert!(probe.balanced());
        check_report(&r)?;
    }
}
