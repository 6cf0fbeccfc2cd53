//! The error taxonomy: a few stable kinds, finer causes, and the operations that fail.
//!
//! Every kind and cause has a numeric code and a snake_case name. Both are published
//! (JSON, exit reports, VMM error mappings) and never change; a test pins them.

use std::fmt;

macro_rules! stable_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident : $repr:ty {
            $( $(#[$vmeta:meta])* $variant:ident = $code:literal, $text:literal ; )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in code order.
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )+ ];

            /// The stable numeric code.
            pub const fn code(self) -> $repr {
                match self { $( $name::$variant => $code, )+ }
            }

            /// The stable snake_case name.
            pub const fn name(self) -> &'static str {
                match self { $( $name::$variant => $text, )+ }
            }

            /// The value with this stable code.
            pub fn from_code(code: $repr) -> Option<Self> {
                match code { $( $code => Some($name::$variant), )+ _ => None }
            }

            /// The value with this stable name.
            pub fn from_name(name: &str) -> Option<Self> {
                match name { $( $text => Some($name::$variant), )+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        #[cfg(feature = "serde")]
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        #[cfg(feature = "serde")]
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $name::from_name(&s).ok_or_else(|| {
                    serde::de::Error::custom(format!(concat!("unknown ", stringify!($name), " `{}`"), s))
                })
            }
        }
    };
}

stable_enum! {
    /// What kind of failure this is: small and stable, for a VMM to map onto its own
    /// errors, HTTP statuses or FFI codes.
    pub enum Kind: u8 {
        /// No usable hypervisor on this host or in this environment.
        Unavailable = 1, "unavailable";
        /// The hypervisor exists but this process may not use it.
        PermissionDenied = 2, "permission_denied";
        /// The hypervisor is held by someone else.
        Busy = 3, "busy";
        /// A limit or a pool is used up.
        ResourceExhausted = 4, "resource_exhausted";
        /// The hypervisor works but lacks what was asked of it.
        Incompatible = 5, "incompatible";
        /// The call kept being interrupted.
        Interrupted = 6, "interrupted";
        /// The hypervisor answered but misbehaved.
        Malfunction = 7, "malfunction";
        /// A code this taxonomy does not know at this step; the raw code says the rest.
        Unknown = 8, "unknown";
    }
}

stable_enum! {
    /// What exactly happened. Each cause belongs to one kind.
    pub enum Cause: u16 {
        /// No KVM device and the kvm module is not loaded.
        ModuleNotLoaded = 101, "module_not_loaded";
        /// The kernel has KVM (`/proc/misc` lists it) but the device node is missing here.
        DeviceNodeMissing = 102, "device_node_missing";
        /// The CPU offers no hardware virtualization (or it is disabled in firmware).
        NoHardwareVirtualization = 103, "no_hardware_virtualization";
        /// This host is a VM whose hypervisor does not expose nested virtualization.
        NestedVirtualizationMissing = 104, "nested_virtualization_missing";
        /// WSL2 without nested virtualization.
        WslWithoutNestedVirtualization = 105, "wsl_without_nested_virtualization";
        /// The device node exists but no driver answers it (stale node, module gone).
        StaleDeviceNode = 106, "stale_device_node";
        /// The path is not a KVM device.
        NotAKvmDevice = 107, "not_a_kvm_device";
        /// The hypervisor is disabled by the system (`kern.hv_disable`).
        HypervisorDisabled = 108, "hypervisor_disabled";
        /// This Mac is itself a VM without nested virtualization.
        HostIsVirtualMachine = 109, "host_is_virtual_machine";
        /// The hypervisor reports it is not supported on this host.
        HypervisorUnsupported = 110, "hypervisor_unsupported";
        /// The process runs under Rosetta translation.
        RunningUnderRosetta = 111, "running_under_rosetta";
        /// The CPU is not supported by the hypervisor (Intel Mac without VMX).
        CpuUnsupported = 112, "cpu_unsupported";
        /// This build or platform has no hypervisor backend.
        NoBackend = 113, "no_backend";
        /// The user may not open the device (not in its group, no ACL).
        DeviceAccessDenied = 201, "device_access_denied";
        /// The user was added to the device's group but this session predates it.
        StaleGroupSession = 202, "stale_group_session";
        /// A container device policy (device cgroup, BPF, seccomp) denies the device.
        ContainerDevicePolicy = 203, "container_device_policy";
        /// The binary lacks the `com.apple.security.hypervisor` entitlement.
        EntitlementMissing = 204, "entitlement_missing";
        /// A security policy (seccomp, LSM) blocks a hypervisor call.
        BlockedBySecurityPolicy = 205, "blocked_by_security_policy";
        /// Another hypervisor holds the virtualization extensions.
        OtherHypervisorActive = 301, "other_hypervisor_active";
        /// This process already owns a VM (one VM per process on Apple silicon).
        ProcessAlreadyOwnsVm = 302, "process_already_owns_vm";
        /// A hypervisor resource is busy.
        ResourceBusy = 303, "resource_busy";
        /// The process's file-descriptor limit is reached.
        FileDescriptorsExhausted = 401, "file_descriptors_exhausted";
        /// The system-wide file table is full.
        SystemFileTableFull = 402, "system_file_table_full";
        /// The kernel could not allocate memory for the VM.
        KernelMemoryExhausted = 403, "kernel_memory_exhausted";
        /// The system-wide pool of VM address spaces is full.
        AddressSpacesExhausted = 404, "address_spaces_exhausted";
        /// Another host resource of the hypervisor is used up.
        HostResourcesExhausted = 405, "host_resources_exhausted";
        /// RLIMIT_MEMLOCK is too low for guest memory that must be locked.
        MemlockLimitTooLow = 406, "memlock_limit_too_low";
        /// The kernel speaks another KVM API version.
        ApiVersionMismatch = 501, "api_version_mismatch";
        /// A capability the VMM needs is missing.
        CapabilityMissing = 502, "capability_missing";
        /// More vCPUs were requested than the host allows.
        VcpuLimitExceeded = 503, "vcpu_limit_exceeded";
        /// More guest memory was requested than the host can address.
        MemoryLimitExceeded = 504, "memory_limit_exceeded";
        /// The VM type (or arm64 IPA size) is not accepted.
        InvalidVmType = 505, "invalid_vm_type";
        /// An argument was rejected.
        InvalidArgument = 506, "invalid_argument";
        /// The call was interrupted on every bounded retry.
        InterruptedRepeatedly = 601, "interrupted_repeatedly";
        /// The guest did not run as expected (often broken nested virtualization).
        GuestRunFailed = 701, "guest_run_failed";
        /// The hypervisor returned a generic error.
        HypervisorError = 702, "hypervisor_error";
        /// The vCPU state was rejected.
        IllegalGuestState = 703, "illegal_guest_state";
        /// The hypervisor reported an I/O or address fault.
        HypervisorIoError = 704, "hypervisor_io_error";
        /// An errno this step is not known to return.
        UnexpectedErrno = 801, "unexpected_errno";
        /// An `hv_return_t` this step is not known to return.
        UnexpectedHvReturn = 802, "unexpected_hv_return";
    }
}

impl Cause {
    /// The kind this cause belongs to (the hundreds of its code).
    pub const fn kind(self) -> Kind {
        match self.code() / 100 {
            1 => Kind::Unavailable,
            2 => Kind::PermissionDenied,
            3 => Kind::Busy,
            4 => Kind::ResourceExhausted,
            5 => Kind::Incompatible,
            6 => Kind::Interrupted,
            7 => Kind::Malfunction,
            _ => Kind::Unknown,
        }
    }

    /// A one-line summary safe to show an end user of a service: no paths, commands,
    /// device names or host internals.
    pub const fn summary(self) -> &'static str {
        use Cause::*;
        match self {
            ModuleNotLoaded => "Hardware virtualization is not enabled on this host.",
            DeviceNodeMissing => "The virtualization device is not available in this environment.",
            NoHardwareVirtualization => "This host's processor does not offer hardware virtualization.",
            NestedVirtualizationMissing => "This host is itself a virtual machine without nested virtualization.",
            WslWithoutNestedVirtualization => "This Windows Subsystem for Linux instance has no nested virtualization.",
            StaleDeviceNode => "The virtualization device does not respond.",
            NotAKvmDevice => "The configured virtualization device is not a hypervisor device.",
            HypervisorDisabled => "The hypervisor is disabled on this host.",
            HostIsVirtualMachine => "This host is itself a virtual machine without nested virtualization.",
            HypervisorUnsupported => "The hypervisor is not supported on this host.",
            RunningUnderRosetta => "The program runs under instruction translation, which cannot use the hypervisor.",
            CpuUnsupported => "This host's processor is not supported by the hypervisor.",
            NoBackend => "This build has no hypervisor support for this platform.",
            DeviceAccessDenied => "This program is not allowed to use the virtualization device.",
            StaleGroupSession => "Access was granted, but this session started before the change.",
            ContainerDevicePolicy => "The container's device policy does not allow virtualization.",
            EntitlementMissing => "This program is not signed with permission to use the hypervisor.",
            BlockedBySecurityPolicy => "A security policy blocks the hypervisor for this program.",
            OtherHypervisorActive => "Another hypervisor is using the virtualization hardware.",
            ProcessAlreadyOwnsVm => "This program already runs a virtual machine and may run only one.",
            ResourceBusy => "The hypervisor is busy.",
            FileDescriptorsExhausted => "This program has reached its limit of open files.",
            SystemFileTableFull => "The host has reached its limit of open files.",
            KernelMemoryExhausted => "The host is short of memory for a new virtual machine.",
            AddressSpacesExhausted => "The host has reached its limit of running virtual machines.",
            HostResourcesExhausted => "The host has run out of hypervisor resources.",
            MemlockLimitTooLow => "This program may not lock enough memory for the guest.",
            ApiVersionMismatch => "The host's hypervisor interface version is not supported.",
            CapabilityMissing => "The host's hypervisor lacks a required feature.",
            VcpuLimitExceeded => "More virtual processors were requested than the host allows.",
            MemoryLimitExceeded => "More guest memory was requested than the host can provide.",
            InvalidVmType => "The host's hypervisor rejected the virtual machine type.",
            InvalidArgument => "The host's hypervisor rejected a request.",
            InterruptedRepeatedly => "The host was too busy to create a virtual machine.",
            GuestRunFailed => "A test guest failed to run on this host.",
            HypervisorError => "The hypervisor reported an error.",
            IllegalGuestState => "The hypervisor rejected the virtual processor state.",
            HypervisorIoError => "The hypervisor reported an internal fault.",
            UnexpectedErrno => "The hypervisor failed with an unexpected error.",
            UnexpectedHvReturn => "The hypervisor failed with an unexpected error.",
        }
    }

    /// Remedies for an operator that hold whatever the evidence; backends put
    /// evidence-specific ones (the actual group, module, path) before these.
    pub const fn generic_remedies(self) -> &'static [&'static str] {
        use Cause::*;
        match self {
            ModuleNotLoaded => &[
                "Load the vendor module: `modprobe kvm_intel` or `modprobe kvm_amd`.",
                "If it fails to load, enable VT-x/AMD-V in the firmware and power-cycle the host.",
                "In a cloud VM, enable nested virtualization on the instance.",
            ],
            DeviceNodeMissing => &[
                "Pass the device to the container: `--device /dev/kvm` (or the runtime's device plugin).",
                "Or create the node: `mknod /dev/kvm c 10 232` and give it the kvm group.",
            ],
            NoHardwareVirtualization => &[
                "Enable VT-x/AMD-V in the firmware and power-cycle the host; if the CPU has none, use a host that does.",
            ],
            NestedVirtualizationMissing => &[
                "Enable nested virtualization for this VM in its hypervisor or cloud provider (or use a bare-metal host).",
            ],
            WslWithoutNestedVirtualization => &[
                "Set `nestedVirtualization=true` under [wsl2] in %UserProfile%\\.wslconfig, then run `wsl --shutdown`.",
            ],
            StaleDeviceNode => {
                &["Reload the module (`modprobe kvm` and the vendor module) and check `dmesg` for KVM errors."]
            }
            NotAKvmDevice => &[
                "Point the VMM at the real KVM device (char 10:232, usually /dev/kvm).",
                "If a container bind-mounts something else there, pass the real device with `--device /dev/kvm`.",
            ],
            HypervisorDisabled => &[
                "The system has disabled Hypervisor.framework (`sysctl kern.hv_disable`); re-enable it or use another Mac.",
            ],
            HostIsVirtualMachine => &[
                "Run on a physical Mac, or on a macOS VM whose host offers nested virtualization (M3 or newer, macOS 15+).",
            ],
            HypervisorUnsupported => &[
                "Check that the binary is signed with `com.apple.security.hypervisor` (`codesign -d --entitlements - BINARY`).",
                "Check `sysctl kern.hv_support`; if it is 0 or missing, this Mac cannot run VMs.",
            ],
            RunningUnderRosetta => &["Run the native arm64 build of the VMM instead of the x86_64 one."],
            CpuUnsupported => &[
                "This Intel CPU lacks the features Hypervisor.framework needs (`sysctl machdep.cpu.features` should list VMX).",
            ],
            NoBackend => {
                &["Build with the backend for this platform enabled (feature `kvm` on Linux, `hvf` on macOS)."]
            }
            DeviceAccessDenied => &[
                "Add the user to the device's group (`usermod -aG kvm USER`), then log in again.",
                "Or grant access directly: `setfacl -m u:USER:rw /dev/kvm`, or a udev rule setting GROUP/MODE.",
                "In a rootless container, keep the group: `--group-add keep-groups`.",
            ],
            StaleGroupSession => &["Log out and in again (or run `newgrp kvm`) so this session gets the new group."],
            ContainerDevicePolicy => &[
                "Allow the device in the container runtime: `--device /dev/kvm`, a device plugin, or a cgroup rule `c 10:232 rwm`.",
            ],
            EntitlementMissing => &[
                "Sign the binary with the hypervisor entitlement: `codesign --sign - --entitlements hvf.entitlements --force BINARY`.",
                "Re-sign after every rebuild: building strips the signature.",
            ],
            BlockedBySecurityPolicy => {
                &["Allow the KVM ioctls in the process's seccomp profile or LSM policy (AppArmor, SELinux)."]
            }
            OtherHypervisorActive => &[
                "Stop the other hypervisor (VirtualBox, VMware) that holds VT-x/AMD-V.",
                "Since Linux 6.12, `kvm.enable_virt_at_load=0` lets other hypervisors share the hardware.",
            ],
            ProcessAlreadyOwnsVm => &[
                "One VM per process on Apple silicon: the failure came after the VM was created, or run each VM in its own process.",
            ],
            ResourceBusy => &["Retry later; find the holder with `hvprobe holders`."],
            FileDescriptorsExhausted => {
                &["Raise the open-file limit: `ulimit -n 65536`, or `LimitNOFILE=` in the service unit."]
            }
            SystemFileTableFull => {
                &["Raise the system limit (`sysctl fs.file-max`) or stop processes holding many files."]
            }
            KernelMemoryExhausted => &[
                "Lower memory pressure or fragmentation on the host; raise `vm.min_free_kbytes`; check the memory cgroup limit.",
            ],
            AddressSpacesExhausted => &[
                "Stop unused VMs (QEMU, Lima, Docker, UTM, libkrun share one pool); `sysctl kern.hv.max_address_spaces` shows the limit.",
            ],
            HostResourcesExhausted => &["Stop unused VMs on this host and retry."],
            MemlockLimitTooLow => {
                &["Raise the locked-memory limit: `ulimit -l unlimited`, or `LimitMEMLOCK=` in the service unit."]
            }
            ApiVersionMismatch => &["Use a kernel whose KVM API version is 12 (every mainline kernel since 2.6.22)."],
            CapabilityMissing => &[
                "Use a newer kernel or another host whose KVM offers the capability, or choose a VMM profile that does not need it.",
            ],
            VcpuLimitExceeded => &["Request fewer vCPUs than the host's limit."],
            MemoryLimitExceeded => &["Request less guest memory, or use a host with a larger guest address space."],
            InvalidVmType => {
                &["Query the host's limits (arm64: KVM_CAP_ARM_VM_IPA_SIZE) and clamp the VM type to them."]
            }
            InvalidArgument => &["Check the VMM's configuration against the host's limits (`hvprobe check --full`)."],
            InterruptedRepeatedly => {
                &["The host is very busy (mm_take_all_locks); retry, and reduce load on the host."]
            }
            GuestRunFailed => {
                &["The outer hypervisor's nested virtualization is broken or incomplete; report it to its operator."]
            }
            HypervisorError => {
                &["Retry; if it persists, collect `hvprobe check --full --format json` and the system log."]
            }
            IllegalGuestState => {
                &["The VMM set a vCPU state the hypervisor rejects; report it to the VMM's developers."]
            }
            HypervisorIoError => &["Check `dmesg` for KVM errors and retry."],
            UnexpectedErrno | UnexpectedHvReturn => {
                &["Collect `hvprobe check --full --format json` and the raw code, and report them."]
            }
        }
    }
}

/// The operation that produced a raw code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Operation {
    /// `stat` of the device node.
    Stat,
    /// `open` of the device node.
    Open,
    /// `KVM_GET_API_VERSION`.
    GetApiVersion,
    /// `KVM_CHECK_EXTENSION`.
    CheckExtension,
    /// `KVM_CREATE_VM`.
    CreateVm,
    /// `KVM_GET_VCPU_MMAP_SIZE`.
    GetVcpuMmapSize,
    /// `KVM_CREATE_VCPU`.
    CreateVcpu,
    /// `mmap` of guest memory or the vCPU run area.
    MapMemory,
    /// `KVM_SET_USER_MEMORY_REGION`.
    SetUserMemoryRegion,
    /// `KVM_GET/SET_SREGS`, `KVM_SET_REGS` or `KVM_ARM_VCPU_INIT`.
    SetRegisters,
    /// `KVM_RUN`.
    Run,
    /// `getrlimit`.
    GetRlimit,
    /// `hv_vm_create`.
    HvVmCreate,
    /// `hv_vm_destroy`.
    HvVmDestroy,
    /// `hv_capability` or `hv_vm_get_max_vcpu_count`.
    HvCapability,
    /// `hv_vm_config_*`.
    HvVmConfig,
    /// `sysctlbyname`.
    Sysctl,
    /// The entitlement self-check.
    EntitlementCheck,
    /// Not known (text from a VMM log without an operation).
    Unknown,
}

impl Operation {
    /// Every operation.
    pub const ALL: &'static [Operation] = &[
        Operation::Stat,
        Operation::Open,
        Operation::GetApiVersion,
        Operation::CheckExtension,
        Operation::CreateVm,
        Operation::GetVcpuMmapSize,
        Operation::CreateVcpu,
        Operation::MapMemory,
        Operation::SetUserMemoryRegion,
        Operation::SetRegisters,
        Operation::Run,
        Operation::GetRlimit,
        Operation::HvVmCreate,
        Operation::HvVmDestroy,
        Operation::HvCapability,
        Operation::HvVmConfig,
        Operation::Sysctl,
        Operation::EntitlementCheck,
        Operation::Unknown,
    ];

    /// The name a developer knows the call by.
    pub const fn call_name(self) -> &'static str {
        match self {
            Operation::Stat => "stat",
            Operation::Open => "open",
            Operation::GetApiVersion => "KVM_GET_API_VERSION",
            Operation::CheckExtension => "KVM_CHECK_EXTENSION",
            Operation::CreateVm => "KVM_CREATE_VM",
            Operation::GetVcpuMmapSize => "KVM_GET_VCPU_MMAP_SIZE",
            Operation::CreateVcpu => "KVM_CREATE_VCPU",
            Operation::MapMemory => "mmap",
            Operation::SetUserMemoryRegion => "KVM_SET_USER_MEMORY_REGION",
            Operation::SetRegisters => "KVM_SET_REGS",
            Operation::Run => "KVM_RUN",
            Operation::GetRlimit => "getrlimit",
            Operation::HvVmCreate => "hv_vm_create",
            Operation::HvVmDestroy => "hv_vm_destroy",
            Operation::HvCapability => "hv_capability",
            Operation::HvVmConfig => "hv_vm_config",
            Operation::Sysctl => "sysctlbyname",
            Operation::EntitlementCheck => "SecTaskCopyValueForEntitlement",
            Operation::Unknown => "unknown operation",
        }
    }

    /// Whether this is a `KVM_*` ioctl.
    pub const fn is_kvm_ioctl(self) -> bool {
        matches!(
            self,
            Operation::GetApiVersion
                | Operation::CheckExtension
                | Operation::CreateVm
                | Operation::GetVcpuMmapSize
                | Operation::CreateVcpu
                | Operation::SetUserMemoryRegion
                | Operation::SetRegisters
                | Operation::Run
        )
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.call_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Published codes never change. Adding a cause adds a row; editing a row is a
    /// breaking change for every VMM that mapped it.
    #[test]
    fn published_codes_are_pinned() {
        let kinds: Vec<(u8, &str)> = Kind::ALL.iter().map(|k| (k.code(), k.name())).collect();
        assert_eq!(
            kinds,
            [
                (1, "unavailable"),
                (2, "permission_denied"),
                (3, "busy"),
                (4, "resource_exhausted"),
                (5, "incompatible"),
                (6, "interrupted"),
                (7, "malfunction"),
                (8, "unknown"),
            ]
        );
        let causes: Vec<(u16, &str)> = Cause::ALL.iter().map(|c| (c.code(), c.name())).collect();
        assert_eq!(
            causes,
            [
                (101, "module_not_loaded"),
                (102, "device_node_missing"),
                (103, "no_hardware_virtualization"),
                (104, "nested_virtualization_missing"),
                (105, "wsl_without_nested_virtualization"),
                (106, "stale_device_node"),
                (107, "not_a_kvm_device"),
                (108, "hypervisor_disabled"),
                (109, "host_is_virtual_machine"),
                (110, "hypervisor_unsupported"),
                (111, "running_under_rosetta"),
                (112, "cpu_unsupported"),
                (113, "no_backend"),
                (201, "device_access_denied"),
                (202, "stale_group_session"),
                (203, "container_device_policy"),
                (204, "entitlement_missing"),
                (205, "blocked_by_security_policy"),
                (301, "other_hypervisor_active"),
                (302, "process_already_owns_vm"),
                (303, "resource_busy"),
                (401, "file_descriptors_exhausted"),
                (402, "system_file_table_full"),
                (403, "kernel_memory_exhausted"),
                (404, "address_spaces_exhausted"),
                (405, "host_resources_exhausted"),
                (406, "memlock_limit_too_low"),
                (501, "api_version_mismatch"),
                (502, "capability_missing"),
                (503, "vcpu_limit_exceeded"),
                (504, "memory_limit_exceeded"),
                (505, "invalid_vm_type"),
                (506, "invalid_argument"),
                (601, "interrupted_repeatedly"),
                (701, "guest_run_failed"),
                (702, "hypervisor_error"),
                (703, "illegal_guest_state"),
                (704, "hypervisor_io_error"),
                (801, "unexpected_errno"),
                (802, "unexpected_hv_return"),
            ]
        );
    }

    #[test]
    fn codes_and_names_round_trip() {
        for c in Cause::ALL {
            assert_eq!(Cause::from_code(c.code()), Some(*c));
            assert_eq!(Cause::from_name(c.name()), Some(*c));
            assert_eq!(c.kind().code() as u16, c.code() / 100, "{c} is filed under its kind");
        }
        for k in Kind::ALL {
            assert_eq!(Kind::from_code(k.code()), Some(*k));
            assert_eq!(Kind::from_name(k.name()), Some(*k));
        }
        assert_eq!(Cause::from_code(999), None);
        assert_eq!(Kind::from_name("nope"), None);
    }

    #[test]
    fn every_cause_has_a_remedy_and_a_safe_summary() {
        for c in Cause::ALL {
            assert!(!c.generic_remedies().is_empty(), "{c} has no remedy");
            let s = c.summary();
            assert!(!s.contains('/') && !s.contains('`') && !s.contains("kvm"), "{c}: {s}");
        }
    }
}
