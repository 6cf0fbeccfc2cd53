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
