//! `cargo xtask matrix`: the hardware and fault matrix. Each row sets up a fault the way
//! users meet it (the operating system produces it: users, namespaces, cgroups,
//! seccomp, rlimits, ptrace), runs the real `hvprobe` binary in a child process, and
//! compares verdict, kind, cause, raw code and exit code with what the row expects.
//! Everything a row creates is torn down, even when it fails.

use std::fmt::Write as _;
use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use serde_json::Value;

use crate::Error;

/// Arguments of `matrix`.
#[derive(Debug, Default, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Fail rows that cannot run for want of root or /dev/kvm (CI sets this where
    /// /dev/kvm exists).
    #[arg(long)]
    pub require_all: bool,
    /// Only rows whose name contains this.
    #[arg(long)]
    pub filter: Option<String>,
    /// The hvprobe binary (default: build it with cargo and use target/debug/hvprobe).
    #[arg(long)]
    pub hvprobe: Option<PathBuf>,
}

/// Output format of the matrix.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table for people.
    #[default]
    Table,
    /// One JSON array.
    Json,
}

/// Where a row runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Os {
    Linux,
    /// A physical Mac.
    MacPhysical,
    /// A Mac that is itself a VM (`kern.hv_vmm_present` = 1), such as a hosted CI runner.
    MacVirtual,
}

impl Os {
    fn is_mac(self) -> bool {
        matches!(self, Os::MacPhysical | Os::MacVirtual)
    }
}

/// How a row sets up its fault.
#[derive(Debug, Clone, Copy)]
enum Setup {
    /// Nothing: the host as it is.
    Plain,
    /// Runs as nobody with no supplementary groups.
    Unprivileged,
    /// nobody is listed in /etc/group for the device's group but the session lacks it
    /// (private mount namespace, private /etc/group and device node).
    StaleGroupSession,
    /// A mount namespace whose /dev is an empty tmpfs.
    NoDeviceNode,
    /// A mount namespace where /dev/null is bind-mounted over /dev/kvm.
    NonKvmNode,
    /// A v1 device cgroup that denies c 10:232.
    DeviceCgroupDeny,
    /// A seccomp filter: this ioctl (and argument) fails with this errno (0: returns 0).
    Seccomp { ioctl: &'static str, arg: Option<u64>, errno: u32 },
    /// ptrace (strace) makes the ioctl calls numbered `when` fail with EINTR.
    StraceEintr { when: &'static str },
    /// RLIMIT_NOFILE at 3 with stdin closed: the loader still runs, open() gets EMFILE.
    LowNofile,
    /// A copy of hvprobe ad-hoc signed with the hypervisor entitlement.
    MacSigned,
    /// A copy of hvprobe ad-hoc signed without the entitlement.
    MacNoEntitlement,
    /// A signed program that owns its one VM, then runs the probe in the same process.
    MacOwningVm,
    /// Signed holder processes fill the address-space pool until HV_NO_RESOURCES.
    MacPoolFull,
    /// The pool is filled, then one holder exits.
    MacPoolSlotFreed,
}

/// What the row runs.
#[derive(Debug, Clone, Copy)]
enum Run {
    Check(&'static [&'static str]),
    Diagnose(&'static [&'static str]),
}

/// What the row expects.
#[derive(Debug, Clone, Copy)]
struct Expect {
    exit: i32,
    /// `usable` for check, `verdict` for diagnose.
    outcome: &'static str,
    kind: Option<&'static str>,
    cause: Option<&'static str>,
    /// (raw kind, raw value).
    raw: Option<(&'static str, i64)>,
    /// Text the detail of the error (or of a named check) contains.
    detail: Option<(&'static str, &'static str)>,
}

#[derive(Debug, Clone, Copy)]
struct Row {
    name: &'static str,
    os: Os,
    root: bool,
    kvm: bool,
    setup: Setup,
    run: Run,
    expect: Expect,
}

const fn usable(exit: i32) -> Expect {
    Expect { exit, outcome: "usable", kind: None, cause: None, raw: None, detail: None }
}

const fn fails(kind: &'static str, cause: &'static str, raw_kind: &'static str, raw: i64) -> Expect {
    Expect {
        exit: 1,
        outcome: "not_usable",
        kind: Some(kind),
        cause: Some(cause),
        raw: Some((raw_kind, raw)),
        detail: None,
    }
}

const fn diagnosed(verdict: &'static str, exit: i32, cause: &'static str, raw: i64) -> Expect {
    Expect { exit, outcome: verdict, kind: None, cause: Some(cause), raw: Some(("errno", raw)), detail: None }
}

macro_rules! row {
    ($name:literal, $setup:expr, $run:expr, $expect:expr) => {
        Row { name: $name, os: Os::Linux, root: true, kvm: true, setup: $setup, run: $run, expect: $expect }
    };
}

const CHECK: Run = Run::Check(&[]);
const EBUSY: u32 = 16;
const ENOMEM: u32 = 12;
const EINVAL: u32 = 22;
const ENOSPC: u32 = 28;
const EINTR: u32 = 4;
/// No kernel returns this errno: it must come back as data.
const UNKNOWN_ERRNO: u32 = 3999;
const KVM_CAP_IRQFD: u64 = 32;

fn seccomp_create_vm(errno: u32) -> Setup {
    Setup::Seccomp { ioctl: "KVM_CREATE_VM", arg: None, errno }
}

/// The matrix, as data.
fn rows() -> Vec<Row> {
    let mut rows = vec![
        row!("healthy, quick level", Setup::Plain, CHECK, usable(0)),
        row!(
            "healthy, full level (HLT guest)",
            Setup::Plain,
            Run::Check(&["--full", "--profile", "firecracker"]),
            Expect { detail: Some(("kvm.guest_run", "KVM_EXIT_HLT")), ..usable(0) }
        ),
        row!(
            "unprivileged user (EACCES)",
            Setup::Unprivileged,
            CHECK,
            Expect {
                detail: Some(("error", "uid 65534")),
                ..fails("permission_denied", "device_access_denied", "errno", 13)
            }
        ),
        row!(
            "stale group session (EACCES)",
            Setup::StaleGroupSession,
            CHECK,
            Expect {
                detail: Some(("error", "/etc/group lists nobody")),
                ..fails("permission_denied", "stale_group_session", "errno", 13)
            }
        ),
        row!(
            "mount namespace without /dev/kvm (ENOENT)",
            Setup::NoDeviceNode,
            CHECK,
            Expect {
                detail: Some(("error", "/proc/misc lists 232 kvm")),
                ..fails("unavailable", "device_node_missing", "errno", 2)
            }
        ),
        row!(
            "non-KVM node at /dev/kvm (ENOTTY)",
            Setup::NonKvmNode,
            CHECK,
            Expect { detail: Some(("error", "char 1:3")), ..fails("unavailable", "not_a_kvm_device", "errno", 25) }
        ),
        row!(
            "v1 device cgroup denies c 10:232 (EPERM)",
            Setup::DeviceCgroupDeny,
            CHECK,
            Expect {
                detail: Some(("error", "device cgroup (v1)")),
                ..fails("permission_denied", "container_device_policy", "errno", 1)
            }
        ),
        row!(
            "seccomp: KVM_CREATE_VM -> EBUSY",
            seccomp_create_vm(EBUSY),
            CHECK,
            fails("busy", "other_hypervisor_active", "errno", 16)
        ),
        row!(
            "seccomp: KVM_CREATE_VM -> ENOMEM",
            seccomp_create_vm(ENOMEM),
            CHECK,
            fails("resource_exhausted", "kernel_memory_exhausted", "errno", 12)
        ),
        row!(
            "seccomp: KVM_CREATE_VM -> EINVAL",
            seccomp_create_vm(EINVAL),
            CHECK,
            fails("incompatible", "invalid_vm_type", "errno", 22)
        ),
        row!(
            "seccomp: KVM_CREATE_VM -> ENOSPC",
            seccomp_create_vm(ENOSPC),
            CHECK,
            fails("resource_exhausted", "host_resources_exhausted", "errno", 28)
        ),
        row!(
            "seccomp: KVM_CREATE_VM -> unknown errno 3999",
            seccomp_create_vm(UNKNOWN_ERRNO),
            CHECK,
            fails("unknown", "unexpected_errno", "errno", 3999)
        ),
        row!(
            "ptrace: KVM_CREATE_VM -> EINTR x3, then success",
            Setup::StraceEintr { when: "2..4" },
            CHECK,
            Expect { detail: Some(("kvm.create_vm", "after 3 EINTR retries")), ..usable(0) }
        ),
        row!(
            "seccomp: KVM_CREATE_VM -> EINTR forever (bounded)",
            seccomp_create_vm(EINTR),
            CHECK,
            Expect {
                detail: Some(("error", "on all 9 attempts")),
                ..fails("interrupted", "interrupted_repeatedly", "errno", 4)
            }
        ),
        row!(
            "seccomp: KVM_CHECK_EXTENSION(IRQFD) -> 0 (firecracker profile)",
            Setup::Seccomp { ioctl: "KVM_CHECK_EXTENSION", arg: Some(KVM_CAP_IRQFD), errno: 0 },
            Run::Check(&["--profile", "firecracker"]),
            Expect {
                detail: Some(("error", "KVM_CAP_IRQFD (32)")),
                ..fails("incompatible", "capability_missing", "returned", 0)
            }
        ),
        row!(
            "seccomp: KVM_GET_API_VERSION -> 0",
            Setup::Seccomp { ioctl: "KVM_GET_API_VERSION", arg: None, errno: 0 },
            CHECK,
            fails("incompatible", "api_version_mismatch", "returned", 0)
        ),
        row!(
            "RLIMIT_NOFILE 3: open fails (EMFILE)",
            Setup::LowNofile,
            CHECK,
            Expect {
                detail: Some(("error", "RLIMIT_NOFILE is 3")),
                ..fails("resource_exhausted", "file_descriptors_exhausted", "errno", 24)
            }
        ),
        row!(
            "diagnose EMFILE under RLIMIT_NOFILE 3",
            Setup::LowNofile,
            Run::Diagnose(&["--errno", "EMFILE"]),
            diagnosed("hypervisor_cause", 1, "file_descriptors_exhausted", 24)
        ),
        row!(
            "diagnose EMFILE without the limit: the VMM's process",
            Setup::Plain,
            Run::Diagnose(&["--errno", "EMFILE"]),
            diagnosed("cause_elsewhere", 0, "file_descriptors_exhausted", 24)
        ),
    ];
    // diagnose_create_failure after each injected KVM_CREATE_VM failure: the diagnosis
    // names the injected errno, not the VMM's generic EINVAL.
    let diagnose_rows: [(&'static str, u32, &'static str); 5] = [
        ("diagnose after KVM_CREATE_VM -> EBUSY", EBUSY, "other_hypervisor_active"),
        ("diagnose after KVM_CREATE_VM -> ENOMEM", ENOMEM, "kernel_memory_exhausted"),
        ("diagnose after KVM_CREATE_VM -> EINVAL", EINVAL, "invalid_vm_type"),
        ("diagnose after KVM_CREATE_VM -> ENOSPC", ENOSPC, "host_resources_exhausted"),
        ("diagnose after KVM_CREATE_VM -> errno 3999", UNKNOWN_ERRNO, "unexpected_errno"),
    ];
    for (name, errno, cause) in diagnose_rows {
        rows.push(Row {
            name,
            os: Os::Linux,
            root: true,
            kvm: true,
            setup: seccomp_create_vm(errno),
            run: Run::Diagnose(&["--errno", "-22"]),
            expect: diagnosed("hypervisor_cause", 1, cause, i64::from(errno)),
        });
    }
    let mac = |name, os, setup, run, expect| Row { name, os, root: false, kvm: false, setup, run, expect };
    rows.extend([
        mac("macOS: signed binary (healthy)", Os::MacPhysical, Setup::MacSigned, CHECK, usable(0)),
        mac(
            "macOS VM: signed binary (HV_UNSUPPORTED, host is a VM)",
            Os::MacVirtual,
            Setup::MacSigned,
            CHECK,
            fails("unavailable", "host_is_virtual_machine", "hv_return", -85_377_009),
        ),
        mac(
            "macOS: binary without the entitlement (HV_DENIED)",
            Os::MacPhysical,
            Setup::MacNoEntitlement,
            CHECK,
            fails("permission_denied", "entitlement_missing", "hv_return", -85_377_017),
        ),
        mac(
            "macOS: second VM in one process (HV_BUSY)",
            Os::MacPhysical,
            Setup::MacOwningVm,
            CHECK,
            fails("busy", "process_already_owns_vm", "hv_return", -85_377_022),
        ),
        mac(
            "macOS: address-space pool full (HV_NO_RESOURCES)",
            Os::MacPhysical,
            Setup::MacPoolFull,
            Run::Diagnose(&["--hv", "HV_NO_RESOURCES"]),
            Expect {
                raw: Some(("hv_return", -85_377_019)),
                detail: Some(("error", "kern.hv.max_address_spaces")),
                ..diagnosed("hypervisor_cause", 1, "address_spaces_exhausted", 0)
            },
        ),
        mac(
            "macOS: one pool slot freed (transient)",
            Os::MacPhysical,
            Setup::MacPoolSlotFreed,
            Run::Diagnose(&["--hv", "HV_NO_RESOURCES"]),
            Expect {
                raw: Some(("hv_return", -85_377_019)),
                ..diagnosed("transient_cleared", 0, "address_spaces_exhausted", 0)
            },
        ),
    ]);
    rows
}

/// A row's result.
#[derive(Debug, Clone, serde::Serialize)]
struct Outcome {
    name: String,
    expected: String,
    observed: String,
    result: &'static str,
    reason: Option<String>,
    millis: u128,
}

fn describe(e: &Expect) -> String {
    let mut s = format!("exit {} {}", e.exit, e.outcome);
    if let (Some(k), Some(c)) = (e.kind, e.cause) {
        let _ = write!(s, " {k}/{c}");
    } else if let Some(c) = e.cause {
        let _ = write!(s, " {c}");
    }
    if let Some((kind, v)) = e.raw {
        let _ = write!(s, " {kind} {v}");
    }
    s
}

/// Resources a row created; removed on drop, so a failing row leaves nothing behind.
#[derive(Debug, Default)]
struct Teardown {
    dirs: Vec<PathBuf>,
    cgroups: Vec<PathBuf>,
    /// VM holders: closing stdin makes each destroy its VM and exit.
    children: Vec<Child>,
}

impl Drop for Teardown {
    fn drop(&mut self) {
        for mut c in self.children.drain(..) {
            drop(c.stdin.take());
            if c.wait_timeout_or_kill().is_err() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        for c in self.cgroups.drain(..) {
            let _ = std::fs::remove_dir(&c);
        }
        for d in self.dirs.drain(..) {
            let _ = std::fs::remove_dir_all(&d);
        }
    }
}

const PREFIX: &str = "hvprobe-matrix";

fn temp_dir(t: &mut Teardown, tag: &str) -> Result<PathBuf, Error> {
    let dir = std::env::temp_dir().join(format!("{PREFIX}-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| Error::msg(format!("{}: {e}", dir.display())))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).map_err(|e| Error::msg(e.to_string()))?;
    t.dirs.push(dir.clone());
    Ok(dir)
}

/// A copy of hvprobe that an unprivileged user may run.
fn public_copy(t: &mut Teardown, hvprobe: &Path) -> Result<PathBuf, Error> {
    let dir = temp_dir(t, "bin")?;
    let exe = dir.join("hvprobe");
    std::fs::copy(hvprobe, &exe).map_err(|e| Error::msg(format!("copying {}: {e}", hvprobe.display())))?;
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).map_err(|e| Error::msg(e.to_string()))?;
    Ok(exe)
}

/// Waits up to five seconds for a child, then reports it as stuck.
trait WaitOrKill {
    fn wait_timeout_or_kill(&mut self) -> std::io::Result<()>;
}

impl WaitOrKill for Child {
    fn wait_timeout_or_kill(&mut self) -> std::io::Result<()> {
        let until = Instant::now() + std::time::Duration::from_secs(5);
        while Instant::now() < until {
            if self.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Err(std::io::Error::other("child did not exit"))
    }
}

/// Ad-hoc signs `path`, with the hypervisor entitlement or without.
fn codesign(root: &Path, path: &Path, entitled: bool) -> Result<(), Error> {
    let mut c = Command::new("codesign");
    c.args(["--sign", "-", "--force"]);
    if entitled {
        c.arg("--entitlements").arg(root.join("hvf.entitlements"));
    }
    let out = c.arg(path).output().map_err(|e| Error::msg(format!("codesign: {e}")))?;
    if !out.status.success() {
        return Err(Error::msg(format!(
            "codesign {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// A signed copy of `exe` in a row's temporary directory.
fn signed_copy(root: &Path, t: &mut Teardown, exe: &Path, entitled: bool) -> Result<PathBuf, Error> {
    let copy = public_copy(t, exe)?;
    codesign(root, &copy, entitled)?;
    Ok(copy)
}

/// `sysctl -n NAME` as an integer.
fn sysctl_n(name: &str) -> Option<i64> {
    let out = Command::new("sysctl").args(["-n", name]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

const HV_NO_RESOURCES: i64 = -85_377_019;

/// Starts signed VM holders until one gets HV_NO_RESOURCES (the pool is full), at most
/// the pool's size plus a few. The holders stay in `t` until the row ends.
fn fill_pool(root: &Path, t: &mut Teardown, examples: &Path) -> Result<(), Error> {
    let holder = signed_copy(root, t, &examples.join("hvf_hold_vm"), true)?;
    let limit = sysctl_n("kern.hv.max_address_spaces").unwrap_or(128);
    for _ in 0..limit + 8 {
        let mut child = Command::new(&holder)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| Error::msg(format!("starting a VM holder: {e}")))?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = std::io::BufReader::new(out).read_line(&mut line);
        }
        t.children.push(child);
        match line.trim().parse::<i64>() {
            Ok(0) => {}
            Ok(HV_NO_RESOURCES) => return Ok(()),
            other => return Err(Error::msg(format!("a VM holder answered {other:?} instead of 0 or HV_NO_RESOURCES"))),
        }
    }
    Err(Error::msg(format!("the pool did not fill after {} VMs", limit + 8)))
}

fn sh(script: String) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c").arg(script);
    c
}

fn quote(args: &[String]) -> String {
    args.iter().map(|a| format!("'{}'", a.replace('\'', "'\\''"))).collect::<Vec<_>>().join(" ")
}

/// Paths a row's command needs.
struct Tools<'a> {
    root: &'a Path,
    hvprobe: &'a Path,
    xtask: &'a Path,
    /// `target/debug/examples` of probe-hvf (macOS).
    examples: &'a Path,
}

/// The command that runs `hvprobe_args` under the row's fault.
fn command(row: &Row, tools: &Tools<'_>, t: &mut Teardown) -> Result<Command, Error> {
    let Tools { root, hvprobe, xtask, examples } = *tools;
    let mut args: Vec<String> = match row.run {
        Run::Check(a) => ["check", "--format", "json"].iter().chain(a).map(|s| (*s).to_owned()).collect(),
        Run::Diagnose(a) => ["diagnose", "--format", "json"].iter().chain(a).map(|s| (*s).to_owned()).collect(),
    };
    let exe = hvprobe.display().to_string();
    Ok(match row.setup {
        Setup::Plain => {
            let mut c = Command::new(hvprobe);
            c.args(&args);
            c
        }
        Setup::Unprivileged => {
            let exe = public_copy(t, hvprobe)?;
            let mut c = Command::new("setpriv");
            c.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"]).arg(exe).args(&args);
            c
        }
        Setup::StaleGroupSession => {
            let exe = public_copy(t, hvprobe)?;
            let dir = temp_dir(t, "stale")?;
            let groups = std::fs::read_to_string("/etc/group").map_err(|e| Error::msg(format!("/etc/group: {e}")))?;
            let group = dir.join("group");
            std::fs::write(&group, format!("{groups}hvmatrix:x:4243:nobody\n"))
                .map_err(|e| Error::msg(e.to_string()))?;
            std::fs::set_permissions(&group, std::fs::Permissions::from_mode(0o644))
                .map_err(|e| Error::msg(e.to_string()))?;
            let node = dir.join("kvm");
            args.extend(["--device".to_owned(), node.display().to_string()]);
            let mut c = Command::new("unshare");
            c.args(["--mount", "--propagation", "private", "sh", "-c"]).arg(format!(
                "set -e; mknod {n} c 10 232; chown 0:4243 {n}; chmod 0660 {n}; mount --bind {g} /etc/group; \
                 exec setpriv --reuid 65534 --regid 65534 --clear-groups {exe} {a}",
                n = node.display(),
                g = group.display(),
                exe = exe.display(),
                a = quote(&args)
            ));
            c
        }
        Setup::NoDeviceNode => {
            let mut c = Command::new("unshare");
            c.args(["--mount", "--propagation", "private", "sh", "-c"])
                .arg(format!("set -e; mount -t tmpfs none /dev; exec {exe} {}", quote(&args)));
            c
        }
        Setup::NonKvmNode => {
            let mut c = Command::new("unshare");
            c.args(["--mount", "--propagation", "private", "sh", "-c"])
                .arg(format!("set -e; mount --bind /dev/null /dev/kvm; exec {exe} {}", quote(&args)));
            c
        }
        Setup::DeviceCgroupDeny => {
            let root = Path::new("/sys/fs/cgroup/devices");
            if !root.join("devices.deny").exists() {
                return Err(Error::msg("no cgroup v1 device controller at /sys/fs/cgroup/devices"));
            }
            let cg = root.join(format!("{PREFIX}-{}", std::process::id()));
            std::fs::create_dir(&cg).map_err(|e| Error::msg(format!("{}: {e}", cg.display())))?;
            t.cgroups.push(cg.clone());
            std::fs::write(cg.join("devices.deny"), "c 10:232 rwm")
                .map_err(|e| Error::msg(format!("devices.deny: {e}")))?;
            sh(format!("echo $$ > {}/cgroup.procs && exec {exe} {}", cg.display(), quote(&args)))
        }
        Setup::Seccomp { ioctl, arg, errno } => {
            let rule = match arg {
                Some(a) => format!("{ioctl}:{a}={errno}"),
                None => format!("{ioctl}={errno}"),
            };
            let mut c = Command::new(xtask);
            c.args(["fault-exec", "--ioctl", &rule, "--", &exe]).args(&args);
            c
        }
        Setup::StraceEintr { when } => {
            let mut c = Command::new("strace");
            c.args([
                "-f",
                "-o",
                "/dev/null",
                "-e",
                "trace=ioctl",
                "-e",
                &format!("inject=ioctl:error=EINTR:when={when}"),
                &exe,
            ])
            .args(&args);
            c
        }
        Setup::LowNofile => sh(format!("exec 0<&-; ulimit -n 3; exec {exe} {}", quote(&args))),
        Setup::MacSigned | Setup::MacNoEntitlement => {
            let copy = signed_copy(root, t, hvprobe, matches!(row.setup, Setup::MacSigned))?;
            let mut c = Command::new(copy);
            c.args(&args);
            c
        }
        Setup::MacOwningVm => Command::new(signed_copy(root, t, &examples.join("hvf_probe_while_owning"), true)?),
        Setup::MacPoolFull | Setup::MacPoolSlotFreed => {
            let copy = signed_copy(root, t, hvprobe, true)?;
            fill_pool(root, t, examples)?;
            if matches!(row.setup, Setup::MacPoolSlotFreed) {
                // The holder that got HV_NO_RESOURCES holds nothing; free a real slot.
                let last = t.children.len().saturating_sub(2);
                let mut freed = t.children.remove(last);
                drop(freed.stdin.take());
                freed.wait().map_err(|e| Error::msg(format!("waiting for a VM holder: {e}")))?;
            }
            let mut c = Command::new(copy);
            c.args(&args);
            c
        }
    })
}

/// Compares the JSON hvprobe printed with the expectation; `Err` says what differs.
fn compare(row: &Row, code: i32, v: &Value) -> Result<String, String> {
    let e = &row.expect;
    let (outcome, err) = match row.run {
        Run::Check(_) => {
            let usable = v["usable"].as_bool().ok_or("no `usable` field")?;
            (if usable { "usable" } else { "not_usable" }.to_owned(), &v["error"])
        }
        Run::Diagnose(_) => (v["verdict"].as_str().ok_or("no `verdict` field")?.to_owned(), &v["error"]),
    };
    let mut observed = format!("exit {code} {outcome}");
    let kind = err["kind"].as_str();
    let cause = err["cause"].as_str();
    if let (Some(k), Some(c)) = (kind, cause) {
        if e.kind.is_some() {
            let _ = write!(observed, " {k}/{c}");
        } else {
            let _ = write!(observed, " {c}");
        }
    }
    let raw = (err["raw"]["kind"].as_str(), err["raw"]["value"].as_i64());
    if let (Some(rk), Some(rv)) = raw {
        if e.raw.is_some() {
            let _ = write!(observed, " {rk} {rv}");
        }
    }
    let mut problems = Vec::new();
    if code != e.exit {
        problems.push(format!("exit code {code}, expected {}", e.exit));
    }
    if outcome != e.outcome {
        problems.push(format!("{outcome}, expected {}", e.outcome));
    }
    if e.kind.is_some() && kind != e.kind {
        problems.push(format!("kind {kind:?}, expected {:?}", e.kind));
    }
    if e.cause.is_some() && cause != e.cause {
        problems.push(format!("cause {cause:?}, expected {:?}", e.cause));
    }
    if let Some((rk, rv)) = e.raw {
        if raw != (Some(rk), Some(rv)) {
            problems.push(format!("raw {raw:?}, expected ({rk}, {rv})"));
        }
    }
    if let Some((place, text)) = e.detail {
        let detail = if place == "error" {
            err["detail"].as_str().unwrap_or("").to_owned()
        } else {
            v["checks"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["id"] == place))
                .map_or(String::new(), |c| c["detail"].as_str().unwrap_or("").to_owned())
        };
        if !detail.contains(text) {
            problems.push(format!("{place} detail `{detail}` lacks `{text}`"));
        }
    }
    if problems.is_empty() { Ok(observed) } else { Err(format!("{observed} ({})", problems.join("; "))) }
}

/// Whether this process runs with effective uid 0.
pub(crate) fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0")))
        .unwrap_or(false)
}

/// Leftovers the matrix could have created: cgroups and temporary directories.
fn leftovers() -> Vec<String> {
    let mut found = Vec::new();
    for dir in [Path::new("/sys/fs/cgroup/devices"), &std::env::temp_dir()] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(PREFIX) {
                    found.push(dir.join(name).display().to_string());
                }
            }
        }
    }
    found
}

fn build(root: &Path, what: &[&str]) -> Result<PathBuf, Error> {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args(["build", "--quiet"])
        .args(what)
        .current_dir(root)
        .status()
        .map_err(|e| Error::msg(format!("cargo build: {e}")))?;
    if !status.success() {
        return Err(Error::msg(format!("cargo build {} failed", what.join(" "))));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    Ok(target.join("debug"))
}

/// Runs the matrix; an error when any row fails.
pub fn run(root: &Path, args: &Args) -> Result<(), Error> {
    let hvprobe = match &args.hvprobe {
        Some(p) => p.clone(),
        None => build(root, &["-p", "hvprobe"])?.join("hvprobe"),
    };
    let examples = if cfg!(target_os = "macos") {
        build(root, &["-p", "probe-hvf", "--examples"])?.join("examples")
    } else {
        PathBuf::new()
    };
    let xtask = std::env::current_exe().map_err(|e| Error::msg(format!("own path: {e}")))?;
    let tools = Tools { root, hvprobe: &hvprobe, xtask: &xtask, examples: &examples };
    let root_user = is_root();
    let kvm = Path::new("/dev/kvm").exists();
    let this_os = if !cfg!(target_os = "macos") {
        Os::Linux
    } else if sysctl_n("kern.hv_vmm_present") == Some(1) {
        Os::MacVirtual
    } else {
        Os::MacPhysical
    };
    let started = Instant::now();
    let mut outcomes = Vec::new();
    for row in rows().iter().filter(|r| args.filter.as_ref().is_none_or(|f| r.name.contains(f.as_str()))) {
        let t0 = Instant::now();
        let skip = if row.os != this_os {
            Some(match (row.os, this_os) {
                (Os::Linux, _) => "needs Linux".to_owned(),
                (os, Os::Linux) if os.is_mac() => "needs macOS (a Mac with Hypervisor.framework)".to_owned(),
                (Os::MacPhysical, _) => "needs a physical Mac; this Mac is a VM (kern.hv_vmm_present = 1)".to_owned(),
                _ => "needs a Mac that is a VM; this one is physical".to_owned(),
            })
        } else if row.root && !root_user {
            Some("needs root to produce the fault".to_owned())
        } else if row.kvm && !kvm {
            Some("needs /dev/kvm".to_owned())
        } else {
            None
        };
        let (result, observed, reason) = match skip {
            Some(why) if row.os == Os::Linux && this_os == Os::Linux && args.require_all => {
                ("FAIL", "did not run".to_owned(), Some(why))
            }
            Some(why) => ("SKIP", "-".to_owned(), Some(why)),
            None => {
                let mut teardown = Teardown::default();
                let outcome = command(row, &tools, &mut teardown).and_then(|mut c| {
                    c.env("NO_COLOR", "1").output().map_err(|e| Error::msg(format!("cannot run the row: {e}")))
                });
                drop(teardown);
                match outcome {
                    Err(e) => ("FAIL", "setup failed".to_owned(), Some(e.to_string())),
                    Ok(out) => {
                        let code = out.status.code().unwrap_or(-1);
                        match serde_json::from_slice::<Value>(&out.stdout) {
                            Err(_) => (
                                "FAIL",
                                format!("exit {code}, no JSON"),
                                Some(String::from_utf8_lossy(&out.stderr).trim().chars().take(300).collect()),
                            ),
                            Ok(v) => match compare(row, code, &v) {
                                Ok(obs) => ("PASS", obs, None),
                                Err(obs) => ("FAIL", obs, None),
                            },
                        }
                    }
                }
            }
        };
        outcomes.push(Outcome {
            name: row.name.to_owned(),
            expected: describe(&row.expect),
            observed,
            result,
            reason,
            millis: t0.elapsed().as_millis(),
        });
    }
    let left = leftovers();
    let failed = outcomes.iter().filter(|o| o.result == "FAIL").count();
    match args.format {
        Format::Json => {
            let v = serde_json::json!({
                "rows": outcomes,
                "passed": outcomes.iter().filter(|o| o.result == "PASS").count(),
                "failed": failed,
                "skipped": outcomes.iter().filter(|o| o.result == "SKIP").count(),
                "leftovers": left,
                "millis": started.elapsed().as_millis(),
            });
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        Format::Table => print_table(&outcomes, &left, started.elapsed().as_millis()),
    }
    if failed > 0 || !left.is_empty() {
        return Err(Error::msg(format!("{failed} matrix rows failed, {} leftovers", left.len())));
    }
    Ok(())
}

fn print_table(outcomes: &[Outcome], left: &[String], millis: u128) {
    let w = outcomes.iter().map(|o| o.name.len()).max().unwrap_or(8);
    let we = outcomes.iter().map(|o| o.expected.len()).max().unwrap_or(8);
    println!("{:<w$}  {:<we$}  {:<6} {:>6}  observed", "scenario", "expected", "result", "ms");
    for o in outcomes {
        let obs = match &o.reason {
            Some(r) => format!("{} ({r})", o.observed),
            None => o.observed.clone(),
        };
        println!("{:<w$}  {:<we$}  {:<6} {:>6}  {obs}", o.name, o.expected, o.result, o.millis);
    }
    let count = |r: &str| outcomes.iter().filter(|o| o.result == r).count();
    println!(
        "matrix: {} passed, {} failed, {} skipped in {:.1} s; teardown: {}",
        count("PASS"),
        count("FAIL"),
        count("SKIP"),
        millis as f64 / 1000.0,
        if left.is_empty() { "nothing left behind".to_owned() } else { format!("LEFT BEHIND: {}", left.join(", ")) }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_has_the_rows_the_project_promises() {
        let rows = rows();
        let linux = rows.iter().filter(|r| r.os == Os::Linux).count();
        assert!(linux >= 16, "{linux} Linux rows");
        assert!(rows.iter().filter(|r| r.os.is_mac()).count() >= 5);
        let mut names: Vec<&str> = rows.iter().map(|r| r.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), rows.len(), "row names are unique");
    }

    #[test]
    fn comparison_catches_each_mismatch() {
        let row = rows().into_iter().find(|r| r.name.starts_with("unprivileged")).unwrap();
        let good = serde_json::json!({"usable": false, "error": {"kind": "permission_denied", "cause": "device_access_denied", "raw": {"kind": "errno", "value": 13}, "detail": "uid 65534 ..."}});
        assert!(compare(&row, 1, &good).is_ok());
        assert!(compare(&row, 0, &good).is_err());
        let mut wrong = good.clone();
        wrong["error"]["raw"]["value"] = 1.into();
        assert!(compare(&row, 1, &wrong).is_err());
        let mut wrong = good.clone();
        wrong["error"]["cause"] = "stale_group_session".into();
        assert!(compare(&row, 1, &wrong).is_err());
        let mut wrong = good;
        wrong["error"]["detail"] = "".into();
        assert!(compare(&row, 1, &wrong).is_err());
    }
}
