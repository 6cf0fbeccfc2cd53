//! Formats a fleet consumes: Kubernetes Node Feature Discovery feature files and the
//! Prometheus text exposition format (node_exporter's textfile collector).

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use hypervisor_probe::{Report, Status};

/// A Kubernetes label value: at most 63 of `[A-Za-z0-9._-]`, alphanumeric at both ends.
fn label_value(s: &str) -> String {
    let cleaned: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
    let trimmed: String = cleaned.chars().take(63).collect();
    trimmed.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_owned()
}

/// NFD feature-file lines (`name=value`), one per fact. NFD prefixes names without a
/// domain with `feature.node.kubernetes.io/`.
pub fn nfd(r: &Report) -> String {
    let mut out = String::from("# hvprobe: can this node run VMs (Node Feature Discovery local feature file)\n");
    let mut line = |k: &str, v: &str| {
        let v = label_value(v);
        if !v.is_empty() {
            let _ = writeln!(out, "hvprobe-{k}={v}");
        }
    };
    line("usable", if r.usable { "true" } else { "false" });
    line("backend", r.backend.name());
    if r.simulated {
        line("simulated", "true");
    }
    if let Some(m) = &r.host.vendor_module {
        line("vendor-module", m);
    }
    if let Some(n) = &r.host.nested {
        line("nested", n);
    }
    if let Some(v) = r.host.virtualized {
        line("virtualized", if v { "true" } else { "false" });
    }
    if let Some(n) = r.limits.max_vcpus {
        line("max-vcpus", &n.to_string());
    }
    if let Some(n) = r.limits.max_address_spaces {
        line("max-address-spaces", &n.to_string());
    }
    if let Some(n) = r.limits.ipa_bits {
        line("ipa-bits", &n.to_string());
    }
    if let Some(e) = &r.error {
        line("cause", e.cause().name());
    }
    out
}

/// A Prometheus label value, escaped.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Prometheus text exposition (format 0.0.4) of a report.
pub fn prometheus(r: &Report, now: SystemTime) -> String {
    let mut out = String::new();
    let backend = esc(r.backend.name());
    let mut gauge = |name: &str, help: &str, samples: &[(String, f64)]| {
        let _ = writeln!(out, "# HELP hvprobe_{name} {help}");
        let _ = writeln!(out, "# TYPE hvprobe_{name} gauge");
        for (labels, v) in samples {
            let _ = writeln!(out, "hvprobe_{name}{{{labels}}} {v}");
        }
    };
    gauge(
        "usable",
        "Whether this host can run a VM as asked (1) or not (0).",
        &[(format!("backend=\"{backend}\",simulated=\"{}\"", r.simulated), if r.usable { 1.0 } else { 0.0 })],
    );
    let mut states = Vec::new();
    for c in &r.checks {
        for s in [Status::Pass, Status::Warn, Status::Fail, Status::Skip] {
            let v = if c.status == s { 1.0 } else { 0.0 };
            states.push((
                format!("backend=\"{backend}\",check=\"{}\",status=\"{}\"", esc(&c.id), s.label().to_ascii_lowercase()),
                v,
            ));
        }
    }
    gauge("check_status", "Status of each check: 1 for the status it has, 0 for the others.", &states);
    if let Some(e) = &r.error {
        let raw = e.raw().map(|x| x.to_string()).unwrap_or_default();
        gauge(
            "error_info",
            "The blocking error: kind, cause, stable code and raw code (always 1).",
            &[(
                format!(
                    "backend=\"{backend}\",kind=\"{}\",cause=\"{}\",code=\"{}\",raw=\"{}\",operation=\"{}\"",
                    e.kind(),
                    e.cause(),
                    e.code(),
                    esc(&raw),
                    esc(e.operation().call_name())
                ),
                1.0,
            )],
        );
    }
    let limits = [
        ("max_vcpus", "Maximum vCPUs per VM.", r.limits.max_vcpus),
        ("recommended_vcpus", "Recommended vCPUs per VM.", r.limits.recommended_vcpus),
        ("memslots", "Memory slots per VM.", r.limits.memslots),
        ("max_address_spaces", "System-wide VM address spaces.", r.limits.max_address_spaces),
        ("ipa_bits", "Guest physical address bits.", r.limits.ipa_bits.map(u64::from)),
    ];
    for (name, help, value) in limits {
        if let Some(v) = value {
            gauge(name, help, &[(format!("backend=\"{backend}\""), v as f64)]);
        }
    }
    gauge(
        "probe_duration_seconds",
        "Wall time of the check.",
        &[(format!("backend=\"{backend}\""), r.elapsed_us as f64 / 1e6)],
    );
    let ts = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    gauge(
        "last_run_timestamp_seconds",
        "When the check ran (Unix time).",
        &[(format!("backend=\"{backend}\""), ts.floor())],
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_valid() {
        assert_eq!(label_value("kvm_pvm"), "kvm_pvm");
        assert_eq!(label_value("Y"), "Y");
        assert_eq!(label_value("-a b/c-"), "a_b_c");
        assert_eq!(label_value(&"x".repeat(80)).len(), 63);
    }

    #[test]
    fn escapes_label_values() {
        assert_eq!(esc("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
