//! What a person reads at a glance.

use std::fmt::Write;

use hypervisor_probe::{Check, Diagnosis, DiagnosisVerdict, Level, ProbeError, Report, Status, VmHolders};

fn paint(text: &str, status: Status, colour: bool) -> String {
    if !colour {
        return text.to_owned();
    }
    let code = match status {
        Status::Pass => "32",
        Status::Warn => "33",
        Status::Fail => "31;1",
        Status::Skip => "2",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

fn checks(out: &mut String, list: &[Check], colour: bool, quiet: bool) {
    let width = list.iter().map(|c| c.title.len()).max().unwrap_or(0);
    for c in list.iter().filter(|c| !quiet || c.status == Status::Fail) {
        let _ = writeln!(out, "  {}  {:<width$}  {}", paint(c.status.label(), c.status, colour), c.title, c.detail);
        if c.status != Status::Pass {
            for remedy in &c.remedies {
                let _ = writeln!(out, "        {:<width$}  fix: {remedy}", "");
            }
        }
    }
}

fn holders(out: &mut String, h: &VmHolders) {
    if h.processes.is_empty() {
        let _ = writeln!(out, "VM holders: none visible");
    } else {
        let list: Vec<String> =
            h.processes.iter().take(5).map(|p| format!("{} (pid {}, {} VMs)", p.command, p.pid, p.vms)).collect();
        let _ = writeln!(out, "VM holders: {}", list.join(", "));
    }
    if h.uninspectable > 0 {
        let _ = writeln!(out, "  ({} processes could not be inspected; run as root to see them)", h.uninspectable);
    }
}

fn error_line(e: &ProbeError) -> String {
    let raw = e.raw().map(|raw| format!(", {raw} from {}", e.operation())).unwrap_or_default();
    format!("{} [{} {}{raw}]", e.summary(), e.cause(), e.code())
}

/// The report as a table: one line per check, remedies under anything not PASS.
/// Quiet: only failing checks and the result when not usable; nothing when usable.
pub fn report(r: &Report, colour: bool, quiet: bool) -> String {
    let mut out = String::new();
    if quiet && r.usable {
        return out;
    }
    let level = match r.level {
        Level::Quick => "quick",
        Level::Full => "full",
    };
    let simulated = if r.simulated { ", SIMULATED on a scripted host: this is not this machine" } else { "" };
    if !quiet {
        let _ = writeln!(out, "hvprobe check: backend {}, {level} level{simulated}", r.backend);
    }
    checks(&mut out, &r.checks, colour, quiet);
    if !quiet {
        let h = &r.host;
        let yes_no = |b: Option<bool>| match b {
            Some(true) => "yes",
            Some(false) => "no",
            None => "unknown",
        };
        let _ = writeln!(
            out,
            "Host: {} {} {}, module {}{}, virtualized: {}{}",
            h.os,
            h.arch,
            h.os_version.as_deref().unwrap_or("?"),
            h.vendor_module.as_deref().unwrap_or("none"),
            h.nested.as_deref().map(|n| format!(" (nested={n})")).unwrap_or_default(),
            yes_no(h.virtualized),
            h.container.as_deref().map(|c| format!(", container: {c}")).unwrap_or_default(),
        );
    }
    if let Some(h) = &r.holders {
        holders(&mut out, h);
    }
    match &r.error {
        None => {
            let _ = writeln!(out, "{}", paint(&format!("Result: {} can run a VM.", r.backend), Status::Pass, colour));
        }
        Some(e) => {
            let mark = if r.simulated { " (simulated)" } else { "" };
            let line = format!("Result{mark}: cannot run a VM: {}", error_line(e));
            let _ = writeln!(out, "{}", paint(&line, Status::Fail, colour));
        }
    }
    out
}

/// A diagnosis: the verdict, the VMM's original failure, the recovered cause.
pub fn diagnosis(d: &Diagnosis, colour: bool, quiet: bool) -> String {
    let mut out = String::new();
    let status = match d.verdict {
        DiagnosisVerdict::HypervisorCause => Status::Fail,
        DiagnosisVerdict::Inconclusive => Status::Warn,
        DiagnosisVerdict::CauseElsewhere | DiagnosisVerdict::TransientCleared => Status::Pass,
    };
    let simulated = if d.simulated { " (SIMULATED on a scripted host)" } else { "" };
    let _ = writeln!(out, "hvprobe diagnose: backend {}{simulated}", d.backend);
    let _ = writeln!(out, "The VMM reported: {}", d.original);
    if let Some(c) = &d.original_cause {
        let _ = writeln!(out, "  which on its own means: {}", error_line(c));
    }
    if !quiet {
        let _ = writeln!(out, "Reproduction on this host:");
        checks(&mut out, &d.checks, colour, false);
    }
    let _ = writeln!(out, "{}", paint(&format!("Verdict: {}", d.verdict), status, colour));
    let _ = writeln!(out, "{}", d.explanation);
    if let Some(e) = &d.error {
        let _ = writeln!(out, "Cause: {}", error_line(e));
        if !e.detail().is_empty() {
            let _ = writeln!(out, "  {}", e.detail());
        }
        for remedy in e.remedies() {
            let _ = writeln!(out, "  fix: {remedy}");
        }
    }
    if let Some(h) = &d.holders {
        holders(&mut out, h);
    }
    out
}
