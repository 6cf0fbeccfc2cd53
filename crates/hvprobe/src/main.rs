//! `hvprobe`: can this host run a VM, and if a VM failed to start, why?

#![forbid(unsafe_code)]

mod check;
mod diagnose;
mod explain;
mod fleet;
mod holders;
mod human;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use hypervisor_probe::CapabilityProfile;
use hypervisor_probe::mock::{Scenario, scenarios};

/// Exit codes, stable and documented.
pub mod exit {
    /// Usable / done / known.
    pub const OK: u8 = 0;
    /// Not usable / the hypervisor is the cause / unknown code.
    pub const NOT_OK: u8 = 1;
    /// Bad usage: unknown subcommand, option or value.
    pub const USAGE: u8 = 2;
    /// The result could not be written.
    pub const IO: u8 = 3;
}

const AFTER_HELP: &str = "\
Exit codes (every subcommand):
  0  usable: the host can run a VM as asked (explain: the code is known)
  1  not usable: the host cannot (diagnose: the hypervisor is the cause or it
     could not tell; explain: the code is unknown)
  2  bad usage: unknown subcommand, option or value
  3  the result could not be written

Start with `hvprobe check`; when a VMM failed, `hvprobe diagnose --message \"...\"`.";

#[derive(Parser, Debug)]
#[command(name = "hvprobe", version, about = "Can this host run a virtual machine? If a VM failed to start, exactly why?", after_help = AFTER_HELP)]
struct Cli {
    /// Print only failures (human format).
    #[arg(long, short, global = true)]
    quiet: bool,
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
        "  hvprobe check --format prometheus --output /var/lib/node_exporter/textfile/hvprobe.prom\n",
        "  hvprobe check --format nfd --output /etc/kubernetes/node-feature-discovery/features.d/hvprobe\n",
        "  hvprobe check --caps KVM_CAP_IRQFD,KVM_CAP_IOEVENTFD\n",
        "  hvprobe check --simulate kvm-stale-session     (what that host would see; see `hvprobe scenarios`)\n\n",
        "Exit codes: 0 usable, 1 not usable, 2 bad usage, 3 output not written"))]
    Check(CheckArgs),
    /// Explain a VM creation failure a VMM reported, by reproducing it on this host.
    #[command(after_help = concat!(
        "Examples:\n",
        "  hvprobe diagnose --errno 22\n",
        "  hvprobe diagnose --errno EBUSY\n",
        "  hvprobe diagnose --hv 0xfae94005\n",
        "  hvprobe diagnose --hv HV_NO_RESOURCES\n",
        "  hvprobe diagnose --message 'Could not access KVM kernel module: Permission denied'\n",
        "  hvprobe diagnose --message \"$(journalctl -u myvmm -n1 -o cat)\" --format json\n\n",
        "Exit codes: 0 a VM can be created now (the cause is elsewhere or has cleared),\n",
        "            1 the hypervisor is the cause (or the probe could not tell), 2 bad usage"))]
    Diagnose(DiagnoseArgs),
    /// Decode any errno or hv_return_t, offline.
    #[command(after_help = concat!(
        "Examples:\n",
        "  hvprobe explain 0xfae94005\n",
        "  hvprobe explain -85377019\n",
        "  hvprobe explain HV_DENIED\n",
        "  hvprobe explain EACCES\n",
        "  hvprobe explain 13\n",
        "  hvprobe explain --as hv 22\n\n",
        "Exit codes: 0 known code, 1 unknown code (explained by its structure), 2 unreadable input"))]
    Explain(ExplainArgs),
    /// List the processes that hold KVM VMs now (Linux).
    #[command(
        after_help = "Examples:\n  hvprobe holders\n  sudo hvprobe holders --format json\n\nExit codes: 0 listed (even if none), 1 no process could be inspected, 2 bad usage"
    )]
    Holders {
        /// Output format.
        #[arg(long, value_enum, default_value_t = SimpleFormat::Human)]
        format: SimpleFormat,
    },
    /// List the scenarios `check --simulate` can run.
    #[command(
        after_help = "Examples:\n  hvprobe scenarios\n  hvprobe scenarios --format json\n\nExit codes: 0 listed, 2 bad usage, 3 output not written"
    )]
    Scenarios {
        /// Output format.
        #[arg(long, value_enum, default_value_t = SimpleFormat::Human)]
        format: SimpleFormat,
    },
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  hvprobe completions bash > /etc/bash_completion.d/hvprobe\n  hvprobe completions zsh > \"${fpath[1]}/_hvprobe\"\n  hvprobe completions fish > ~/.config/fish/completions/hvprobe.fish"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), generated from these same definitions.
    #[command(after_help = "Examples:\n  hvprobe man > /usr/local/share/man/man1/hvprobe.1\n  hvprobe man | man -l -")]
    Man,
}

#[derive(Args, Debug)]
struct CheckArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = CheckFormat::Human)]
    format: CheckFormat,
    /// Write the result to this file atomically (temporary file + rename) instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
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

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("failure").required(true).multiple(true).args(["errno", "hv", "message"]))]
struct DiagnoseArgs {
    /// The errno the VMM reported: a number (22, -22) or a name (EBUSY).
    #[arg(long, value_parser = parse_errno, allow_hyphen_values = true, conflicts_with = "hv")]
    errno: Option<i32>,
    /// The hv_return_t the VMM reported: hex, signed or unsigned decimal, or a name.
    #[arg(long, value_parser = parse_hv, allow_hyphen_values = true)]
    hv: Option<i32>,
    /// The VMM's log line; its embedded code and operation are extracted.
    #[arg(long, allow_hyphen_values = true)]
    message: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = SimpleFormat::Human)]
    format: SimpleFormat,
    /// KVM device to reproduce on.
    #[arg(long, default_value = "/dev/kvm")]
    device: PathBuf,
}

#[derive(Args, Debug)]
struct ExplainArgs {
    /// The code: 0xfae94005, -85377019, 4209590277, HV_NO_RESOURCES, EACCES, 13, -22.
    #[arg(allow_hyphen_values = true)]
    code: String,
    /// Read the code as this kind instead of deciding from its form.
    #[arg(long = "as", value_enum)]
    as_kind: Option<CodeKind>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = SimpleFormat::Human)]
    format: SimpleFormat,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum CodeKind {
    /// A Linux errno.
    Errno,
    /// A Hypervisor.framework hv_return_t.
    Hv,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckFormat {
    /// A table for people.
    Human,
    /// One JSON object (schema in the README).
    Json,
    /// Kubernetes Node Feature Discovery feature file (key=value lines).
    Nfd,
    /// Prometheus text exposition, for node_exporter's textfile collector.
    Prometheus,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimpleFormat {
    /// Text for people.
    Human,
    /// JSON.
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

fn parse_errno(s: &str) -> Result<i32, String> {
    hypervisor_probe::parse::parse_errno(s).map_err(|e| e.to_string())
}

fn parse_hv(s: &str) -> Result<i32, String> {
    hypervisor_probe::parse::parse_hv_return(s).map_err(|e| e.to_string())
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
            let code = if e.use_stderr() { exit::USAGE } else { exit::OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let quiet = cli.quiet;
    match cli.command {
        Command::Check(args) => check::run(args, quiet),
        Command::Diagnose(args) => diagnose::run(args, quiet),
        Command::Explain(args) => explain::run(args),
        Command::Holders { format } => holders::run(format),
        Command::Scenarios { format } => list_scenarios(format),
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "hvprobe", &mut buf);
            output::stdout(&String::from_utf8_lossy(&buf), exit::OK)
        }
        Command::Man => {
            let mut buf = Vec::new();
            match clap_mangen::Man::new(Cli::command()).render(&mut buf) {
                Ok(()) => output::stdout(&String::from_utf8_lossy(&buf), exit::OK),
                Err(_) => ExitCode::from(exit::IO),
            }
        }
    }
}

fn list_scenarios(format: SimpleFormat) -> ExitCode {
    let text = match format {
        SimpleFormat::Json => {
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
        SimpleFormat::Human => {
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
    output::stdout(&text, exit::OK)
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
        Cli::command().debug_assert();
    }
}
