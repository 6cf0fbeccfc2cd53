//! Probing from a child process.
//!
//! Apple silicon allows one VM per process: a VMM that already owns its VM gets
//! HV_BUSY from a second `hv_vm_create`, and must not have its VM disturbed. So the
//! probe can run the creation step in a helper process instead: any executable that
//! is signed with `com.apple.security.hypervisor` and, when started with
//! [`CHILD_PROBE_ARG`], calls `serve` (macOS) or prints [`format_answer`]'s line.
//! `examples/hvf_child_probe.rs` is such a helper; the `hvprobe` tool can be one.
//!
//! The library never forks: after `fork()` a multithreaded process may only call
//! async-signal-safe functions, which Hypervisor.framework calls are not.
//!
//! The protocol is one line on stdout:
//! `hvprobe-hvf-child/1 op=hv_vm_create ret=-85377019 destroy=none`.

use probe_core::Operation;

use crate::host::{ChildOutcome, ChildProbeError, HvCall, VmConfig};

/// The first argument that makes a helper answer the protocol.
pub const CHILD_PROBE_ARG: &str = "--hvf-child-probe";

/// The tag that opens the answer line (protocol version 1).
pub const ANSWER_TAG: &str = "hvprobe-hvf-child/1";

/// How long the parent waits for a helper.
pub const TIMEOUT_SECONDS: u64 = 10;

/// The helper's arguments for `config`.
pub fn child_args(config: VmConfig) -> Vec<String> {
    let mut args = vec![CHILD_PROBE_ARG.to_owned()];
    if let Some(bits) = config.ipa_bits {
        args.push("--ipa-bits".to_owned());
        args.push(bits.to_string());
    }
    args
}

/// Reads the helper's arguments (those after the program name). `None` when the
/// first is not [`CHILD_PROBE_ARG`]; `Some(Err)` when the rest is malformed.
pub fn parse_child_args<I: IntoIterator<Item = String>>(args: I) -> Option<Result<VmConfig, String>> {
    let mut args = args.into_iter();
    if args.next().as_deref() != Some(CHILD_PROBE_ARG) {
        return None;
    }
    let mut config = VmConfig::default();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--ipa-bits" => {
                let Some(value) = args.next() else {
                    return Some(Err("--ipa-bits needs a value".to_owned()));
                };
                match value.parse::<u32>() {
                    Ok(bits) => config.ipa_bits = Some(bits),
                    Err(_) => return Some(Err(format!("--ipa-bits {value}: not a number"))),
                }
            }
            other => return Some(Err(format!("unknown argument {other}"))),
        }
    }
    Some(Ok(config))
}

/// The answer line for an outcome (with a trailing newline).
pub fn format_answer(outcome: ChildOutcome) -> String {
    let destroy = outcome.destroy.map_or_else(|| "none".to_owned(), |d| d.to_string());
    format!("{ANSWER_TAG} op={} ret={} destroy={destroy}\n", outcome.create.operation.call_name(), outcome.create.ret)
}

/// Reads the answer line out of a helper's stdout. Only the last line opening with
/// [`ANSWER_TAG`] counts; anything else the helper printed is ignored.
pub fn parse_answer(stdout: &str) -> Option<ChildOutcome> {
    let line = stdout.lines().rev().find(|l| l.starts_with(ANSWER_TAG))?;
    let mut op = None;
    let mut ret = None;
    let mut destroy = None;
    for field in line[ANSWER_TAG.len()..].split_whitespace() {
        let (key, value) = field.split_once('=')?;
        match key {
            "op" => {
                op = Some(match value {
                    "hv_vm_create" => Operation::HvVmCreate,
                    "hv_vm_config" => Operation::HvVmConfig,
                    _ => return None,
                });
            }
            "ret" => ret = Some(value.parse::<i32>().ok()?),
            "destroy" => {
                destroy = Some(match value {
                    "none" => None,
                    v => Some(v.parse::<i32>().ok()?),
                });
            }
            _ => return None,
        }
    }
    let create = HvCall { operation: op?, ret: ret? };
    let destroy = destroy?;
    // A destroy code without a VM, or a VM without one, is not a valid answer.
    if create.created() != destroy.is_some() {
        return None;
    }
    Some(ChildOutcome { create, destroy })
}

/// Runs `helper` with the child-probe arguments and reads its answer, killing it
/// after [`TIMEOUT_SECONDS`].
pub fn run_helper(helper: &std::path::Path, config: VmConfig) -> Result<ChildOutcome, ChildProbeError> {
    use std::io::Read;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    let name = helper.display().to_string();
    let spawn_error = |e: std::io::Error| ChildProbeError::Spawn { helper: name.clone(), reason: e.to_string() };
    let mut child = Command::new(helper)
        .args(child_args(config))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    let deadline = Instant::now() + Duration::from_secs(TIMEOUT_SECONDS);
    let status = loop {
        match child.try_wait().map_err(spawn_error)? {
            Some(status) => break status,
            None if Instant::now() >= deadline => {
                // The helper is ours: stop it and collect it.
                let _ = child.kill();
                let _ = child.wait();
                return Err(ChildProbeError::TimedOut { helper: name, seconds: TIMEOUT_SECONDS });
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    // The answer is one short line: it fits the pipe buffer, so reading after the
    // exit cannot deadlock.
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut stdout);
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    parse_answer(&stdout).ok_or_else(|| {
        let output: String = format!("{} {}", stdout.trim(), stderr.trim()).trim().chars().take(400).collect();
        ChildProbeError::NoAnswer { helper: name, status: status.to_string(), output }
    })
}

/// The helper's side on macOS: when `args` (after the program name) start with
/// [`CHILD_PROBE_ARG`], creates and destroys a VM with the real host, prints the
/// answer line and returns `Some(exit code)`; otherwise returns `None`.
#[cfg(target_os = "macos")]
pub fn serve<I: IntoIterator<Item = String>>(args: I) -> Option<std::process::ExitCode> {
    use crate::host::HvfHost;

    let config = match parse_child_args(args)? {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{CHILD_PROBE_ARG}: {e}");
            return Some(std::process::ExitCode::from(2));
        }
    };
    let host = crate::MacHost::new();
    let create = host.vm_create(config);
    let destroy = create.created().then(|| host.vm_destroy());
    print!("{}", format_answer(ChildOutcome { create, destroy }));
    Some(std::process::ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use probe_core::raw::hv;

    #[test]
    fn answers_round_trip_for_every_code() {
        let codes = hv::KNOWN.iter().map(|(v, _)| *v).chain([i32::MIN, -1, 1, i32::MAX, 0xfae9_4010_u32 as i32]);
        for ret in codes {
            for create in [HvCall::vm_create(ret), HvCall::vm_config(ret)] {
                let destroy = create.created().then_some(hv::HV_BUSY);
                let outcome = ChildOutcome { create, destroy };
                let line = format_answer(outcome);
                assert_eq!(parse_answer(&line), Some(outcome), "{line}");
                let noisy = format!("some log line\n{line}trailing text\n");
                assert_eq!(parse_answer(&noisy), Some(outcome));
            }
        }
    }

    #[test]
    fn malformed_answers_are_rejected() {
        for bad in [
            "",
            "hello",
            "hvprobe-hvf-child/1 op=hv_vm_create ret=0",
            "hvprobe-hvf-child/1 op=hv_vm_create ret=0 destroy=none",
            "hvprobe-hvf-child/1 op=hv_vm_create ret=-85377019 destroy=0",
            "hvprobe-hvf-child/1 op=open ret=0 destroy=0",
            "hvprobe-hvf-child/1 op=hv_vm_create ret=zero destroy=0",
            "hvprobe-hvf-child/1 op=hv_vm_create ret=4294967295 destroy=none",
            "hvprobe-hvf-child/2 op=hv_vm_create ret=0 destroy=0",
            "hvprobe-hvf-child/1 op=hv_vm_create ret=0 destroy=0 extra=1",
        ] {
            assert_eq!(parse_answer(bad), None, "{bad:?}");
        }
        assert_eq!(
            parse_answer("hvprobe-hvf-child/1 op=hv_vm_create ret=0 destroy=0"),
            Some(ChildOutcome { create: HvCall::vm_create(0), destroy: Some(0) })
        );
    }

    #[test]
    fn arguments_round_trip() {
        for config in [VmConfig::default(), VmConfig { ipa_bits: Some(40) }] {
            let args = child_args(config);
            assert_eq!(args[0], CHILD_PROBE_ARG);
            assert_eq!(parse_child_args(args), Some(Ok(config)));
        }
        assert_eq!(parse_child_args(["check".to_owned()]), None);
        assert_eq!(parse_child_args(Vec::<String>::new()), None);
        assert!(matches!(parse_child_args([CHILD_PROBE_ARG.to_owned(), "--ipa-bits".to_owned()]), Some(Err(_))));
        assert!(matches!(parse_child_args([CHILD_PROBE_ARG.to_owned(), "--bogus".to_owned()]), Some(Err(_))));
    }

    /// The parent side against real processes (a shell stands in for the helper).
    #[cfg(unix)]
    #[test]
    fn run_helper_reads_answers_and_reports_failures() {
        let dir = std::env::temp_dir().join(format!("probe-hvf-child-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = |name: &str, body: &str| {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            path
        };
        // The helper sees the protocol arguments and answers.
        let ok = script(
            "ok",
            r#"[ "$1" = --hvf-child-probe ] && [ "$2" = --ipa-bits ] && [ "$3" = 40 ] || exit 3
echo "hvprobe-hvf-child/1 op=hv_vm_create ret=-85377019 destroy=none""#,
        );
        let outcome = run_helper(&ok, VmConfig { ipa_bits: Some(40) }).unwrap();
        assert_eq!(outcome.create, HvCall::vm_create(hv::HV_NO_RESOURCES));
        assert_eq!(outcome.destroy, None);
        // It exits 3 when the arguments are not the protocol's.
        let err = run_helper(&ok, VmConfig::default()).unwrap_err();
        assert!(matches!(err, ChildProbeError::NoAnswer { .. }), "{err}");

        let silent = script("silent", "echo 'no protocol here' >&2; exit 1");
        let err = run_helper(&silent, VmConfig::default()).unwrap_err();
        assert!(err.to_string().contains("no protocol here"), "{err}");

        let err = run_helper(&dir.join("missing"), VmConfig::default()).unwrap_err();
        assert!(matches!(err, ChildProbeError::Spawn { .. }), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
