//! Host facts, and explanations of failures from evidence on the host.
//!
//! Nothing here changes the host: it reads `/proc`, `/sys` and `/etc` through the
//! [`KvmHost`] and turns a bare errno into a precise cause with remedies that name the
//! actual group, module or path.

use std::path::Path;

use probe_core::{Cause, HostFacts, Operation, ProbeError, VmHolder, VmHolders};

use crate::host::{AclTag, DeviceNode, Identity, KvmHost, RLIM_INFINITY, Rlimit, describe_acl_entry};

/// Vendor modules in the order they are preferred when several are loaded.
const VENDOR_MODULES: [&str; 3] = ["kvm_intel", "kvm_amd", "kvm_pvm"];

/// Facts about the host, read cheaply (a handful of small files).
pub fn host_facts<H: KvmHost + ?Sized>(host: &H) -> HostFacts {
    let os_version = host.read_file("/proc/sys/kernel/osrelease").map(|s| s.trim().to_owned());
    let vendor_module = vendor_module(host);
    let nested = vendor_module
        .as_deref()
        .and_then(|m| host.read_file(&format!("/sys/module/{m}/parameters/nested")))
        .map(|s| s.trim().to_owned());
    let flags = cpu_flags(host);
    let (virtualized, cpu_virt_flag) = match &flags {
        Some(flags) => {
            (Some(flags.iter().any(|f| f == "hypervisor")), flags.iter().find(|f| *f == "vmx" || *f == "svm").cloned())
        }
        None => (None, None),
    };
    let wsl = os_version.as_deref().is_some_and(|v| {
        let v = v.to_ascii_lowercase();
        v.contains("microsoft") || v.contains("wsl")
    });
    HostFacts {
        os: "linux".to_owned(),
        arch: std::env::consts::ARCH.to_owned(),
        os_version,
        vendor_module,
        nested,
        virtualized,
        cpu_virt_flag,
        container: container(host),
        wsl,
    }
}

/// The loaded KVM vendor module (`kvm_intel`, `kvm_amd`, `kvm_pvm`, or another `kvm_*`).
fn vendor_module<H: KvmHost + ?Sized>(host: &H) -> Option<String> {
    let mut loaded: Vec<String> = host
        .list_dir("/sys/module")
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.starts_with("kvm_") && m != "kvm_common")
        .collect();
    loaded.sort_by_key(|m| VENDOR_MODULES.iter().position(|v| v == m).unwrap_or(usize::MAX));
    loaded.into_iter().next()
}

/// CPU flags of the first processor (x86 `flags`, arm `Features`). Only the start of
/// `/proc/cpuinfo` is read: on a host with hundreds of CPUs the whole file is hundreds
/// of KiB that the kernel computes on every read.
fn cpu_flags<H: KvmHost + ?Sized>(host: &H) -> Option<Vec<String>> {
    let is_flags = |l: &str| l.starts_with("flags") || l.starts_with("Features");
    let complete = |text: &str| text.split_inclusive('\n').any(|l| l.ends_with('\n') && is_flags(l));
    let cpuinfo = host.read_head("/proc/cpuinfo", &complete)?;
    let line = cpuinfo.lines().find(|l| is_flags(l))?;
    let (_, list) = line.split_once(':')?;
    Some(list.split_whitespace().map(str::to_owned).collect())
}

/// A container runtime this process seems to run in.
fn container<H: KvmHost + ?Sized>(host: &H) -> Option<String> {
    if let Some(c) = host.env("container").filter(|c| !c.is_empty()) {
        return Some(c);
    }
    if host.read_file("/.dockerenv").is_some() {
        return Some("docker".to_owned());
    }
    if host.read_file("/run/.containerenv").is_some() {
        return Some("podman".to_owned());
    }
    None
}

/// One line of `/etc/group`.
struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

fn groups<H: KvmHost + ?Sized>(host: &H) -> Vec<GroupEntry> {
    let text = host.read_file("/etc/group").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?.to_owned();
            let _password = f.next()?;
            let gid = f.next()?.trim().parse().ok()?;
            let members = f.next().unwrap_or("").split(',').filter(|m| !m.is_empty()).map(str::to_owned).collect();
            Some(GroupEntry { name, gid, members })
        })
        .collect()
}

/// (user name, primary gid) of a uid, from `/etc/passwd`.
fn passwd_entry<H: KvmHost + ?Sized>(host: &H, uid: u32) -> Option<(String, u32)> {
    let text = host.read_file("/etc/passwd")?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 3 && f[2].parse() == Ok(uid)).then(|| (f[0].to_owned(), f[3].parse().unwrap_or(u32::MAX)))
    })
}

/// `char 10:232, root:kvm (0:993), mode 0660`.
pub fn describe_node<H: KvmHost + ?Sized>(host: &H, node: &DeviceNode) -> String {
    let kind = if node.is_char_device { "char" } else { "not a character device," };
    let owner = passwd_entry(host, node.uid).map(|(n, _)| n).unwrap_or_else(|| node.uid.to_string());
    let group =
        groups(host).into_iter().find(|g| g.gid == node.gid).map(|g| g.name).unwrap_or_else(|| node.gid.to_string());
    format!(
        "{kind} {}:{}, {owner}:{group} ({}:{}), mode {:04o}",
        node.major,
        node.minor,
        node.uid,
        node.gid,
        node.mode & 0o7777
    )
}

fn describe_identity(id: &Identity, user: Option<&str>) -> String {
    let groups: Vec<String> = id.groups.iter().map(u32::to_string).collect();
    format!(
        "this process runs as uid {}{} gid {} with groups [{}]",
        id.uid,
        user.map(|u| format!(" ({u})")).unwrap_or_default(),
        id.gid,
        groups.join(", ")
    )
}

/// Turns the errno of a failed call into an explained error.
pub fn explain<H: KvmHost + ?Sized>(host: &H, device: &Path, op: Operation, errno: i32) -> ProbeError {
    let base = ProbeError::from_errno(op, errno);
    let path = device.display();
    match base.cause() {
        Cause::ModuleNotLoaded => explain_missing_device(host, device, base),
        Cause::DeviceAccessDenied if matches!(op, Operation::Open) => explain_access(host, device, base),
        Cause::ContainerDevicePolicy => explain_policy(host, device, base),
        Cause::NotAKvmDevice => {
            let what = match host.stat(device) {
                Ok(node) => describe_node(host, &node),
                Err(e) => format!("not statable ({})", probe_core::RawCode::Errno(e)),
            };
            base.with_detail(format!("{path} answers no KVM ioctl: it is {what}, not char 10:232"))
        }
        Cause::StaleDeviceNode => {
            let misc = misc_lists_kvm(host);
            base.with_detail(format!(
                "{path} exists but no driver answers it; /proc/misc {} kvm",
                if misc { "lists" } else { "does not list" }
            ))
        }
        Cause::FileDescriptorsExhausted => {
            let limit = match host.rlimit(Rlimit::Nofile) {
                Ok((soft, hard)) => format!("RLIMIT_NOFILE is {} (hard {})", show_limit(soft), show_limit(hard)),
                Err(_) => "RLIMIT_NOFILE could not be read".to_owned(),
            };
            base.with_detail(format!("{op} needs a file descriptor; {limit}"))
        }
        Cause::OtherHypervisorActive => {
            let others: Vec<String> = host
                .list_dir("/sys/module")
                .unwrap_or_default()
                .into_iter()
                .filter(|m| ["vboxdrv", "vmmon", "vmx86", "vmw_vmci"].contains(&m.as_str()))
                .collect();
            let at_load = host.read_file("/sys/module/kvm/parameters/enable_virt_at_load").map(|s| s.trim().to_owned());
            base.with_detail(format!(
                "KVM_CREATE_VM says the virtualization hardware is busy; other hypervisor modules loaded: [{}]; kvm.enable_virt_at_load = {}",
                others.join(", "),
                at_load.as_deref().unwrap_or("(absent)")
            ))
        }
        Cause::KernelMemoryExhausted => {
            let avail = host.read_file("/proc/meminfo").and_then(|m| {
                m.lines()
                    .find(|l| l.starts_with("MemAvailable:"))
                    .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
            });
            base.with_detail(format!(
                "{op} could not allocate kernel memory; MemAvailable {}",
                avail.as_deref().unwrap_or("unknown")
            ))
        }
        _ => base.with_detail(format!("{op} on {path}")),
    }
}

fn show_limit(v: u64) -> String {
    if v == RLIM_INFINITY { "unlimited".to_owned() } else { v.to_string() }
}

fn misc_lists_kvm<H: KvmHost + ?Sized>(host: &H) -> bool {
    host.read_file("/proc/misc").is_some_and(|m| m.lines().any(|l| l.split_whitespace().eq(["232", "kvm"])))
}

fn explain_missing_device<H: KvmHost + ?Sized>(host: &H, device: &Path, base: ProbeError) -> ProbeError {
    let path = device.display();
    let facts = host_facts(host);
    let modules: Vec<String> = host
        .list_dir("/sys/module")
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m == "kvm" || m.starts_with("kvm_"))
        .collect();
    if misc_lists_kvm(host) {
        let place = match &facts.container {
            Some(c) => format!(" (this process runs in a {c} container)"),
            None => String::new(),
        };
        return base.refine(Cause::DeviceNodeMissing).with_detail(format!(
            "{path} does not exist here{place}, but the kernel has KVM: /proc/misc lists 232 kvm and [{}] are loaded",
            modules.join(", ")
        ));
    }
    if facts.wsl {
        return base.refine(Cause::WslWithoutNestedVirtualization).with_detail(format!(
            "{path} does not exist and this is WSL ({})",
            facts.os_version.as_deref().unwrap_or("?")
        ));
    }
    if modules.iter().any(|m| m == "kvm") && facts.vendor_module.is_none() {
        let vendor = match facts.cpu_virt_flag.as_deref() {
            Some("svm") => "kvm_amd",
            _ => "kvm_intel",
        };
        return base
            .with_detail(format!("the kvm core module is loaded but no vendor module is, so {path} does not exist"))
            .with_remedy(format!("Load the vendor module: `modprobe {vendor}` (check `dmesg` if it fails: VT may be disabled in firmware)."));
    }
    match (facts.cpu_virt_flag.as_deref(), facts.virtualized) {
        (None, Some(true)) => base
            .refine(Cause::NestedVirtualizationMissing)
            .with_detail(format!(
                "{path} does not exist, no kvm module is loaded, and the CPU shows the hypervisor flag without vmx/svm: this host is a VM without nested virtualization"
            ))
            .with_remedy("If this VM's kernel supports PVM (software-assisted KVM without VT-x), load `kvm_pvm`."),
        (None, Some(false)) => base
            .refine(Cause::NoHardwareVirtualization)
            .with_detail(format!("{path} does not exist and the CPU shows neither vmx nor svm")),
        (flag, _) => {
            let module = if flag == Some("svm") { "kvm_amd" } else { "kvm_intel" };
            base.with_detail(format!(
                "{path} does not exist and /proc/misc does not list kvm; the CPU shows {}",
                flag.unwrap_or("no virtualization flag")
            ))
            .with_remedy(format!("Load the module: `modprobe {module}`."))
        }
    }
}

fn explain_access<H: KvmHost + ?Sized>(host: &H, device: &Path, base: ProbeError) -> ProbeError {
    let path = device.display();
    let id = host.identity();
    let user = passwd_entry(host, id.uid);
    let user_name = user.as_ref().map(|(n, _)| n.as_str());
    let who = describe_identity(&id, user_name);
    let node = match host.stat(device) {
        Ok(node) => node,
        Err(_) => {
            return base.with_detail(format!("{path} may not be opened for read and write; {who}"));
        }
    };
    let groups = groups(host);
    let dev_group = groups.iter().find(|g| g.gid == node.gid);
    let group_name = dev_group.map(|g| g.name.clone()).unwrap_or_else(|| node.gid.to_string());
    let node_text = describe_node(host, &node);
    let in_session = id.gid == node.gid || id.groups.contains(&node.gid);
    let listed = user.as_ref().is_some_and(|(name, primary)| {
        *primary == node.gid || dev_group.is_some_and(|g| g.members.iter().any(|m| m == name))
    });
    let acl = host.access_acl(device).ok().flatten().unwrap_or_default();
    // Named entries and the owning group count only through the mask (which is what
    // the mode's group bits show when there is an ACL). systemd-logind's `uaccess`
    // grants the active local session this way, so an SSH session or a service misses it.
    let mask = acl.iter().find(|e| e.tag == AclTag::Mask).map_or(7, |e| e.perm);
    let group_rw = match acl.iter().find(|e| e.tag == AclTag::GroupObj) {
        Some(g) => g.perm & mask & 6 == 6,
        None => node.mode & 0o060 == 0o060,
    };
    let acl_grants = acl.iter().any(|e| {
        let applies = match e.tag {
            AclTag::User(uid) => uid == id.uid,
            AclTag::Group(gid) => gid == id.gid || id.groups.contains(&gid),
            _ => false,
        };
        applies && e.perm & mask & 6 == 6
    });
    let acl_text = if acl.is_empty() {
        String::new()
    } else {
        let entries: Vec<String> = acl.iter().map(describe_acl_entry).collect();
        format!("; ACL {}", entries.join(","))
    };
    let detail = format!("{path} is {node_text}{acl_text}; {who}");
    if listed && !in_session && group_rw {
        let name = user_name.unwrap_or("this user");
        return base
            .refine(Cause::StaleGroupSession)
            .with_detail(format!(
                "{detail}; /etc/group lists {name} in {group_name}, but this session does not have it"
            ))
            .with_remedy(format!(
                "Log in again, or run `newgrp {group_name}`, so the session picks up group {group_name}."
            ));
    }
    let target = user_name.map(str::to_owned).unwrap_or_else(|| format!("#{}", id.uid));
    let mut remedies = Vec::new();
    if acl_grants || (in_session && group_rw) {
        remedies.push(format!(
            "The mode, group and ACL allow this process, so a security module denies it: check the audit log (`ausearch -m avc`, AppArmor or SELinux) for {path}."
        ));
    } else if !acl.is_empty() && acl.iter().any(|e| matches!(e.tag, AclTag::User(_))) {
        remedies.push(format!(
            "{path} is granted by ACL to other users only (often systemd-logind's `uaccess` for the active desktop session, not SSH or services): add `setfacl -m u:{target}:rw {path}`, or a udev rule with GROUP=\"kvm\" MODE=\"0660\" and membership in kvm."
        ));
    } else if node.gid == 0 || !group_rw {
        remedies.push(
            "Give the device a group that may use it: a udev rule `KERNEL==\"kvm\", GROUP=\"kvm\", MODE=\"0660\"` (then `udevadm trigger`), and add the user to that group.".to_owned(),
        );
        remedies.push(format!("Or grant this user directly: `setfacl -m u:{target}:rw {path}`."));
    } else {
        remedies.push(format!(
            "Add the user to the device's group: `usermod -aG {group_name} {target}`, then log in again."
        ));
        remedies.push(format!("Or grant this user directly: `setfacl -m u:{target}:rw {path}`."));
    }
    remedies.push("In a rootless container, keep the host's groups: `--group-add keep-groups`.".to_owned());
    base.with_detail(detail).with_remedies(remedies)
}

fn explain_policy<H: KvmHost + ?Sized>(host: &H, device: &Path, base: ProbeError) -> ProbeError {
    let path = device.display();
    let cgroup = host.read_file("/proc/self/cgroup").unwrap_or_default();
    let mut evidence = Vec::new();
    if let Some(dir) = cgroup.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (_, controllers, dir) = (f.next()?, f.next()?, f.next()?);
        controllers.split(',').any(|c| c == "devices").then(|| dir.to_owned())
    }) {
        let list = host.read_file(&format!("/sys/fs/cgroup/devices{dir}/devices.list")).unwrap_or_default();
        let entries: Vec<Vec<&str>> =
            list.lines().map(|l| l.split_whitespace().collect::<Vec<_>>()).filter(|f| f.len() == 3).collect();
        if entries.iter().any(|f| f[0] == "a") {
            // Default-allow mode: devices.list shows `a *:* rwm` and hides the deny
            // exceptions, so EPERM means 10:232 is one of them.
            evidence.push(format!(
                "device cgroup (v1) {dir} allows devices by default with deny exceptions it does not list; EPERM says c 10:232 is one"
            ));
        } else {
            let allowed = entries.iter().any(|f| {
                f[0] == "c" && ["10:232", "10:*", "*:*"].contains(&f[1]) && f[2].contains('r') && f[2].contains('w')
            });
            evidence.push(format!(
                "device cgroup (v1) {dir} allows only listed devices, and c 10:232 {}",
                if allowed {
                    "is listed, so another policy (seccomp, LSM, BPF) denies it"
                } else {
                    "is not among them"
                }
            ));
        }
    } else if cgroup.lines().any(|l| l.starts_with("0::")) {
        evidence.push("cgroup v2: device access is decided by a BPF program attached by the runtime".to_owned());
    }
    if let Some(c) = container(host) {
        evidence.push(format!("this process runs in a {c} container"));
    }
    base.with_detail(format!(
        "opening {path} is not permitted (EPERM, not EACCES: file permissions allow it, a policy does not); {}",
        if evidence.is_empty() {
            "no device cgroup found; a seccomp or LSM policy may deny it".to_owned()
        } else {
            evidence.join("; ")
        }
    ))
}

/// Processes holding KVM VMs: those with `anon_inode:kvm-vm` descriptors that this
/// process may read, most VMs first, and how many processes could not be read.
pub fn holders<H: KvmHost + ?Sized>(host: &H) -> VmHolders {
    let mut result = VmHolders::default();
    let pids = host.list_dir("/proc").unwrap_or_default();
    for pid in pids.iter().filter_map(|p| p.parse::<u32>().ok()) {
        let fds = match host.list_dir(&format!("/proc/{pid}/fd")) {
            Ok(fds) => fds,
            // The process ended while we looked: not a holder.
            Err(ENOENT) => continue,
            Err(_) => {
                result.uninspectable += 1;
                continue;
            }
        };
        let vms = fds
            .iter()
            .filter(|fd| host.read_link(&format!("/proc/{pid}/fd/{fd}")).is_some_and(|t| t == "anon_inode:kvm-vm"))
            .count();
        if vms > 0 {
            let command = host.read_file(&format!("/proc/{pid}/comm")).map(|c| c.trim().to_owned()).unwrap_or_default();
            result.processes.push(VmHolder { pid, command, vms: u32::try_from(vms).unwrap_or(u32::MAX) });
        }
    }
    result.processes.sort_by(|a, b| b.vms.cmp(&a.vms).then(a.pid.cmp(&b.pid)));
    result
}

const ENOENT: i32 = 2;

/// Whether knowing who holds VMs helps explain this cause.
pub fn holders_matter(cause: Cause) -> bool {
    matches!(
        cause,
        Cause::KernelMemoryExhausted
            | Cause::HostResourcesExhausted
            | Cause::ResourceBusy
            | Cause::InterruptedRepeatedly
    )
}
