//! The real HVF decision logic, driven by a scripted host: every `hv_return_t` at
//! `hv_vm_create`, every sysctl condition, diagnoses, and VM accounting.

use probe_core::raw::hv;
use probe_core::{
    Cause, Check, CreateFailure, DiagnosisVerdict, HypervisorProbe, Operation, ProbeOptions, RawCode, Report, Status,
    Verdict,
};
use probe_hvf::{Arch, ChildOutcome, ChildProbeError, Entitlement, HvCall, HvfProbe, VmConfig, check_id};
use probe_mock::ScriptedHvf;

/// Not a named hv_return_t: the next code in Hypervisor.framework's error space.
const UNNAMED_HV: i32 = 0xfae9_4010_u32 as i32;

fn report(host: &ScriptedHvf) -> Report {
    report_with(host, ProbeOptions::default())
}

fn report_with(host: &ScriptedHvf, options: ProbeOptions) -> Report {
    HvfProbe::with_host(host, options).report()
}

fn check<'r>(report: &'r Report, id: &str) -> &'r Check {
    report.check(id).unwrap_or_else(|| panic!("no check {id} in {report:#?}"))
}

/// Invariants of every report: FAIL checks carry a cause and remedies, the error
/// exists exactly when not usable, every VM created was destroyed.
fn assert_sound(report: &Report, host: &ScriptedHvf) {
    host.assert_balanced();
    assert!(report.simulated);
    assert_eq!(report.backend, probe_core::Backend::Hvf);
    assert_eq!(report.usable, report.error.is_none(), "{report:#?}");
    for c in &report.checks {
        if c.status == Status::Fail {
            assert!(c.cause.is_some(), "{} has no cause", c.id);
            assert!(!c.remedies.is_empty(), "{} has no remedy", c.id);
        }
    }
    if let Some(e) = &report.error {
        assert!(!e.remedies().is_empty());
        assert!(report.checks.iter().any(|c| c.status == Status::Fail));
    }
    let ids: Vec<&str> = report.checks.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            check_id::ARCH,
            check_id::ROSETTA,
            check_id::SUPPORT,
            check_id::DISABLED,
            check_id::VMM,
            check_id::ENTITLEMENT,
            check_id::ADDRESS_SPACES,
            check_id::IPA,
            check_id::EL2,
            check_id::VM_CREATE,
            check_id::VM_DESTROY,
            check_id::VCPUS,
        ],
        "every report has the same checks in the same order"
    );
}

/// The cause each code gets from `hv_vm_create` on a healthy Apple-silicon Mac.
fn apple_silicon_cause(ret: i32) -> Option<Cause> {
    Some(match ret {
        hv::HV_SUCCESS => return None,
        hv::HV_ERROR => Cause::HypervisorError,
        hv::HV_BUSY => Cause::ProcessAlreadyOwnsVm,
        hv::HV_BAD_ARGUMENT => Cause::InvalidArgument,
        hv::HV_ILLEGAL_GUEST_STATE => Cause::IllegalGuestState,
        hv::HV_NO_RESOURCES => Cause::AddressSpacesExhausted,
        hv::HV_NO_DEVICE => Cause::HostResourcesExhausted,
        hv::HV_DENIED => Cause::EntitlementMissing,
        hv::HV_EXISTS => Cause::HypervisorError,
        hv::HV_UNSUPPORTED => Cause::HypervisorUnsupported,
        _ => Cause::UnexpectedHvReturn,
    })
}

fn injected_codes() -> Vec<i32> {
    hv::KNOWN.iter().map(|(v, _)| *v).chain([UNNAMED_HV, -22, 22, i32::MIN, i32::MAX, -1]).collect()
}

/// One test per hv_return_t: each injected at hv_vm_create, decoded with its own
/// cause, raw code kept exactly, remedies for FAIL, the VM destroyed.
#[test]
fn every_hv_return_at_vm_create_is_decoded_and_kept() {
    for ret in injected_codes() {
        let host = ScriptedHvf::apple_silicon().vm_create_returns(ret);
        let r = report(&host);
        assert_sound(&r, &host);
        let create = check(&r, check_id::VM_CREATE);
        assert_eq!(create.raw, Some(RawCode::HvReturn(ret)), "{}", RawCode::HvReturn(ret));
        match apple_silicon_cause(ret) {
            None => {
                assert!(r.usable, "{r:#?}");
                assert_eq!(r.verdict, Verdict::Usable, "{r:#?}");
                assert_eq!(create.status, Status::Pass);
                assert_eq!(host.created(), 1);
                assert_eq!(check(&r, check_id::VM_DESTROY).status, Status::Pass);
            }
            Some(cause) => {
                let what = RawCode::HvReturn(ret);
                assert!(!r.usable, "{what}");
                assert_eq!(r.verdict, Verdict::NotUsable);
                assert_eq!(create.status, Status::Fail, "{what}");
                assert_eq!(create.cause, Some(cause), "{what}: {}", create.detail);
                assert!(!create.remedies.is_empty(), "{what}");
                let e = r.error.as_ref().unwrap();
                assert_eq!(e.cause(), cause, "{what}");
                assert_eq!(e.raw(), Some(RawCode::HvReturn(ret)), "{what}");
                assert_eq!(e.operation(), Operation::HvVmCreate);
                assert!(!e.detail().is_empty(), "{what} has no detail");
                assert_eq!(host.created(), 0);
                assert_eq!(check(&r, check_id::VM_DESTROY).status, Status::Skip);
                // startup_check returns the same blocking error.
                let err = HvfProbe::with_host(&host, ProbeOptions::default()).startup_check().unwrap_err();
                assert_eq!(err.error().raw(), Some(RawCode::HvReturn(ret)));
                // The raw code survives JSON exactly.
                let json = serde_json::to_string(&r).unwrap();
                let back: Report = serde_json::from_str(&json).unwrap();
                assert_eq!(back.error.unwrap().raw(), Some(RawCode::HvReturn(ret)));
            }
        }
    }
}

#[test]
fn hv_no_resources_names_the_pool_and_its_limit() {
    let host = ScriptedHvf::apple_silicon().vm_create_returns(hv::HV_NO_RESOURCES);
    let r = report(&host);
    let e = r.error.as_ref().unwrap();
    assert_eq!(e.cause(), Cause::AddressSpacesExhausted);
    assert!(e.detail().contains("kern.hv.max_address_spaces = 128"), "{}", e.detail());
    assert!(e.remedies()[0].contains("at most 128"), "{:?}", e.remedies());
    let pool = check(&r, check_id::ADDRESS_SPACES);
    assert_eq!(pool.status, Status::Fail);
    assert_eq!(pool.raw, Some(RawCode::HvReturn(hv::HV_NO_RESOURCES)));
    assert_eq!(r.limits.max_address_spaces, Some(128));

    // Without the sysctl the pool is still named, its size is not invented.
    let host =
        ScriptedHvf::apple_silicon().sysctl_absent("kern.hv.max_address_spaces").vm_create_returns(hv::HV_NO_RESOURCES);
    let r = report(&host);
    let e = r.error.as_ref().unwrap();
    assert!(e.detail().contains("not reported"), "{}", e.detail());
    assert_eq!(r.limits.max_address_spaces, None);
}

#[test]
fn hv_busy_says_the_failure_came_after_creation() {
    let host = ScriptedHvf::apple_silicon().owning_a_vm();
    let r = report(&host);
    assert_sound(&r, &host);
    let e = r.error.unwrap();
    assert_eq!(e.cause(), Cause::ProcessAlreadyOwnsVm);
    assert!(e.detail().contains("after creation"), "{}", e.detail());
    assert_eq!(host.created(), 0, "the VMM's own VM is not touched");
}

#[test]
fn hv_no_device_on_intel_is_an_unsupported_cpu() {
    let host = ScriptedHvf::intel().vm_create_returns(hv::HV_NO_DEVICE);
    let r = report(&host);
    assert_sound(&r, &host);
    assert_eq!(r.error.unwrap().cause(), Cause::CpuUnsupported);
}

#[test]
fn unknown_codes_are_kept_as_data() {
    let host = ScriptedHvf::apple_silicon().vm_create_returns(UNNAMED_HV);
    let e = report(&host).error.unwrap();
    assert_eq!(e.cause(), Cause::UnexpectedHvReturn);
    assert!(e.detail().contains("error space, code 0x10"), "{}", e.detail());
    assert!(e.to_string().contains("0xfae94010"), "{e}");
    let host = ScriptedHvf::apple_silicon().vm_create_returns(-22);
    let e = report(&host).error.unwrap();
    assert!(e.detail().contains("not Hypervisor.framework's error space"), "{}", e.detail());
    assert_eq!(e.raw(), Some(RawCode::HvReturn(-22)));
}

/// A sweep across the whole i32 range: no panic, code kept, VMs balanced.
#[test]
fn any_i32_at_vm_create_keeps_the_invariants() {
    let step = (u32::MAX / 997) as i64;
    let mut v = i64::from(i32::MIN);
    while v <= i64::from(i32::MAX) {
        let ret = v as i32;
        let host = ScriptedHvf::apple_silicon().vm_create_returns(ret);
        let r = report(&host);
        assert_sound(&r, &host);
        assert_eq!(r.usable, ret == 0);
        assert_eq!(check(&r, check_id::VM_CREATE).raw, Some(RawCode::HvReturn(ret)));
        v += step;
    }
}

#[test]
fn healthy_macs_are_usable() {
    let host = ScriptedHvf::apple_silicon();
    let r = report(&host);
    assert_sound(&r, &host);
    assert_eq!(r.verdict, Verdict::Usable, "{r:#?}");
    assert!(r.checks.iter().all(|c| c.status == Status::Pass), "{r:#?}");
    assert_eq!(r.host.os, "macos");
    assert_eq!(r.host.arch, "aarch64");
    assert_eq!(r.host.os_version.as_deref(), Some("15.3"));
    assert_eq!(r.host.virtualized, Some(false));
    assert_eq!(r.limits.max_vcpus, Some(64));
    assert_eq!(r.limits.ipa_bits, Some(40));
    assert_eq!(r.limits.default_ipa_bits, Some(36));
    assert_eq!(host.configs(), [VmConfig::default()]);

    let host = ScriptedHvf::intel();
    let r = report(&host);
    assert_sound(&r, &host);
    assert!(r.usable, "{r:#?}");
    assert_eq!(check(&r, check_id::IPA).status, Status::Skip);
    assert_eq!(check(&r, check_id::EL2).status, Status::Skip);
    assert_eq!(r.host.cpu_virt_flag.as_deref(), Some("VMX"));
    assert_eq!(r.host.arch, "x86_64");
}

// ---- sysctl conditions ----

#[test]
fn hv_support_zero_fails_the_support_check() {
    let host = ScriptedHvf::apple_silicon()
        .sysctl("kern.hv_support", 0)
        .sysctl("kern.hv.supported", 0)
        .vm_create_returns(hv::HV_UNSUPPORTED);
    let r = report(&host);
    assert_sound(&r, &host);
    let c = check(&r, check_id::SUPPORT);
    assert_eq!(c.status, Status::Fail);
    assert_eq!(c.cause, Some(Cause::HypervisorUnsupported));
    assert_eq!(c.raw, Some(RawCode::Returned(0)));
    assert!(c.detail.contains("kern.hv_support = 0"), "{}", c.detail);
    let e = r.error.unwrap();
    assert_eq!(e.cause(), Cause::HypervisorUnsupported);
    assert_eq!(e.raw(), Some(RawCode::HvReturn(hv::HV_UNSUPPORTED)));
}

#[test]
fn hv_support_absent_fails_the_support_check() {
    let host = ScriptedHvf::apple_silicon()
        .sysctl_absent("kern.hv_support")
        .sysctl_absent("kern.hv.supported")
        .vm_create_returns(hv::HV_UNSUPPORTED);
    let r = report(&host);
    assert_sound(&r, &host);
    let c = check(&r, check_id::SUPPORT);
    assert_eq!(c.status, Status::Fail);
    assert_eq!(c.raw, None);
    assert!(c.detail.contains("kern.hv_support absent"), "{}", c.detail);
    assert!(!r.usable);
}

#[test]
fn either_support_sysctl_is_enough() {
    let host = ScriptedHvf::apple_silicon().sysctl_absent("kern.hv_support");
    let r = report(&host);
    assert_eq!(check(&r, check_id::SUPPORT).status, Status::Pass);
    let host = ScriptedHvf::apple_silicon().sysctl_absent("kern.hv.supported");
    assert!(report(&host).usable);
}

#[test]
fn the_hypervisor_answer_wins_over_a_sysctl() {
    let host = ScriptedHvf::apple_silicon().sysctl("kern.hv_support", 0).sysctl("kern.hv.supported", 0);
    let r = report(&host);
    assert_sound(&r, &host);
    assert!(r.usable);
    assert_eq!(r.verdict, Verdict::UsableWithWarnings);
    let c = check(&r, check_id::SUPPORT);
    assert_eq!(c.status, Status::Warn);
    assert!(c.detail.contains("yet hv_vm_create succeeded"), "{}", c.detail);
}

#[test]
fn sysctl_read_errors_are_warnings_with_the_errno() {
    let host =
        ScriptedHvf::apple_silicon().sysctl_errno("kern.hv_disable", 1).sysctl_errno("sysctl.proc_translated", 1);
    let r = report(&host);
    assert_sound(&r, &host);
    for id in [check_id::DISABLED, check_id::ROSETTA] {
        let c = check(&r, id);
        assert_eq!(c.status, Status::Warn, "{id}");
        assert_eq!(c.raw, Some(RawCode::Errno(1)), "{id}");
    }
    assert!(r.usable);
}

#[test]
fn hv_disable_one_is_hypervisor_disabled() {
    let host = ScriptedHvf::apple_silicon().sysctl("kern.hv_disable", 1).vm_create_returns(hv::HV_UNSUPPORTED);
    let r = report(&host);
    assert_sound(&r, &host);
    let c = check(&r, check_id::DISABLED);
    assert_eq!(c.status, Status::Fail);
    assert_eq!(c.cause, Some(Cause::HypervisorDisabled));
    assert_eq!(c.raw, Some(RawCode::Returned(1)));
    let e = r.error.unwrap();
    assert_eq!(e.cause(), Cause::HypervisorDisabled);
    assert_eq!(e.raw(), Some(RawCode::HvReturn(hv::HV_UNSUPPORTED)));

    // Without the refusal it stays a FAIL from evidence unless a VM was created.
    let host = ScriptedHvf::apple_silicon().sysctl("kern.hv_disable", 1);
    let r = report(&host);
    assert_eq!(check(&r, check_id::DISABLED).status, Status::Warn);
}

#[test]
fn inside_a_vm_without_nested_virtualization() {
    // A hosted macOS CI runner: a VM, no hv support sysctl, HV_UNSUPPORTED.
    let host = ScriptedHvf::apple_silicon()
        .sysctl("kern.hv_vmm_present", 1)
        .sysctl_absent("kern.hv_support")
        .sysctl_absent("kern.hv.supported")
        .vm_create_returns(hv::HV_UNSUPPORTED);
    let r = report(&host);
    assert_sound(&r, &host);
    let e = r.error.as_ref().unwrap();
    assert_eq!(e.cause(), Cause::HostIsVirtualMachine);
    assert_eq!(e.raw(), Some(RawCode::HvReturn(hv::HV_UNSUPPORTED)));
    assert_eq!(check(&r, check_id::VMM).status, Status::Fail);
    assert_eq!(check(&r, check_id::VMM).cause, Some(Cause::HostIsVirtualMachine));
    assert_eq!(check(&r, check_id::SUPPORT).cause, Some(Cause::HostIsVirtualMachine));
    assert_eq!(r.host.virtualized, Some(true));
    assert!(host.entitlement_checks() >= 1);
}

#[test]
fn inside_a_vm_with_nested_virtualization() {
    let host = ScriptedHvf::apple_silicon().sysctl("kern.hv_vmm_present", 1).el2(Some(Ok(true)));
    let r = report(&host);
    assert_sound(&r, &host);
    assert_eq!(r.verdict, Verdict::Usable, "{r:#?}");
    assert!(check(&r, check_id::VMM).detail.contains("nested virtualization"));
    assert_eq!(r.host.virtualized, Some(true));

    // A VM whose host claims support but still refuses.
    let host = ScriptedHvf::apple_silicon().sysctl("kern.hv_vmm_present", 1).vm_create_returns(hv::HV_UNSUPPORTED);
    assert_eq!(report(&host).error.unwrap().cause(), Cause::HostIsVirtualMachine);
}

#[test]
fn rosetta_is_named() {
    let host = ScriptedHvf::apple_silicon()
        .arch(Arch::X86_64)
        .sysctl("sysctl.proc_translated", 1)
        .vm_create_returns(hv::HV_UNSUPPORTED);
    let r = report(&host);
    assert_sound(&r, &host);
    let c = check(&r, check_id::ROSETTA);
    assert_eq!(c.status, Status::Fail);
    assert_eq!(c.cause, Some(Cause::RunningUnderRosetta));
    assert!(c.detail.contains("hw.optional.arm64 = 1"), "{}", c.detail);
    let e = r.error.clone().unwrap();
    assert_eq!(e.cause(), Cause::RunningUnderRosetta);
    assert_eq!(e.raw(), Some(RawCode::HvReturn(hv::HV_UNSUPPORTED)));
    assert!(check(&r, check_id::ARCH).detail.contains("on Apple silicon"));
}

#[test]
fn missing_entitlement_with_hv_denied() {
    let host = ScriptedHvf::apple_silicon().entitlement(Entitlement::Missing).vm_create_returns(hv::HV_DENIED);
    let r = report(&host);
    assert_sound(&r, &host);
    let c = check(&r, check_id::ENTITLEMENT);
    assert_eq!(c.status, Status::Fail);
    assert_eq!(c.cause, Some(Cause::EntitlementMissing));
    let e = r.error.unwrap();
    assert_eq!(e.cause(), Cause::EntitlementMissing);
    assert_eq!(e.raw(), Some(RawCode::HvReturn(hv::HV_DENIED)));
    assert!(e.detail().contains("not signed"), "{}", e.detail());
    assert!(e.remedies().iter().any(|r| r.contains("codesign --sign - --entitlements")));
}

#[test]
fn hv_denied_with_the_entitlement_present_points_at_a_stale_signature() {
    let host = ScriptedHvf::apple_silicon().vm_create_returns(hv::HV_DENIED);
    let e = report(&host).error.unwrap();
    assert_eq!(e.cause(), Cause::EntitlementMissing);
    assert!(e.detail().contains("stale"), "{}", e.detail());
}

#[test]
fn hv_unsupported_checks_the_entitlement_before_blaming_the_host() {
    let host = ScriptedHvf::apple_silicon().entitlement(Entitlement::Missing).vm_create_returns(hv::HV_UNSUPPORTED);
    let r = report(&host);
    assert_sound(&r, &host);
    let e = r.error.unwrap();
    assert_eq!(e.cause(), Cause::EntitlementMissing);
    assert_eq!(e.raw(), Some(RawCode::HvReturn(hv::HV_UNSUPPORTED)));
    assert!(host.entitlement_checks() >= 1);
}

#[test]
fn entitlement_self_check_that_cannot_run() {
    let host = ScriptedHvf::apple_silicon().entitlement(Entitlement::Unknown("no Security.framework".into()));
    let r = report(&host);
    assert_eq!(check(&r, check_id::ENTITLEMENT).status, Status::Pass);
    assert!(r.usable);
    let host = ScriptedHvf::apple_silicon()
        .entitlement(Entitlement::Unknown("no Security.framework".into()))
        .vm_create_returns(hv::HV_ERROR);
    let c = report(&host).check(check_id::ENTITLEMENT).cloned().unwrap();
    assert_eq!(c.status, Status::Skip);
    assert!(c.detail.contains("no Security.framework"));
}

#[test]
fn requested_memory_beyond_the_max_ipa_fails() {
    // 2 TiB with a 40-bit (1 TiB) maximum.
    let host = ScriptedHvf::apple_silicon();
    let r = report_with(&host, ProbeOptions::default().with_memory_mib(2 << 20));
    assert_sound(&r, &host);
    let c = check(&r, check_id::IPA);
    assert_eq!(c.status, Status::Fail);
    assert_eq!(c.cause, Some(Cause::MemoryLimitExceeded));
    assert_eq!(c.raw, Some(RawCode::Returned(40)));
    assert!(c.detail.contains("at most 1048576 MiB"), "{}", c.detail);
    assert!(!r.usable);
    assert_eq!(r.error.unwrap().cause(), Cause::MemoryLimitExceeded);
    // The creation probe still ran, with the default configuration.
    assert_eq!(host.configs(), [VmConfig::default()]);
    assert_eq!(host.created(), 1);
}

#[test]
fn requested_memory_above_the_default_ipa_asks_for_a_larger_one() {
    // 128 GiB needs 37 bits: above the default 36, within the max 40.
    let options = ProbeOptions::default().with_memory_mib(128 << 10);
    let host = ScriptedHvf::apple_silicon();
    let r = report_with(&host, options.clone());
    assert_sound(&r, &host);
    assert!(r.usable, "{r:#?}");
    assert_eq!(host.configs(), [VmConfig { ipa_bits: Some(37) }]);
    assert!(check(&r, check_id::IPA).detail.contains("37 bits"));

    // The framework refuses that size at creation: an IPA error with its context.
    let host = ScriptedHvf::apple_silicon().vm_create_returns(hv::HV_BAD_ARGUMENT);
    let e = report_with(&host, options.clone()).error.unwrap();
    assert_eq!(e.cause(), Cause::InvalidVmType);
    assert_eq!(e.raw(), Some(RawCode::HvReturn(hv::HV_BAD_ARGUMENT)));
    assert!(e.detail().contains("IPA size of 37 bits was rejected (max 40 bits, default 36 bits)"), "{}", e.detail());
    assert!(e.remedies()[0].contains("at most 40 bits"));

    // ... or already at hv_vm_config_set_ipa_size: no VM is created.
    let host = ScriptedHvf::apple_silicon().vm_config_returns(hv::HV_BAD_ARGUMENT);
    let r = report_with(&host, options);
    assert_sound(&r, &host);
    let e = r.error.unwrap();
    assert_eq!(e.operation(), Operation::HvVmConfig);
    assert_eq!(e.cause(), Cause::MemoryLimitExceeded);
    assert_eq!(e.raw(), Some(RawCode::HvReturn(hv::HV_BAD_ARGUMENT)));
    assert_eq!(host.created(), 0);
}

#[test]
fn ipa_limits_without_the_13_0_symbols() {
    let host = ScriptedHvf::apple_silicon().ipa(None, None);
    let r = report(&host);
    assert_sound(&r, &host);
    assert_eq!(r.limits.ipa_bits, Some(42));
    let c = check(&r, check_id::IPA);
    assert_eq!(c.status, Status::Pass);
    assert!(c.detail.contains("kern.hv.ipa_size_16k"), "{}", c.detail);

    let host = ScriptedHvf::apple_silicon().ipa(None, None).sysctl_absent("kern.hv.ipa_size_16k");
    let r = report(&host);
    assert_eq!(check(&r, check_id::IPA).status, Status::Skip);
    assert_eq!(r.limits.ipa_bits, None);

    let host = ScriptedHvf::apple_silicon().ipa(Some(Err(hv::HV_ERROR)), Some(Ok(36)));
    let c = report(&host).check(check_id::IPA).cloned().unwrap();
    assert_eq!(c.status, Status::Warn);
    assert_eq!(c.raw, Some(RawCode::HvReturn(hv::HV_ERROR)));
}

#[test]
fn el2_absent_present_and_failing() {
    let host = ScriptedHvf::apple_silicon().el2(None);
    let r = report(&host);
    assert_eq!(check(&r, check_id::EL2).status, Status::Skip);
    assert!(check(&r, check_id::EL2).detail.contains("macOS 15.0"));
    assert_eq!(r.host.nested, None);

    let host = ScriptedHvf::apple_silicon().el2(Some(Ok(true)));
    let r = report(&host);
    assert_eq!(check(&r, check_id::EL2).status, Status::Pass);
    assert_eq!(r.host.nested.as_deref(), Some("el2 supported"));

    let host = ScriptedHvf::apple_silicon().el2(Some(Ok(false)));
    let r = report(&host);
    assert_eq!(check(&r, check_id::EL2).status, Status::Pass);
    assert_eq!(r.host.nested.as_deref(), Some("el2 not supported"));

    let host = ScriptedHvf::apple_silicon().el2(Some(Err(hv::HV_UNSUPPORTED)));
    let r = report(&host);
    let c = check(&r, check_id::EL2);
    assert_eq!(c.status, Status::Warn);
    assert_eq!(c.raw, Some(RawCode::HvReturn(hv::HV_UNSUPPORTED)));
    assert!(r.usable);
}

#[test]
fn max_address_spaces_is_reported() {
    let host = ScriptedHvf::apple_silicon().sysctl("kern.hv.max_address_spaces", 96);
    let r = report(&host);
    let c = check(&r, check_id::ADDRESS_SPACES);
    assert_eq!(c.status, Status::Pass);
    assert_eq!(c.raw, Some(RawCode::Returned(96)));
    assert!(c.detail.contains("at most 96 VMs"), "{}", c.detail);
    assert_eq!(r.limits.max_address_spaces, Some(96));

    let host = ScriptedHvf::apple_silicon().sysctl_absent("kern.hv.max_address_spaces");
    let r = report(&host);
    assert_eq!(check(&r, check_id::ADDRESS_SPACES).status, Status::Skip);
    assert!(r.usable);
}

#[test]
fn vcpu_limits() {
    let host = ScriptedHvf::apple_silicon();
    let r = report_with(&host, ProbeOptions::default().with_vcpus(65));
    assert_sound(&r, &host);
    let c = check(&r, check_id::VCPUS);
    assert_eq!(c.status, Status::Fail);
    assert_eq!(c.cause, Some(Cause::VcpuLimitExceeded));
    assert_eq!(c.raw, Some(RawCode::Returned(64)));
    assert!(!r.usable);
    assert_eq!(r.error.unwrap().cause(), Cause::VcpuLimitExceeded);
    assert!(report_with(&host, ProbeOptions::default().with_vcpus(64)).usable);

    let host = ScriptedHvf::apple_silicon().max_vcpus(Err(hv::HV_ERROR));
    let r = report(&host);
    let c = check(&r, check_id::VCPUS);
    assert_eq!(c.status, Status::Warn);
    assert_eq!(c.raw, Some(RawCode::HvReturn(hv::HV_ERROR)));
    assert_eq!(r.limits.max_vcpus, None);
}

#[test]
fn unknown_architecture_fails() {
    let host = ScriptedHvf::apple_silicon().arch(Arch::Other);
    let r = report(&host);
    assert_sound(&r, &host);
    assert_eq!(check(&r, check_id::ARCH).status, Status::Fail);
    assert!(!r.usable);
}

#[test]
fn a_failing_destroy_is_a_warning_and_still_counted() {
    let host = ScriptedHvf::apple_silicon().vm_destroy_returns(hv::HV_BUSY);
    let r = report(&host);
    assert_sound(&r, &host);
    let c = check(&r, check_id::VM_DESTROY);
    assert_eq!(c.status, Status::Warn);
    assert_eq!(c.raw, Some(RawCode::HvReturn(hv::HV_BUSY)));
    assert_eq!(host.destroyed(), 1);
}

#[test]
fn the_vm_is_destroyed_when_a_check_panics() {
    let host = ScriptedHvf::apple_silicon().vcpu_query_panics();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| report(&host)));
    assert!(outcome.is_err());
    assert_eq!(host.created(), 1);
    host.assert_balanced();
}

#[test]
fn constructing_a_probe_calls_nothing() {
    let host = ScriptedHvf::apple_silicon();
    let _probe = HvfProbe::with_host(&host, ProbeOptions::default());
    assert_eq!(host.entitlement_checks(), 0);
    assert!(host.configs().is_empty());
}

// ---- diagnoses ----

fn diagnose(host: &ScriptedHvf, failure: CreateFailure) -> probe_core::Diagnosis {
    let d = HvfProbe::with_host(host, ProbeOptions::default()).diagnose_create_failure(&failure);
    host.assert_balanced();
    assert!(d.simulated);
    assert_eq!(d.original, failure, "the VMM's failure comes back untouched");
    d
}

#[test]
fn libkrun_einval_against_every_reproduction() {
    for ret in injected_codes() {
        let host = ScriptedHvf::apple_silicon().vm_create_returns(ret);
        let d = diagnose(&host, CreateFailure::errno(-22));
        let what = RawCode::HvReturn(ret);
        match ret {
            hv::HV_SUCCESS => {
                assert_eq!(d.verdict, DiagnosisVerdict::CauseElsewhere, "{what}");
                assert_eq!(host.created(), 1);
            }
            // This process already owns its VM: the VMM's failure came later.
            hv::HV_BUSY => {
                assert_eq!(d.verdict, DiagnosisVerdict::CauseElsewhere, "{what}");
                let e = d.error.unwrap();
                assert_eq!(e.cause(), Cause::ProcessAlreadyOwnsVm);
                assert_eq!(e.raw(), Some(RawCode::HvReturn(ret)));
            }
            // The probe's own process lacks the entitlement: it cannot tell whether
            // the VMM's process does (probe-core's rule for process-local causes).
            hv::HV_DENIED => {
                assert_eq!(d.verdict, DiagnosisVerdict::Inconclusive, "{what}");
                let e = d.error.unwrap();
                assert_eq!(e.cause(), Cause::EntitlementMissing);
                assert_eq!(e.raw(), Some(RawCode::HvReturn(ret)));
            }
            _ => {
                assert_eq!(d.verdict, DiagnosisVerdict::HypervisorCause, "{what}");
                let e = d.error.unwrap();
                assert_eq!(e.raw(), Some(RawCode::HvReturn(ret)), "{what}");
                assert_eq!(Some(e.cause()), apple_silicon_cause(ret), "{what}");
                assert!(!e.remedies().is_empty());
            }
        }
        assert!(d.checks.iter().any(|c| c.id == check_id::VM_CREATE));
    }
}

#[test]
fn pool_slot_freed_between_failure_and_probe_is_transient() {
    let host = ScriptedHvf::apple_silicon();
    let d = diagnose(&host, CreateFailure::hv_return(hv::HV_NO_RESOURCES));
    assert_eq!(d.verdict, DiagnosisVerdict::TransientCleared);
    assert_eq!(d.error.unwrap().cause(), Cause::AddressSpacesExhausted);
    assert!(d.explanation.contains("128 VM address spaces"), "{}", d.explanation);
    assert_eq!(host.created(), 1, "the probe's VM was made");
    assert_eq!(host.destroyed(), 1, "and destroyed");
}

#[test]
fn pool_still_full_is_the_hypervisor() {
    let host = ScriptedHvf::apple_silicon().vm_create_returns(hv::HV_NO_RESOURCES);
    let d = diagnose(&host, CreateFailure::hv_return(hv::HV_NO_RESOURCES));
    assert_eq!(d.verdict, DiagnosisVerdict::HypervisorCause);
    let e = d.error.unwrap();
    assert_eq!(e.cause(), Cause::AddressSpacesExhausted);
    assert!(e.detail().contains("kern.hv.max_address_spaces = 128"));
}

#[test]
fn in_a_vmm_that_owns_its_vm_the_failure_came_after_creation() {
    let host = ScriptedHvf::apple_silicon().owning_a_vm();
    let d = diagnose(&host, CreateFailure::errno(-22));
    assert_eq!(d.verdict, DiagnosisVerdict::CauseElsewhere);
    assert!(d.explanation.contains("after creation"), "{}", d.explanation);
    assert_eq!(d.error.unwrap().cause(), Cause::ProcessAlreadyOwnsVm);
    assert_eq!(host.created(), 0);

    // A VMM that got HV_BUSY from hv_vm_create itself tried a second VM.
    let d = diagnose(&host, CreateFailure::hv_return(hv::HV_BUSY));
    assert_eq!(d.verdict, DiagnosisVerdict::HypervisorCause);
    assert_eq!(d.error.unwrap().cause(), Cause::ProcessAlreadyOwnsVm);
}

#[test]
fn child_probe_leaves_the_vmm_alone() {
    let ok = ChildOutcome { create: HvCall::vm_create(hv::HV_SUCCESS), destroy: Some(hv::HV_SUCCESS) };
    let host = ScriptedHvf::apple_silicon().owning_a_vm().child_probe(Ok(ok));
    let d = diagnose(&host, CreateFailure::errno(-22));
    assert_eq!(d.verdict, DiagnosisVerdict::CauseElsewhere);
    assert_eq!(host.child_probes(), 1);
    assert!(host.configs().is_empty(), "nothing was created in this process");
    let create = d.checks.iter().find(|c| c.id == check_id::VM_CREATE).unwrap();
    assert!(create.detail.contains("in a child process"), "{}", create.detail);

    let full = ChildOutcome { create: HvCall::vm_create(hv::HV_NO_RESOURCES), destroy: None };
    let host = ScriptedHvf::apple_silicon().owning_a_vm().child_probe(Ok(full));
    let d = diagnose(&host, CreateFailure::errno(-22));
    assert_eq!(d.verdict, DiagnosisVerdict::HypervisorCause);
    let e = d.error.unwrap();
    assert_eq!(e.cause(), Cause::AddressSpacesExhausted);
    assert_eq!(e.raw(), Some(RawCode::HvReturn(hv::HV_NO_RESOURCES)));
    assert!(host.configs().is_empty());

    // The report uses the child too.
    let host = ScriptedHvf::apple_silicon().owning_a_vm().child_probe(Ok(ok));
    let r = report(&host);
    assert!(r.usable, "{r:#?}");
    assert!(host.configs().is_empty());
}

#[test]
fn a_silent_child_is_inconclusive_and_nothing_is_probed_here() {
    let err =
        ChildProbeError::Spawn { helper: "/nonexistent/helper".into(), reason: "No such file or directory".into() };
    let host = ScriptedHvf::apple_silicon().child_probe(Err(err));
    let d = diagnose(&host, CreateFailure::hv_return(hv::HV_NO_RESOURCES));
    assert_eq!(d.verdict, DiagnosisVerdict::Inconclusive);
    assert!(d.explanation.contains("/nonexistent/helper"), "{}", d.explanation);
    assert!(host.configs().is_empty());
    assert_eq!(d.original_cause.unwrap().cause(), Cause::AddressSpacesExhausted, "the original code is still read");

    let r = report(&host);
    let c = check(&r, check_id::VM_CREATE);
    assert_eq!(c.status, Status::Warn);
    assert!(c.detail.contains("not verified"));
    assert!(!c.remedies.is_empty());
}

#[test]
fn denied_vmm_on_a_working_host_is_its_own_signature() {
    let host = ScriptedHvf::apple_silicon();
    let d = diagnose(&host, CreateFailure::hv_return(hv::HV_DENIED));
    assert_eq!(d.verdict, DiagnosisVerdict::CauseElsewhere);
    assert_eq!(d.error.unwrap().cause(), Cause::EntitlementMissing);
}

#[test]
fn diagnosis_round_trips_through_json() {
    let host = ScriptedHvf::apple_silicon().vm_create_returns(hv::HV_UNSUPPORTED);
    let d = diagnose(&host, CreateFailure::errno(-22).with_message("krun_start_enter failed"));
    let json = serde_json::to_string(&d).unwrap();
    let back: probe_core::Diagnosis = serde_json::from_str(&json).unwrap();
    assert_eq!(back, d);
}
