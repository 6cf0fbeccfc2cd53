//! [`KvmProbe`]: the KVM decision logic, over any [`KvmHost`].

use std::time::Instant;

use kvm_bindings as kb;
use probe_core::{
    Backend, Cause, Check, CheckList, CreateFailure, Diagnosis, HostFacts, HypervisorProbe, Level, Limits, Operation,
    ProbeError, ProbeOptions, RawCode, Report,
};

use crate::caps;
use crate::evidence::{self, describe_node};
use crate::host::{Fd, GuestExit, KvmHost, RLIM_INFINITY, Rlimit};

/// The API version every mainline kernel reports.
pub const KVM_API_VERSION: i32 = 12;

/// Stable check ids of a KVM report.
pub mod check_id {
    /// Device node: char 10:232, owner, group, mode.
    pub const DEVICE: &str = "kvm.device";
    /// Opening the device read-write.
    pub const OPEN: &str = "kvm.open";
    /// `KVM_GET_API_VERSION` = 12.
    pub const API_VERSION: &str = "kvm.api_version";
    /// `KVM_CREATE_VM`.
    pub const CREATE_VM: &str = "kvm.create_vm";
    /// The profile's capabilities.
    pub const CAPABILITIES: &str = "kvm.capabilities";
    /// vCPU and memory-slot limits.
    pub const LIMITS: &str = "kvm.limits";
    /// `KVM_CREATE_VCPU`.
    pub const CREATE_VCPU: &str = "kvm.create_vcpu";
    /// The one-instruction guest (full level).
    pub const GUEST_RUN: &str = "kvm.guest_run";
    /// Requested vCPUs and memory against the limits.
    pub const REQUESTED: &str = "kvm.requested";
    /// RLIMIT_NOFILE and RLIMIT_MEMLOCK.
    pub const RLIMITS: &str = "kvm.rlimits";
}

/// The KVM probe. Constructing it does nothing; every check opens and closes all it
/// needs.
#[derive(Debug)]
pub struct KvmProbe<H> {
    host: H,
    options: ProbeOptions,
}

impl<H: KvmHost> KvmProbe<H> {
    /// A probe over this host with these options.
    pub fn with_host(host: H, options: ProbeOptions) -> Self {
        KvmProbe { host, options }
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

/// An fd owned by the logic: closed through the host when dropped, on every path.
struct Owned<'h, H: KvmHost + ?Sized> {
    host: &'h H,
    fd: Fd,
}

impl<H: KvmHost + ?Sized> Drop for Owned<'_, H> {
    fn drop(&mut self) {
        self.host.close(self.fd);
    }
}

const T_DEVICE: &str = "KVM device node";
const T_OPEN: &str = "Open the KVM device";
const T_API: &str = "KVM API version";
const T_VM: &str = "Create a VM";
const T_CAPS: &str = "Capabilities";
const T_LIMITS: &str = "vCPU and memory-slot limits";
const T_VCPU: &str = "Create a vCPU";
const T_RUN: &str = "Run a one-instruction guest";
const T_REQ: &str = "Requested vCPUs and memory";
const T_RLIM: &str = "File and locked-memory limits";

impl<H: KvmHost> KvmProbe<H> {
    fn explain(&self, op: Operation, errno: i32) -> ProbeError {
        evidence::explain(&self.host, &self.options.device, op, errno)
    }

    /// `KVM_CREATE_VM` with a bounded retry on EINTR; returns the fd and the number of
    /// EINTR retries it took.
    fn create_vm<'h>(&'h self, kvm: &Owned<'h, H>) -> Result<(Owned<'h, H>, u32), ProbeError> {
        const EINTR: i32 = 4;
        let mut retries = 0;
        loop {
            match self.host.create_vm(kvm.fd, 0) {
                Ok(fd) => {
                    return Ok((Owned { host: &self.host, fd }, retries));
                }
                Err(EINTR) if retries < self.options.eintr_retries => retries += 1,
                Err(errno) => {
                    let mut err = self.explain(Operation::CreateVm, errno);
                    if errno == EINTR {
                        err = err.with_detail(format!(
                            "KVM_CREATE_VM was interrupted (EINTR) on all {} attempts",
                            retries + 1
                        ));
                    }
                    return Err(err);
                }
            }
        }
    }

    fn open(&self) -> Result<Owned<'_, H>, ProbeError> {
        match self.host.open(&self.options.device) {
            Ok(fd) => Ok(Owned { host: &self.host, fd }),
            Err(errno) => Err(self.explain(Operation::Open, errno)),
        }
    }

    fn api_version(&self, kvm: &Owned<'_, H>) -> Result<i32, ProbeError> {
        match self.host.get_api_version(kvm.fd) {
            Ok(KVM_API_VERSION) => Ok(KVM_API_VERSION),
            Ok(v) => Err(ProbeError::new(
                Cause::ApiVersionMismatch,
                Operation::GetApiVersion,
                Some(RawCode::Returned(v.into())),
            )
            .with_detail(format!("KVM_GET_API_VERSION returned {v}; hvprobe and every VMM expect {KVM_API_VERSION}"))),
            Err(errno) => Err(self.explain(Operation::GetApiVersion, errno)),
        }
    }

    /// Checks the profile's capabilities on the system fd, then on the VM fd for those
    /// the system fd lacks (some capabilities are per VM).
    fn capabilities(&self, kvm: Fd, vm: Option<Fd>) -> Result<usize, ProbeError> {
        let required = caps::required(&self.options.profile);
        let ask_vm = match vm {
            Some(vm) => {
                matches!(self.host.check_extension(kvm, kb::KVM_CAP_CHECK_EXTENSION_VM), Ok(n) if n > 0).then_some(vm)
            }
            None => None,
        };
        let mut missing = Vec::new();
        for &cap in &required {
            let mut present =
                self.host.check_extension(kvm, cap).map_err(|e| self.explain(Operation::CheckExtension, e))?;
            if present <= 0 {
                if let Some(vm) = ask_vm {
                    present =
                        self.host.check_extension(vm, cap).map_err(|e| self.explain(Operation::CheckExtension, e))?;
                }
            }
            if present <= 0 {
                missing.push(cap);
            }
        }
        if missing.is_empty() {
            return Ok(required.len());
        }
        let names: Vec<String> = missing.iter().map(|c| caps::describe(*c)).collect();
        Err(ProbeError::new(Cause::CapabilityMissing, Operation::CheckExtension, Some(RawCode::Returned(0)))
            .with_detail(format!(
                "profile {} needs {} capabilities; KVM_CHECK_EXTENSION returned 0 for: {}",
                self.options.profile,
                required.len(),
                names.join(", ")
            )))
    }

    fn limits(&self, kvm: Fd, limits: &mut Limits) -> Result<String, ProbeError> {
        let ask = |cap: u32| -> Result<u64, ProbeError> {
            let v = self.host.check_extension(kvm, cap).map_err(|e| self.explain(Operation::CheckExtension, e))?;
            Ok(u64::try_from(v).unwrap_or(0))
        };
        // Per the KVM API: NR_VCPUS defaults to 4 when absent, MAX_VCPUS to NR_VCPUS,
        // MAX_VCPU_ID to MAX_VCPUS.
        let nr = match ask(kb::KVM_CAP_NR_VCPUS)? {
            0 => 4,
            n => n,
        };
        let max = match ask(kb::KVM_CAP_MAX_VCPUS)? {
            0 => nr,
            n => n,
        };
        let max_id = match ask(kb::KVM_CAP_MAX_VCPU_ID)? {
            0 => max,
            n => n,
        };
        let memslots = ask(kb::KVM_CAP_NR_MEMSLOTS)?;
        limits.recommended_vcpus = Some(nr);
        limits.max_vcpus = Some(max);
        limits.max_vcpu_id = Some(max_id);
        limits.memslots = Some(memslots);
        let mut detail = format!("recommended {nr} vCPUs, at most {max} (ids below {max_id}), {memslots} memory slots");
        // arm64 VM types carry the IPA size; 0 from the capability means only the legacy
        // 40-bit layout. Other architectures have no such limit to read.
        if cfg!(any(target_arch = "aarch64", target_arch = "arm")) {
            let bits = match ask(kb::KVM_CAP_ARM_VM_IPA_SIZE)? {
                0 => 40,
                n => u32::try_from(n).unwrap_or(u32::MAX),
            };
            limits.ipa_bits = Some(bits);
            detail.push_str(&format!(", {bits}-bit guest physical addresses"));
        }
        Ok(detail)
    }

    fn guest_run(&self, kvm: Fd, vm: Fd, vcpu: Fd) -> Result<String, ProbeError> {
        match self.host.run_guest(kvm, vm, vcpu) {
            #[cfg(target_arch = "x86_64")]
            Ok(GuestExit::Hlt) => Ok("the guest ran `hlt` and exited with KVM_EXIT_HLT".to_owned()),
            #[cfg(not(target_arch = "x86_64"))]
            Ok(GuestExit::Mmio { address }) => {
                Ok(format!("the guest's store exited with KVM_EXIT_MMIO at {address:#x}"))
            }
            Ok(other) => {
                let reason = match other {
                    GuestExit::Hlt => kb::KVM_EXIT_HLT,
                    GuestExit::Mmio { .. } => kb::KVM_EXIT_MMIO,
                    GuestExit::Other(r) => r,
                };
                Err(ProbeError::new(Cause::GuestRunFailed, Operation::Run, Some(RawCode::Returned(reason.into())))
                    .with_detail(format!("the guest stopped with {} instead of the expected exit", exit_name(reason))))
            }
            Err(step) => Err(self.explain(step.operation, step.errno)),
        }
    }

    fn requested(&self, limits: &Limits) -> Option<Result<String, ProbeError>> {
        let o = &self.options;
        if o.vcpus.is_none() && o.memory_mib.is_none() {
            return None;
        }
        let mut ok = Vec::new();
        if let (Some(want), Some(max)) = (o.vcpus, limits.max_vcpus) {
            if u64::from(want) > max {
                return Some(Err(ProbeError::new(
                    Cause::VcpuLimitExceeded,
                    Operation::CheckExtension,
                    Some(RawCode::Returned(max as i64)),
                )
                .with_detail(format!("{want} vCPUs requested; KVM_CAP_MAX_VCPUS is {max}"))
                .with_remedy(format!("Request at most {max} vCPUs."))));
            }
            ok.push(format!("{want} vCPUs within the limit of {max}"));
        }
        if let Some(mib) = o.memory_mib {
            let bytes = mib.saturating_mul(1 << 20);
            if let Some(bits) = limits.ipa_bits {
                let max = 1u64.checked_shl(bits).unwrap_or(u64::MAX);
                if bytes > max {
                    return Some(Err(ProbeError::new(
                        Cause::MemoryLimitExceeded,
                        Operation::CheckExtension,
                        Some(RawCode::Returned(bits.into())),
                    )
                    .with_detail(format!(
                        "{mib} MiB requested; the guest can address {} MiB ({bits}-bit IPA)",
                        max >> 20
                    ))));
                }
            }
            let total = self.host.read_file("/proc/meminfo").and_then(|m| {
                m.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            });
            match total {
                Some(kib) if bytes > kib.saturating_mul(1024) => {
                    return Some(Err(ProbeError::new(Cause::MemoryLimitExceeded, Operation::Unknown, None)
                        .with_detail(format!("{mib} MiB requested; the host has {} MiB of memory", kib >> 10))
                        .with_remedy(
                            "Request less guest memory than the host has, or allow overcommit deliberately.",
                        )));
                }
                Some(kib) => ok.push(format!("{mib} MiB within the host's {} MiB", kib >> 10)),
                None => ok.push(format!("{mib} MiB (host memory unknown)")),
            }
        }
        Some(Ok(ok.join("; ")))
    }

    fn rlimits(&self, limits: &mut Limits, steps: &mut CheckList) {
        let nofile = self.host.rlimit(Rlimit::Nofile);
        let memlock = self.host.rlimit(Rlimit::Memlock);
        let (soft, hard) = match nofile {
            Ok(v) => v,
            Err(errno) => {
                steps.warn(
                    check_id::RLIMITS,
                    T_RLIM,
                    ProbeError::from_errno(Operation::GetRlimit, errno).with_detail("getrlimit(RLIMIT_NOFILE) failed"),
                );
                return;
            }
        };
        limits.nofile_soft = Some(soft);
        let memlock_text = match memlock {
            Ok((RLIM_INFINITY, _)) => "unlimited".to_owned(),
            Ok((m, _)) => {
                limits.memlock_soft = Some(m);
                format!("{} KiB", m >> 10)
            }
            Err(_) => "unread".to_owned(),
        };
        // A VM costs a VM fd, one per vCPU, and a few eventfds per device.
        let vcpus = u64::from(self.options.vcpus.unwrap_or(1));
        let needed = 32 + 2 * vcpus;
        let text = format!("RLIMIT_NOFILE {} (hard {}), RLIMIT_MEMLOCK {memlock_text}", show(soft), show(hard));
        if soft < needed {
            steps.warn(
                check_id::RLIMITS,
                T_RLIM,
                ProbeError::new(
                    Cause::FileDescriptorsExhausted,
                    Operation::GetRlimit,
                    Some(RawCode::Returned(soft as i64)),
                )
                .with_detail(format!("{text}; a VM with {vcpus} vCPUs and its devices needs about {needed}"))
                .with_remedy(format!("Raise it: `ulimit -n {}`.", needed.max(1024).min(hard))),
            );
        } else {
            steps.pass(check_id::RLIMITS, T_RLIM, text);
        }
    }

    fn facts(&self) -> HostFacts {
        evidence::host_facts(&self.host)
    }
}

fn show(v: u64) -> String {
    if v == RLIM_INFINITY { "unlimited".to_owned() } else { v.to_string() }
}

/// `KVM_EXIT_SHUTDOWN (8)`.
fn exit_name(reason: u32) -> String {
    let name = match reason {
        kb::KVM_EXIT_UNKNOWN => "KVM_EXIT_UNKNOWN",
        kb::KVM_EXIT_EXCEPTION => "KVM_EXIT_EXCEPTION",
        kb::KVM_EXIT_IO => "KVM_EXIT_IO",
        kb::KVM_EXIT_HLT => "KVM_EXIT_HLT",
        kb::KVM_EXIT_MMIO => "KVM_EXIT_MMIO",
        kb::KVM_EXIT_SHUTDOWN => "KVM_EXIT_SHUTDOWN",
        kb::KVM_EXIT_FAIL_ENTRY => "KVM_EXIT_FAIL_ENTRY",
        kb::KVM_EXIT_INTERNAL_ERROR => "KVM_EXIT_INTERNAL_ERROR",
        _ => return format!("exit reason {reason}"),
    };
    format!("{name} ({reason})")
}

impl<H: KvmHost> HypervisorProbe for KvmProbe<H> {
    fn backend(&self) -> Backend {
        Backend::Kvm
    }

    fn report(&self) -> Report {
        let started = Instant::now();
        let o = &self.options;
        let host = &self.host;
        let mut s = CheckList::with_capacity(10);
        let mut limits = Limits::default();
        let path = o.device.display();

        let node_ok = match host.stat(&o.device) {
            Ok(node) if node.is_kvm() => {
                s.pass(
                    check_id::DEVICE,
                    T_DEVICE,
                    format!("{path}: char 10:232, uid {} gid {}, mode {:04o}", node.uid, node.gid, node.mode & 0o7777),
                );
                true
            }
            Ok(node) => {
                let err = ProbeError::new(Cause::NotAKvmDevice, Operation::Stat, None)
                    .with_detail(format!("{path} is {}, not char 10:232", describe_node(host, &node)));
                s.warn(check_id::DEVICE, T_DEVICE, err);
                true
            }
            Err(errno) => {
                s.fail(check_id::DEVICE, T_DEVICE, self.explain(Operation::Stat, errno));
                false
            }
        };

        let kvm = if node_ok {
            match self.open() {
                Ok(kvm) => {
                    s.pass(check_id::OPEN, T_OPEN, format!("{path} opened read-write"));
                    Some(kvm)
                }
                Err(e) => {
                    s.fail(check_id::OPEN, T_OPEN, e);
                    None
                }
            }
        } else {
            s.skip(check_id::OPEN, T_OPEN, "the device node is not there");
            None
        };

        let kvm = kvm.and_then(|kvm| match self.api_version(&kvm) {
            Ok(v) => {
                s.push(
                    Check::pass(check_id::API_VERSION, T_API, format!("KVM_GET_API_VERSION returned {v}"))
                        .with_raw(RawCode::Returned(v.into())),
                );
                Some(kvm)
            }
            Err(e) => {
                s.fail(check_id::API_VERSION, T_API, e);
                None
            }
        });
        if kvm.is_none() && !s.contains(check_id::API_VERSION) {
            s.skip(check_id::API_VERSION, T_API, "the device was not opened");
        }

        let vm = kvm.as_ref().and_then(|kvm| match self.create_vm(kvm) {
            Ok((vm, 0)) => {
                s.pass(check_id::CREATE_VM, T_VM, "KVM_CREATE_VM succeeded".to_owned());
                Some(vm)
            }
            Ok((vm, retries)) => {
                s.pass(check_id::CREATE_VM, T_VM, format!("KVM_CREATE_VM succeeded after {retries} EINTR retries"));
                Some(vm)
            }
            Err(e) => {
                s.fail(check_id::CREATE_VM, T_VM, e);
                None
            }
        });

        let caps_title = format!("{T_CAPS} ({})", o.profile);
        match &kvm {
            Some(kvm) => {
                match self.capabilities(kvm.fd, vm.as_ref().map(|v| v.fd)) {
                    Ok(n) => s.pass(
                        check_id::CAPABILITIES,
                        &caps_title,
                        format!("all {n} capabilities of profile {} present", o.profile),
                    ),
                    Err(e) => s.fail(check_id::CAPABILITIES, &caps_title, e),
                }
                match self.limits(kvm.fd, &mut limits) {
                    Ok(detail) => s.pass(check_id::LIMITS, T_LIMITS, detail),
                    Err(e) => s.fail(check_id::LIMITS, T_LIMITS, e),
                }
            }
            None => {
                s.skip(check_id::CAPABILITIES, &caps_title, "the device was not usable");
                s.skip(check_id::LIMITS, T_LIMITS, "the device was not usable");
            }
        }

        let vcpu = vm.as_ref().and_then(|vm| match host.create_vcpu(vm.fd, 0) {
            Ok(fd) => {
                s.pass(check_id::CREATE_VCPU, T_VCPU, "KVM_CREATE_VCPU 0 succeeded".to_owned());
                Some(Owned { host, fd })
            }
            Err(errno) => {
                s.fail(check_id::CREATE_VCPU, T_VCPU, self.explain(Operation::CreateVcpu, errno));
                None
            }
        });
        if vm.is_none() {
            s.skip(check_id::CREATE_VCPU, T_VCPU, "no VM was created");
        }

        match (o.level, &kvm, &vm, &vcpu) {
            (Level::Quick, ..) => s.skip(check_id::GUEST_RUN, T_RUN, "quick level (use the full level to run a guest)"),
            (Level::Full, Some(kvm), Some(vm), Some(vcpu)) => match self.guest_run(kvm.fd, vm.fd, vcpu.fd) {
                Ok(detail) => s.pass(check_id::GUEST_RUN, T_RUN, detail),
                Err(e) => s.fail(check_id::GUEST_RUN, T_RUN, e),
            },
            (Level::Full, ..) => s.skip(check_id::GUEST_RUN, T_RUN, "no vCPU was created"),
        }
        // Release the guest before the remaining checks, which need no KVM object.
        drop((vcpu, vm, kvm));

        match self.requested(&limits) {
            None => s.skip(check_id::REQUESTED, T_REQ, "no vCPUs or memory requested"),
            Some(Ok(detail)) => s.pass(check_id::REQUESTED, T_REQ, detail),
            Some(Err(e)) => s.fail(check_id::REQUESTED, T_REQ, e),
        }
        self.rlimits(&mut limits, &mut s);

        let facts = self.facts();
        let holders = s.error.as_ref().filter(|e| evidence::holders_matter(e.cause())).map(|_| evidence::holders(host));
        let mut report = Report::new(Backend::Kvm, o.level, s.checks, facts, limits, s.error);
        report.holders = holders;
        report.simulated = host.is_simulated();
        report.elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        report
    }

    fn diagnose_create_failure(&self, failure: &CreateFailure) -> Diagnosis {
        let mut checks = Vec::with_capacity(4);
        let reproduction = (|| {
            let kvm = self.open().inspect_err(|e| checks.push(Check::fail(check_id::OPEN, T_OPEN, e)))?;
            checks.push(Check::pass(
                check_id::OPEN,
                T_OPEN,
                format!("{} opened read-write", self.options.device.display()),
            ));
            let v =
                self.api_version(&kvm).inspect_err(|e| checks.push(Check::fail(check_id::API_VERSION, T_API, e)))?;
            checks.push(Check::pass(check_id::API_VERSION, T_API, format!("KVM_GET_API_VERSION returned {v}")));
            let (vm, retries) =
                self.create_vm(&kvm).inspect_err(|e| checks.push(Check::fail(check_id::CREATE_VM, T_VM, e)))?;
            checks.push(Check::pass(
                check_id::CREATE_VM,
                T_VM,
                format!("KVM_CREATE_VM succeeded ({retries} EINTR retries)"),
            ));
            match self.host.create_vcpu(vm.fd, 0) {
                Ok(fd) => {
                    drop(Owned { host: &self.host, fd });
                    checks.push(Check::pass(check_id::CREATE_VCPU, T_VCPU, "KVM_CREATE_VCPU 0 succeeded".to_owned()));
                    Ok(())
                }
                Err(errno) => {
                    let e = self.explain(Operation::CreateVcpu, errno);
                    checks.push(Check::fail(check_id::CREATE_VCPU, T_VCPU, &e));
                    Err(e)
                }
            }
        })();
        let mut d = Diagnosis::decide(Backend::Kvm, failure.clone(), reproduction, checks);
        if d.error.as_ref().is_some_and(|e| evidence::holders_matter(e.cause())) {
            d.holders = Some(evidence::holders(&self.host));
        }
        d.simulated = self.host.is_simulated();
        d
    }
}
