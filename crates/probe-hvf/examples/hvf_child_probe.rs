//! A child-probe helper: creates and destroys one VM and prints the answer line.
//!
//! Build it, sign it (`cargo xtask sign target/debug/examples/hvf_child_probe`) and
//! pass its path to `HvfProbe::with_child_probe`. Run by hand:
//! `hvf_child_probe --hvf-child-probe [--ipa-bits N]`.

use std::process::ExitCode;

#[cfg(target_os = "macos")]
fn main() -> ExitCode {
    match probe_hvf::child::serve(std::env::args().skip(1)) {
        Some(code) => code,
        None => {
            eprintln!("usage: hvf_child_probe {} [--ipa-bits N]", probe_hvf::child::CHILD_PROBE_ARG);
            ExitCode::from(2)
        }
    }
}

#[cfg(not(target_os = "macos"))]
fn main() -> ExitCode {
    eprintln!("hvf_child_probe needs macOS: Hypervisor.framework exists only there");
    ExitCode::FAILURE
}
