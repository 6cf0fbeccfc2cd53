//! The table a person reads at a glance.

use std::fmt::Write;

use hypervisor_probe::{Report, Status};

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

/// The report as a table: one line per check, remedies under anything not PASS.
pub fn report(r: &Report, colour: bool) -> String {
    let mut out = String::new();
    let level = match r.level {
        hypervisor_probe::Level::Quick => "quick",
        hypervisor_probe::Level::Full => "full",
    };
    let simulated = if r.simulated { ", SIMULATED on a scripted host: this is not this machine" } else { "" };
    let _ = writeln!(out, "hvprobe check: backend {}, {level} level{simulated}", r.backend);
    let width = r.checks.iter().map(|c| c.title.len()).max().unwrap_or(0);
    for c in &r.checks {
        let _ = writeln!(out, "  {}  {:<width$}  {}", paint(c.status.label(), c.status, colour), c.title, c.detail);
        if c.status != Status::Pass {
            for remedy in &c.remedies {
                let _ = writeln!(out, "        {:<width$}  fix: {remedy}", "");
            }
        }
    }
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
    match &r.error {
        None => {
            let _ = writeln!(out, "{}", paint(&format!("Result: {} can run a VM.", r.backend), Status::Pass, colour));
        }
        Some(e) => {
            let raw = e.raw().map(|raw| format!(", {raw} from {}", e.operation())).unwrap_or_default();
            let line = format!("Result: cannot run a VM: {} [{} {}{raw}]", e.summary(), e.cause(), e.code());
            let _ = writeln!(out, "{}", paint(&line, Status::Fail, colour));
        }
    }
    out
}
