//! The hvprobe binary: formats, exit codes and bad input.

mod common;

use common::*;

#[test]
fn help_documents_exit_codes_and_examples() {
    let (code, out, _) = parts(&run(&["--help"]));
    assert_eq!(code, 0);
    assert!(out.contains("Exit codes"), "{out}");
    let (code, out, _) = parts(&run(&["check", "--help"]));
    assert_eq!(code, 0);
    assert!(out.contains("Examples") && out.contains("--format"), "{out}");
}

#[test]
fn junk_arguments_are_usage_errors() {
    let cases: &[&[&str]] = &[
        &[],
        &["frobnicate"],
        &["check", "--format", "xml"],
        &["check", "--profile", "vmware"],
        &["check", "--caps", "KVM_CAP_NOPE"],
        &["check", "--vcpus", "0"],
        &["check", "--vcpus", "-3"],
        &["check", "--vcpus", "many"],
        &["check", "--memory", "lots"],
        &["check", "--memory", "5X"],
        &["check", "--memory", "0"],
        &["check", "--bogus"],
        &["check", "--profile", "qemu", "--caps", "1"],
    ];
    for args in cases {
        let (code, out, err) = parts(&run(args));
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(out.is_empty(), "{args:?} printed to stdout: {out}");
        assert!(!err.is_empty() && !err.contains("panicked"), "{args:?}: {err}");
    }
    let (_, _, err) = parts(&run(&["check", "--profile", "vmware"]));
    assert!(err.contains("firecracker"), "says what is accepted: {err}");
}

/// KVM-specific: Linux only.
#[cfg(target_os = "linux")]
#[test]
fn json_contract() {
    let o = run(&["check", "--format", "json", "--device", "/dev/null"]);
    let (code, ..) = parts(&o);
    let v = json(&o);
    assert_eq!(code, 1, "/dev/null is not a KVM device");
    assert_eq!(v["schema"], 1);
    assert_eq!(v["backend"], "kvm");
    assert_eq!(v["usable"], false);
    for c in v["checks"].as_array().unwrap() {
        assert!(["PASS", "WARN", "FAIL", "SKIP"].contains(&c["status"].as_str().unwrap()), "{c}");
        assert!(c["id"].as_str().unwrap().starts_with("kvm."));
        assert!(c["detail"].is_string());
    }
    let e = &v["error"];
    assert_eq!(e["kind"], "unavailable");
    assert_eq!(e["cause"], "not_a_kvm_device");
    assert_eq!(e["code"], 107);
    assert_eq!(e["raw"]["kind"], "errno");
    assert_eq!(e["raw"]["value"], 25);
    assert_eq!(e["raw"]["name"], "ENOTTY");
    assert!(!e["summary"].as_str().unwrap().contains("/dev"));
    assert!(!e["remedies"].as_array().unwrap().is_empty());
}

/// KVM-specific: Linux only.
#[cfg(target_os = "linux")]
#[test]
fn human_table_names_the_failure_and_remedy() {
    let (code, out, _) = parts(&run(&["check", "--device", "/dev/null"]));
    assert_eq!(code, 1);
    assert!(out.contains("FAIL") && out.contains("ENOTTY (25)") && out.contains("fix:"), "{out}");
    assert!(!out.contains('\x1b'), "no colour when not a terminal");
}

/// KVM-specific: Linux only.
#[cfg(target_os = "linux")]
#[test]
fn usable_host_exits_zero_in_both_formats() {
    if !kvm_present() {
        skip("no /dev/kvm on this host; the usable-host CLI test did not run");
        return;
    }
    let (code, out, _) = parts(&run(&["check"]));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("can run a VM"), "{out}");
    let o =
        run(&["check", "--full", "--format", "json", "--profile", "firecracker", "--vcpus", "2", "--memory", "256M"]);
    assert_eq!(o.status.code(), Some(0));
    let v = json(&o);
    assert_eq!(v["usable"], true);
    assert!(v["error"].is_null());
    let run_check = v["checks"].as_array().unwrap().iter().find(|c| c["id"] == "kvm.guest_run").unwrap();
    assert_eq!(run_check["status"], "PASS", "{run_check}");
}

/// KVM-specific: Linux only.
#[cfg(target_os = "linux")]
#[test]
fn too_many_vcpus_is_not_usable() {
    if !kvm_present() {
        skip("no /dev/kvm on this host; the vCPU-limit CLI test did not run");
        return;
    }
    let o = run(&["check", "--format", "json", "--vcpus", "100000"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(json(&o)["error"]["cause"], "vcpu_limit_exceeded");
}
