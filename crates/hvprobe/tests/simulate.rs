//! `hvprobe check --simulate`: every listed scenario, in every format, with the right
//! exit code and a clear "simulated" mark.

mod common;

use common::*;

fn scenarios() -> Vec<serde_json::Value> {
    let o = run(&["scenarios", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0));
    json(&o).as_array().unwrap().clone()
}

#[test]
fn list_has_every_scenario_in_both_formats() {
    let list = scenarios();
    assert!(list.len() >= 30, "{}", list.len());
    let (code, human, _) = parts(&run(&["scenarios"]));
    assert_eq!(code, 0);
    for s in &list {
        assert!(human.contains(s["name"].as_str().unwrap()));
    }
}

#[test]
fn every_scenario_in_every_format() {
    for s in scenarios() {
        let name = s["name"].as_str().unwrap();
        let expected = s["expected_cause"].as_str();
        let want_code = if expected.is_some() { 1 } else { 0 };

        let o = run(&["check", "--simulate", name, "--format", "json"]);
        assert_eq!(o.status.code(), Some(want_code), "{name}: {:?}", parts(&o));
        let v = json(&o);
        assert_eq!(v["simulated"], true, "{name}");
        assert_eq!(v["error"]["cause"].as_str(), expected, "{name}");
        if expected.is_some() {
            assert!(!v["error"]["remedies"].as_array().unwrap().is_empty(), "{name}");
        }

        let (code, nfd, _) = parts(&run(&["check", "--simulate", name, "--format", "nfd"]));
        assert_eq!(code, want_code, "{name} nfd");
        assert!(nfd.contains(&format!("hvprobe-usable={}", expected.is_none())), "{name}: {nfd}");
        assert!(nfd.contains("hvprobe-simulated=true"), "{name}: {nfd}");

        let (code, prom, _) = parts(&run(&["check", "--simulate", name, "--format", "prometheus"]));
        assert_eq!(code, want_code, "{name} prometheus");
        assert!(prom.contains("simulated=\"true\""), "{name}: {prom}");
        if let Some(cause) = expected {
            assert!(prom.contains(&format!("cause=\"{cause}\"")), "{name}: {prom}");
        }

        let (code, out, _) = parts(&run(&["check", "--simulate", name]));
        assert_eq!(code, want_code, "{name}");
        assert!(out.contains("SIMULATED"), "{name}: {out}");
        match expected {
            Some(cause) => assert!(out.contains(cause), "{name}: {out}"),
            None => assert!(out.contains("can run a VM"), "{name}: {out}"),
        }
    }
}

#[test]
fn simulate_rejects_junk_and_conflicting_options() {
    for args in [
        &["check", "--simulate", "no-such-host"][..],
        &["check", "--simulate"],
        &["check", "--simulate", "kvm-healthy", "--vcpus", "4"],
        &["check", "--simulate", "kvm-healthy", "--device", "/dev/kvm"],
        &["scenarios", "--format", "yaml"],
    ] {
        let (code, out, err) = parts(&run(args));
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains("error"), "{args:?}: {err}");
    }
    let (_, _, err) = parts(&run(&["check", "--simulate", "no-such-host"]));
    assert!(err.contains("hvprobe scenarios"), "says where the list is: {err}");
}
