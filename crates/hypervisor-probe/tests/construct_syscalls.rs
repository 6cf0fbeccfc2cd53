//! Constructing the platform probe makes no system call.
//!
//! The test runs this same binary under `strace -f` in a child mode that writes a
//! marker to stdout, constructs the probe, and writes a second marker; no system call
//! may appear between the two writes. A control run does one `stat` in the same place
//! and must show it, so the method is seen to detect calls. (`harness = false`: a
//! plain `main`, so no test-harness thread makes calls of its own.)

#![forbid(unsafe_code)]

use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use hypervisor_probe::{PLATFORM_BACKEND, ProbeOptions, platform_probe};

/// Selects the child mode: `probe` or `control`.
const CHILD: &str = "HVPROBE_CONSTRUCT_CHILD";
const BEGIN: &str = "<<construct-begin>>";
const END: &str = "<<construct-end>>";

fn main() {
    match std::env::var(CHILD).as_deref() {
        Ok("probe") => child(false),
        Ok("control") => child(true),
        _ => parent(),
    }
}

fn child(control: bool) {
    let mut out = std::io::stdout().lock();
    // Stdout is line-buffered: each marker is one write(1, ...).
    writeln!(out, "{BEGIN}").unwrap();
    let probe = if control {
        black_box(std::fs::metadata("/").is_ok());
        None
    } else {
        Some(black_box(platform_probe(black_box(ProbeOptions::default()))))
    };
    writeln!(out, "{END}").unwrap();
    drop(probe);
}

/// The system calls strace saw between the two markers of a child run.
fn calls_between_markers(exe: &Path, mode: &str) -> Vec<String> {
    let log = std::env::temp_dir().join(format!("hvprobe-construct-{}-{mode}.strace", std::process::id()));
    let out = Command::new("strace")
        .args(["-f", "-qq", "-o"])
        .arg(&log)
        .arg(exe)
        .env(CHILD, mode)
        .output()
        .expect("strace runs");
    let trace = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    assert!(
        out.status.success(),
        "strace -f {} ({mode}) failed: {}\n{}\n{trace}",
        exe.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = trace.lines().collect();
    let at = |marker: &str| {
        lines
            .iter()
            .position(|l| l.contains("write(1") && l.contains(marker))
            .unwrap_or_else(|| panic!("no write of {marker} in the trace ({mode}):\n{trace}"))
    };
    let (begin, end) = (at(BEGIN), at(END));
    assert!(begin < end, "markers out of order ({mode}):\n{trace}");
    lines[begin + 1..end].iter().map(|l| (*l).to_owned()).collect()
}

fn parent() {
    if Command::new("strace").arg("-V").output().is_err() {
        // Straight to stderr, and loud: this property was not checked.
        let _ = writeln!(
            std::io::stderr().lock(),
            "SKIPPED: strace is not installed (Debian package strace); \
             the zero-system-call construction test did not run"
        );
        return;
    }
    let exe = std::env::current_exe().expect("own path");
    let control = calls_between_markers(&exe, "control");
    assert!(
        control.iter().any(|l| l.contains("stat")),
        "the control run's stat was not seen between the markers, so the trace cannot be trusted: {control:#?}"
    );
    let calls = calls_between_markers(&exe, "probe");
    assert!(calls.is_empty(), "constructing the {PLATFORM_BACKEND} probe made system calls: {calls:#?}");
    println!(
        "construct_syscalls: constructing the {PLATFORM_BACKEND} platform probe made no system call \
         (the control run's {} call(s) were seen)",
        control.len()
    );
    println!("1 passed, 0 failed");
}
