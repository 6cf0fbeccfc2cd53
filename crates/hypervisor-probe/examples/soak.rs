//! Soak and concurrency run of the platform probe on this host's real KVM.
//!
//! `cargo xtask soak` runs it in release mode: 10,000 sequential checks (quick and full
//! in turn), then 64 threads × 200 rounds of a check and a diagnosis of EINVAL, all in
//! this one process. It fails when any call panics or gives a wrong answer for a
//! healthy host (a check that is not usable, a diagnosis other than
//! `cause_elsewhere`), or when the process's open descriptors, its
//! `anon_inode:kvm-vm` descriptors or its resident memory (± 1 MiB) after a phase
//! differ from before it. A warm-up of both phases comes first, so the allocator's
//! per-thread arenas and the C library's cache of thread stacks exist before the
//! baseline is taken. `--short` runs 500 sequential checks and 16 threads × 20
//! rounds (what CI runs).

#![forbid(unsafe_code)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use hypervisor_probe::{
    Backend, CreateFailure, DiagnosisVerdict, HypervisorProbe, Level, PLATFORM_BACKEND, PlatformProbe, ProbeOptions,
    Verdict, platform_probe,
};

/// How much RSS may move between two measurements.
const RSS_SLACK_KIB: i64 = 1024;
/// EINVAL: what libkrun reports for every failure.
const EINVAL: i32 = 22;

#[derive(Debug, Clone, Copy)]
struct Size {
    sequential: usize,
    threads: usize,
    rounds: usize,
}

const FULL: Size = Size { sequential: 10_000, threads: 64, rounds: 200 };
const SHORT: Size = Size { sequential: 500, threads: 16, rounds: 20 };

/// What the process holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Usage {
    fds: usize,
    kvm_vms: usize,
    rss_kib: i64,
}

impl Usage {
    fn now() -> Usage {
        let targets: Vec<String> = std::fs::read_dir("/proc/self/fd")
            .expect("/proc/self/fd")
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .map(|t| t.to_string_lossy().into_owned())
            .collect();
        let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
        let rss_kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .expect("VmRSS in /proc/self/status");
        Usage { fds: targets.len(), kvm_vms: targets.iter().filter(|t| *t == "anon_inode:kvm-vm").count(), rss_kib }
    }
}

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "fds {}, kvm-vm fds {}, VmRSS {} KiB", self.fds, self.kvm_vms, self.rss_kib)
    }
}

/// Panics and wrong answers, with the first few wrong answers kept for the report.
#[derive(Default)]
struct Tally {
    calls: AtomicUsize,
    panics: AtomicUsize,
    wrong: AtomicUsize,
    examples: Mutex<Vec<String>>,
}

impl Tally {
    fn record(&self, outcome: std::thread::Result<Result<(), String>>) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let problem = match outcome {
            Ok(Ok(())) => return,
            Ok(Err(wrong)) => {
                self.wrong.fetch_add(1, Ordering::Relaxed);
                wrong
            }
            Err(_) => {
                self.panics.fetch_add(1, Ordering::Relaxed);
                "panicked".to_owned()
            }
        };
        let mut examples = self.examples.lock().unwrap_or_else(|e| e.into_inner());
        if examples.len() < 5 {
            examples.push(problem);
        }
    }
}

struct Probes {
    quick: PlatformProbe,
    full: PlatformProbe,
    failure: CreateFailure,
}

impl Probes {
    /// A check (quick on even `i`, full on odd) must say usable.
    fn check(&self, i: usize, tally: &Tally) {
        tally.record(catch_unwind(AssertUnwindSafe(|| {
            let probe = if i % 2 == 0 { &self.quick } else { &self.full };
            match probe.startup_check() {
                Ok(report) if report.usable && report.verdict == Verdict::Usable => Ok(()),
                Ok(report) => Err(format!("check {i}: usable but verdict {:?}", report.verdict)),
                Err(e) => Err(format!("check {i}: {e}")),
            }
        })));
    }

    /// A diagnosis of EINVAL must say the cause is elsewhere.
    fn diagnose(&self, i: usize, tally: &Tally) {
        tally.record(catch_unwind(AssertUnwindSafe(|| {
            let d = self.quick.diagnose_create_failure(&self.failure);
            if d.verdict == DiagnosisVerdict::CauseElsewhere && d.original == self.failure {
                Ok(())
            } else {
                Err(format!("diagnosis {i}: {} ({})", d.verdict, d.explanation))
            }
        })));
    }
}

fn sequential(probes: &Probes, n: usize, tally: &Tally) {
    for i in 0..n {
        probes.check(i, tally);
    }
}

fn concurrent(probes: &Probes, threads: usize, rounds: usize, tally: &Tally) {
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                for r in 0..rounds {
                    probes.check(t + r, tally);
                    probes.diagnose(r, tally);
                }
            });
        }
    });
}

/// Compares a phase's end with the baseline; returns what differs.
fn compare(phase: &str, before: Usage, after: Usage) -> Vec<String> {
    let mut problems = Vec::new();
    if after.fds != before.fds {
        problems.push(format!("{phase}: open fds {} → {}", before.fds, after.fds));
    }
    if after.kvm_vms != before.kvm_vms {
        problems.push(format!("{phase}: anon_inode:kvm-vm fds {} → {}", before.kvm_vms, after.kvm_vms));
    }
    if (after.rss_kib - before.rss_kib).abs() > RSS_SLACK_KIB {
        problems.push(format!("{phase}: VmRSS {} KiB → {} KiB (more than ± 1 MiB)", before.rss_kib, after.rss_kib));
    }
    problems
}

fn report_phase(phase: &str, started: Instant, tally: &Tally, before: Usage, after: Usage) {
    println!(
        "{phase}: {} calls in {:.1} s ({:.0} µs each), {} panicked, {} wrong; {after} ({:+} KiB)",
        tally.calls.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64() * 1e6 / tally.calls.load(Ordering::Relaxed).max(1) as f64,
        tally.panics.load(Ordering::Relaxed),
        tally.wrong.load(Ordering::Relaxed),
        after.rss_kib - before.rss_kib,
    );
}

fn main() -> ExitCode {
    let short = std::env::args().skip(1).any(|a| a == "--short");
    let size = if short { SHORT } else { FULL };
    if PLATFORM_BACKEND != Backend::Kvm || !Path::new("/dev/kvm").exists() {
        eprintln!("SKIPPED: the soak needs the KVM backend and /dev/kvm (backend {PLATFORM_BACKEND}); it did not run");
        return ExitCode::SUCCESS;
    }
    let probes = Probes {
        quick: platform_probe(ProbeOptions::default()),
        full: platform_probe(ProbeOptions::default().with_level(Level::Full)),
        failure: CreateFailure::errno(EINVAL).with_message("VM failed to start (status=-22)"),
    };
    println!(
        "soak{}: {} sequential checks, then {} threads × {} rounds of a check and a diagnosis",
        if short { " --short" } else { "" },
        size.sequential,
        size.threads,
        size.rounds
    );

    let warm_up = Tally::default();
    sequential(&probes, size.sequential.min(500), &warm_up);
    concurrent(&probes, size.threads, size.rounds.min(20), &warm_up);
    let before = Usage::now();
    println!("after warm-up ({} calls): {before}", warm_up.calls.load(Ordering::Relaxed));

    let seq = Tally::default();
    let t = Instant::now();
    sequential(&probes, size.sequential, &seq);
    let after_seq = Usage::now();
    report_phase("sequential", t, &seq, before, after_seq);

    let conc = Tally::default();
    let t = Instant::now();
    concurrent(&probes, size.threads, size.rounds, &conc);
    let after = Usage::now();
    report_phase("concurrent", t, &conc, before, after);

    let mut problems = compare("sequential", before, after_seq);
    problems.extend(compare("concurrent", before, after));
    for (phase, tally) in [("warm-up", &warm_up), ("sequential", &seq), ("concurrent", &conc)] {
        let (panics, wrong) = (tally.panics.load(Ordering::Relaxed), tally.wrong.load(Ordering::Relaxed));
        if panics + wrong > 0 {
            let examples = tally.examples.lock().unwrap_or_else(|e| e.into_inner());
            problems.push(format!("{phase}: {panics} panicked, {wrong} wrong: {}", examples.join("; ")));
        }
    }
    if problems.is_empty() {
        println!("soak: passed");
        ExitCode::SUCCESS
    } else {
        for p in &problems {
            eprintln!("soak: FAILED: {p}");
        }
        ExitCode::FAILURE
    }
}
