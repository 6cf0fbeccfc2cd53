//! [`HvfProbe`]: the Hypervisor.framework decision logic, over any [`HvfHost`].

use std::time::Instant;

use probe_core::raw::hv;
use probe_core::{
    Backend, Cause, Check, CheckList, CreateFailure, Diagnosis, DiagnosisVerdict, HypervisorProbe, Limits, Operation,
    ProbeError, ProbeOptions, RawCode, Report, Status,
};

use crate::evidence::{self, Evidence, IpaLimits, describe_ipa, explain_create, show, sysctl};
use crate::host::{Arch, ChildOutcome, ChildProbeError, Entitlement, HvCall, HvReturn, HvfHost, VmConfig};

/// Stable check ids of an HVF report.
pub mod check_id {
    /// The process's architecture.
    pub const ARCH: &str = "hvf.arch";
    /// Rosetta translation (`sysctl.proc_translated`).
    pub const ROSETTA: &str = "hvf.rosetta";
    /// Hardware support (`kern.hv_support`, `kern.hv.supported`).
    pub const SUPPORT: &str = "hvf.support";
    /// `kern.hv_disable`.
    pub const DISABLED: &str = "hvf.disabled";
    /// Whether this Mac is itself a VM (`kern.hv_vmm_present`).
    pub const VMM: &str = "hvf.vmm";
    /// The `com.apple.security.hypervisor` entitlement self-check.
    pub const ENTITLEMENT: &str = "hvf.entitlement";
    /// The system-wide address-space pool (`kern.hv.max_address_spaces`).
    pub const ADDRESS_SPACES: &str = "hvf.address_spaces";
    /// Maximum and default IPA size against the requested memory.
    pub const IPA: &str = "hvf.ipa";
    /// EL2 (nested virtualization) support.
    pub const EL2: &str = "hvf.el2";
    /// `hv_vm_create`.
    pub const VM_CREATE: &str = "hvf.vm_create";
    /// `hv_vm_destroy` of the probe's VM.
    pub const VM_DESTROY: &str = "hvf.vm_destroy";
    /// Maximum vCPUs against the requested vCPUs.
    pub const VCPUS: &str = "hvf.vcpus";
}

const T_ARCH: &str = "Architecture";
const T_ROSETTA: &str = "Rosetta translation";
const T_SUPPORT: &str = "Hypervisor support";
const T_DISABLED: &str = "Hypervisor disabled by the system";
const T_VMM: &str = "Running inside a virtual machine";
const T_ENTITLEMENT: &str = "Hypervisor entitlement";
const T_POOL: &str = "VM address-space pool";
const T_IPA: &str = "Guest physical address size";
const T_EL2: &str = "Nested virtualization (EL2)";
const T_CREATE: &str = "Create a VM";
const T_DESTROY: &str = "Destroy the probe VM";
const T_VCPUS: &str = "vCPU limit";

/// The Hypervisor.framework probe. Constructing it does nothing; every check destroys
/// the VM it creates before returning.
#[derive(Debug)]
pub struct HvfProbe<H> {
    host: H,
    options: ProbeOptions,
}

impl<H: HvfHost> HvfProbe<H> {
    /// A probe over this host with these options.
    pub fn with_host(host: H, options: ProbeOptions) -> Self {
        HvfProbe { host, options }
    }

    /// The host the probe talks to.
    pub fn host(&self) -> &H {
        &self.host
    }

    /// The options.
    pub fn options(&self) -> &ProbeOptions {
        &self.options
    }
}

/// This process's VM, destroyed through the host when dropped, on every path.
struct VmGuard<'h, H: HvfHost + ?Sized> {
    host: &'h H,
    destroyed: bool,
}

impl<'h, H: HvfHost + ?Sized> VmGuard<'h, H> {
    /// Creates the VM; the guard exists exactly when a VM does.
    fn create(host: &'h H, config: VmConfig) -> Result<Self, HvCall> {
        let call = host.vm_create(config);
        if call.created() { Ok(VmGuard { host, destroyed: false }) } else { Err(call) }
    }

    /// Destroys the VM now and returns `hv_vm_destroy`'s code.
    fn destroy(mut self) -> HvReturn {
        self.destroyed = true;
        self.host.vm_destroy()
    }
}

impl<H: HvfHost + ?Sized> Drop for VmGuard<'_, H> {
    fn drop(&mut self) {
        if !self.destroyed {
            self.host.vm_destroy();
        }
    }
}

/// Where the creation step ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    InProcess,
    Child,
}

/// The creation step's outcome.
#[derive(Debug, Clone, Copy)]
struct Reproduction {
    call: HvCall,
    destroy: Option<HvReturn>,
    place: Place,
    config: VmConfig,
}

impl Reproduction {
    fn from_child(outcome: ChildOutcome, config: VmConfig) -> Self {
        Reproduction { call: outcome.create, destroy: outcome.destroy, place: Place::Child, config }
    }

    fn created(&self) -> bool {
        self.call.created()
    }

    fn where_text(&self) -> &'static str {
        match self.place {
            Place::InProcess => "in this process",
            Place::Child => "in a child process",
        }
    }

    fn config_text(&self) -> String {
        match self.config.ipa_bits {
            Some(bits) => format!("a configuration with a {bits}-bit IPA size"),
            None => "the default configuration".to_owned(),
        }
    }
}

/// IPA limits and how they were read.
#[derive(Debug, Clone, Copy, Default)]
struct IpaReading {
    limits: IpaLimits,
    /// The framework's error when asking for them.
    error: Option<HvReturn>,
    /// Read from `kern.hv.ipa_size_16k` because the 13.0+ symbol is absent.
    from_sysctl: bool,
}

/// Checks as they are run, and the first blocking error.
struct Steps {
    list: CheckList,
    /// A VM was created: evidence that says "unusable" is then only a warning.
    created: bool,
}

impl std::ops::Deref for Steps {
    type Target = CheckList;
    fn deref(&self) -> &CheckList {
        &self.list
    }
}

impl std::ops::DerefMut for Steps {
    fn deref_mut(&mut self) -> &mut CheckList {
        &mut self.list
    }
}

impl Steps {
    fn pass_raw(&mut self, id: &str, title: &str, detail: impl Into<String>, raw: RawCode) {
        self.list.push(Check::pass(id, title, detail).with_raw(raw));
    }
    /// A FAIL from host evidence, unless a VM was created anyway (then a WARN: the
    /// hypervisor's own answer wins over a sysctl).
    fn evidence_fail(&mut self, id: &str, title: &str, error: ProbeError) {
        if self.created {
            let detail = format!("{}; yet hv_vm_create succeeded", error.detail());
            self.list.warn(id, title, error.with_detail(detail));
        } else {
            self.list.fail(id, title, error);
        }
    }
}

/// Bits needed to address `bytes` from guest physical address 0.
fn bits_for(bytes: u64) -> u32 {
    if bytes <= 1 { 1 } else { 64 - (bytes - 1).leading_zeros() }
}

/// MiB addressable with `bits`, saturating.
fn mib_for_bits(bits: u32) -> u64 {
    1u64.checked_shl(bits).map_or(u64::MAX >> 20, |b| b >> 20)
}

fn sysctl_error(name: &str, errno: i32) -> ProbeError {
    ProbeError::from_errno(Operation::Sysctl, errno).with_detail(format!("reading {name} failed"))
}

impl<H: HvfHost> HvfProbe<H> {
    fn read_ipa(&self, ev: &Evidence) -> IpaReading {
        let mut reading = IpaReading::default();
        if ev.arch != Arch::Aarch64 {
            return reading;
        }
        match self.host.max_ipa_bits() {
            Some(Ok(bits)) => reading.limits.max = Some(bits),
            Some(Err(ret)) => reading.error = Some(ret),
            None => {
                // Before macOS 13.0 the framework cannot say; the kernel may.
                if let Ok(Some(bytes)) = self.host.sysctl_int(sysctl::IPA_SIZE_16K) {
                    if let Ok(bytes) = u64::try_from(bytes) {
                        if bytes > 0 {
                            reading.limits.max = Some(63 - bytes.leading_zeros());
                            reading.from_sysctl = true;
                        }
                    }
                }
            }
        }
        match self.host.default_ipa_bits() {
            Some(Ok(bits)) => reading.limits.default = Some(bits),
            Some(Err(ret)) => {
                reading.error.get_or_insert(ret);
            }
            None => {}
        }
        reading
    }

    /// The configuration for the probe VM: the default, or an IPA size large enough
    /// for the requested memory when that is above the default and within the max.
    fn creation_config(&self, ipa: IpaLimits) -> VmConfig {
        let needed = self.options.memory_mib.map(|mib| bits_for(mib.saturating_mul(1 << 20)));
        match (needed, ipa.default, ipa.max) {
            (Some(n), Some(d), Some(m)) if n > d && n <= m => VmConfig { ipa_bits: Some(n) },
            _ => VmConfig::default(),
        }
    }

    /// Creates and destroys a VM, in a child process when the host offers one,
    /// running `during` while the VM exists (or after a failed creation).
    fn reproduce<T>(&self, config: VmConfig, during: impl FnOnce() -> T) -> (Result<Reproduction, ChildProbeError>, T) {
        if let Some(child) = self.host.probe_in_child(config) {
            let value = during();
            return (child.map(|c| Reproduction::from_child(c, config)), value);
        }
        match VmGuard::create(&self.host, config) {
            Ok(guard) => {
                let value = during();
                let destroy = guard.destroy();
                (
                    Ok(Reproduction {
                        call: HvCall::vm_create(hv::HV_SUCCESS),
                        destroy: Some(destroy),
                        place: Place::InProcess,
                        config,
                    }),
                    value,
                )
            }
            Err(call) => {
                let value = during();
                (Ok(Reproduction { call, destroy: None, place: Place::InProcess, config }), value)
            }
        }
    }

    fn creation_error(&self, ev: &Evidence, r: &Reproduction, ipa: IpaLimits) -> ProbeError {
        let e = explain_create(ev, r.call, r.config, ipa);
        let detail = format!("{} ({}, {})", e.detail(), r.where_text(), r.config_text());
        e.with_detail(detail)
    }

    fn check_arch(&self, ev: &Evidence, s: &mut Steps) {
        match ev.arch {
            Arch::Aarch64 => s.pass(check_id::ARCH, T_ARCH, "aarch64 process (Apple silicon)"),
            Arch::X86_64 => {
                let on = if matches!(ev.hw_arm64, Ok(Some(1))) { " on Apple silicon hardware" } else { "" };
                s.pass(check_id::ARCH, T_ARCH, format!("x86_64 process{on}"));
            }
            Arch::Other => s.fail(
                check_id::ARCH,
                T_ARCH,
                ProbeError::new(Cause::HypervisorUnsupported, Operation::Unknown, None)
                    .with_detail("Hypervisor.framework exists for arm64 and x86_64 processes only"),
            ),
        }
    }

    fn check_rosetta(&self, ev: &Evidence, s: &mut Steps) {
        match ev.translated {
            Ok(true) => s.evidence_fail(
                check_id::ROSETTA,
                T_ROSETTA,
                ProbeError::new(Cause::RunningUnderRosetta, Operation::Sysctl, Some(RawCode::Returned(1))).with_detail(
                    format!(
                        "{} = 1 ({}): this x86_64 process runs translated on Apple silicon",
                        sysctl::PROC_TRANSLATED,
                        show(sysctl::HW_ARM64, &ev.hw_arm64)
                    ),
                ),
            ),
            Ok(false) => s.pass(check_id::ROSETTA, T_ROSETTA, "not translated (sysctl.proc_translated is 0 or absent)"),
            Err(errno) => s.warn(check_id::ROSETTA, T_ROSETTA, sysctl_error(sysctl::PROC_TRANSLATED, errno)),
        }
    }

    fn check_support(&self, ev: &Evidence, s: &mut Steps) {
        let text = ev.support_text();
        match ev.supported() {
            Some(true) => s.pass(check_id::SUPPORT, T_SUPPORT, text),
            Some(false) => {
                let cause = if ev.is_virtual_machine() {
                    Cause::HostIsVirtualMachine
                } else if ev.arch == Arch::X86_64 && !ev.is_translated() {
                    Cause::CpuUnsupported
                } else {
                    Cause::HypervisorUnsupported
                };
                let raw = [&ev.hv_support, &ev.hv_supported]
                    .into_iter()
                    .find_map(|r| r.as_ref().ok().copied().flatten())
                    .map(RawCode::Returned);
                s.evidence_fail(
                    check_id::SUPPORT,
                    T_SUPPORT,
                    ProbeError::new(cause, Operation::Sysctl, raw)
                        .with_detail(format!("{text}: the system reports no hypervisor support")),
                );
            }
            None => {
                let errno = ev.hv_support.err().unwrap_or_default();
                s.warn(
                    check_id::SUPPORT,
                    T_SUPPORT,
                    ProbeError::from_errno(Operation::Sysctl, errno).with_detail(text),
                );
            }
        }
    }

    fn check_disabled(&self, ev: &Evidence, s: &mut Steps) {
        match ev.hv_disable {
            Ok(Some(1)) => s.evidence_fail(
                check_id::DISABLED,
                T_DISABLED,
                ProbeError::new(Cause::HypervisorDisabled, Operation::Sysctl, Some(RawCode::Returned(1)))
                    .with_detail(format!("{} = 1", sysctl::HV_DISABLE)),
            ),
            Ok(_) => s.pass(check_id::DISABLED, T_DISABLED, show(sysctl::HV_DISABLE, &ev.hv_disable)),
            Err(errno) => s.warn(check_id::DISABLED, T_DISABLED, sysctl_error(sysctl::HV_DISABLE, errno)),
        }
    }

    fn check_vmm(&self, ev: &Evidence, s: &mut Steps) {
        match ev.vmm_present {
            Ok(Some(1)) if ev.supported() == Some(true) || s.created => s.pass(
                check_id::VMM,
                T_VMM,
                format!(
                    "{} = 1: this Mac is a virtual machine and its host offers nested virtualization",
                    sysctl::HV_VMM_PRESENT
                ),
            ),
            Ok(Some(1)) => s.fail(
                check_id::VMM,
                T_VMM,
                ProbeError::new(Cause::HostIsVirtualMachine, Operation::Sysctl, Some(RawCode::Returned(1)))
                    .with_detail(format!(
                        "{} = 1 and {}: this Mac is a virtual machine without nested virtualization",
                        sysctl::HV_VMM_PRESENT,
                        ev.support_text()
                    )),
            ),
            Ok(Some(_)) => s.pass(check_id::VMM, T_VMM, "not a virtual machine (kern.hv_vmm_present = 0)"),
            Ok(None) => s.pass(check_id::VMM, T_VMM, "kern.hv_vmm_present absent: not reported as a virtual machine"),
            Err(errno) => s.warn(check_id::VMM, T_VMM, sysctl_error(sysctl::HV_VMM_PRESENT, errno)),
        }
    }

    fn check_entitlement(&self, ev: &Evidence, s: &mut Steps) {
        match &ev.entitlement {
            Entitlement::Granted => s.pass(check_id::ENTITLEMENT, T_ENTITLEMENT, ev.entitlement_text()),
            Entitlement::Missing => s.evidence_fail(
                check_id::ENTITLEMENT,
                T_ENTITLEMENT,
                ProbeError::new(Cause::EntitlementMissing, Operation::EntitlementCheck, None)
                    .with_detail(ev.entitlement_text()),
            ),
            Entitlement::Unknown(_) if s.created => s.pass(
                check_id::ENTITLEMENT,
                T_ENTITLEMENT,
                format!("{}; hv_vm_create succeeded", ev.entitlement_text()),
            ),
            Entitlement::Unknown(_) => s.skip(check_id::ENTITLEMENT, T_ENTITLEMENT, ev.entitlement_text()),
        }
    }

    fn check_pool(&self, ev: &Evidence, creation: Option<&ProbeError>, s: &mut Steps, limits: &mut Limits) {
        limits.max_address_spaces = ev.pool();
        if let Some(e) = creation.filter(|e| e.cause() == Cause::AddressSpacesExhausted) {
            s.fail(check_id::ADDRESS_SPACES, T_POOL, e.clone());
            return;
        }
        match ev.max_address_spaces {
            Ok(Some(n)) => s.pass_raw(
                check_id::ADDRESS_SPACES,
                T_POOL,
                format!(
                    "{} = {n}: at most {n} VMs system-wide, shared by every Hypervisor.framework user",
                    sysctl::MAX_ADDRESS_SPACES
                ),
                RawCode::Returned(n),
            ),
            Ok(None) => {
                s.skip(check_id::ADDRESS_SPACES, T_POOL, "kern.hv.max_address_spaces is not reported by this macOS")
            }
            Err(errno) => s.warn(check_id::ADDRESS_SPACES, T_POOL, sysctl_error(sysctl::MAX_ADDRESS_SPACES, errno)),
        }
    }

    fn check_ipa(&self, ev: &Evidence, ipa: &IpaReading, config: VmConfig, s: &mut Steps, limits: &mut Limits) {
        limits.ipa_bits = ipa.limits.max;
        limits.default_ipa_bits = ipa.limits.default;
        if ev.arch != Arch::Aarch64 {
            s.skip(check_id::IPA, T_IPA, "Intel VMs have no IPA configuration");
            return;
        }
        if let Some(ret) = ipa.error {
            let e = ProbeError::from_hv_return(Operation::HvVmConfig, ret)
                .unwrap_or_else(|| {
                    ProbeError::new(Cause::UnexpectedHvReturn, Operation::HvVmConfig, Some(RawCode::HvReturn(ret)))
                })
                .with_detail("reading the maximum or default IPA size failed");
            s.warn(check_id::IPA, T_IPA, e);
            return;
        }
        let Some(max) = ipa.limits.max else {
            s.skip(
                check_id::IPA,
                T_IPA,
                "hv_vm_config_get_max_ipa_size needs macOS 13.0 and kern.hv.ipa_size_16k is absent",
            );
            return;
        };
        let source = if ipa.from_sysctl {
            format!("{} (kern.hv.ipa_size_16k; this macOS cannot set the IPA size)", describe_ipa(ipa.limits))
        } else {
            describe_ipa(ipa.limits)
        };
        let Some(mib) = self.options.memory_mib else {
            s.pass(check_id::IPA, T_IPA, source);
            return;
        };
        let max_mib = mib_for_bits(max);
        if mib > max_mib {
            s.fail(
                check_id::IPA,
                T_IPA,
                ProbeError::new(Cause::MemoryLimitExceeded, Operation::HvVmConfig, Some(RawCode::Returned(max.into())))
                    .with_detail(format!("{mib} MiB requested; a VM can address at most {max_mib} MiB ({source})"))
                    .with_remedy(format!("Request at most {max_mib} MiB of guest memory.")),
            );
            return;
        }
        let how = match config.ipa_bits {
            Some(bits) => {
                format!("; above the default, so the probe VM asks for {bits} bits (hv_vm_config_set_ipa_size)")
            }
            None => String::new(),
        };
        s.pass(check_id::IPA, T_IPA, format!("{mib} MiB fits: {source}{how}"));
    }

    fn check_el2(&self, ev: &Evidence, el2: Option<Result<bool, HvReturn>>, s: &mut Steps) {
        if ev.arch != Arch::Aarch64 {
            s.skip(check_id::EL2, T_EL2, "EL2 exists on Apple silicon only");
            return;
        }
        match el2 {
            Some(Ok(true)) => s.pass(check_id::EL2, T_EL2, "EL2 supported: guests may run their own hypervisor"),
            Some(Ok(false)) => s.pass(
                check_id::EL2,
                T_EL2,
                "EL2 not supported (nested virtualization needs an M3 or newer chip and macOS 15)",
            ),
            Some(Err(ret)) => s.warn(
                check_id::EL2,
                T_EL2,
                ProbeError::from_hv_return(Operation::HvVmConfig, ret)
                    .unwrap_or_else(|| {
                        ProbeError::new(Cause::UnexpectedHvReturn, Operation::HvVmConfig, Some(RawCode::HvReturn(ret)))
                    })
                    .with_detail("hv_vm_config_get_el2_supported failed"),
            ),
            None => s.skip(check_id::EL2, T_EL2, "hv_vm_config_get_el2_supported needs macOS 15.0"),
        }
    }

    fn check_vcpus(&self, vcpus: Result<u32, HvReturn>, s: &mut Steps, limits: &mut Limits) {
        let max = match vcpus {
            Ok(max) => max,
            Err(ret) => {
                let e = ProbeError::from_hv_return(Operation::HvCapability, ret)
                    .unwrap_or_else(|| {
                        ProbeError::new(
                            Cause::UnexpectedHvReturn,
                            Operation::HvCapability,
                            Some(RawCode::HvReturn(ret)),
                        )
                    })
                    .with_detail("reading the maximum vCPU count failed");
                s.warn(check_id::VCPUS, T_VCPUS, e);
                return;
            }
        };
        limits.max_vcpus = Some(max.into());
        match self.options.vcpus {
            Some(want) if want > max => s.fail(
                check_id::VCPUS,
                T_VCPUS,
                ProbeError::new(Cause::VcpuLimitExceeded, Operation::HvCapability, Some(RawCode::Returned(max.into())))
                    .with_detail(format!("{want} vCPUs requested; the hypervisor allows {max} per VM"))
                    .with_remedy(format!("Request at most {max} vCPUs.")),
            ),
            Some(want) => s.pass_raw(
                check_id::VCPUS,
                T_VCPUS,
                format!("{want} vCPUs within the limit of {max} per VM"),
                RawCode::Returned(max.into()),
            ),
            None => {
                s.pass_raw(check_id::VCPUS, T_VCPUS, format!("up to {max} vCPUs per VM"), RawCode::Returned(max.into()))
            }
        }
    }

    /// The vm_create and vm_destroy checks of one reproduction.
    fn creation_checks(
        &self,
        ev: &Evidence,
        repro: &Result<Reproduction, ChildProbeError>,
        ipa: IpaLimits,
    ) -> (Vec<Check>, Option<ProbeError>) {
        let mut checks = Vec::with_capacity(2);
        let r = match repro {
            Ok(r) => r,
            Err(e) => {
                let mut c = Check::new(
                    check_id::VM_CREATE,
                    T_CREATE,
                    Status::Warn,
                    format!("VM creation was not verified: {e}; nothing was probed in this process"),
                );
                c.remedies = vec![
                    "Check that the helper exists, answers the child-probe protocol and is signed with com.apple.security.hypervisor.".to_owned(),
                ];
                checks.push(c);
                checks.push(Check::skip(check_id::VM_DESTROY, T_DESTROY, "the child probe gave no answer"));
                return (checks, None);
            }
        };
        let mut error = None;
        if r.created() {
            checks.push(
                Check::pass(
                    check_id::VM_CREATE,
                    T_CREATE,
                    format!("hv_vm_create succeeded {} with {}", r.where_text(), r.config_text()),
                )
                .with_raw(RawCode::HvReturn(hv::HV_SUCCESS)),
            );
        } else {
            let e = self.creation_error(ev, r, ipa);
            checks.push(Check::fail(check_id::VM_CREATE, T_CREATE, &e));
            error = Some(e);
        }
        match r.destroy {
            Some(hv::HV_SUCCESS) => checks.push(
                Check::pass(check_id::VM_DESTROY, T_DESTROY, format!("hv_vm_destroy succeeded {}", r.where_text()))
                    .with_raw(RawCode::HvReturn(hv::HV_SUCCESS)),
            ),
            Some(ret) => {
                let e = ProbeError::from_hv_return(Operation::HvVmDestroy, ret)
                    .unwrap_or_else(|| {
                        ProbeError::new(Cause::UnexpectedHvReturn, Operation::HvVmDestroy, Some(RawCode::HvReturn(ret)))
                    })
                    .with_detail(format!("the probe VM could not be destroyed {}", r.where_text()));
                checks.push(Check::warn(check_id::VM_DESTROY, T_DESTROY, &e));
            }
            None => checks.push(Check::skip(check_id::VM_DESTROY, T_DESTROY, "no VM was created")),
        }
        (checks, error)
    }
}

impl<H: HvfHost> HypervisorProbe for HvfProbe<H> {
    fn backend(&self) -> Backend {
        Backend::Hvf
    }

    fn report(&self) -> Report {
        let started = Instant::now();
        let host = &self.host;
        let ev = Evidence::gather(host);
        let ipa = self.read_ipa(&ev);
        let el2 = if ev.arch == Arch::Aarch64 { host.el2_supported() } else { None };
        let config = self.creation_config(ipa.limits);
        let (repro, vcpus) = self.reproduce(config, || host.max_vcpu_count());
        let created = matches!(&repro, Ok(r) if r.created());
        let (creation_checks, creation_error) = self.creation_checks(&ev, &repro, ipa.limits);

        let mut s = Steps { list: CheckList::with_capacity(12), created };
        let mut limits = Limits::default();
        self.check_arch(&ev, &mut s);
        self.check_rosetta(&ev, &mut s);
        self.check_support(&ev, &mut s);
        self.check_disabled(&ev, &mut s);
        self.check_vmm(&ev, &mut s);
        self.check_entitlement(&ev, &mut s);
        self.check_pool(&ev, creation_error.as_ref(), &mut s, &mut limits);
        self.check_ipa(&ev, &ipa, config, &mut s, &mut limits);
        self.check_el2(&ev, el2, &mut s);
        s.list.checks.extend(creation_checks);
        self.check_vcpus(vcpus, &mut s, &mut limits);

        // The hypervisor's own answer, with its raw code, is the blocking error when
        // it refused; otherwise the first failing check.
        let error = creation_error.or(s.list.error);
        let facts = evidence::host_facts(host, &ev, el2);
        let mut report = Report::new(Backend::Hvf, self.options.level, s.list.checks, facts, limits, error);
        report.simulated = host.is_simulated();
        report.elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        report
    }

    fn diagnose_create_failure(&self, failure: &CreateFailure) -> Diagnosis {
        let ev = Evidence::gather(&self.host);
        let ipa = self.read_ipa(&ev);
        let config = self.creation_config(ipa.limits);
        let (repro, ()) = self.reproduce(config, || ());
        let (checks, error) = self.creation_checks(&ev, &repro, ipa.limits);
        let mut d = match repro {
            Err(e) => {
                let mut d = Diagnosis::inconclusive(
                    Backend::Hvf,
                    failure.clone(),
                    format!(
                        "The probe in a child process gave no answer ({e}); nothing was probed in this process, so a VM it owns was not disturbed. Only the original code can be read."
                    ),
                    None,
                );
                d.checks = checks;
                d
            }
            Ok(r) => {
                let reproduction = match error {
                    Some(e) => Err(e),
                    None => Ok(()),
                };
                let mut d = Diagnosis::decide(Backend::Hvf, failure.clone(), reproduction, checks);
                refine_after_creation(&mut d, &r, failure);
                explain_pool(&mut d, &ev);
                d
            }
        };
        d.simulated = self.host.is_simulated();
        d
    }
}

/// HV_BUSY from this process's own `hv_vm_create` means it already owns its one VM:
/// the VMM created its VM, so its failure (unless it was HV_BUSY itself) came after
/// creation and the hypervisor is not the cause.
fn refine_after_creation(d: &mut Diagnosis, r: &Reproduction, failure: &CreateFailure) {
    let owns_vm = r.place == Place::InProcess && r.call.operation == Operation::HvVmCreate && r.call.ret == hv::HV_BUSY;
    if owns_vm && failure.raw != Some(RawCode::HvReturn(hv::HV_BUSY)) {
        d.verdict = DiagnosisVerdict::CauseElsewhere;
        d.explanation = "This process already owns a VM (hv_vm_create returned HV_BUSY: one VM per process), so the VMM's VM was created and its failure came after creation. Look at what the VMM did next: memory mapping, vCPUs, devices, the guest image.".to_owned();
    }
}

/// After a pool exhaustion that has cleared, say how large the pool is.
fn explain_pool(d: &mut Diagnosis, ev: &Evidence) {
    let exhausted = d.original_cause.as_ref().is_some_and(|c| c.cause() == Cause::AddressSpacesExhausted);
    if d.verdict == DiagnosisVerdict::TransientCleared && exhausted {
        if let Some(n) = ev.pool() {
            d.explanation.push_str(&format!(
                " The pool holds {n} VM address spaces system-wide ({} = {n}), shared by every Hypervisor.framework user.",
                sysctl::MAX_ADDRESS_SPACES
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_cover_the_memory() {
        assert_eq!(bits_for(1 << 30), 30);
        assert_eq!(bits_for((1 << 30) + 1), 31);
        assert_eq!(bits_for(64 << 30), 36);
        assert_eq!(bits_for(0), 1);
        assert_eq!(bits_for(u64::MAX), 64);
        assert_eq!(mib_for_bits(36), 64 << 10);
        assert_eq!(mib_for_bits(64), u64::MAX >> 20);
    }
}
