//! `cargo xtask soak`: the soak and concurrency run on this host's real KVM.
//!
//! The run itself is `crates/hypervisor-probe/examples/soak.rs`, built in release mode
//! with the `kvm` feature, so the checks run in one process through the library while
//! the xtask gains no dependency on the probe crates.

use std::path::Path;
use std::process::Command;

use crate::Error;

/// Arguments of `soak`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The short form CI runs: 500 sequential checks and 16 threads × 20 rounds
    /// (default: 10,000 and 64 × 200).
    #[arg(long)]
    pub short: bool,
}

/// The cargo command line that runs the soak.
pub fn command_line(args: &Args) -> Vec<&'static str> {
    let mut argv =
        vec!["run", "--release", "--quiet", "-p", "hypervisor-probe", "--features", "kvm", "--example", "soak", "--"];
    if args.short {
        argv.push("--short");
    }
    argv
}

/// Builds and runs the soak; fails when it reports a leak, a panic or a wrong answer.
pub fn run(root: &Path, args: &Args) -> Result<(), Error> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let argv = command_line(args);
    let status = Command::new(&cargo)
        .args(&argv)
        .current_dir(root)
        .status()
        .map_err(|e| Error::msg(format!("cannot run `{cargo}`: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::msg(format!("soak failed ({status}): `cargo {}`", argv.join(" "))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soak_runs_the_release_example_with_kvm() {
        let full = command_line(&Args { short: false }).join(" ");
        assert!(full.starts_with("run --release"), "{full}");
        assert!(full.contains("--features kvm --example soak"), "{full}");
        assert!(!full.contains("--short"));
        assert!(command_line(&Args { short: true }).ends_with(&["--", "--short"]));
    }
}
