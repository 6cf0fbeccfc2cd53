//! KVM ioctl request numbers, declared once with the vmm-sys-util macros (Linux only).
//! The comment on each names the capability it needs, when it needs one.

#![allow(missing_docs)]

use kvm_bindings as kb;
use vmm_sys_util::{ioctl_io_nr, ioctl_ior_nr, ioctl_iow_nr};

pub const KVMIO: u32 = kb::KVMIO;

// System ioctls (/dev/kvm).
ioctl_io_nr!(KVM_GET_API_VERSION, KVMIO, 0x00);
ioctl_io_nr!(KVM_CREATE_VM, KVMIO, 0x01);
// Also valid on a VM fd when KVM_CAP_CHECK_EXTENSION_VM is present.
ioctl_io_nr!(KVM_CHECK_EXTENSION, KVMIO, 0x03);
ioctl_io_nr!(KVM_GET_VCPU_MMAP_SIZE, KVMIO, 0x04);
// VM ioctls.
ioctl_io_nr!(KVM_CREATE_VCPU, KVMIO, 0x41);
// Needs KVM_CAP_USER_MEMORY.
ioctl_iow_nr!(KVM_SET_USER_MEMORY_REGION, KVMIO, 0x46, kb::kvm_userspace_memory_region);
// vCPU ioctls.
ioctl_io_nr!(KVM_RUN, KVMIO, 0x80);
#[cfg(target_arch = "x86_64")]
ioctl_iow_nr!(KVM_SET_REGS, KVMIO, 0x82, kb::kvm_regs);
#[cfg(target_arch = "x86_64")]
ioctl_ior_nr!(KVM_GET_SREGS, KVMIO, 0x83, kb::kvm_sregs);
#[cfg(target_arch = "x86_64")]
ioctl_iow_nr!(KVM_SET_SREGS, KVMIO, 0x84, kb::kvm_sregs);
// Needs KVM_CAP_ONE_REG.
#[cfg(target_arch = "aarch64")]
ioctl_iow_nr!(KVM_SET_ONE_REG, KVMIO, 0xac, kb::kvm_one_reg);
#[cfg(target_arch = "aarch64")]
ioctl_iow_nr!(KVM_ARM_VCPU_INIT, KVMIO, 0xae, kb::kvm_vcpu_init);
#[cfg(target_arch = "aarch64")]
ioctl_ior_nr!(KVM_ARM_PREFERRED_TARGET, KVMIO, 0xaf, kb::kvm_vcpu_init);
