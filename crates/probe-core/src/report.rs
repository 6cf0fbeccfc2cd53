//! What a startup check yields: individual checks, host facts, limits and a verdict.

use std::fmt;

use crate::cause::Cause;
use crate::error::ProbeError;
use crate::raw::RawCode;

/// Version of the JSON shape of [`Report`] and [`crate::Diagnosis`]. Bumped on any
/// incompatible change; additions of optional fields keep it.
pub const SCHEMA_VERSION: u32 = 1;

/// Which backend produced a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Backend {
    /// Linux KVM.
    Kvm,
    /// macOS Hypervisor.framework.
    Hvf,
    /// A scripted probe for tests.
    Mock,
    /// No backend for this build or platform.
    None,
}

impl Backend {
    /// `kvm`, `hvf`, `mock` or `none`.
    pub const fn name(self) -> &'static str {
        match self {
            Backend::Kvm => "kvm",
            Backend::Hvf => "hvf",
            Backend::Mock => "mock",
            Backend::None => "none",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How far a check goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Level {
    /// Device, API, capabilities, limits, VM and vCPU creation.
    #[default]
    Quick,
    /// Quick, plus a one-instruction guest run.
    Full,
}

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "UPPERCASE"))]
pub enum Status {
    /// Works.
    Pass,
    /// Works, with a caveat.
    Warn,
    /// Does not work; the host cannot run a VM as asked.
    Fail,
    /// Not run (an earlier check failed, or it does not apply).
    Skip,
}

impl Status {
    /// `PASS`, `WARN`, `FAIL` or `SKIP`.
    pub const fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One check of a report.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Check {
    /// Stable identifier (`kvm.open`, `hvf.vm_create`, ...).
    pub id: String,
    /// What was checked, for people.
    pub title: String,
    /// The outcome.
    pub status: Status,
    /// What was observed.
    pub detail: String,
    /// The raw code or value behind the outcome, when there is one.
    pub raw: Option<RawCode>,
    /// The cause, for FAIL and for WARN that has one.
    pub cause: Option<Cause>,
    /// What to do, for anything not PASS.
    pub remedies: Vec<String>,
}

impl Check {
    /// A check with this outcome and no raw code, cause or remedy.
    pub fn new(id: impl Into<String>, title: impl Into<String>, status: Status, detail: impl Into<String>) -> Self {
        Check {
            id: id.into(),
            title: title.into(),
            status,
            detail: detail.into(),
            raw: None,
            cause: None,
            remedies: Vec::new(),
        }
    }

    /// A passing check.
    pub fn pass(id: impl Into<String>, title: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(id, title, Status::Pass, detail)
    }

    /// A skipped check.
    pub fn skip(id: impl Into<String>, title: impl Into<String>, why: impl Into<String>) -> Self {
        Self::new(id, title, Status::Skip, why)
    }

    /// A failing check carrying `error`'s raw code, cause, detail and remedies.
    pub fn fail(id: impl Into<String>, title: impl Into<String>, error: &ProbeError) -> Self {
        Self::from_error(id, title, Status::Fail, error)
    }

    /// A warning carrying `error`'s raw code, cause, detail and remedies.
    pub fn warn(id: impl Into<String>, title: impl Into<String>, error: &ProbeError) -> Self {
        Self::from_error(id, title, Status::Warn, error)
    }

    fn from_error(id: impl Into<String>, title: impl Into<String>, status: Status, error: &ProbeError) -> Self {
        let detail = match (error.raw(), error.detail().is_empty()) {
            (Some(raw), true) => format!("{raw} from {}", error.operation()),
            (Some(raw), false) => format!("{raw} from {}: {}", error.operation(), error.detail()),
            (None, _) => error.detail().to_owned(),
        };
        Check {
            id: id.into(),
            title: title.into(),
            status,
            detail,
            raw: error.raw(),
            cause: Some(error.cause()),
            remedies: error.remedies().to_vec(),
        }
    }

    /// Adds the raw value behind a passing outcome.
    #[must_use]
    pub fn with_raw(mut self, raw: RawCode) -> Self {
        self.raw = Some(raw);
        self
    }
}

/// The checks a backend has run so far, and the first blocking error: what a backend
/// builds a [`Report`] from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckList {
    /// The checks, in the order run.
    pub checks: Vec<Check>,
    /// The error of the first FAIL.
    pub error: Option<ProbeError>,
}

impl CheckList {
    /// An empty list with room for `n` checks.
    pub fn with_capacity(n: usize) -> Self {
        CheckList { checks: Vec::with_capacity(n), error: None }
    }

    /// Adds a check as it is (a FAIL added this way does not set the error).
    pub fn push(&mut self, check: Check) {
        self.checks.push(check);
    }

    /// Adds a passing check.
    pub fn pass(&mut self, id: &str, title: &str, detail: impl Into<String>) {
        self.checks.push(Check::pass(id, title, detail));
    }

    /// Adds a skipped check.
    pub fn skip(&mut self, id: &str, title: &str, why: impl Into<String>) {
        self.checks.push(Check::skip(id, title, why));
    }

    /// Adds a warning.
    pub fn warn(&mut self, id: &str, title: &str, error: ProbeError) {
        self.checks.push(Check::warn(id, title, &error));
    }

    /// Adds a failing check; the first one's error becomes the blocking error.
    pub fn fail(&mut self, id: &str, title: &str, error: ProbeError) {
        self.checks.push(Check::fail(id, title, &error));
        self.error.get_or_insert(error);
    }

    /// Whether a check with this id was added.
    pub fn contains(&self, id: &str) -> bool {
        self.checks.iter().any(|c| c.id == id)
    }
}

/// The overall answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Verdict {
    /// Every check passed.
    Usable,
    /// The host can run a VM; some checks warned.
    UsableWithWarnings,
    /// The host cannot run a VM as asked.
    NotUsable,
}

/// Facts about the host, gathered without changing it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct HostFacts {
    /// `linux`, `macos`, ...
    pub os: String,
    /// `x86_64`, `aarch64`, ...
    pub arch: String,
    /// Kernel release or macOS version.
    pub os_version: Option<String>,
    /// The KVM vendor module loaded (`kvm_intel`, `kvm_amd`, `kvm_pvm`, ...).
    pub vendor_module: Option<String>,
    /// The vendor module's `nested` parameter, or EL2 support on macOS.
    pub nested: Option<String>,
    /// Whether this host is itself a virtual machine.
    pub virtualized: Option<bool>,
    /// Hardware virtualization flag the CPU shows (`vmx`, `svm`), if any.
    pub cpu_virt_flag: Option<String>,
    /// A container runtime this process seems to run in.
    pub container: Option<String>,
    /// Whether this is Windows Subsystem for Linux.
    pub wsl: bool,
}

/// Limits of the hypervisor, as far as they were read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Limits {
    /// Recommended vCPUs per VM (`KVM_CAP_NR_VCPUS`).
    pub recommended_vcpus: Option<u64>,
    /// Maximum vCPUs per VM.
    pub max_vcpus: Option<u64>,
    /// Largest vCPU id + 1 (`KVM_CAP_MAX_VCPU_ID`).
    pub max_vcpu_id: Option<u64>,
    /// Memory slots per VM.
    pub memslots: Option<u64>,
    /// Guest physical address bits (arm64 KVM, Apple silicon).
    pub ipa_bits: Option<u32>,
    /// Default guest physical address bits (Apple silicon).
    pub default_ipa_bits: Option<u32>,
    /// System-wide VM address spaces (macOS).
    pub max_address_spaces: Option<u64>,
    /// Soft RLIMIT_NOFILE of this process.
    pub nofile_soft: Option<u64>,
    /// Soft RLIMIT_MEMLOCK of this process, bytes (`None` when unlimited or unread).
    pub memlock_soft: Option<u64>,
}

/// A process holding KVM VMs (`anon_inode:kvm-vm` descriptors).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct VmHolder {
    /// Process id.
    pub pid: u32,
    /// Its command name.
    pub command: String,
    /// How many VM descriptors it holds.
    pub vms: u32,
}

/// Who holds VMs on this host, as far as this process may look.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct VmHolders {
    /// Processes holding at least one VM, most VMs first.
    pub processes: Vec<VmHolder>,
    /// Processes whose descriptors this process may not read.
    pub uninspectable: u32,
}

impl VmHolders {
    /// VMs held by the processes that could be inspected.
    pub fn total_vms(&self) -> u32 {
        self.processes.iter().map(|p| p.vms).sum()
    }
}

/// The result of a startup check.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Report {
    /// [`SCHEMA_VERSION`].
    pub schema: u32,
    /// The backend that ran the checks.
    pub backend: Backend,
    /// True when a scripted host produced this report, not the real one.
    pub simulated: bool,
    /// The level asked for.
    pub level: Level,
    /// Whether the host can run a VM as asked.
    pub usable: bool,
    /// The overall answer.
    pub verdict: Verdict,
    /// Each check, in the order run.
    pub checks: Vec<Check>,
    /// What the host is.
    pub host: HostFacts,
    /// What the hypervisor allows.
    pub limits: Limits,
    /// The blocking error, when not usable.
    pub error: Option<ProbeError>,
    /// Who holds VMs, gathered when the blocking error is an exhaustion.
    #[cfg_attr(feature = "serde", serde(default))]
    pub holders: Option<VmHolders>,
    /// Wall time of the check, microseconds.
    pub elapsed_us: u64,
}

impl Report {
    /// A report whose verdict follows from the checks and the blocking error: not
    /// usable exactly when `error` is set (a FAIL check without an error gets one).
    pub fn new(
        backend: Backend,
        level: Level,
        checks: Vec<Check>,
        host: HostFacts,
        limits: Limits,
        error: Option<ProbeError>,
    ) -> Self {
        let error = error.or_else(|| {
            checks.iter().find(|c| c.status == Status::Fail).map(|c| {
                let cause = c.cause.unwrap_or(Cause::UnexpectedErrno);
                ProbeError::new(cause, crate::Operation::Unknown, c.raw).with_detail(c.detail.clone())
            })
        });
        let verdict = if error.is_some() {
            Verdict::NotUsable
        } else if checks.iter().any(|c| c.status == Status::Warn) {
            Verdict::UsableWithWarnings
        } else {
            Verdict::Usable
        };
        Report {
            schema: SCHEMA_VERSION,
            backend,
            simulated: false,
            level,
            usable: verdict != Verdict::NotUsable,
            verdict,
            checks,
            host,
            limits,
            error,
            holders: None,
            elapsed_us: 0,
        }
    }

    /// The check with this id.
    pub fn check(&self, id: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }

    /// `Ok(self)` when usable, otherwise the blocking error with the whole report.
    pub fn into_result(self) -> Result<Report, NotUsable> {
        if self.usable {
            return Ok(self);
        }
        let error = self.error.clone().unwrap_or_else(|| {
            ProbeError::new(Cause::UnexpectedErrno, crate::Operation::Unknown, None)
                .with_detail("the report is marked not usable but names no error")
        });
        Err(NotUsable { error, report: Box::new(self) })
    }
}

/// A startup check that found the host unusable. Displays as the blocking error and
/// keeps the whole report, so `probe.startup_check()?` loses nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotUsable {
    error: ProbeError,
    report: Box<Report>,
}

impl NotUsable {
    /// The blocking error.
    pub fn error(&self) -> &ProbeError {
        &self.error
    }

    /// The whole report.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// Takes the whole report.
    pub fn into_report(self) -> Report {
        *self.report
    }
}

impl fmt::Display for NotUsable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} cannot run a VM: {}", self.report.backend, self.error)
    }
}

impl std::error::Error for NotUsable {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}
