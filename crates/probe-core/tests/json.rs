//! The published JSON shape and its round trip.
#![cfg(feature = "serde")]

use probe_core::raw::hv;
use probe_core::*;

fn sample_report() -> Report {
    let err = ProbeError::from_errno(Operation::Open, 13)
        .refine(Cause::StaleGroupSession)
        .with_detail("/dev/kvm is root:kvm 0660; /etc/group lists alice in kvm, this session does not")
        .with_remedy("Run `newgrp kvm`.");
    let checks = vec![
        Check::pass("kvm.device", "KVM device node", "char 10:232 root:kvm 0660"),
        Check::fail("kvm.open", "Open the KVM device", &err),
        Check::skip("kvm.api_version", "KVM API version", "the device could not be opened"),
    ];
    let host = HostFacts {
        os: "linux".into(),
        arch: "x86_64".into(),
        vendor_module: Some("kvm_pvm".into()),
        ..Default::default()
    };
    Report::new(Backend::Kvm, Level::Full, checks, host, Limits::default(), Some(err))
}

#[test]
fn report_matches_the_published_contract() {
    let v: serde_json::Value = serde_json::to_value(sample_report()).unwrap();
    assert_eq!(v["schema"], SCHEMA_VERSION);
    assert_eq!(v["backend"], "kvm");
    assert_eq!(v["usable"], false);
    assert_eq!(v["checks"][1]["status"], "FAIL");
    assert_eq!(v["checks"][1]["id"], "kvm.open");
    let e = &v["error"];
    assert_eq!(e["kind"], "permission_denied");
    assert_eq!(e["cause"], "stale_group_session");
    assert_eq!(e["code"], 202);
    assert_eq!(e["raw"], serde_json::json!({"kind": "errno", "value": 13, "name": "EACCES"}));
    assert_eq!(e["operation"], "open");
    assert!(e["summary"].as_str().unwrap().len() > 10);
    assert_eq!(e["remedies"][0], "Run `newgrp kvm`.");
}

#[test]
fn report_round_trips() {
    let r = sample_report();
    let back: Report = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
    assert_eq!(back, r);
}

#[test]
fn diagnosis_round_trips_with_hv_codes() {
    let d = Diagnosis::decide(
        Backend::Hvf,
        CreateFailure::hv_return(hv::HV_NO_RESOURCES).with_message("hv_vm_create failed"),
        Ok(()),
        vec![],
    );
    let json = serde_json::to_string(&d).unwrap();
    assert!(json.contains(r#""raw":{"kind":"hv_return","value":-85377019,"name":"HV_NO_RESOURCES"}"#), "{json}");
    let back: Diagnosis = serde_json::from_str(&json).unwrap();
    assert_eq!(back, d);
}

#[test]
fn mismatched_code_is_rejected() {
    let mut v = serde_json::to_value(ProbeError::from_errno(Operation::Open, 13)).unwrap();
    v["code"] = 101.into();
    assert!(serde_json::from_value::<ProbeError>(v).is_err());
}

#[test]
fn unknown_raw_kind_is_rejected() {
    let v = serde_json::json!({"kind": "hresult", "value": 5, "name": null});
    assert!(serde_json::from_value::<RawCode>(v).is_err());
}
