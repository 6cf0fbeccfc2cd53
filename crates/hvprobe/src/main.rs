//! `hvprobe`: can this host run a VM, and if a VM failed to start, why?

#![forbid(unsafe_code)]

mod human;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use hypervisor_probe::mock::{Scenario, scenarios};
use hypervisor_probe::{CapabilityProfile, HypervisorProbe, Level, ProbeOptions, Report, platform_probe};

/// Exit codes, stable and documented.
mod exit {
    /// The host can run a VM as asked.
    pub const USABLE: u8 = 0;
    /// The host cannot run a VM as asked.
    pub const NOT_USABLE: u8 = 1;
    /// Bad usage: unknown subcommand, option or value.
    pub const USAGE: u8 = 2;
    /// The result could not be written.
    pub const IO: u8 = 3;
}

const AFTER_HELP: &str = "\
Exit codes:
  0  the host can run a VM as asked
  1  the host cannot run a VM as asked
  2  bad usage (unknown option, junk value)
  3  the result could not be written";

#[derive(Parser, Debug)]
#[command(name = "hvprobe", version, about = "Can this host run a virtual machine? If a VM failed to start, exactly why?", after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check whether this host can run a VM, and explain what blocks it.
    #[command(after_help = concat!(
        "Examples:\n",
        "  hvprobe check\n",
        "  hvprobe check --full --profile firecracker --vcpus 4 --memory 2G\n",
        "  hvprobe check --format json\n",
        "  hvprobe check --device /dev/kvm --caps KVM_CAP_IRQFD,KVM_CAP_IOEVENTFD\n",
        "  hvprobe check --simulate kvm-stale-session     (what that host would see; see `hvprobe scenarios`)\n\n",
        "Exit codes: 0 usable, 1 not usable, 2 bad usage, 3 output not written"))]
    Check(CheckArgs),
    /// List the scenarios `check --simulate` can run.
    #[command(
        after_help = "Examples:\n  hvprobe scenarios\n  hvprobe scenarios --format json\n\nExit codes: 0 listed, 2 bad usage, 3 output not written"
    )]
    Scenarios {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
}

#[derive(Args, Debug)]
struct CheckArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Also run a one-instruction guest.
    #[arg(long)]
    full: bool,
    /// Capability profile of the VMM to check for.
    #[arg(long, value_parser = parse_profile, default_value = "minimal", conflicts_with = "caps")]
    profile: CapabilityProfile,
    /// Custom list of KVM capabilities (names or numbers, comma-separated).
    #[arg(long, value_delimiter = ',', value_parser = parse_cap)]
    caps: Option<Vec<u32>>,
    /// vCPUs the VM will have (checked against the limits).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    vcpus: Option<u32>,
    /// Guest memory (MiB, or with a unit: 512M, 2G).
    #[arg(long, value_parser = parse_memory)]
    memory: Option<u64>,
    /// KVM device to check.
    #[arg(long, default_value = "/dev/kvm")]
    device: PathBuf,
    /// Run the real backend logic against a scripted host instead of this machine
    /// (the scenario fixes the options; `hvprobe scenarios` lists them).
    #[arg(long, value_name = "SCENARIO", value_parser = parse_scenario,
          conflicts_with_all = ["full", "profile", "caps", "vcpus", "memory", "device"])]
    simulate: Option<&'static Scenario>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// A table for people.
    Human,
    /// One JSON object (schema in the README).
    Json,
}

fn parse_profile(s: &str) -> Result<CapabilityProfile, String> {
    s.parse().map_err(|e: hypervisor_probe::UnknownProfile| e.to_string())
}

fn parse_scenario(s: &str) -> Result<&'static Scenario, String> {
    scenarios::find(s).ok_or_else(|| format!("unknown scenario `{s}` (run `hvprobe scenarios` for the list)"))
}

fn parse_cap(s: &str) -> Result<u32, String> {
    hypervisor_probe::kvm::caps::parse(s).ok_or_else(|| {
        format!("unknown capability `{s}` (expected a KVM_CAP_* name such as KVM_CAP_IRQFD, or a number)")
    })
}

/// `512`, `512M`, `512MiB`, `2G`, `2GiB` → MiB.
fn parse_memory(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size (expected MiB, or a number with M or G: 512, 512M, 2G)"))?;
    let mib = match unit.to_ascii_uppercase().as_str() {
        "" | "M" | "MB" | "MIB" => Some(n),
        "G" | "GB" | "GIB" => n.checked_mul(1024),
        "T" | "TB" | "TIB" => n.checked_mul(1024 * 1024),
        _ => return Err(format!("unknown unit `{unit}` in `{s}` (expected M or G)")),
    };
    match mib {
        Some(0) => Err("memory must be more than 0".to_owned()),
        Some(m) => Ok(m),
        None => Err(format!("`{s}` is too large")),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { exit::USAGE } else { exit::USABLE };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Check(args) => check(args),
        Command::Scenarios { format } => list_scenarios(format),
    }
}

fn list_scenarios(format: Format) -> ExitCode {
    let text = match format {
        Format::Json => {
            let list: Vec<serde_json::Value> = scenarios::SCENARIOS
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "name": s.name,
                        "backend": s.backend.name(),
                        "expected_cause": s.expected.map(|c| c.name()),
                        "description": s.description,
                    })
                })
                .collect();
            format!("{}\n", serde_json::Value::Array(list))
        }
        Format::Human => {
            let width = scenarios::SCENARIOS.iter().map(|s| s.name.len()).max().unwrap_or(0);
            let mut out = String::new();
            for s in scenarios::SCENARIOS {
                let outcome = s.expected.map_or("usable".to_owned(), |c| c.name().to_owned());
                out.push_str(&format!(
                    "{:<width$}  {:<5} {:<34} {}\n",
                    s.name,
                    s.backend.name(),
                    outcome,
                    s.description
                ));
            }
            out
        }
    };
    finish(&text, true)
}

fn check(args: CheckArgs) -> ExitCode {
    if let Some(scenario) = args.simulate {
        let report = scenario.probe().report();
        return finish(&render(&report, args.format), report.usable);
    }
    let profile = match args.caps {
        Some(list) => CapabilityProfile::Custom(list),
        None => args.profile,
    };
    let mut options = ProbeOptions::default().with_device(args.device).with_profile(profile).with_level(if args.full {
        Level::Full
    } else {
        Level::Quick
    });
    options.vcpus = args.vcpus;
    options.memory_mib = args.memory;
    let report = platform_probe(options).report();
    let text = render(&report, args.format);
    finish(&text, report.usable)
}

fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(report).expect("a report always serializes");
            s.push('\n');
            s
        }
        Format::Human => human::report(report, use_colour()),
    }
}

/// Colour only on a terminal, and never with NO_COLOR set.
fn use_colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn finish(text: &str, usable: bool) -> ExitCode {
    let mut out = std::io::stdout().lock();
    if out.write_all(text.as_bytes()).and_then(|()| out.flush()).is_err() {
        return ExitCode::from(exit::IO);
    }
    ExitCode::from(if usable { exit::USABLE } else { exit::NOT_USABLE })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory("512"), Ok(512));
        assert_eq!(parse_memory("2G"), Ok(2048));
        assert_eq!(parse_memory("2GiB"), Ok(2048));
        assert!(parse_memory("lots").is_err());
        assert!(parse_memory("0").is_err());
        assert!(parse_memory("5X").is_err());
        assert!(parse_memory("99999999999999999999G").is_err());
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
