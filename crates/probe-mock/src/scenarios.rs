//! Named, ready-made scenarios: one for every cause a backend can report, plus healthy
//! hosts. `hvprobe check --simulate NAME` runs them; a VMM's tests can too.

use kvm_bindings as kb;
use probe_core::{Backend, CapabilityProfile, Cause, Level, Operation, ProbeOptions};
use probe_kvm::{AclEntry, AclTag, DeviceNode, Identity};

use crate::MockProbe;
use crate::hvf::ScriptedHvf;
use crate::kvm::{Answer, KvmCall, ScriptedKvmHost, USER_UID};
use probe_core::raw::hv;
use probe_hvf::{Arch, Entitlement};

/// A named situation on a host, built from a scripted host.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// Stable name (`kvm-stale-session`).
    pub name: &'static str,
    /// What the host is like, for people.
    pub description: &'static str,
    /// The backend whose logic runs.
    pub backend: Backend,
    /// The cause the startup check reports; `None` when the host is usable.
    pub expected: Option<Cause>,
    build: fn() -> MockProbe,
}

impl Scenario {
    /// A fresh probe for this scenario.
    pub fn probe(&self) -> MockProbe {
        (self.build)()
    }
}

/// Looks a scenario up by name.
pub fn find(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}

const ENOENT: i32 = 2;
const EPERM: i32 = 1;
const EINTR: i32 = 4;
const EFAULT: i32 = 14;
const ENXIO: i32 = 6;
const EAGAIN: i32 = 11;
const ENOMEM: i32 = 12;
const EACCES: i32 = 13;
const EBUSY: i32 = 16;
const EINVAL: i32 = 22;
const ENFILE: i32 = 23;
const EMFILE: i32 = 24;
const ENOTTY: i32 = 25;
const ENOSPC: i32 = 28;

fn kvm(host: ScriptedKvmHost) -> MockProbe {
    MockProbe::kvm(host, ProbeOptions::default())
}

fn kvm_with(host: ScriptedKvmHost, options: ProbeOptions) -> MockProbe {
    MockProbe::kvm(host, options)
}

fn hvf(host: ScriptedHvf) -> MockProbe {
    MockProbe::hvf(host, ProbeOptions::default())
}

fn hvf_with(host: ScriptedHvf, options: ProbeOptions) -> MockProbe {
    MockProbe::hvf(host, options)
}

/// No kvm module: the device is missing and the kernel does not list it.
fn no_module() -> ScriptedKvmHost {
    ScriptedKvmHost::healthy()
        .fail(KvmCall::Stat, ENOENT)
        .file("/proc/misc", Some(" 58 rfkill\n"))
        .dir("/sys/module", &["ext4"])
}

/// The user is not in the kvm group.
fn outsider() -> ScriptedKvmHost {
    ScriptedKvmHost::healthy().fail(KvmCall::Open, EACCES).identity(Identity {
        uid: USER_UID,
        gid: USER_UID,
        groups: vec![USER_UID],
    })
}

macro_rules! scenario {
    ($name:literal, $backend:expr, $expected:expr, $description:literal, $build:expr) => {
        Scenario { name: $name, description: $description, backend: $backend, expected: $expected, build: $build }
    };
}

/// Every scenario.
pub static SCENARIOS: &[Scenario] = &[
    scenario!("kvm-healthy", Backend::Kvm, None, "A Linux host with working KVM (kvm_intel).", || kvm(
        ScriptedKvmHost::healthy()
    )),
    scenario!(
        "kvm-healthy-full",
        Backend::Kvm,
        None,
        "A healthy KVM host, full level: the one-instruction guest runs.",
        || { kvm_with(ScriptedKvmHost::healthy(), ProbeOptions::default().with_level(Level::Full)) }
    ),
    scenario!(
        "kvm-eintr-retry",
        Backend::Kvm,
        None,
        "A busy host: KVM_CREATE_VM is interrupted three times, then succeeds.",
        || { kvm(ScriptedKvmHost::healthy().then(KvmCall::CreateVm, [Answer::Errno(EINTR); 3])) }
    ),
    scenario!(
        "kvm-module-not-loaded",
        Backend::Kvm,
        Some(Cause::ModuleNotLoaded),
        "The CPU has VT-x but no kvm module is loaded.",
        || kvm(no_module())
    ),
    scenario!(
        "kvm-container-no-device",
        Backend::Kvm,
        Some(Cause::DeviceNodeMissing),
        "A container started without --device /dev/kvm on a KVM host.",
        || { kvm(ScriptedKvmHost::healthy().fail(KvmCall::Stat, ENOENT).env("container", "docker")) }
    ),
    scenario!(
        "kvm-no-vt",
        Backend::Kvm,
        Some(Cause::NoHardwareVirtualization),
        "Bare metal whose CPU shows neither vmx nor svm (or VT is off in firmware).",
        || { kvm(no_module().file("/proc/cpuinfo", Some("flags\t: fpu sse sse2 lm\n"))) }
    ),
    scenario!(
        "kvm-cloud-vm-no-nested",
        Backend::Kvm,
        Some(Cause::NestedVirtualizationMissing),
        "A cloud VM without nested virtualization.",
        || { kvm(no_module().file("/proc/cpuinfo", Some("flags\t: fpu sse sse2 hypervisor lm\n"))) }
    ),
    scenario!(
        "kvm-wsl-no-nested",
        Backend::Kvm,
        Some(Cause::WslWithoutNestedVirtualization),
        "WSL2 without nestedVirtualization.",
        || { kvm(no_module().file("/proc/sys/kernel/osrelease", Some("5.15.153.1-microsoft-standard-WSL2\n"))) }
    ),
    scenario!(
        "kvm-stale-node",
        Backend::Kvm,
        Some(Cause::StaleDeviceNode),
        "/dev/kvm exists but no driver answers it (ENXIO).",
        || { kvm(ScriptedKvmHost::healthy().fail(KvmCall::Open, ENXIO)) }
    ),
    scenario!(
        "kvm-not-kvm-device",
        Backend::Kvm,
        Some(Cause::NotAKvmDevice),
        "The device path is a bind-mounted /dev/null (ENOTTY).",
        || {
            kvm(ScriptedKvmHost::healthy()
                .node(DeviceNode { is_char_device: true, major: 1, minor: 3, uid: 0, gid: 0, mode: 0o20666 })
                .fail(KvmCall::GetApiVersion, ENOTTY))
        }
    ),
    scenario!(
        "kvm-not-in-group",
        Backend::Kvm,
        Some(Cause::DeviceAccessDenied),
        "The user is not in the kvm group (EACCES).",
        || { kvm(outsider().file("/etc/group", Some("root:x:0:\nkvm:x:993:\nalice:x:1000:\n"))) }
    ),
    scenario!(
        "kvm-uaccess-other-session",
        Backend::Kvm,
        Some(Cause::DeviceAccessDenied),
        "/dev/kvm is root:root plus an ACL for the desktop user (systemd-logind uaccess); this SSH user is not it.",
        || {
            kvm(outsider()
                .node(DeviceNode { is_char_device: true, major: 10, minor: 232, uid: 0, gid: 0, mode: 0o20660 })
                .acl(vec![
                    AclEntry { tag: AclTag::UserObj, perm: 6 },
                    AclEntry { tag: AclTag::User(1001), perm: 6 },
                    AclEntry { tag: AclTag::GroupObj, perm: 0 },
                    AclEntry { tag: AclTag::Mask, perm: 6 },
                    AclEntry { tag: AclTag::Other, perm: 0 },
                ]))
        }
    ),
    scenario!(
        "kvm-stale-session",
        Backend::Kvm,
        Some(Cause::StaleGroupSession),
        "The user was added to kvm, but this login session predates it.",
        || kvm(outsider())
    ),
    scenario!(
        "kvm-container-policy",
        Backend::Kvm,
        Some(Cause::ContainerDevicePolicy),
        "A container's device cgroup denies c 10:232 (EPERM).",
        || {
            kvm(ScriptedKvmHost::healthy()
                .fail(KvmCall::Open, EPERM)
                .file("/proc/self/cgroup", Some("4:devices:/docker/3f2a\n0::/\n"))
                .file("/sys/fs/cgroup/devices/docker/3f2a/devices.list", Some("c 1:3 rwm\nc 1:5 rwm\n"))
                .env("container", "docker"))
        }
    ),
    scenario!(
        "kvm-seccomp-blocked",
        Backend::Kvm,
        Some(Cause::BlockedBySecurityPolicy),
        "A seccomp profile denies KVM_CREATE_VM (EPERM).",
        || { kvm(ScriptedKvmHost::healthy().fail(KvmCall::CreateVm, EPERM)) }
    ),
    scenario!(
        "kvm-other-hypervisor",
        Backend::Kvm,
        Some(Cause::OtherHypervisorActive),
        "VirtualBox holds VT-x: KVM_CREATE_VM fails with EBUSY.",
        || {
            kvm(ScriptedKvmHost::healthy()
                .fail(KvmCall::CreateVm, EBUSY)
                .dir("/sys/module", &["kvm", "kvm_intel", "vboxdrv"]))
        }
    ),
    scenario!("kvm-vcpu-busy", Backend::Kvm, Some(Cause::ResourceBusy), "KVM_CREATE_VCPU fails with EBUSY.", || {
        kvm(ScriptedKvmHost::healthy().fail(KvmCall::CreateVcpu, EBUSY))
    }),
    scenario!(
        "kvm-fd-exhausted",
        Backend::Kvm,
        Some(Cause::FileDescriptorsExhausted),
        "The process is out of file descriptors (EMFILE).",
        || { kvm(ScriptedKvmHost::healthy().fail(KvmCall::Open, EMFILE)) }
    ),
    scenario!(
        "kvm-file-table-full",
        Backend::Kvm,
        Some(Cause::SystemFileTableFull),
        "The system file table is full (ENFILE).",
        || { kvm(ScriptedKvmHost::healthy().fail(KvmCall::Open, ENFILE)) }
    ),
    scenario!(
        "kvm-kernel-memory",
        Backend::Kvm,
        Some(Cause::KernelMemoryExhausted),
        "KVM_CREATE_VM fails with ENOMEM (fragmentation, memcg limit); QEMU and Firecracker hold VMs.",
        || {
            kvm(ScriptedKvmHost::healthy()
                .fail(KvmCall::CreateVm, ENOMEM)
                .vm_holder(4242, "qemu-system-x86", 3)
                .vm_holder(5151, "firecracker", 1))
        }
    ),
    scenario!(
        "kvm-transient-enomem",
        Backend::Kvm,
        Some(Cause::KernelMemoryExhausted),
        "KVM_CREATE_VM fails once with ENOMEM, then works: a diagnosis finds it cleared.",
        || { kvm(ScriptedKvmHost::healthy().then(KvmCall::CreateVm, [Answer::Errno(ENOMEM)])) }
    ),
    scenario!(
        "kvm-vm-resources",
        Backend::Kvm,
        Some(Cause::HostResourcesExhausted),
        "KVM_CREATE_VM fails with ENOSPC.",
        || { kvm(ScriptedKvmHost::healthy().fail(KvmCall::CreateVm, ENOSPC)) }
    ),
    scenario!(
        "kvm-memlock",
        Backend::Kvm,
        Some(Cause::MemlockLimitTooLow),
        "Guest memory cannot be mapped (EAGAIN: RLIMIT_MEMLOCK), full level.",
        || {
            kvm_with(
                ScriptedKvmHost::healthy().always(KvmCall::RunGuest, Answer::StepErrno(Operation::MapMemory, EAGAIN)),
                ProbeOptions::default().with_level(Level::Full),
            )
        }
    ),
    scenario!(
        "kvm-api-mismatch",
        Backend::Kvm,
        Some(Cause::ApiVersionMismatch),
        "KVM_GET_API_VERSION returns 11.",
        || { kvm(ScriptedKvmHost::healthy().always(KvmCall::GetApiVersion, Answer::Value(11))) }
    ),
    scenario!(
        "kvm-capability-missing",
        Backend::Kvm,
        Some(Cause::CapabilityMissing),
        "Firecracker's profile on a kernel without KVM_CAP_IRQFD.",
        || {
            kvm_with(
                ScriptedKvmHost::healthy().capability(kb::KVM_CAP_IRQFD, 0),
                ProbeOptions::default().with_profile(CapabilityProfile::Firecracker),
            )
        }
    ),
    scenario!(
        "kvm-too-many-vcpus",
        Backend::Kvm,
        Some(Cause::VcpuLimitExceeded),
        "512 vCPUs requested; the host allows 288.",
        || { kvm_with(ScriptedKvmHost::healthy(), ProbeOptions::default().with_vcpus(512)) }
    ),
    scenario!(
        "kvm-too-much-memory",
        Backend::Kvm,
        Some(Cause::MemoryLimitExceeded),
        "64 GiB of guest memory requested on a 16 GiB host.",
        || { kvm_with(ScriptedKvmHost::healthy(), ProbeOptions::default().with_memory_mib(64 * 1024)) }
    ),
    scenario!(
        "kvm-invalid-vm-type",
        Backend::Kvm,
        Some(Cause::InvalidVmType),
        "KVM_CREATE_VM rejects the machine type (EINVAL).",
        || { kvm(ScriptedKvmHost::healthy().fail(KvmCall::CreateVm, EINVAL)) }
    ),
    scenario!(
        "kvm-invalid-argument",
        Backend::Kvm,
        Some(Cause::InvalidArgument),
        "KVM_CHECK_EXTENSION rejects its argument (EINVAL).",
        || { kvm(ScriptedKvmHost::healthy().fail(KvmCall::CheckExtension, EINVAL)) }
    ),
    scenario!(
        "kvm-eintr-storm",
        Backend::Kvm,
        Some(Cause::InterruptedRepeatedly),
        "KVM_CREATE_VM is interrupted on every retry.",
        || { kvm(ScriptedKvmHost::healthy().fail(KvmCall::CreateVm, EINTR)) }
    ),
    scenario!(
        "kvm-broken-nested",
        Backend::Kvm,
        Some(Cause::GuestRunFailed),
        "The guest exits with KVM_EXIT_FAIL_ENTRY: broken nested virtualization.",
        || {
            kvm_with(
                ScriptedKvmHost::healthy().always(KvmCall::RunGuest, Answer::Value(i64::from(kb::KVM_EXIT_FAIL_ENTRY))),
                ProbeOptions::default().with_level(Level::Full),
            )
        }
    ),
    scenario!(
        "kvm-illegal-guest-state",
        Backend::Kvm,
        Some(Cause::IllegalGuestState),
        "Setting the vCPU's registers fails with EINVAL.",
        || {
            kvm_with(
                ScriptedKvmHost::healthy()
                    .always(KvmCall::RunGuest, Answer::StepErrno(Operation::SetRegisters, EINVAL)),
                ProbeOptions::default().with_level(Level::Full),
            )
        }
    ),
    scenario!("kvm-io-error", Backend::Kvm, Some(Cause::HypervisorIoError), "KVM_RUN fails with EFAULT.", || {
        kvm_with(
            ScriptedKvmHost::healthy().fail(KvmCall::RunGuest, EFAULT),
            ProbeOptions::default().with_level(Level::Full),
        )
    }),
    scenario!(
        "kvm-unexpected-errno",
        Backend::Kvm,
        Some(Cause::UnexpectedErrno),
        "KVM_CREATE_VM fails with an errno no kernel documents (4242).",
        || { kvm(ScriptedKvmHost::healthy().fail(KvmCall::CreateVm, 4242)) }
    ),
    scenario!("hvf-healthy", Backend::Hvf, None, "An Apple-silicon Mac on macOS 15 with a signed VMM.", || {
        hvf(ScriptedHvf::apple_silicon())
    }),
    scenario!("hvf-healthy-intel", Backend::Hvf, None, "An Intel Mac (VMX) on macOS 14 with a signed VMM.", || {
        hvf(ScriptedHvf::intel())
    }),
    scenario!(
        "hvf-pool-exhausted",
        Backend::Hvf,
        Some(Cause::AddressSpacesExhausted),
        "All 128 VM address spaces of the Mac are taken (QEMU, Lima, Docker...): HV_NO_RESOURCES.",
        || hvf(ScriptedHvf::apple_silicon().vm_create_returns(hv::HV_NO_RESOURCES))
    ),
    scenario!(
        "hvf-pool-transient",
        Backend::Hvf,
        Some(Cause::AddressSpacesExhausted),
        "The pool is full once, then a slot frees: a diagnosis finds it cleared.",
        || hvf(ScriptedHvf::apple_silicon().vm_create_sequence([hv::HV_NO_RESOURCES]))
    ),
    scenario!(
        "hvf-entitlement-missing",
        Backend::Hvf,
        Some(Cause::EntitlementMissing),
        "The VMM binary is not signed with com.apple.security.hypervisor: HV_DENIED.",
        || hvf(ScriptedHvf::apple_silicon().entitlement(Entitlement::Missing).vm_create_returns(hv::HV_DENIED))
    ),
    scenario!(
        "hvf-mac-in-vm",
        Backend::Hvf,
        Some(Cause::HostIsVirtualMachine),
        "A macOS VM (e.g. a hosted CI runner) without nested virtualization: HV_UNSUPPORTED.",
        || {
            hvf(ScriptedHvf::apple_silicon()
                .sysctl("kern.hv_vmm_present", 1)
                .sysctl_absent("kern.hv_support")
                .sysctl_absent("kern.hv.supported")
                .vm_create_returns(hv::HV_UNSUPPORTED))
        }
    ),
    scenario!(
        "hvf-unsupported",
        Backend::Hvf,
        Some(Cause::HypervisorUnsupported),
        "A physical Mac whose hypervisor answers HV_UNSUPPORTED.",
        || hvf(ScriptedHvf::apple_silicon().vm_create_returns(hv::HV_UNSUPPORTED))
    ),
    scenario!(
        "hvf-rosetta",
        Backend::Hvf,
        Some(Cause::RunningUnderRosetta),
        "An x86_64 VMM build running under Rosetta on Apple silicon.",
        || {
            hvf(ScriptedHvf::apple_silicon()
                .arch(Arch::X86_64)
                .sysctl("sysctl.proc_translated", 1)
                .vm_create_returns(hv::HV_UNSUPPORTED))
        }
    ),
    scenario!(
        "hvf-disabled",
        Backend::Hvf,
        Some(Cause::HypervisorDisabled),
        "The system has disabled the hypervisor (kern.hv_disable = 1).",
        || hvf(ScriptedHvf::apple_silicon().sysctl("kern.hv_disable", 1).vm_create_returns(hv::HV_UNSUPPORTED))
    ),
    scenario!(
        "hvf-intel-no-vmx",
        Backend::Hvf,
        Some(Cause::CpuUnsupported),
        "An Intel Mac whose CPU lacks what Hypervisor.framework needs: HV_NO_DEVICE.",
        || {
            hvf(ScriptedHvf::intel()
                .string("machdep.cpu.features", "FPU VME DE PSE SSE3")
                .sysctl("kern.hv_support", 0)
                .vm_create_returns(hv::HV_NO_DEVICE))
        }
    ),
    scenario!(
        "hvf-vm-already-owned",
        Backend::Hvf,
        Some(Cause::ProcessAlreadyOwnsVm),
        "Probing inside a VMM that already owns its one VM: HV_BUSY.",
        || hvf(ScriptedHvf::apple_silicon().owning_a_vm())
    ),
    scenario!(
        "hvf-ipa-too-small",
        Backend::Hvf,
        Some(Cause::MemoryLimitExceeded),
        "2 TiB of guest memory requested; the Mac's guest address space is 40 bits (1 TiB).",
        || hvf_with(ScriptedHvf::apple_silicon(), ProbeOptions::default().with_memory_mib(2 * 1024 * 1024))
    ),
    scenario!(
        "hvf-too-many-vcpus",
        Backend::Hvf,
        Some(Cause::VcpuLimitExceeded),
        "128 vCPUs requested; the Mac allows 64 per VM.",
        || hvf_with(ScriptedHvf::apple_silicon(), ProbeOptions::default().with_vcpus(128))
    ),
    scenario!(
        "hvf-generic-error",
        Backend::Hvf,
        Some(Cause::HypervisorError),
        "hv_vm_create fails with the generic HV_ERROR.",
        || hvf(ScriptedHvf::apple_silicon().vm_create_returns(hv::HV_ERROR))
    ),
    scenario!(
        "hvf-illegal-guest-state",
        Backend::Hvf,
        Some(Cause::IllegalGuestState),
        "hv_vm_create fails with HV_ILLEGAL_GUEST_STATE.",
        || hvf(ScriptedHvf::apple_silicon().vm_create_returns(hv::HV_ILLEGAL_GUEST_STATE))
    ),
    scenario!(
        "hvf-unknown-code",
        Backend::Hvf,
        Some(Cause::UnexpectedHvReturn),
        "hv_vm_create fails with 0xfae94010, a code no SDK names.",
        || hvf(ScriptedHvf::apple_silicon().vm_create_returns(0xfae9_4010_u32 as i32))
    ),
    scenario!(
        "no-backend",
        Backend::None,
        Some(Cause::NoBackend),
        "A build without a hypervisor backend for its platform.",
        || { MockProbe::no_backend("built without the `kvm` feature") }
    ),
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use probe_core::HypervisorProbe;

    use super::*;

    #[test]
    fn names_are_unique_and_findable() {
        let names: BTreeSet<&str> = SCENARIOS.iter().map(|s| s.name).collect();
        assert_eq!(names.len(), SCENARIOS.len());
        assert!(find("kvm-stale-session").is_some());
        assert!(find("nope").is_none());
    }

    #[test]
    fn every_scenario_reports_its_cause_and_releases_everything() {
        for s in SCENARIOS {
            let probe = s.probe();
            let report = probe.report();
            assert!(report.simulated, "{}", s.name);
            assert_eq!(report.error.as_ref().map(|e| e.cause()), s.expected, "{}: {report:#?}", s.name);
            assert_eq!(report.usable, s.expected.is_none(), "{}", s.name);
            if let Some(e) = &report.error {
                assert!(!e.remedies().is_empty(), "{}", s.name);
            }
            assert!(probe.balanced(), "{}: {:?}", s.name, probe.kvm_account());
        }
    }

    /// Every cause in the taxonomy has a scenario.
    #[test]
    fn every_cause_is_covered() {
        let covered: BTreeSet<Cause> = SCENARIOS.iter().filter_map(|s| s.expected).collect();
        let missing: Vec<&Cause> = Cause::ALL.iter().filter(|c| !covered.contains(c)).collect();
        assert!(missing.is_empty(), "no scenario for {missing:?}");
    }

    /// Every cause the KVM logic can produce has a scenario.
    #[test]
    fn kvm_causes_are_covered() {
        let covered: BTreeSet<Cause> = SCENARIOS.iter().filter_map(|s| s.expected).collect();
        let kvm_only = [
            Cause::ModuleNotLoaded,
            Cause::DeviceNodeMissing,
            Cause::NoHardwareVirtualization,
            Cause::NestedVirtualizationMissing,
            Cause::WslWithoutNestedVirtualization,
            Cause::StaleDeviceNode,
            Cause::NotAKvmDevice,
            Cause::NoBackend,
            Cause::DeviceAccessDenied,
            Cause::StaleGroupSession,
            Cause::ContainerDevicePolicy,
            Cause::BlockedBySecurityPolicy,
            Cause::OtherHypervisorActive,
            Cause::ResourceBusy,
            Cause::FileDescriptorsExhausted,
            Cause::SystemFileTableFull,
            Cause::KernelMemoryExhausted,
            Cause::HostResourcesExhausted,
            Cause::MemlockLimitTooLow,
            Cause::ApiVersionMismatch,
            Cause::CapabilityMissing,
            Cause::VcpuLimitExceeded,
            Cause::MemoryLimitExceeded,
            Cause::InvalidVmType,
            Cause::InvalidArgument,
            Cause::InterruptedRepeatedly,
            Cause::GuestRunFailed,
            Cause::IllegalGuestState,
            Cause::HypervisorIoError,
            Cause::UnexpectedErrno,
        ];
        for c in kvm_only {
            assert!(covered.contains(&c), "no scenario for {c}");
        }
    }

    #[test]
    fn exhaustion_names_who_holds_vms() {
        let r = find("kvm-kernel-memory").unwrap().probe().report();
        let h = r.holders.expect("holders are gathered on exhaustion");
        assert_eq!(h.total_vms(), 4);
        assert_eq!(
            (h.processes[0].pid, h.processes[0].command.as_str(), h.processes[0].vms),
            (4242, "qemu-system-x86", 3)
        );
        assert!(find("kvm-not-in-group").unwrap().probe().report().holders.is_none());
    }

    #[test]
    fn acl_for_another_session_is_named() {
        let e = find("kvm-uaccess-other-session").unwrap().probe().report().error.unwrap();
        assert!(e.detail().contains("ACL user::rw-,user:1001:rw-"), "{}", e.detail());
        assert!(
            e.remedies()[0].contains("uaccess") && e.remedies()[0].contains("setfacl -m u:alice:rw"),
            "{:?}",
            e.remedies()
        );
    }

    #[test]
    fn stale_session_names_the_group() {
        let r = find("kvm-stale-session").unwrap().probe().report();
        let e = r.error.unwrap();
        assert!(e.remedies()[0].contains("newgrp kvm"), "{e:?}");
        assert_eq!(e.raw(), Some(probe_core::RawCode::Errno(EACCES)));
        assert!(e.detail().contains(&format!("({}:{})", 0, crate::KVM_GID)), "{}", e.detail());
    }
}
