//! diagnose, explain, holders, fleet formats, --output, --quiet, completions, man.

mod common;

use common::*;

const HV_NO_RESOURCES: i64 = -85_377_019;

#[test]
fn explain_every_form_of_a_code() {
    for input in ["0xfae94005", "-85377019", "4209590277", "HV_NO_RESOURCES", "hv_no_resources"] {
        let o = run(&["explain", input, "--format", "json"]);
        assert_eq!(o.status.code(), Some(0), "{input}");
        let v = json(&o);
        assert_eq!(v["raw"]["kind"], "hv_return", "{input}");
        assert_eq!(v["raw"]["value"], HV_NO_RESOURCES, "{input}");
        assert_eq!(v["readings"][0]["cause"], "address_spaces_exhausted", "{input}");
        assert_eq!(v["mach"]["subsystem"], 0xba5);
    }
    for (input, value, cause) in [
        ("EACCES", 13, "device_access_denied"),
        ("13", 13, "device_access_denied"),
        ("-22", 22, "invalid_argument"),
        ("EBUSY", 16, "resource_busy"),
    ] {
        let v = json(&run(&["explain", input, "--format", "json"]));
        assert_eq!(v["raw"]["kind"], "errno", "{input}");
        assert_eq!(v["raw"]["value"], value, "{input}");
        let causes: Vec<&str> =
            v["readings"].as_array().unwrap().iter().map(|r| r["cause"].as_str().unwrap()).collect();
        assert!(causes.contains(&cause), "{input}: {causes:?}");
    }
    let (code, out, _) = parts(&run(&["explain", "--as", "hv", "22"]));
    assert_eq!(code, 1, "22 is no hv_return_t: {out}");
    assert!(out.contains("Unknown"), "{out}");
}

#[test]
fn explain_unknown_codes_by_structure() {
    let (code, out, _) = parts(&run(&["explain", "0xfae94099"]));
    assert_eq!(code, 1);
    assert!(out.contains("Unknown") && out.contains("subsystem 0xba5 (Hypervisor.framework)"), "{out}");
    let (code, out, _) = parts(&run(&["explain", "0x12345678"]));
    assert_eq!(code, 1);
    assert!(out.contains("not Hypervisor.framework"), "{out}");
    let (code, out, _) = parts(&run(&["explain", "4000"]));
    assert_eq!(code, 1);
    assert!(out.contains("errno 4000") && out.contains("Unknown"), "{out}");
}

#[test]
fn explain_rejects_junk() {
    for args in [
        &["explain", "banana"][..],
        &["explain", ""],
        &["explain", "0x"],
        &["explain", "0x1fae94005"],
        &["explain", "99999999999"],
        &["explain"],
        &["explain", "--as", "errno", "HV_DENIED"],
        &["explain", "--as", "hv", "EBUSY"],
        &["explain", "13", "--as", "win32"],
    ] {
        let (code, out, err) = parts(&run(args));
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert!(!err.is_empty() && !err.contains("panicked"), "{args:?}: {err}");
    }
    let (_, _, err) = parts(&run(&["explain", "banana"]));
    assert!(err.contains("expected a name") && err.contains("0xfae94005"), "says what is accepted: {err}");
}

/// KVM-specific: Linux only.
#[cfg(target_os = "linux")]
#[test]
fn diagnose_reads_codes_and_vmm_log_lines() {
    if !kvm_present() {
        skip("no /dev/kvm; diagnose CLI tests reproduce VM creation and did not run");
        return;
    }
    // libkrun's -22 on a host whose hypervisor works: the cause is elsewhere.
    let o = run(&["diagnose", "--errno", "-22", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0));
    let v = json(&o);
    assert_eq!(v["verdict"], "cause_elsewhere");
    assert_eq!(v["original"]["raw"]["value"], 22);
    // A transient code that has cleared.
    let v = json(&run(&["diagnose", "--errno", "EBUSY", "--format", "json"]));
    assert_eq!(v["verdict"], "transient_cleared");
    assert_eq!(v["error"]["cause"], "other_hypervisor_active");
    // Log lines of real VMMs.
    let lines = [
        ("ioctl(KVM_CREATE_VM) failed: 16 Device or resource busy", 16, "create_vm"),
        ("qemu-system-x86_64: Could not access KVM kernel module: Permission denied", 13, "open"),
        ("Error creating KVM object: Error creating KVM object: Permission denied (os error 13)", 13, "open"),
        (
            "Building the microVM failed: Internal(Vm(VmCreate(Os { code: 22, kind: InvalidInput, message: \"Invalid argument\" })))",
            22,
            "unknown",
        ),
    ];
    for (line, errno, op) in lines {
        let v = json(&run(&["diagnose", "--message", line, "--format", "json"]));
        assert_eq!(v["original"]["raw"]["value"], errno, "{line}");
        assert_eq!(v["original"]["operation"], op, "{line}");
        assert_eq!(v["original"]["message"], line, "the VMM's text is kept");
    }
    // hv_return_t on a KVM host: the original is kept and named.
    let v = json(&run(&["diagnose", "--hv", "0xfae94005", "--format", "json"]));
    assert_eq!(v["original"]["raw"]["kind"], "hv_return");
    assert_eq!(v["original_cause"]["cause"], "address_spaces_exhausted");
    let (code, out, _) = parts(&run(&["diagnose", "--errno", "22"]));
    assert_eq!(code, 0);
    assert!(out.contains("The VMM reported: EINVAL (22)") && out.contains("Verdict: cause_elsewhere"), "{out}");
}

/// KVM-specific: Linux only.
#[cfg(target_os = "linux")]
#[test]
fn diagnose_on_a_failing_device_names_the_cause() {
    let o = run(&["diagnose", "--errno", "22", "--device", "/dev/null", "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    assert_eq!(v["verdict"], "hypervisor_cause");
    assert_eq!(v["error"]["cause"], "not_a_kvm_device");
    assert_eq!(v["error"]["raw"]["value"], 25);
    assert_eq!(v["original"]["raw"]["value"], 22, "the VMM's code is kept apart");
}

#[test]
fn diagnose_rejects_junk() {
    for args in [
        &["diagnose"][..],
        &["diagnose", "--errno", "EBOGUS"],
        &["diagnose", "--errno", "HV_DENIED"],
        &["diagnose", "--errno", "1e9"],
        &["diagnose", "--hv", "banana"],
        &["diagnose", "--hv", "EACCES"],
        &["diagnose", "--errno", "13", "--hv", "0xfae94005"],
        &["diagnose", "--errno"],
        &["diagnose", "--errno", "13", "--format", "yaml"],
    ] {
        let (code, out, err) = parts(&run(args));
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(out.is_empty() && !err.contains("panicked"), "{args:?}: {out}{err}");
    }
}

/// KVM-specific: Linux only.
#[cfg(target_os = "linux")]
#[test]
fn holders_lists_in_both_formats() {
    let o = run(&["holders", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{:?}", parts(&o));
    let v = json(&o);
    assert!(v["processes"].is_array() && v["uninspectable"].is_number());
    let (code, out, _) = parts(&run(&["holders"]));
    assert_eq!(code, 0);
    assert!(out.contains("KVM VM") || out.contains("VMs in"), "{out}");
    assert_eq!(parts(&run(&["holders", "--format", "csv"])).0, 2);
}

/// Parses an NFD local feature file as nfd-worker does: `#` comments, `name[=value]`
/// lines, names and values that are valid Kubernetes label names and values.
fn parse_nfd(text: &str) -> Vec<(String, String)> {
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.len() <= 63
            && n.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && n.starts_with(|c: char| c.is_ascii_alphanumeric())
            && n.ends_with(|c: char| c.is_ascii_alphanumeric())
    };
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = line.split_once('=').unwrap_or((line, "true"));
        assert!(name_ok(name), "invalid NFD feature name `{name}`");
        assert!(value.is_empty() || name_ok(value), "invalid label value `{value}` for {name}");
        out.push((name.to_owned(), value.to_owned()));
    }
    out
}

#[test]
fn nfd_feature_file() {
    let o = run(&["check", "--simulate", "kvm-healthy", "--format", "nfd"]);
    assert_eq!(o.status.code(), Some(0));
    let f = parse_nfd(&String::from_utf8_lossy(&o.stdout));
    let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("hvprobe-usable"), Some("true"));
    assert_eq!(get("hvprobe-backend"), Some("kvm"));
    assert_eq!(get("hvprobe-vendor-module"), Some("kvm_intel"));
    assert_eq!(get("hvprobe-nested"), Some("Y"));
    assert_eq!(get("hvprobe-max-vcpus"), Some("288"));
    let o = run(&["check", "--simulate", "kvm-stale-session", "--format", "nfd"]);
    assert_eq!(o.status.code(), Some(1));
    let f = parse_nfd(&String::from_utf8_lossy(&o.stdout));
    assert!(f.contains(&("hvprobe-usable".into(), "false".into())));
    assert!(f.contains(&("hvprobe-cause".into(), "stale_group_session".into())));
}

#[test]
fn prometheus_exposition_parses() {
    let o = run(&["check", "--simulate", "kvm-stale-session", "--format", "prometheus"]);
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("valid exposition");
    let value = |name: &str, label: Option<(&str, &str)>| {
        scrape.samples.iter().find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v))).map(
            |s| match s.value {
                prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            },
        )
    };
    assert_eq!(value("hvprobe_usable", None), Some(0.0));
    assert_eq!(value("hvprobe_error_info", Some(("cause", "stale_group_session"))), Some(1.0));
    assert_eq!(value("hvprobe_error_info", Some(("raw", "EACCES (13)"))), Some(1.0));
    let open_fail = scrape.samples.iter().find(|s| {
        s.metric == "hvprobe_check_status"
            && s.labels.get("check") == Some("kvm.open")
            && s.labels.get("status") == Some("fail")
    });
    assert!(matches!(open_fail.map(|s| &s.value), Some(prometheus_parse::Value::Gauge(v)) if *v == 1.0), "{text}");
    assert!(value("hvprobe_probe_duration_seconds", None).is_some());
    assert!(scrape.docs.contains_key("hvprobe_usable"), "HELP lines are kept");
    // Every sample line is `name{labels} value`.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (head, v) = line.rsplit_once(' ').unwrap();
        assert!(v.parse::<f64>().is_ok(), "{line}");
        assert!(head.starts_with("hvprobe_") && head.ends_with('}'), "{line}");
    }
}

#[test]
fn output_file_is_written_atomically_and_errors_are_reported() {
    let dir = TempDir::new("output");
    let file = dir.0.join("hvprobe.prom");
    std::fs::write(&file, "old contents\n").unwrap();
    let o = run(&["check", "--simulate", "kvm-healthy", "--format", "prometheus", "--output", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stdout.is_empty());
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("hvprobe_usable{"), "{text}");
    let leftovers: Vec<_> = std::fs::read_dir(&dir.0).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");
    let o = run(&["check", "--simulate", "kvm-healthy", "--output", "/nonexistent-dir/x.prom"]);
    let (code, _, err) = parts(&o);
    assert_eq!(code, 3);
    assert!(err.contains("cannot write /nonexistent-dir/x.prom"), "{err}");
}

#[test]
fn quiet_prints_only_failures() {
    let (code, out, _) = parts(&run(&["check", "--simulate", "kvm-healthy", "--quiet"]));
    assert_eq!((code, out.as_str()), (0, ""));
    let (code, out, _) = parts(&run(&["check", "--simulate", "kvm-not-in-group", "-q"]));
    assert_eq!(code, 1);
    assert!(out.contains("FAIL") && !out.contains("PASS") && !out.contains("SKIP"), "{out}");
    assert!(out.contains("device_access_denied"), "{out}");
}

#[test]
fn completions_and_man_page() {
    for shell in ["bash", "zsh", "fish"] {
        let (code, out, _) = parts(&run(&["completions", shell]));
        assert_eq!(code, 0, "{shell}");
        assert!(out.contains("diagnose") && out.contains("explain") && out.contains("--simulate"), "{shell}");
    }
    assert_eq!(parts(&run(&["completions", "tcsh"])).0, 2);
    let (code, out, _) = parts(&run(&["man"]));
    assert_eq!(code, 0);
    assert!(out.starts_with(".ie") || out.contains(".TH hvprobe"), "{}", &out[..out.len().min(200)]);
    assert!(out.contains("diagnose") && out.contains("Exit codes"), "man page covers subcommands and exit codes");
}

#[test]
fn every_subcommand_has_help_with_examples() {
    for sub in ["check", "diagnose", "explain", "holders", "scenarios", "completions", "man"] {
        let (code, out, _) = parts(&run(&[sub, "--help"]));
        assert_eq!(code, 0, "{sub}");
        assert!(out.contains("Examples:"), "{sub} --help has examples: {out}");
    }
}
