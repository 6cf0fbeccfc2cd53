//! `hvprobe holders`.

use std::process::ExitCode;

use crate::{SimpleFormat, exit};

#[cfg(target_os = "linux")]
pub fn run(format: SimpleFormat) -> ExitCode {
    use crate::{check, output};

    let holders = hypervisor_probe::kvm::holders(&hypervisor_probe::kvm::LinuxHost);
    let text = match format {
        SimpleFormat::Json => check::json(&holders),
        SimpleFormat::Human => {
            let mut out = String::new();
            if holders.processes.is_empty() {
                out.push_str("No process this user may inspect holds a KVM VM.\n");
            } else {
                out.push_str(&format!("{:>8}  {:>4}  command\n", "pid", "VMs"));
                for p in &holders.processes {
                    out.push_str(&format!("{:>8}  {:>4}  {}\n", p.pid, p.vms, p.command));
                }
                out.push_str(&format!("{} VMs in {} processes\n", holders.total_vms(), holders.processes.len()));
            }
            if holders.uninspectable > 0 {
                out.push_str(&format!(
                    "{} processes could not be inspected (run as root to see them).\n",
                    holders.uninspectable
                ));
            }
            out
        }
    };
    let seen_any = !holders.processes.is_empty() || holders.uninspectable == 0;
    output::stdout(&text, if seen_any { exit::OK } else { exit::NOT_OK })
}

#[cfg(not(target_os = "linux"))]
pub fn run(_format: SimpleFormat) -> ExitCode {
    eprintln!("hvprobe: `holders` lists KVM VMs and is available on Linux only");
    ExitCode::from(exit::USAGE)
}
