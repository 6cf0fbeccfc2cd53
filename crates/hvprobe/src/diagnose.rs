//! `hvprobe diagnose`.

use std::process::ExitCode;

use hypervisor_probe::parse::failure_from_log;
use hypervisor_probe::{CreateFailure, DiagnosisVerdict, HypervisorProbe, ProbeOptions, RawCode, platform_probe};

use crate::{DiagnoseArgs, SimpleFormat, check, exit, human, output};

/// The failure as the VMM reported it: an explicit code wins over one read from the
/// message, and the message is kept either way.
fn failure(args: &DiagnoseArgs) -> CreateFailure {
    let from_log = args.message.as_deref().map(failure_from_log);
    let explicit = args.errno.map(RawCode::Errno).or(args.hv.map(RawCode::HvReturn));
    match (explicit, from_log) {
        (Some(raw), Some(log)) => CreateFailure { raw: Some(raw), ..log },
        (Some(raw), None) => {
            CreateFailure { raw: Some(raw), operation: hypervisor_probe::Operation::Unknown, message: None }
        }
        (None, Some(log)) => log,
        // clap requires one of the three.
        (None, None) => CreateFailure::message(""),
    }
}

pub fn run(args: DiagnoseArgs, quiet: bool) -> ExitCode {
    let failure = failure(&args);
    let probe = platform_probe(ProbeOptions::default().with_device(args.device.clone()));
    let d = probe.diagnose_create_failure(&failure);
    let code = match d.verdict {
        DiagnosisVerdict::CauseElsewhere | DiagnosisVerdict::TransientCleared => exit::OK,
        DiagnosisVerdict::HypervisorCause | DiagnosisVerdict::Inconclusive => exit::NOT_OK,
    };
    let text = match args.format {
        SimpleFormat::Json => check::json(&d),
        SimpleFormat::Human => human::diagnosis(&d, check::use_colour(), quiet),
    };
    output::stdout(&text, code)
}
