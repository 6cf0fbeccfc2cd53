//! What the host says about itself, and explanations of `hv_return_t` values from it.
//!
//! Nothing here changes the host: it reads sysctls and the process's own entitlement
//! through the [`HvfHost`] and turns a bare `hv_return_t` into a precise cause with
//! remedies that name the actual values.

use probe_core::raw::hv;
use probe_core::{Cause, HostFacts, ProbeError};

use crate::host::{Arch, Entitlement, Errno, HvCall, HvfHost, VmConfig};

/// Sysctl names the logic reads.
pub mod sysctl {
    /// 1 when the hardware supports Hypervisor.framework.
    pub const HV_SUPPORT: &str = "kern.hv_support";
    /// Newer name of the same fact.
    pub const HV_SUPPORTED: &str = "kern.hv.supported";
    /// 1 when the system has disabled the hypervisor.
    pub const HV_DISABLE: &str = "kern.hv_disable";
    /// 1 when this Mac is itself a virtual machine.
    pub const HV_VMM_PRESENT: &str = "kern.hv_vmm_present";
    /// The system-wide pool of VM address spaces.
    pub const MAX_ADDRESS_SPACES: &str = "kern.hv.max_address_spaces";
    /// Guest physical address limit in bytes, 16 KiB granule.
    pub const IPA_SIZE_16K: &str = "kern.hv.ipa_size_16k";
    /// 1 when this process runs under Rosetta.
    pub const PROC_TRANSLATED: &str = "sysctl.proc_translated";
    /// 1 on Apple silicon, even from a translated process.
    pub const HW_ARM64: &str = "hw.optional.arm64";
    /// CPU features of an Intel Mac (`VMX` when capable).
    pub const CPU_FEATURES: &str = "machdep.cpu.features";
}

/// One sysctl read: a value, absent (ENOENT), or another errno.
pub type Reading = Result<Option<i64>, Errno>;

/// `name = value`, `name absent`, or `name unreadable (errno)`.
pub fn show(name: &str, reading: &Reading) -> String {
    match reading {
        Ok(Some(v)) => format!("{name} = {v}"),
        Ok(None) => format!("{name} absent"),
        Err(e) => format!("{name} unreadable ({})", probe_core::RawCode::Errno(*e)),
    }
}

/// Everything the logic learns from the host before creating a VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// The architecture this process runs as.
    pub arch: Arch,
    /// `kern.hv_support`.
    pub hv_support: Reading,
    /// `kern.hv.supported`.
    pub hv_supported: Reading,
    /// `kern.hv_disable`.
    pub hv_disable: Reading,
    /// `kern.hv_vmm_present`.
    pub vmm_present: Reading,
    /// `sysctl.proc_translated` (through [`HvfHost::is_translated`]).
    pub translated: Result<bool, Errno>,
    /// `hw.optional.arm64`.
    pub hw_arm64: Reading,
    /// `kern.hv.max_address_spaces`.
    pub max_address_spaces: Reading,
    /// The entitlement self-check.
    pub entitlement: Entitlement,
}

impl Evidence {
    /// Reads it all (a few sysctls and the entitlement self-check).
    pub fn gather<H: HvfHost + ?Sized>(host: &H) -> Evidence {
        Evidence {
            arch: host.arch(),
            hv_support: host.sysctl_int(sysctl::HV_SUPPORT),
            hv_supported: host.sysctl_int(sysctl::HV_SUPPORTED),
            hv_disable: host.sysctl_int(sysctl::HV_DISABLE),
            vmm_present: host.sysctl_int(sysctl::HV_VMM_PRESENT),
            translated: host.is_translated(),
            hw_arm64: host.sysctl_int(sysctl::HW_ARM64),
            max_address_spaces: host.sysctl_int(sysctl::MAX_ADDRESS_SPACES),
            entitlement: host.entitlement(),
        }
    }

    /// `Some(true)` when either support sysctl says 1, `Some(false)` when both are 0
    /// or absent, `None` when neither could be read.
    pub fn supported(&self) -> Option<bool> {
        let readings = [&self.hv_support, &self.hv_supported];
        if readings.iter().any(|r| matches!(r, Ok(Some(1)))) {
            return Some(true);
        }
        if readings.iter().all(|r| r.is_err()) {
            return None;
        }
        Some(false)
    }

    /// Both support sysctls, for details.
    pub fn support_text(&self) -> String {
        format!("{}, {}", show(sysctl::HV_SUPPORT, &self.hv_support), show(sysctl::HV_SUPPORTED, &self.hv_supported))
    }

    /// `kern.hv_vmm_present` = 1.
    pub fn is_virtual_machine(&self) -> bool {
        matches!(self.vmm_present, Ok(Some(1)))
    }

    /// `kern.hv_disable` = 1.
    pub fn is_disabled(&self) -> bool {
        matches!(self.hv_disable, Ok(Some(1)))
    }

    /// Running under Rosetta.
    pub fn is_translated(&self) -> bool {
        matches!(self.translated, Ok(true))
    }

    /// The system-wide address-space limit, when reported.
    pub fn pool(&self) -> Option<u64> {
        match self.max_address_spaces {
            Ok(Some(v)) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// Whether the entitlement self-check found the entitlement missing.
    pub fn entitlement_missing(&self) -> bool {
        self.entitlement == Entitlement::Missing
    }

    /// The entitlement self-check, for details.
    pub fn entitlement_text(&self) -> String {
        match &self.entitlement {
            Entitlement::Granted => "the entitlement self-check finds com.apple.security.hypervisor = true".to_owned(),
            Entitlement::Missing => {
                "the entitlement self-check finds no com.apple.security.hypervisor = true".to_owned()
            }
            Entitlement::Unknown(why) => format!("the entitlement self-check could not run: {why}"),
        }
    }
}

/// Host facts from the evidence (and two more cheap reads).
pub fn host_facts<H: HvfHost + ?Sized>(host: &H, ev: &Evidence, el2: Option<Result<bool, i32>>) -> HostFacts {
    let virtualized = match ev.vmm_present {
        Ok(Some(v)) => Some(v == 1),
        _ => None,
    };
    let cpu_virt_flag = match ev.arch {
        Arch::X86_64 if !ev.is_translated() => host
            .sysctl_string(sysctl::CPU_FEATURES)
            .ok()
            .flatten()
            .filter(|f| f.split_whitespace().any(|w| w == "VMX"))
            .map(|_| "VMX".to_owned()),
        _ => None,
    };
    let nested = match el2 {
        Some(Ok(true)) => Some("el2 supported".to_owned()),
        Some(Ok(false)) => Some("el2 not supported".to_owned()),
        _ => None,
    };
    HostFacts {
        os: "macos".to_owned(),
        arch: ev.arch.name().to_owned(),
        os_version: host.os_version(),
        vendor_module: None,
        nested,
        virtualized,
        cpu_virt_flag,
        container: None,
        wsl: false,
    }
}

/// The hypervisor's IPA limits, as far as they could be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IpaLimits {
    /// Maximum IPA bits.
    pub max: Option<u32>,
    /// Default IPA bits.
    pub default: Option<u32>,
}

/// Explains a failed creation step from the evidence. `call` must not be a success.
///
/// The raw `hv_return_t` and the operation are kept exactly; the cause is refined
/// from the evidence and the remedies name the values read.
pub fn explain_create(ev: &Evidence, call: HvCall, config: VmConfig, ipa: IpaLimits) -> ProbeError {
    let ret = call.ret;
    let base = ProbeError::from_hv_return(call.operation, ret).unwrap_or_else(|| {
        // HV_SUCCESS from a configuration step that still made no VM: keep the code.
        ProbeError::new(Cause::UnexpectedHvReturn, call.operation, Some(probe_core::RawCode::HvReturn(ret)))
    });
    match ret {
        hv::HV_UNSUPPORTED | hv::HV_NO_DEVICE => explain_unavailable(ev, base, ret),
        hv::HV_DENIED => {
            let why = match &ev.entitlement {
                Entitlement::Granted => {
                    "the entitlement self-check finds com.apple.security.hypervisor, so the signature itself is likely stale or invalid (the binary was modified or rebuilt after signing)"
                }
                Entitlement::Missing => {
                    "the binary is not signed with com.apple.security.hypervisor = true (missing signature, or signed without the entitlement)"
                }
                Entitlement::Unknown(_) => {
                    "the binary's signature lacks com.apple.security.hypervisor or is stale (rebuilt after signing)"
                }
            };
            base.refine(Cause::EntitlementMissing)
                .with_detail(format!("the system denied the hypervisor: {why}; {}", ev.entitlement_text()))
                .with_remedy("Check the signature: `codesign --verify --verbose BINARY` and `codesign -d --entitlements - BINARY`.")
        }
        hv::HV_NO_RESOURCES if call.operation == probe_core::Operation::HvVmCreate => {
            let (pool, remedy) = match ev.pool() {
                Some(n) => (
                    format!("{} = {n}", sysctl::MAX_ADDRESS_SPACES),
                    format!(
                        "Stop unused VMs: the whole system may hold at most {n} VM address spaces, shared by every Hypervisor.framework user (QEMU, Lima, Docker, UTM, libkrun)."
                    ),
                ),
                None => (
                    format!("{} not reported", sysctl::MAX_ADDRESS_SPACES),
                    "Stop unused VMs: every Hypervisor.framework user (QEMU, Lima, Docker, UTM, libkrun) shares one pool of VM address spaces.".to_owned(),
                ),
            };
            // The pool remedy with its size replaces the generic one, which says the same.
            base.refine(Cause::AddressSpacesExhausted)
                .with_detail(format!("the system-wide pool of VM address spaces is full ({pool})"))
                .with_remedies(vec![remedy])
        }
        hv::HV_BUSY if call.operation == probe_core::Operation::HvVmCreate => base
            .refine(Cause::ProcessAlreadyOwnsVm)
            .with_detail(
                "this process already owns a VM (one VM per process): a VMM that reports a failure while owning its VM failed after creation",
            ),
        hv::HV_BAD_ARGUMENT => match config.ipa_bits {
            Some(bits) => {
                let limits = describe_ipa(ipa);
                let error = if call.operation == probe_core::Operation::HvVmCreate {
                    base.refine(Cause::InvalidVmType)
                } else {
                    base
                };
                let clamp = ipa.max.map_or_else(
                    || "Query hv_vm_config_get_max_ipa_size and stay within it.".to_owned(),
                    |m| format!("Set an IPA size of at most {m} bits (hv_vm_config_set_ipa_size), or request less guest memory."),
                );
                error
                    .with_detail(format!(
                        "an IPA size of {bits} bits was rejected ({limits})"
                    ))
                    .with_remedy(clamp)
            }
            None => base.with_detail(format!(
                "{} rejected the default configuration",
                call.operation
            )),
        },
        hv::HV_ERROR => base.with_detail(format!(
            "{} failed with the generic error; {}",
            call.operation,
            ev.support_text()
        )),
        hv::HV_EXISTS => base.with_detail(
            "HV_EXISTS is declared only in a kernel-side header; the framework is not documented to return it here",
        ),
        hv::HV_ILLEGAL_GUEST_STATE => base.with_detail(format!(
            "{} is not documented to return HV_ILLEGAL_GUEST_STATE",
            call.operation
        )),
        _ if hv::name(ret).is_none() => {
            let (system, sub, code) = hv::mach_parts(ret);
            let family = if (system, sub) == (hv::MACH_SYSTEM, hv::MACH_SUBSYSTEM) {
                format!("Hypervisor.framework's error space, code {code:#x}, which no header names")
            } else {
                format!("Mach system {system:#x}, subsystem {sub:#x}, code {code:#x}: not Hypervisor.framework's error space")
            };
            base.with_detail(format!("{} returned an unknown code ({family})", call.operation))
        }
        _ => base,
    }
}

/// HV_UNSUPPORTED or HV_NO_DEVICE: find out what in the environment stops the
/// hypervisor, checking the process's own entitlement before blaming the host.
fn explain_unavailable(ev: &Evidence, base: ProbeError, ret: i32) -> ProbeError {
    let support = ev.support_text();
    if ev.is_translated() {
        return base.refine(Cause::RunningUnderRosetta).with_detail(format!(
            "{} = 1: this x86_64 process runs translated on Apple silicon ({}), where Hypervisor.framework is not available to it",
            sysctl::PROC_TRANSLATED,
            show(sysctl::HW_ARM64, &ev.hw_arm64)
        ));
    }
    if ev.is_virtual_machine() && ev.supported() != Some(true) {
        return base.refine(Cause::HostIsVirtualMachine).with_detail(format!(
            "{} = 1 and {support}: this Mac is a virtual machine whose host offers no nested virtualization",
            sysctl::HV_VMM_PRESENT
        ));
    }
    if ev.is_disabled() {
        return base
            .refine(Cause::HypervisorDisabled)
            .with_detail(format!("{} = 1: the system has disabled the hypervisor", sysctl::HV_DISABLE));
    }
    if ret == hv::HV_UNSUPPORTED && ev.entitlement_missing() {
        return base.refine(Cause::EntitlementMissing).with_detail(format!(
            "{}; a binary without the entitlement has been reported to get HV_UNSUPPORTED rather than HV_DENIED ({support})",
            ev.entitlement_text()
        ));
    }
    if ev.is_virtual_machine() {
        return base.refine(Cause::HostIsVirtualMachine).with_detail(format!(
            "{} = 1 and {support}, yet the hypervisor refuses: the outer host's nested virtualization does not work for this guest; {}",
            sysctl::HV_VMM_PRESENT,
            ev.entitlement_text()
        ));
    }
    match (ret, ev.arch) {
        (hv::HV_NO_DEVICE, Arch::X86_64) => base.refine(Cause::CpuUnsupported).with_detail(format!(
            "no VM available: this Intel CPU is not supported ({support}; `sysctl machdep.cpu.features` must list VMX)"
        )),
        (hv::HV_NO_DEVICE, _) => base
            .refine(Cause::HostResourcesExhausted)
            .with_detail(format!("no VM available ({support}; {})", ev.entitlement_text())),
        (_, Arch::X86_64) if ev.supported() == Some(false) => base
            .refine(Cause::CpuUnsupported)
            .with_detail(format!("{support}: this Intel CPU lacks what Hypervisor.framework needs")),
        _ => base.refine(Cause::HypervisorUnsupported).with_detail(format!("{support}; {}", ev.entitlement_text())),
    }
}

/// `max 40 bits, default 36 bits`.
pub fn describe_ipa(ipa: IpaLimits) -> String {
    let show = |v: Option<u32>| v.map_or_else(|| "unknown".to_owned(), |b| format!("{b} bits"));
    format!("max {}, default {}", show(ipa.max), show(ipa.default))
}
