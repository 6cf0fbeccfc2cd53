//! `cargo xtask fault-exec`: run a command under a seccomp filter that makes chosen
//! ioctls fail with chosen errnos (or return 0), so the matrix produces real faults
//! in the kernel's answers without touching the host.

use std::os::unix::process::CommandExt;
use std::process::Command;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
};

use crate::Error;

/// Arguments of `fault-exec`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// `REQUEST[:ARG]=ERRNO`: the ioctl REQUEST (hex, or KVM_CREATE_VM, KVM_GET_API_VERSION,
    /// KVM_CHECK_EXTENSION), optionally only with this ARG, fails with ERRNO (0 makes it
    /// return 0). Repeatable.
    #[arg(long = "ioctl", value_parser = parse_rule, required = true)]
    pub rules: Vec<IoctlFault>,
    /// The command to run under the filter.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// One injected ioctl fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoctlFault {
    /// ioctl request number.
    pub request: u64,
    /// Only when the third argument equals this.
    pub arg: Option<u64>,
    /// errno to fail with (0: return 0 without running the call).
    pub errno: u32,
}

/// KVM ioctl request numbers by name.
pub const KVM_REQUESTS: [(&str, u64); 3] =
    [("KVM_GET_API_VERSION", 0xae00), ("KVM_CREATE_VM", 0xae01), ("KVM_CHECK_EXTENSION", 0xae03)];

fn number(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let parsed = match t.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => t.parse(),
    };
    parsed.map_err(|_| format!("`{s}` is not a number"))
}

fn parse_rule(s: &str) -> Result<IoctlFault, String> {
    let (lhs, errno) = s.split_once('=').ok_or_else(|| format!("`{s}`: expected REQUEST[:ARG]=ERRNO"))?;
    let (req, arg) = match lhs.split_once(':') {
        Some((r, a)) => (r, Some(number(a)?)),
        None => (lhs, None),
    };
    let request = match KVM_REQUESTS.iter().find(|(n, _)| *n == req) {
        Some((_, v)) => *v,
        None => number(req)?,
    };
    let errno = u32::try_from(number(errno)?).ok().filter(|e| *e < 4096).ok_or("errno must be below 4096")?;
    Ok(IoctlFault { request, arg, errno })
}

/// The BPF program: each fault's ioctl answers with its errno; everything else runs.
pub fn program(faults: &[IoctlFault]) -> Result<BpfProgram, Error> {
    // seccompiler gives one match action per filter, so each errno gets its own filter;
    // the kernel runs them all and the most severe (lowest errno action) wins.
    let mut rules = Vec::new();
    for f in faults {
        let mut conds = vec![cond(1, f.request)?];
        if let Some(arg) = f.arg {
            conds.push(cond(2, arg)?);
        }
        rules.push(SeccompRule::new(conds).map_err(|e| Error::msg(format!("seccomp rule: {e}")))?);
    }
    let errno = faults.first().map_or(0, |f| f.errno);
    if faults.iter().any(|f| f.errno != errno) {
        return Err(Error::msg("all --ioctl faults of one run must use the same errno"));
    }
    let filter = SeccompFilter::new(
        [(libc::SYS_ioctl, rules)].into_iter().collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(errno),
        std::env::consts::ARCH.try_into().map_err(|e| Error::msg(format!("seccomp arch: {e:?}")))?,
    )
    .map_err(|e| Error::msg(format!("seccomp filter: {e}")))?;
    BpfProgram::try_from(filter).map_err(|e| Error::msg(format!("seccomp compile: {e}")))
}

fn cond(index: u8, value: u64) -> Result<SeccompCondition, Error> {
    SeccompCondition::new(index, SeccompCmpArgLen::Qword, SeccompCmpOp::Eq, value)
        .map_err(|e| Error::msg(format!("seccomp condition: {e}")))
}

/// Installs the filter on this process and becomes the command.
pub fn run(args: &Args) -> Result<(), Error> {
    let prog = program(&args.rules)?;
    seccompiler::apply_filter(&prog).map_err(|e| Error::msg(format!("installing the seccomp filter: {e}")))?;
    let err = Command::new(&args.command[0]).args(&args.command[1..]).exec();
    Err(Error::msg(format!("cannot run {}: {err}", args.command[0])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse() {
        assert_eq!(parse_rule("KVM_CREATE_VM=16"), Ok(IoctlFault { request: 0xae01, arg: None, errno: 16 }));
        assert_eq!(parse_rule("KVM_CHECK_EXTENSION:18=0"), Ok(IoctlFault { request: 0xae03, arg: Some(18), errno: 0 }));
        assert_eq!(parse_rule("0xae00=0"), Ok(IoctlFault { request: 0xae00, arg: None, errno: 0 }));
        assert!(parse_rule("KVM_CREATE_VM").is_err());
        assert!(parse_rule("KVM_CREATE_VM=5000").is_err());
        assert!(parse_rule("NOPE=1").is_err());
    }

    #[test]
    fn programs_compile() {
        let p = program(&[IoctlFault { request: 0xae01, arg: None, errno: 16 }]).unwrap();
        assert!(!p.is_empty());
        assert!(
            program(&[IoctlFault { request: 1, arg: None, errno: 1 }, IoctlFault { request: 2, arg: None, errno: 2 }])
                .is_err()
        );
    }
}
