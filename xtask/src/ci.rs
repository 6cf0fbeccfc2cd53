//! `cargo xtask ci`: everything CI checks, runnable locally in one command.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::Error;

/// Arguments of `ci`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Skip `cargo test --workspace` (when the caller has just run it, as `.ci/run` does).
    #[arg(long)]
    pub skip_workspace_tests: bool,
}

/// One step: a description and a command line.
struct Step {
    what: &'static str,
    argv: Vec<String>,
}

fn step(what: &'static str, argv: &[&str]) -> Step {
    Step { what, argv: argv.iter().map(|s| (*s).to_owned()).collect() }
}

const APPLE_TARGETS: [&str; 2] = ["aarch64-apple-darwin", "x86_64-apple-darwin"];

fn steps(args: &Args, root_with_kvm: bool) -> Vec<Step> {
    let mut steps = vec![
        step("formatting", &["cargo", "fmt", "--all", "--", "--check"]),
        step("clippy (Linux)", &["cargo", "clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]),
    ];
    if !args.skip_workspace_tests {
        steps.push(step("the README's test command", &["cargo", "test", "--workspace"]));
    }
    steps.extend([
        step(
            "mock tests with /dev/kvm hidden",
            &[
                "scripts/without-kvm.sh",
                "cargo",
                "test",
                "-p",
                "probe-mock",
                "-p",
                "probe-hvf",
                "-p",
                "hypervisor-probe",
                "--features",
                "hypervisor-probe/kvm,hypervisor-probe/hvf,hypervisor-probe/mock",
            ],
        ),
        step("facade without a backend", &["cargo", "test", "-p", "hypervisor-probe"]),
        step("aarch64 Linux type-check", &["cargo", "check", "--workspace", "--target", "aarch64-unknown-linux-gnu"]),
        step("generated bindings are current", &["cargo", "run", "--quiet", "-p", "xtask", "--", "bindgen", "--check"]),
    ]);
    for target in APPLE_TARGETS {
        steps.push(Step {
            what: "macOS type-check and clippy",
            argv: [
                "cargo",
                "clippy",
                "-p",
                "hvf-sys",
                "-p",
                "probe-hvf",
                "-p",
                "hypervisor-probe",
                "-p",
                "hvprobe",
                "--features",
                "hypervisor-probe/hvf",
                "--target",
                target,
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
        });
    }
    let mut matrix = vec!["cargo", "run", "--quiet", "-p", "xtask", "--", "matrix"];
    if root_with_kvm {
        matrix.push("--require-all");
    }
    steps.push(step("hardware and fault matrix", &matrix));
    steps.push(step("soak, short form", &["cargo", "run", "--quiet", "-p", "xtask", "--", "soak", "--short"]));
    steps
}

/// Runs every step in order and stops at the first failure.
pub fn run(root: &Path, args: &Args) -> Result<(), Error> {
    let kvm = Path::new("/dev/kvm").exists();
    let all = steps(args, kvm && crate::matrix::is_root());
    let started = Instant::now();
    for (i, s) in all.iter().enumerate() {
        let t0 = Instant::now();
        eprintln!("==> [{}/{}] {}: {}", i + 1, all.len(), s.what, s.argv.join(" "));
        let status = Command::new(&s.argv[0])
            .args(&s.argv[1..])
            .current_dir(root)
            .status()
            .map_err(|e| Error::msg(format!("{}: cannot run `{}`: {e}", s.what, s.argv[0])))?;
        if !status.success() {
            return Err(Error::msg(format!("{} failed ({status}): `{}`", s.what, s.argv.join(" "))));
        }
        eprintln!("    ok in {:.1} s", t0.elapsed().as_secs_f64());
    }
    eprintln!("ci: all {} steps passed in {:.1} s", all.len(), started.elapsed().as_secs_f64());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_covers_what_the_project_promises() {
        let all = steps(&Args { skip_workspace_tests: false }, true);
        let lines: Vec<String> = all.iter().map(|s| s.argv.join(" ")).collect();
        let has = |needle: &str| lines.iter().any(|l| l.contains(needle));
        assert!(has("fmt --all -- --check"));
        assert!(has("clippy --workspace --all-targets -- -D warnings"));
        assert!(has("cargo test --workspace"));
        assert!(has("aarch64-unknown-linux-gnu"));
        assert!(has("bindgen --check"));
        assert!(has("aarch64-apple-darwin") && has("x86_64-apple-darwin"));
        assert!(has("matrix --require-all"));
        assert!(has("xtask -- soak --short"));
        let skipped = steps(&Args { skip_workspace_tests: true }, false);
        assert!(!skipped.iter().any(|s| s.argv.join(" ") == "cargo test --workspace"));
        assert!(!skipped.iter().any(|s| s.argv.join(" ").contains("--require-all")));
    }
}
