//! Creates this process's one VM, then runs the HVF probe in the same process and
//! prints its report as JSON: on Apple silicon the probe's own `hv_vm_create` gets
//! HV_BUSY, which it must explain as "this process already owns a VM".
//!
//! Run signed (`cargo xtask sign target/debug/examples/hvf_probe_while_owning`).

use std::process::ExitCode;

#[cfg(target_os = "macos")]
fn main() -> ExitCode {
    use probe_core::{HypervisorProbe, ProbeOptions};
    use probe_hvf::{HvfHost, HvfProbe, MacHost, VmConfig};

    let host = MacHost::new();
    let own = host.vm_create(VmConfig::default());
    if !own.created() {
        eprintln!("could not create this process's own VM: hv_return_t {:#010x}", own.ret as u32);
        return ExitCode::from(2);
    }
    let report = HvfProbe::new(ProbeOptions::default()).report();
    host.vm_destroy();
    match serde_json::to_string_pretty(&report) {
        Ok(json) => println!("{json}"),
        Err(e) => {
            eprintln!("cannot print the report: {e}");
            return ExitCode::from(3);
        }
    }
    ExitCode::from(if report.usable { 0 } else { 1 })
}

#[cfg(not(target_os = "macos"))]
fn main() -> ExitCode {
    eprintln!("hvf_probe_while_owning needs macOS: Hypervisor.framework exists only there");
    ExitCode::FAILURE
}
