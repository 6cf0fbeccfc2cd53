//! Tests against this machine's real /dev/kvm. They fail (not skip) when the device
//! exists but does not work; they skip loudly only where there is no /dev/kvm.
#![cfg(target_os = "linux")]

use std::path::Path;

use probe_core::{
    CapabilityProfile, CreateFailure, DiagnosisVerdict, HypervisorProbe, Level, ProbeOptions, Status, Verdict,
};
use probe_kvm::{KvmProbe, check_id};

/// fd counts are per process: tests that open the device run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn kvm_present() -> bool {
    if Path::new("/dev/kvm").exists() {
        return true;
    }
    // Straight to stderr: the test harness does not capture it, so the skip shows.
    use std::io::Write;
    let _ =
        writeln!(std::io::stderr().lock(), "SKIPPED: /dev/kvm does not exist on this host; real KVM tests did not run");
    false
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn kvm_vm_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|t| t.to_string_lossy().contains("kvm-vm"))
        .count()
}

#[test]
fn quick_check_passes_and_names_the_vendor_module() {
    let _serial = serial();
    if !kvm_present() {
        return;
    }
    let report = KvmProbe::new(ProbeOptions::default()).startup_check().expect("KVM is usable here");
    assert!(report.usable);
    assert_eq!(report.verdict, Verdict::Usable, "{report:#?}");
    assert_eq!(report.check(check_id::GUEST_RUN).unwrap().status, Status::Skip);
    let vendor = report.host.vendor_module.clone().expect("a vendor module is loaded");
    assert!(Path::new(&format!("/sys/module/{vendor}")).exists(), "{vendor}");
    assert!(report.limits.max_vcpus.unwrap() >= 1);
}

#[test]
fn full_check_runs_the_guest() {
    let _serial = serial();
    if !kvm_present() {
        return;
    }
    let probe =
        KvmProbe::new(ProbeOptions::default().with_level(Level::Full).with_profile(CapabilityProfile::Firecracker));
    let report = probe.startup_check().unwrap_or_else(|e| panic!("{e}\n{:#?}", e.report()));
    let run = report.check(check_id::GUEST_RUN).unwrap();
    assert_eq!(run.status, Status::Pass, "{run:?}");
    #[cfg(target_arch = "x86_64")]
    assert!(run.detail.contains("KVM_EXIT_HLT"), "{}", run.detail);
}

#[test]
fn thousand_checks_leak_no_fd_and_no_vm() {
    let _serial = serial();
    if !kvm_present() {
        return;
    }
    let probe = KvmProbe::new(ProbeOptions::default().with_level(Level::Full));
    let before = (open_fds(), kvm_vm_fds());
    for _ in 0..1000 {
        assert!(probe.report().usable);
    }
    assert_eq!((open_fds(), kvm_vm_fds()), before);
}

#[test]
fn diagnose_on_a_healthy_host_says_not_the_hypervisor() {
    let _serial = serial();
    if !kvm_present() {
        return;
    }
    let probe = KvmProbe::new(ProbeOptions::default());
    let original =
        CreateFailure::errno(-22).with_message("Building the microVM failed: Invalid argument (os error 22)");
    let d = probe.diagnose_create_failure(&original);
    assert_eq!(d.verdict, DiagnosisVerdict::CauseElsewhere, "{d:#?}");
    assert_eq!(d.original, original, "the VMM's error comes back untouched");
    let d = probe.diagnose_create_failure(&CreateFailure::errno(16));
    assert_eq!(d.verdict, DiagnosisVerdict::TransientCleared, "{d:#?}");
}

#[test]
fn too_many_vcpus_fail_with_the_limit() {
    let _serial = serial();
    if !kvm_present() {
        return;
    }
    let err = KvmProbe::new(ProbeOptions::default().with_vcpus(1_000_000)).startup_check().unwrap_err();
    assert_eq!(err.error().cause(), probe_core::Cause::VcpuLimitExceeded);
}

#[test]
fn a_non_kvm_node_is_enotty() {
    let _serial = serial();
    let err = KvmProbe::new(ProbeOptions::default().with_device("/dev/null")).startup_check().unwrap_err();
    assert_eq!(err.error().cause(), probe_core::Cause::NotAKvmDevice);
    assert_eq!(err.error().raw(), Some(probe_core::RawCode::Errno(25)));
    assert_eq!(err.report().check(check_id::DEVICE).unwrap().status, Status::Warn);
}

#[test]
fn a_missing_path_is_explained() {
    let _serial = serial();
    let err = KvmProbe::new(ProbeOptions::default().with_device("/nonexistent/kvm")).startup_check().unwrap_err();
    assert_eq!(err.error().raw(), Some(probe_core::RawCode::Errno(2)));
    assert_eq!(err.error().operation(), probe_core::Operation::Stat);
    if Path::new("/dev/kvm").exists() {
        // The kernel has KVM, so the node is what is missing.
        assert_eq!(err.error().cause(), probe_core::Cause::DeviceNodeMissing);
    }
}

#[test]
fn holders_sees_this_process_holding_a_vm() {
    let _serial = serial();
    if !kvm_present() {
        return;
    }
    use probe_kvm::{KvmHost, LinuxHost};
    let host = LinuxHost;
    let me = std::process::id();
    let kvm = host.open(Path::new("/dev/kvm")).unwrap();
    let vm = host.create_vm(kvm, 0).unwrap();
    let vm2 = host.create_vm(kvm, 0).unwrap();
    let seen = probe_kvm::holders(&host);
    host.close(vm2);
    host.close(vm);
    host.close(kvm);
    let mine = seen.processes.iter().find(|p| p.pid == me).expect("this process is listed");
    assert_eq!(mine.vms, 2);
    assert!(!mine.command.is_empty());
    assert!(!probe_kvm::holders(&host).processes.iter().any(|p| p.pid == me), "released VMs are gone");
}
