//! Holds one Hypervisor.framework VM until its standard input closes: the matrix starts
//! many of these to fill the system-wide address-space pool.
//!
//! Prints the `hv_vm_create` return code (signed decimal) on one line, then waits. Run
//! signed (`cargo xtask sign target/debug/examples/hvf_hold_vm`).

use std::process::ExitCode;

#[cfg(target_os = "macos")]
fn main() -> ExitCode {
    use std::io::{Read, Write};

    use probe_hvf::{HvfHost, MacHost, VmConfig};

    let host = MacHost::new();
    let call = host.vm_create(VmConfig::default());
    println!("{}", call.ret);
    let _ = std::io::stdout().flush();
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    if call.created() {
        host.vm_destroy();
    }
    ExitCode::SUCCESS
}

#[cfg(not(target_os = "macos"))]
fn main() -> ExitCode {
    eprintln!("hvf_hold_vm needs macOS: Hypervisor.framework exists only there");
    ExitCode::FAILURE
}
