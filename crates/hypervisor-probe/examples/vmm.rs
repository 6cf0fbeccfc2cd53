//! A minimal VMM start-up path with hvprobe.
//!
//! It picks the backend through cargo features (`platform_probe`), runs the startup
//! check before doing anything, and when VM creation fails it asks the probe what
//! really happened and prints both its own original error and the diagnosis.
//!
//! ```sh
//! cargo run -p hypervisor-probe --features kvm,mock --example vmm
//! cargo test -p hypervisor-probe --features kvm,mock --example vmm   # its failure path, on the mock
//! ```

use std::io;
use std::process::ExitCode;

use hypervisor_probe::{CreateFailure, Diagnosis, HypervisorProbe, NotUsable, ProbeOptions, platform_probe};

/// Why the VMM could not start.
#[derive(Debug)]
enum StartError {
    /// The host cannot run a VM: the probe says why.
    HostNotUsable(NotUsable),
    /// The host looked fine but creating the VM failed.
    CreateFailed { original: io::Error, diagnosis: Box<Diagnosis> },
}

/// Checks the host, then creates the VM; on failure, keeps the VMM's own error and the
/// probe's diagnosis side by side.
fn start<V>(probe: &dyn HypervisorProbe, create_vm: impl FnOnce() -> io::Result<V>) -> Result<V, StartError> {
    probe.startup_check().map_err(StartError::HostNotUsable)?;
    create_vm().map_err(|original| {
        let diagnosis = Box::new(probe.diagnose_create_failure(&CreateFailure::io(&original)));
        StartError::CreateFailed { original, diagnosis }
    })
}

/// The VMM's own VM creation, as a rust-vmm based VMM does it.
#[cfg(target_os = "linux")]
fn create_vm() -> io::Result<kvm_ioctls::VmFd> {
    let to_io = |e: kvm_ioctls::Error| io::Error::from_raw_os_error(e.errno());
    let kvm = kvm_ioctls::Kvm::new().map_err(to_io)?;
    kvm.create_vm().map_err(to_io)
}

#[cfg(not(target_os = "linux"))]
fn create_vm() -> io::Result<()> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "this example creates VMs on Linux only"))
}

fn main() -> ExitCode {
    let probe = platform_probe(ProbeOptions::default());
    match start(&probe, create_vm) {
        Ok(_vm) => {
            println!("VM created with the {} backend", probe.backend());
            ExitCode::SUCCESS
        }
        Err(StartError::HostNotUsable(e)) => {
            eprintln!("cannot start: {e}");
            for remedy in e.error().remedies() {
                eprintln!("  fix: {remedy}");
            }
            ExitCode::FAILURE
        }
        Err(StartError::CreateFailed { original, diagnosis }) => {
            eprintln!("VM creation failed: {original}");
            eprintln!("diagnosis: {} - {}", diagnosis.verdict, diagnosis.explanation);
            if let Some(e) = &diagnosis.error {
                eprintln!(
                    "  cause: {} ({}), {}",
                    e.cause(),
                    e.code(),
                    e.raw().map(|r| r.to_string()).unwrap_or_default()
                );
            }
            ExitCode::FAILURE
        }
    }
}

/// The VMM's failure paths, tested as its own CI would: no hypervisor needed.
#[cfg(test)]
mod tests {
    use hypervisor_probe::mock::{Answer, KvmCall, MockProbe, ScriptedKvmHost};
    use hypervisor_probe::{Cause, DiagnosisVerdict, RawCode};

    use super::*;

    #[test]
    fn unusable_host_stops_before_creating_anything() {
        let probe = MockProbe::kvm_failing(KvmCall::Open, 13);
        let mut created = false;
        let err = start(&probe, || {
            created = true;
            Ok(())
        })
        .unwrap_err();
        assert!(!created);
        let StartError::HostNotUsable(e) = err else { panic!("{err:?}") };
        assert_eq!(e.error().cause(), Cause::DeviceAccessDenied);
        assert_eq!(e.error().raw(), Some(RawCode::Errno(13)));
    }

    #[test]
    fn creation_failure_keeps_the_original_error_and_finds_the_real_cause() {
        // Healthy at start-up; by the time the VMM creates its VM another hypervisor
        // holds VT-x, and the probe's reproduction sees it too.
        let host = ScriptedKvmHost::healthy().then(KvmCall::CreateVm, [Answer::Healthy, Answer::Errno(16)]);
        let probe = MockProbe::kvm(host, ProbeOptions::default());
        let err = start(&probe, || Err::<(), _>(io::Error::from_raw_os_error(22))).unwrap_err();
        let StartError::CreateFailed { original, diagnosis } = err else { panic!("{err:?}") };
        assert_eq!(original.raw_os_error(), Some(22), "the VMM's error is kept untouched");
        assert_eq!(diagnosis.original.raw, Some(RawCode::Errno(22)));
        assert_eq!(diagnosis.verdict, DiagnosisVerdict::HypervisorCause);
        assert_eq!(diagnosis.error.as_ref().unwrap().cause(), Cause::OtherHypervisorActive);
        assert_eq!(diagnosis.error.as_ref().unwrap().raw(), Some(RawCode::Errno(16)));
        assert!(probe.balanced());
    }

    #[test]
    fn creation_failure_on_a_working_hypervisor_points_elsewhere() {
        let probe = MockProbe::kvm_healthy();
        let err = start(&probe, || Err::<(), _>(io::Error::from_raw_os_error(22))).unwrap_err();
        let StartError::CreateFailed { diagnosis, .. } = err else { panic!("{err:?}") };
        assert_eq!(diagnosis.verdict, DiagnosisVerdict::CauseElsewhere);
    }
}
