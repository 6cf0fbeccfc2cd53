//! `ScriptedHvf`: a scripted [`HvfHost`] that answers every call with whatever a test
//! sets (any `hv_return_t`, any errno, any sysctl), and counts the VMs the logic
//! creates and destroys.
//!
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use probe_core::raw::hv;
use probe_hvf::{Arch, ChildOutcome, ChildProbeError, Entitlement, Errno, HvCall, HvReturn, HvfHost, VmConfig};

/// A sysctl's scripted answer.
pub type Reading = Result<Option<i64>, Errno>;

/// A scripted Mac.
#[derive(Debug)]
pub struct ScriptedHvf {
    sysctls: HashMap<String, Reading>,
    strings: HashMap<String, Result<Option<String>, Errno>>,
    entitlement: Entitlement,
    /// Codes `vm_create` returns, in order; when empty, `create_default`.
    create_script: Mutex<VecDeque<HvCall>>,
    create_default: HvCall,
    destroy_ret: HvReturn,
    max_vcpus: Result<u32, HvReturn>,
    max_ipa: Option<Result<u32, HvReturn>>,
    default_ipa: Option<Result<u32, HvReturn>>,
    el2: Option<Result<bool, HvReturn>>,
    arch: Arch,
    /// The process already owns a VM (as a VMM does): creation gets HV_BUSY.
    owns_vm: bool,
    child: Option<Result<ChildOutcome, ChildProbeError>>,
    /// The vCPU-limit query panics (to test that the VM is destroyed on unwind).
    vcpu_query_panics: bool,
    // Accounting.
    creates: AtomicU32,
    destroys: AtomicU32,
    bad_destroys: AtomicU32,
    entitlement_checks: AtomicU32,
    child_probes: AtomicU32,
    configs: Mutex<Vec<VmConfig>>,
}

impl ScriptedHvf {
    /// A healthy Apple-silicon Mac on macOS 15: supported, not disabled, not a VM,
    /// native, entitled, 128 address spaces, 64 vCPUs, IPA 40 bits max and 36 by
    /// default, no EL2; every VM creation succeeds.
    pub fn apple_silicon() -> Self {
        let sysctls = [
            ("kern.hv_support", Ok(Some(1))),
            ("kern.hv.supported", Ok(Some(1))),
            ("kern.hv_disable", Ok(Some(0))),
            ("kern.hv_vmm_present", Ok(Some(0))),
            ("kern.hv.max_address_spaces", Ok(Some(128))),
            ("kern.hv.ipa_size_16k", Ok(Some(1 << 42))),
            ("kern.hv.ipa_size_4k", Ok(Some(1 << 40))),
            ("hw.optional.arm64", Ok(Some(1))),
        ];
        ScriptedHvf {
            sysctls: sysctls.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            strings: [("kern.osproductversion".to_owned(), Ok(Some("15.3".to_owned())))].into_iter().collect(),
            entitlement: Entitlement::Granted,
            create_script: Mutex::new(VecDeque::new()),
            create_default: HvCall::vm_create(hv::HV_SUCCESS),
            destroy_ret: hv::HV_SUCCESS,
            max_vcpus: Ok(64),
            max_ipa: Some(Ok(40)),
            default_ipa: Some(Ok(36)),
            el2: Some(Ok(false)),
            arch: Arch::Aarch64,
            owns_vm: false,
            child: None,
            vcpu_query_panics: false,
            creates: AtomicU32::new(0),
            destroys: AtomicU32::new(0),
            bad_destroys: AtomicU32::new(0),
            entitlement_checks: AtomicU32::new(0),
            child_probes: AtomicU32::new(0),
            configs: Mutex::new(Vec::new()),
        }
    }

    /// A healthy Intel Mac on macOS 14 (VMX, no IPA or EL2 symbols).
    pub fn intel() -> Self {
        let mut host = Self::apple_silicon()
            .arch(Arch::X86_64)
            .sysctl_absent("hw.optional.arm64")
            .sysctl_absent("kern.hv.ipa_size_16k")
            .sysctl_absent("kern.hv.ipa_size_4k")
            .string("machdep.cpu.features", "FPU VME DE PSE VMX SSE3");
        host.max_ipa = None;
        host.default_ipa = None;
        host.el2 = None;
        host.strings.insert("kern.osproductversion".to_owned(), Ok(Some("14.7".to_owned())));
        host
    }

    /// Sets an integer sysctl.
    pub fn sysctl(mut self, name: &str, value: i64) -> Self {
        self.sysctls.insert(name.to_owned(), Ok(Some(value)));
        self
    }

    /// Makes a sysctl absent (ENOENT).
    pub fn sysctl_absent(mut self, name: &str) -> Self {
        self.sysctls.insert(name.to_owned(), Ok(None));
        self
    }

    /// Makes reading a sysctl fail with `errno`.
    pub fn sysctl_errno(mut self, name: &str, errno: Errno) -> Self {
        self.sysctls.insert(name.to_owned(), Err(errno));
        self
    }

    /// Sets a string sysctl.
    pub fn string(mut self, name: &str, value: &str) -> Self {
        self.strings.insert(name.to_owned(), Ok(Some(value.to_owned())));
        self
    }

    /// What the entitlement self-check finds.
    pub fn entitlement(mut self, e: Entitlement) -> Self {
        self.entitlement = e;
        self
    }

    /// Every `hv_vm_create` returns `ret` (any i32).
    pub fn vm_create_returns(mut self, ret: HvReturn) -> Self {
        self.create_default = HvCall::vm_create(ret);
        self
    }

    /// Every creation fails at the configuration step with `ret`.
    pub fn vm_config_returns(mut self, ret: HvReturn) -> Self {
        self.create_default = HvCall::vm_config(ret);
        self
    }

    /// The next creations return these codes in order, then the default.
    pub fn vm_create_sequence(self, rets: impl IntoIterator<Item = HvReturn>) -> Self {
        self.create_script.lock().unwrap_or_else(|e| e.into_inner()).extend(rets.into_iter().map(HvCall::vm_create));
        self
    }

    /// `hv_vm_destroy` returns `ret`.
    pub fn vm_destroy_returns(mut self, ret: HvReturn) -> Self {
        self.destroy_ret = ret;
        self
    }

    /// The maximum vCPU count, or the code the query fails with.
    pub fn max_vcpus(mut self, v: Result<u32, HvReturn>) -> Self {
        self.max_vcpus = v;
        self
    }

    /// Max and default IPA (`None` = the 13.0 symbols are absent).
    pub fn ipa(mut self, max: Option<Result<u32, HvReturn>>, default: Option<Result<u32, HvReturn>>) -> Self {
        self.max_ipa = max;
        self.default_ipa = default;
        self
    }

    /// EL2 support (`None` = the 15.0 symbol is absent).
    pub fn el2(mut self, v: Option<Result<bool, HvReturn>>) -> Self {
        self.el2 = v;
        self
    }

    /// The process's architecture.
    pub fn arch(mut self, arch: Arch) -> Self {
        self.arch = arch;
        self
    }

    /// This process already owns its one VM: in-process creation gets HV_BUSY.
    pub fn owning_a_vm(mut self) -> Self {
        self.owns_vm = true;
        self
    }

    /// Offers a child probe that answers `outcome`.
    pub fn child_probe(mut self, outcome: Result<ChildOutcome, ChildProbeError>) -> Self {
        self.child = Some(outcome);
        self
    }

    /// The vCPU-limit query panics.
    pub fn vcpu_query_panics(mut self) -> Self {
        self.vcpu_query_panics = true;
        self
    }

    /// Successful in-process creations.
    pub fn created(&self) -> u32 {
        self.creates.load(Ordering::SeqCst)
    }

    /// In-process destructions.
    pub fn destroyed(&self) -> u32 {
        self.destroys.load(Ordering::SeqCst)
    }

    /// How often the entitlement self-check ran.
    pub fn entitlement_checks(&self) -> u32 {
        self.entitlement_checks.load(Ordering::SeqCst)
    }

    /// How often the child probe ran.
    pub fn child_probes(&self) -> u32 {
        self.child_probes.load(Ordering::SeqCst)
    }

    /// The configurations creation was asked for, in order.
    pub fn configs(&self) -> Vec<VmConfig> {
        self.configs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// True when every VM created was destroyed, and nothing else was destroyed.
    pub fn balanced(&self) -> bool {
        self.created() == self.destroyed() && self.bad_destroys.load(Ordering::SeqCst) == 0
    }

    /// Panics unless [`ScriptedHvf::balanced`].
    pub fn assert_balanced(&self) {
        assert!(
            self.balanced(),
            "created {} VMs, destroyed {}, {} destroys without a VM",
            self.created(),
            self.destroyed(),
            self.bad_destroys.load(Ordering::SeqCst)
        );
    }
}

impl HvfHost for ScriptedHvf {
    fn is_simulated(&self) -> bool {
        true
    }

    fn sysctl_int(&self, name: &str) -> Result<Option<i64>, Errno> {
        self.sysctls.get(name).cloned().unwrap_or(Ok(None))
    }

    fn sysctl_string(&self, name: &str) -> Result<Option<String>, Errno> {
        self.strings.get(name).cloned().unwrap_or(Ok(None))
    }

    fn entitlement(&self) -> Entitlement {
        self.entitlement_checks.fetch_add(1, Ordering::SeqCst);
        self.entitlement.clone()
    }

    fn vm_create(&self, config: VmConfig) -> HvCall {
        self.configs.lock().unwrap_or_else(|e| e.into_inner()).push(config);
        let live = self.created() > self.destroyed();
        if self.owns_vm || live {
            // One VM per process.
            return HvCall::vm_create(hv::HV_BUSY);
        }
        let call =
            self.create_script.lock().unwrap_or_else(|e| e.into_inner()).pop_front().unwrap_or(self.create_default);
        if call.created() {
            self.creates.fetch_add(1, Ordering::SeqCst);
        }
        call
    }

    fn vm_destroy(&self) -> HvReturn {
        if self.created() <= self.destroyed() {
            // The logic destroyed more than it created: recorded, and the call fails
            // as the framework's would.
            self.bad_destroys.fetch_add(1, Ordering::SeqCst);
            return hv::HV_BAD_ARGUMENT;
        }
        self.destroys.fetch_add(1, Ordering::SeqCst);
        self.destroy_ret
    }

    fn max_vcpu_count(&self) -> Result<u32, HvReturn> {
        if self.vcpu_query_panics {
            panic!("scripted panic in hv_vm_get_max_vcpu_count");
        }
        self.max_vcpus
    }

    fn max_ipa_bits(&self) -> Option<Result<u32, HvReturn>> {
        self.max_ipa
    }

    fn default_ipa_bits(&self) -> Option<Result<u32, HvReturn>> {
        self.default_ipa
    }

    fn el2_supported(&self) -> Option<Result<bool, HvReturn>> {
        self.el2
    }

    fn arch(&self) -> Arch {
        self.arch
    }

    fn probe_in_child(&self, _config: VmConfig) -> Option<Result<ChildOutcome, ChildProbeError>> {
        let child = self.child.clone()?;
        self.child_probes.fetch_add(1, Ordering::SeqCst);
        Some(child)
    }
}
