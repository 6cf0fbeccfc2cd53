//! `hvprobe check`.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::SystemTime;

use hypervisor_probe::{CapabilityProfile, HypervisorProbe, Level, ProbeOptions, Report, platform_probe};

use crate::{CheckArgs, CheckFormat, exit, fleet, human, output};

pub fn run(args: CheckArgs, quiet: bool) -> ExitCode {
    let report = match args.simulate {
        Some(scenario) => scenario.probe().report(),
        None => {
            let profile = match args.caps {
                Some(list) => CapabilityProfile::Custom(list),
                None => args.profile,
            };
            let mut options = ProbeOptions::default()
                .with_device(args.device)
                .with_profile(profile)
                .with_level(if args.full { Level::Full } else { Level::Quick });
            options.vcpus = args.vcpus;
            options.memory_mib = args.memory;
            platform_probe(options).report()
        }
    };
    let text = render(&report, args.format, quiet && args.output.is_none());
    let code = if report.usable { exit::OK } else { exit::NOT_OK };
    output::to_file_or_stdout(args.output.as_deref(), &text, code)
}

fn render(report: &Report, format: CheckFormat, quiet: bool) -> String {
    match format {
        CheckFormat::Json => json(report),
        CheckFormat::Human => human::report(report, use_colour(), quiet),
        CheckFormat::Nfd => fleet::nfd(report),
        CheckFormat::Prometheus => fleet::prometheus(report, SystemTime::now()),
    }
}

pub fn json<T: serde::Serialize>(value: &T) -> String {
    let mut s = serde_json::to_string_pretty(value).expect("reports and diagnoses always serialize");
    s.push('\n');
    s
}

/// Colour only on a terminal, and never with NO_COLOR set.
pub fn use_colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
