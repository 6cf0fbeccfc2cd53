//! Project tasks, run as `cargo xtask <task>` (the alias is in `.cargo/config.toml`).
//!
//! One binary, one module per task, the tasks an enum. Later tasks (`matrix`, `ci`,
//! `soak`) are added the same way: a variant in [`Task`], a module, one arm in
//! [`run`].

#![forbid(unsafe_code)]

mod bindgen;
mod ci;
mod error;
#[cfg(target_os = "linux")]
mod fault;
mod matrix;
mod sign;
mod soak;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use error::Error;

/// hvprobe project tasks.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Regenerate crates/hvf-sys/src/bindings_{aarch64,x86_64}.rs from
    /// crates/hvf-sys/include/hvf_subset.h.
    Bindgen(bindgen::Args),
    /// Ad-hoc sign a binary with the hypervisor entitlement (macOS only).
    Sign(sign::Args),
    /// Run the hardware and fault matrix against the real hvprobe binary.
    Matrix(matrix::Args),
    /// Run everything CI checks, in one command.
    Ci(ci::Args),
    /// Soak the probe on this host's KVM: 10,000 sequential checks and 64 threads ×
    /// 200 checks and diagnoses, with no leaked fd, VM or memory.
    Soak(soak::Args),
    /// Run a command under a seccomp filter that makes chosen ioctls fail (used by the
    /// matrix).
    #[cfg(target_os = "linux")]
    #[command(hide = true)]
    FaultExec(fault::Args),
}

/// The workspace root (the parent of this crate's directory).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

fn run(task: Task) -> Result<(), Error> {
    let root = workspace_root();
    match task {
        Task::Bindgen(args) => bindgen::run(&root, &args),
        Task::Sign(args) => sign::run(&root, &args),
        Task::Matrix(args) => matrix::run(&root, &args),
        Task::Ci(args) => ci::run(&root, &args),
        Task::Soak(args) => soak::run(&root, &args),
        #[cfg(target_os = "linux")]
        Task::FaultExec(args) => fault::run(&args),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.task) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn subcommands_parse() {
        let cli = Cli::try_parse_from(["xtask", "bindgen", "--check"]).unwrap();
        assert!(matches!(cli.task, Task::Bindgen(bindgen::Args { check: true, sdk: false })));
        let cli = Cli::try_parse_from(["xtask", "bindgen", "--sdk"]).unwrap();
        assert!(matches!(cli.task, Task::Bindgen(bindgen::Args { check: false, sdk: true })));
        assert!(Cli::try_parse_from(["xtask", "bindgen", "--sdk", "--check"]).is_err());
        let cli = Cli::try_parse_from(["xtask", "sign", "target/debug/foo"]).unwrap();
        match cli.task {
            Task::Sign(args) => assert_eq!(args.binary, PathBuf::from("target/debug/foo")),
            other => panic!("{other:?}"),
        }
        assert!(Cli::try_parse_from(["xtask", "sign"]).is_err());
        assert!(Cli::try_parse_from(["xtask", "matrix", "--format", "json"]).is_ok());
        assert!(Cli::try_parse_from(["xtask", "matrix", "--format", "xml"]).is_err());
        assert!(matches!(
            Cli::try_parse_from(["xtask", "soak", "--short"]).unwrap().task,
            Task::Soak(soak::Args { short: true })
        ));
        assert!(matches!(
            Cli::try_parse_from(["xtask", "soak"]).unwrap().task,
            Task::Soak(soak::Args { short: false })
        ));
        assert!(Cli::try_parse_from(["xtask", "nope"]).is_err());
    }

    #[test]
    fn workspace_root_holds_the_workspace_manifest() {
        let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
        assert!(manifest.contains("[workspace]"));
    }
}
