//! proptest strategies for raw codes, operations and scripted host behaviours
//! (feature `proptest`), so a VMM's own property tests can drive its failure paths.

use kvm_bindings as kb;
use probe_core::raw::{errno as errnos, hv};
use probe_core::{CreateFailure, Level, Operation, ProbeOptions, RawCode};
use proptest::prelude::*;
use proptest::sample::select;

use crate::kvm::{Answer, KvmCall, ScriptedKvmHost};

/// Any errno: every value Linux names (three times out of four) mixed with the whole
/// `i32` space, negative values and 0 included.
pub fn errno() -> impl Strategy<Value = i32> {
    let known: Vec<i32> = errnos::KNOWN.iter().map(|(v, _)| *v).collect();
    prop_oneof![3 => select(known), 1 => any::<i32>()]
}

/// Any `hv_return_t`: every named value (three times out of four) mixed with the whole
/// `i32` space.
pub fn hv_return() -> impl Strategy<Value = i32> {
    let known: Vec<i32> = hv::KNOWN.iter().map(|(v, _)| *v).collect();
    prop_oneof![3 => select(known), 1 => any::<i32>(), 1 => (0u32..0x4000).prop_map(|n| (0xfae9_4000_u32 | n) as i32)]
}

/// Any operation.
pub fn operation() -> impl Strategy<Value = Operation> {
    select(Operation::ALL)
}

/// Any raw code of any kind.
pub fn raw_code() -> impl Strategy<Value = RawCode> {
    prop_oneof![
        errno().prop_map(RawCode::Errno),
        hv_return().prop_map(RawCode::HvReturn),
        any::<i64>().prop_map(RawCode::Returned),
    ]
}

/// Any failure a VMM could report: a raw code or none, any operation, a message or none.
pub fn create_failure() -> impl Strategy<Value = CreateFailure> {
    (proptest::option::of(raw_code()), operation(), proptest::option::of("[ -~]{0,40}"))
        .prop_map(|(raw, operation, message)| CreateFailure { raw, operation, message })
}

/// Any KVM call of the logic.
pub fn kvm_call() -> impl Strategy<Value = KvmCall> {
    select(KvmCall::ALL.to_vec())
}

/// One scripted answer: healthy most of the time, otherwise any errno, any value
/// (interesting ones first), or a failing sub-step of the guest run.
pub fn answer() -> impl Strategy<Value = Answer> {
    let values = prop_oneof![
        select(vec![
            0i64,
            1,
            -1,
            11,
            12,
            13,
            i64::from(kb::KVM_EXIT_HLT),
            i64::from(kb::KVM_EXIT_MMIO),
            i64::from(kb::KVM_EXIT_FAIL_ENTRY),
            i64::from(kb::KVM_EXIT_SHUTDOWN)
        ]),
        any::<i64>(),
    ];
    let steps = select(vec![
        Operation::MapMemory,
        Operation::SetUserMemoryRegion,
        Operation::SetRegisters,
        Operation::Run,
        Operation::GetVcpuMmapSize,
    ]);
    prop_oneof![
        6 => Just(Answer::Healthy),
        3 => errno().prop_map(Answer::Errno),
        1 => values.prop_map(Answer::Value),
        1 => (steps, errno()).prop_map(|(op, e)| Answer::StepErrno(op, e)),
    ]
}

/// A scripted KVM host behaviour: for each call, a short sequence of answers and what
/// it answers afterwards. Turn it into a host with [`KvmBehaviour::host`].
#[derive(Debug, Clone)]
pub struct KvmBehaviour {
    /// Per call: answers in sequence, then the answer for every later call.
    pub scripts: Vec<(KvmCall, Vec<Answer>, Option<Answer>)>,
    /// The options the probe runs with.
    pub level: Level,
    /// vCPUs requested, if any.
    pub vcpus: Option<u32>,
}

impl KvmBehaviour {
    /// A scripted host behaving this way.
    pub fn host(&self) -> ScriptedKvmHost {
        let mut host = ScriptedKvmHost::healthy();
        for (call, queued, then) in &self.scripts {
            host = host.then(*call, queued.iter().copied());
            if let Some(a) = then {
                host = host.always(*call, *a);
            }
        }
        host
    }

    /// The options the probe runs with.
    pub fn options(&self) -> ProbeOptions {
        let o = ProbeOptions::default().with_level(self.level);
        match self.vcpus {
            Some(n) => o.with_vcpus(n),
            None => o,
        }
    }
}

/// Any KVM host behaviour: any errno or value at any step, in any sequence.
pub fn kvm_behaviour() -> impl Strategy<Value = KvmBehaviour> {
    let script = (kvm_call(), proptest::collection::vec(answer(), 0..4), proptest::option::of(answer()));
    (
        proptest::collection::vec(script, 0..6),
        prop_oneof![Just(Level::Quick), Just(Level::Full)],
        proptest::option::of(1u32..2048),
    )
        .prop_map(|(scripts, level, vcpus)| KvmBehaviour { scripts, level, vcpus })
}

/// A limit query's answer: the value, or the `hv_return_t` it failed with; `None` when
/// the OS lacks the symbol.
pub type Optional<T> = Option<Result<T, i32>>;

/// A scripted Mac's behaviour: sysctls present, absent or failing, the entitlement,
/// any `hv_return_t` sequence at VM creation and destruction, limits and symbols.
/// Turn it into a host with [`HvfBehaviour::host`].
#[derive(Debug, Clone)]
pub struct HvfBehaviour {
    /// Per sysctl: `None` leaves the healthy value; otherwise the scripted reading.
    pub sysctls: Vec<(&'static str, Result<Option<i64>, i32>)>,
    /// The entitlement self-check's finding.
    pub entitlement: u8,
    /// Codes of the first creations, then the code of every later one.
    pub creates: (Vec<i32>, i32),
    /// Whether creation fails at the configuration step instead.
    pub config_fails: bool,
    /// `hv_vm_destroy`'s code.
    pub destroy: i32,
    /// The vCPU-limit query.
    pub max_vcpus: Result<u32, i32>,
    /// Max and default IPA bits (outer `None`: the 13.0 symbols are absent).
    pub ipa: (Optional<u32>, Optional<u32>),
    /// EL2 support (`None`: the 15.0 symbol is absent).
    pub el2: Optional<bool>,
    /// An Intel Mac instead of Apple silicon.
    pub intel: bool,
    /// The process already owns a VM.
    pub owns_vm: bool,
    /// Guest memory requested, MiB.
    pub memory_mib: Option<u64>,
}

impl HvfBehaviour {
    /// A scripted Mac behaving this way.
    pub fn host(&self) -> crate::ScriptedHvf {
        let mut h = if self.intel { crate::ScriptedHvf::intel() } else { crate::ScriptedHvf::apple_silicon() };
        for (name, reading) in &self.sysctls {
            h = match reading {
                Ok(Some(v)) => h.sysctl(name, *v),
                Ok(None) => h.sysctl_absent(name),
                Err(e) => h.sysctl_errno(name, *e),
            };
        }
        h = h.entitlement(match self.entitlement % 3 {
            0 => probe_hvf::Entitlement::Granted,
            1 => probe_hvf::Entitlement::Missing,
            _ => probe_hvf::Entitlement::Unknown("scripted".to_owned()),
        });
        h = if self.config_fails { h.vm_config_returns(self.creates.1) } else { h.vm_create_returns(self.creates.1) };
        h = h.vm_create_sequence(self.creates.0.iter().copied());
        h = h.vm_destroy_returns(self.destroy).max_vcpus(self.max_vcpus).ipa(self.ipa.0, self.ipa.1).el2(self.el2);
        if self.owns_vm {
            h = h.owning_a_vm();
        }
        h
    }

    /// The options the probe runs with.
    pub fn options(&self) -> ProbeOptions {
        let o = ProbeOptions::default();
        match self.memory_mib {
            Some(m) => o.with_memory_mib(m),
            None => o,
        }
    }

    /// Every `hv_return_t` this behaviour can make the host return.
    pub fn injected(&self) -> Vec<i32> {
        let mut v = self.creates.0.clone();
        v.extend([self.creates.1, self.destroy]);
        v.extend(self.max_vcpus.err());
        v.extend(self.ipa.0.and_then(Result::err));
        v.extend(self.ipa.1.and_then(Result::err));
        v.extend(self.el2.and_then(Result::err));
        if self.owns_vm {
            v.push(hv::HV_BUSY);
        }
        v
    }
}

/// Any HVF host behaviour.
pub fn hvf_behaviour() -> impl Strategy<Value = HvfBehaviour> {
    let names = select(vec![
        "kern.hv_support",
        "kern.hv.supported",
        "kern.hv_disable",
        "kern.hv_vmm_present",
        "kern.hv.max_address_spaces",
        "kern.hv.ipa_size_16k",
        "kern.hv.ipa_size_4k",
        "sysctl.proc_translated",
        "hw.optional.arm64",
    ]);
    let reading = prop_oneof![
        select(vec![0i64, 1, 2, 128, 1 << 40]).prop_map(|v| Ok(Some(v))),
        any::<i64>().prop_map(|v| Ok(Some(v))),
        Just(Ok(None)),
        errno().prop_map(Err),
    ];
    let u32_or_code = prop_oneof![3 => (0u32..512).prop_map(Ok), 1 => hv_return().prop_map(Err)];
    let opt = |s: BoxedStrategy<Result<u32, i32>>| proptest::option::of(s);
    (
        proptest::collection::vec((names, reading), 0..4),
        any::<u8>(),
        (proptest::collection::vec(hv_return(), 0..3), prop_oneof![2 => Just(0), 3 => hv_return()]),
        any::<bool>(),
        prop_oneof![3 => Just(0), 1 => hv_return()],
        u32_or_code.clone(),
        (opt(u32_or_code.clone().boxed()), opt(u32_or_code.boxed())),
        proptest::option::of(prop_oneof![any::<bool>().prop_map(Ok), hv_return().prop_map(Err)]),
        (any::<bool>(), prop_oneof![4 => Just(false), 1 => Just(true)]),
        proptest::option::of(1u64..(4 << 20)),
    )
        .prop_map(
            |(
                sysctls,
                entitlement,
                creates,
                config_fails,
                destroy,
                max_vcpus,
                ipa,
                el2,
                (intel, owns_vm),
                memory_mib,
            )| {
                HvfBehaviour {
                    sysctls,
                    entitlement,
                    creates,
                    config_fails,
                    destroy,
                    max_vcpus,
                    ipa,
                    el2,
                    intel,
                    owns_vm,
                    memory_mib,
                }
            },
        )
}
