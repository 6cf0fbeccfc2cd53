//! Pure classification of raw codes by operation, without any evidence from the host.
//!
//! Backends refine these baselines with evidence (for example `ENOENT` on open becomes
//! [`Cause::DeviceNodeMissing`] when `/proc/misc` lists kvm). Every function here is total:
//! any `i32` under any operation yields a cause, never a panic.

use crate::cause::{Cause, Operation};
use crate::raw::{RawCode, errno::values as e, hv};

/// The cause of an errno returned by `op`, before looking at the host.
pub fn classify_errno(op: Operation, errno: i32) -> Cause {
    use Operation as Op;
    // A VMM log often names no operation: read the code as the call that most often
    // returns it (open for access errors, KVM_CREATE_VM for the rest).
    let op = match (op, errno) {
        (Op::Unknown, e::ENOENT | e::EACCES | e::EPERM | e::ENXIO | e::ENOTDIR | e::ELOOP) => Op::Open,
        (Op::Unknown, _) => Op::CreateVm,
        (op, _) => op,
    };
    // Per-operation rows first (FACTS.md §2), then rows that hold for any KVM call.
    match (op, errno) {
        (Op::Open | Op::Stat, e::ENOENT) => Cause::ModuleNotLoaded,
        (Op::Open | Op::Stat, e::EACCES) => Cause::DeviceAccessDenied,
        (Op::Open, e::EPERM) => Cause::ContainerDevicePolicy,
        (Op::Open, e::ENXIO | e::ENODEV) => Cause::StaleDeviceNode,
        (Op::Open | Op::Stat, e::ENOTDIR | e::ELOOP | e::ENAMETOOLONG) => Cause::InvalidArgument,
        (Op::CreateVm, e::EBUSY) => Cause::OtherHypervisorActive,
        (Op::CreateVm, e::EINVAL) => Cause::InvalidVmType,
        (Op::CreateVm, e::ENOSPC | e::EAGAIN) => Cause::HostResourcesExhausted,
        (Op::CreateVm | Op::CreateVcpu, e::ENODEV | e::ENXIO) => Cause::StaleDeviceNode,
        (Op::CreateVcpu, e::EINVAL | e::EEXIST) => Cause::VcpuLimitExceeded,
        (Op::Run, e::ENOEXEC) => Cause::GuestRunFailed,
        (Op::SetRegisters, e::EINVAL) => Cause::IllegalGuestState,
        (Op::MapMemory, e::EAGAIN) => Cause::MemlockLimitTooLow,
        (op, e::ENOTTY) if op.is_kvm_ioctl() => Cause::NotAKvmDevice,
        (op, e::EPERM | e::EACCES) if op.is_kvm_ioctl() => Cause::BlockedBySecurityPolicy,
        (op, e::EINVAL) if op.is_kvm_ioctl() => Cause::InvalidArgument,
        (op, e::EBUSY) if op.is_kvm_ioctl() => Cause::ResourceBusy,
        (_, e::EMFILE) => Cause::FileDescriptorsExhausted,
        (_, e::ENFILE) => Cause::SystemFileTableFull,
        (_, e::ENOMEM) => Cause::KernelMemoryExhausted,
        (_, e::EINTR) => Cause::InterruptedRepeatedly,
        (_, e::EFAULT | e::EIO) => Cause::HypervisorIoError,
        (Op::Sysctl, e::EPERM) => Cause::BlockedBySecurityPolicy,
        _ => Cause::UnexpectedErrno,
    }
}

/// The cause of a `hv_return_t` returned by `op`, or `None` for `HV_SUCCESS`.
pub fn classify_hv_return(op: Operation, ret: i32) -> Option<Cause> {
    use Operation as Op;
    let op = if op == Op::Unknown { Op::HvVmCreate } else { op };
    Some(match (op, ret) {
        (_, hv::HV_SUCCESS) => return None,
        (Op::HvVmCreate, hv::HV_NO_RESOURCES) => Cause::AddressSpacesExhausted,
        (_, hv::HV_NO_RESOURCES) => Cause::HostResourcesExhausted,
        (Op::HvVmCreate, hv::HV_BUSY) => Cause::ProcessAlreadyOwnsVm,
        (_, hv::HV_BUSY) => Cause::ResourceBusy,
        (_, hv::HV_DENIED) => Cause::EntitlementMissing,
        (_, hv::HV_UNSUPPORTED) => Cause::HypervisorUnsupported,
        (_, hv::HV_NO_DEVICE) => Cause::CpuUnsupported,
        (Op::HvVmConfig, hv::HV_BAD_ARGUMENT) => Cause::MemoryLimitExceeded,
        (_, hv::HV_BAD_ARGUMENT) => Cause::InvalidArgument,
        (_, hv::HV_ILLEGAL_GUEST_STATE) => Cause::IllegalGuestState,
        (_, hv::HV_ERROR | hv::HV_EXISTS) => Cause::HypervisorError,
        _ => Cause::UnexpectedHvReturn,
    })
}

/// The cause of any raw failure code under `op`; `None` when the code means success.
///
/// A [`RawCode::Returned`] value is not a failure by itself; it is classified by the
/// check that rejected it, so here it yields `None`.
pub fn classify(op: Operation, raw: RawCode) -> Option<Cause> {
    match raw {
        RawCode::Errno(v) => Some(classify_errno(op, v)),
        RawCode::HvReturn(v) => classify_hv_return(op, v),
        RawCode::Returned(_) => None,
    }
}

/// Whether a cause may clear by itself (a pool slot frees, memory is released, a
/// signal storm passes): a later successful reproduction then means "transient".
pub const fn is_transient(cause: Cause) -> bool {
    matches!(
        cause,
        Cause::OtherHypervisorActive
            | Cause::ResourceBusy
            | Cause::KernelMemoryExhausted
            | Cause::AddressSpacesExhausted
            | Cause::HostResourcesExhausted
            | Cause::SystemFileTableFull
            | Cause::InterruptedRepeatedly
    )
}

/// Whether a cause belongs to the failing process rather than to the host (its
/// credentials, limits, signature or VM ownership): a probe from another process cannot
/// reproduce it.
pub const fn is_process_local(cause: Cause) -> bool {
    matches!(
        cause,
        Cause::DeviceAccessDenied
            | Cause::StaleGroupSession
            | Cause::ContainerDevicePolicy
            | Cause::EntitlementMissing
            | Cause::BlockedBySecurityPolicy
            | Cause::ProcessAlreadyOwnsVm
            | Cause::FileDescriptorsExhausted
            | Cause::MemlockLimitTooLow
            | Cause::RunningUnderRosetta
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use Operation as Op;

    /// Every errno row of FACTS.md §2, as (operation, errno, expected cause).
    #[test]
    fn facts_errno_rows() {
        let rows = [
            (Op::Open, e::ENOENT, Cause::ModuleNotLoaded),
            (Op::Open, e::EACCES, Cause::DeviceAccessDenied),
            (Op::Open, e::EPERM, Cause::ContainerDevicePolicy),
            (Op::Open, e::EMFILE, Cause::FileDescriptorsExhausted),
            (Op::Open, e::ENFILE, Cause::SystemFileTableFull),
            (Op::Open, e::ENXIO, Cause::StaleDeviceNode),
            (Op::Open, e::ENODEV, Cause::StaleDeviceNode),
            (Op::GetApiVersion, e::ENOTTY, Cause::NotAKvmDevice),
            (Op::CheckExtension, e::ENOTTY, Cause::NotAKvmDevice),
            (Op::CreateVm, e::ENOTTY, Cause::NotAKvmDevice),
            (Op::CreateVm, e::EBUSY, Cause::OtherHypervisorActive),
            (Op::CreateVm, e::ENOMEM, Cause::KernelMemoryExhausted),
            (Op::CreateVm, e::EINVAL, Cause::InvalidVmType),
            (Op::CreateVm, e::EINTR, Cause::InterruptedRepeatedly),
            (Op::CreateVm, e::EMFILE, Cause::FileDescriptorsExhausted),
            (Op::CreateVm, e::ENOSPC, Cause::HostResourcesExhausted),
            (Op::CreateVm, e::EPERM, Cause::BlockedBySecurityPolicy),
            (Op::CreateVcpu, e::EINVAL, Cause::VcpuLimitExceeded),
            (Op::Run, e::ENOEXEC, Cause::GuestRunFailed),
            (Op::Run, e::EFAULT, Cause::HypervisorIoError),
            (Op::Open, 4242, Cause::UnexpectedErrno),
            (Op::CreateVm, 0, Cause::UnexpectedErrno),
            (Op::CreateVm, -1, Cause::UnexpectedErrno),
            (Op::Unknown, e::EACCES, Cause::DeviceAccessDenied),
            (Op::Unknown, e::EBUSY, Cause::OtherHypervisorActive),
            (Op::GetRlimit, e::EACCES, Cause::UnexpectedErrno),
        ];
        for (op, errno, cause) in rows {
            assert_eq!(classify_errno(op, errno), cause, "{op} {}", RawCode::Errno(errno));
        }
    }

    /// Every hv_return_t row of FACTS.md §1.
    #[test]
    fn facts_hv_return_rows() {
        let rows = [
            (Op::HvVmCreate, hv::HV_SUCCESS, None),
            (Op::HvVmCreate, hv::HV_ERROR, Some(Cause::HypervisorError)),
            (Op::HvVmCreate, hv::HV_BUSY, Some(Cause::ProcessAlreadyOwnsVm)),
            (Op::HvVmCreate, hv::HV_BAD_ARGUMENT, Some(Cause::InvalidArgument)),
            (Op::HvVmConfig, hv::HV_BAD_ARGUMENT, Some(Cause::MemoryLimitExceeded)),
            (Op::HvVmCreate, hv::HV_ILLEGAL_GUEST_STATE, Some(Cause::IllegalGuestState)),
            (Op::HvVmCreate, hv::HV_NO_RESOURCES, Some(Cause::AddressSpacesExhausted)),
            (Op::HvCapability, hv::HV_NO_RESOURCES, Some(Cause::HostResourcesExhausted)),
            (Op::HvVmCreate, hv::HV_NO_DEVICE, Some(Cause::CpuUnsupported)),
            (Op::HvVmCreate, hv::HV_DENIED, Some(Cause::EntitlementMissing)),
            (Op::HvVmCreate, hv::HV_EXISTS, Some(Cause::HypervisorError)),
            (Op::HvVmCreate, hv::HV_UNSUPPORTED, Some(Cause::HypervisorUnsupported)),
            (Op::HvVmCreate, 0xfae9_4010_u32 as i32, Some(Cause::UnexpectedHvReturn)),
            (Op::HvVmCreate, -22, Some(Cause::UnexpectedHvReturn)),
            (Op::Unknown, hv::HV_NO_RESOURCES, Some(Cause::AddressSpacesExhausted)),
        ];
        for (op, ret, cause) in rows {
            assert_eq!(classify_hv_return(op, ret), cause, "{op} {}", RawCode::HvReturn(ret));
        }
    }

    #[test]
    fn returned_values_are_not_failures_by_themselves() {
        assert_eq!(classify(Op::GetApiVersion, RawCode::Returned(11)), None);
        assert_eq!(classify(Op::Open, RawCode::Errno(e::EACCES)), Some(Cause::DeviceAccessDenied));
    }

    #[test]
    fn transient_and_process_local_are_disjoint() {
        for c in Cause::ALL {
            assert!(!(is_transient(*c) && is_process_local(*c)), "{c}");
        }
    }
}
