//! KVM capabilities by name, and the capability sets real VMMs require.
//!
//! Numbers come from kvm-bindings; nothing here retypes them.

use kvm_bindings as kb;
use probe_core::CapabilityProfile;

macro_rules! caps {
    ($($name:ident),+ $(,)?) => { &[ $( (stringify!($name), kb::$name) ),+ ] };
}

/// Every capability this crate knows by name, for this architecture.
#[cfg(target_arch = "x86_64")]
pub const KNOWN: &[(&str, u32)] = caps![
    KVM_CAP_IRQCHIP,
    KVM_CAP_HLT,
    KVM_CAP_USER_MEMORY,
    KVM_CAP_SET_TSS_ADDR,
    KVM_CAP_VAPIC,
    KVM_CAP_EXT_CPUID,
    KVM_CAP_NR_VCPUS,
    KVM_CAP_NR_MEMSLOTS,
    KVM_CAP_PIT,
    KVM_CAP_MP_STATE,
    KVM_CAP_DESTROY_MEMORY_REGION_WORKS,
    KVM_CAP_USER_NMI,
    KVM_CAP_SET_GUEST_DEBUG,
    KVM_CAP_IRQ_ROUTING,
    KVM_CAP_IRQFD,
    KVM_CAP_PIT2,
    KVM_CAP_SET_BOOT_CPU_ID,
    KVM_CAP_PIT_STATE2,
    KVM_CAP_IOEVENTFD,
    KVM_CAP_SET_IDENTITY_MAP_ADDR,
    KVM_CAP_ADJUST_CLOCK,
    KVM_CAP_VCPU_EVENTS,
    KVM_CAP_DEBUGREGS,
    KVM_CAP_XSAVE,
    KVM_CAP_XCRS,
    KVM_CAP_TSC_CONTROL,
    KVM_CAP_GET_TSC_KHZ,
    KVM_CAP_MAX_VCPUS,
    KVM_CAP_TSC_DEADLINE_TIMER,
    KVM_CAP_ONE_REG,
    KVM_CAP_CHECK_EXTENSION_VM,
    KVM_CAP_SPLIT_IRQCHIP,
    KVM_CAP_IMMEDIATE_EXIT,
    KVM_CAP_MAX_VCPU_ID,
    KVM_CAP_DEVICE_CTRL,
    KVM_CAP_X86_DISABLE_EXITS,
];

/// Every capability this crate knows by name, for this architecture.
#[cfg(any(target_arch = "aarch64", target_arch = "arm"))]
pub const KNOWN: &[(&str, u32)] = caps![
    KVM_CAP_IRQCHIP,
    KVM_CAP_USER_MEMORY,
    KVM_CAP_NR_VCPUS,
    KVM_CAP_NR_MEMSLOTS,
    KVM_CAP_MP_STATE,
    KVM_CAP_DESTROY_MEMORY_REGION_WORKS,
    KVM_CAP_IRQ_ROUTING,
    KVM_CAP_IRQFD,
    KVM_CAP_IOEVENTFD,
    KVM_CAP_ONE_REG,
    KVM_CAP_MAX_VCPUS,
    KVM_CAP_ARM_PSCI_0_2,
    KVM_CAP_DEVICE_CTRL,
    KVM_CAP_CHECK_EXTENSION_VM,
    KVM_CAP_IMMEDIATE_EXIT,
    KVM_CAP_MAX_VCPU_ID,
    KVM_CAP_ARM_VM_IPA_SIZE,
];

/// Every capability this crate knows by name, for this architecture.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "arm")))]
pub const KNOWN: &[(&str, u32)] = caps![KVM_CAP_USER_MEMORY, KVM_CAP_NR_VCPUS, KVM_CAP_MAX_VCPUS];

/// The name of a capability number, if known here.
pub fn name(cap: u32) -> Option<&'static str> {
    KNOWN.iter().find(|(_, v)| *v == cap).map(|(n, _)| *n)
}

/// A capability by name (`KVM_CAP_IRQFD`, `irqfd`) or number.
pub fn parse(text: &str) -> Option<u32> {
    let t = text.trim();
    if let Ok(n) = t.parse::<u32>() {
        return Some(n);
    }
    let upper = t.to_ascii_uppercase();
    let full = if upper.starts_with("KVM_CAP_") { upper } else { format!("KVM_CAP_{upper}") };
    KNOWN.iter().find(|(n, _)| *n == full).map(|(_, v)| *v)
}

/// The capabilities a profile requires on this architecture.
pub fn required(profile: &CapabilityProfile) -> Vec<u32> {
    match profile {
        CapabilityProfile::Minimal => vec![kb::KVM_CAP_USER_MEMORY],
        CapabilityProfile::Firecracker => FIRECRACKER.to_vec(),
        CapabilityProfile::CloudHypervisor => CLOUD_HYPERVISOR.to_vec(),
        CapabilityProfile::Qemu => QEMU.to_vec(),
        CapabilityProfile::Custom(list) => list.clone(),
    }
}

#[cfg(target_arch = "x86_64")]
const FIRECRACKER: &[u32] = &[
    kb::KVM_CAP_IRQCHIP,
    kb::KVM_CAP_IOEVENTFD,
    kb::KVM_CAP_IRQFD,
    kb::KVM_CAP_USER_MEMORY,
    kb::KVM_CAP_SET_TSS_ADDR,
    kb::KVM_CAP_PIT2,
    kb::KVM_CAP_PIT_STATE2,
    kb::KVM_CAP_ADJUST_CLOCK,
    kb::KVM_CAP_DEBUGREGS,
    kb::KVM_CAP_MP_STATE,
    kb::KVM_CAP_VCPU_EVENTS,
    kb::KVM_CAP_XCRS,
    kb::KVM_CAP_XSAVE,
    kb::KVM_CAP_EXT_CPUID,
];
#[cfg(target_arch = "x86_64")]
const CLOUD_HYPERVISOR: &[u32] = &[
    kb::KVM_CAP_ADJUST_CLOCK,
    kb::KVM_CAP_EXT_CPUID,
    kb::KVM_CAP_GET_TSC_KHZ,
    kb::KVM_CAP_IMMEDIATE_EXIT,
    kb::KVM_CAP_IOEVENTFD,
    kb::KVM_CAP_IRQCHIP,
    kb::KVM_CAP_IRQFD,
    kb::KVM_CAP_IRQ_ROUTING,
    kb::KVM_CAP_MP_STATE,
    kb::KVM_CAP_SET_IDENTITY_MAP_ADDR,
    kb::KVM_CAP_SET_TSS_ADDR,
    kb::KVM_CAP_SPLIT_IRQCHIP,
    kb::KVM_CAP_TSC_DEADLINE_TIMER,
    kb::KVM_CAP_USER_MEMORY,
    kb::KVM_CAP_USER_NMI,
    kb::KVM_CAP_VCPU_EVENTS,
    kb::KVM_CAP_XSAVE,
];
#[cfg(target_arch = "x86_64")]
const QEMU: &[u32] = &[
    kb::KVM_CAP_USER_MEMORY,
    kb::KVM_CAP_DESTROY_MEMORY_REGION_WORKS,
    kb::KVM_CAP_SET_TSS_ADDR,
    kb::KVM_CAP_EXT_CPUID,
];

#[cfg(any(target_arch = "aarch64", target_arch = "arm"))]
const FIRECRACKER: &[u32] = &[
    kb::KVM_CAP_IOEVENTFD,
    kb::KVM_CAP_IRQFD,
    kb::KVM_CAP_USER_MEMORY,
    kb::KVM_CAP_ARM_PSCI_0_2,
    kb::KVM_CAP_DEVICE_CTRL,
    kb::KVM_CAP_MP_STATE,
    kb::KVM_CAP_ONE_REG,
];
#[cfg(any(target_arch = "aarch64", target_arch = "arm"))]
const CLOUD_HYPERVISOR: &[u32] = &[
    kb::KVM_CAP_IMMEDIATE_EXIT,
    kb::KVM_CAP_IOEVENTFD,
    kb::KVM_CAP_IRQCHIP,
    kb::KVM_CAP_IRQFD,
    kb::KVM_CAP_IRQ_ROUTING,
    kb::KVM_CAP_MP_STATE,
    kb::KVM_CAP_ONE_REG,
    kb::KVM_CAP_USER_MEMORY,
];
#[cfg(any(target_arch = "aarch64", target_arch = "arm"))]
const QEMU: &[u32] = &[kb::KVM_CAP_USER_MEMORY, kb::KVM_CAP_DESTROY_MEMORY_REGION_WORKS, kb::KVM_CAP_ONE_REG];

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "arm")))]
const FIRECRACKER: &[u32] = &[kb::KVM_CAP_USER_MEMORY];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "arm")))]
const CLOUD_HYPERVISOR: &[u32] = &[kb::KVM_CAP_USER_MEMORY];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "arm")))]
const QEMU: &[u32] = &[kb::KVM_CAP_USER_MEMORY];

/// `KVM_CAP_NAME (n)` or `capability n`.
pub fn describe(cap: u32) -> String {
    match name(cap) {
        Some(n) => format!("{n} ({cap})"),
        None => format!("capability {cap}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_cap_has_a_name() {
        for p in CapabilityProfile::NAMED {
            let caps = required(&p);
            assert!(!caps.is_empty());
            for c in caps {
                assert!(name(c).is_some(), "{p}: {c}");
            }
        }
    }

    #[test]
    fn parse_names_and_numbers() {
        assert_eq!(parse("KVM_CAP_USER_MEMORY"), Some(kb::KVM_CAP_USER_MEMORY));
        assert_eq!(parse("user_memory"), Some(kb::KVM_CAP_USER_MEMORY));
        assert_eq!(parse("3"), Some(3));
        assert_eq!(parse("no_such_cap"), None);
    }
}
