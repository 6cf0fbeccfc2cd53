//! `hvprobe explain`: offline decoding of any errno or hv_return_t.

use std::process::ExitCode;

use hypervisor_probe::parse::{parse_code, parse_errno, parse_hv_return};
use hypervisor_probe::raw::hv;
use hypervisor_probe::{Cause, Operation, ProbeError, RawCode};
use serde_json::json;

use crate::{CodeKind, ExplainArgs, SimpleFormat, check, exit, output};

/// Operations whose reading of an errno a person may need, in the order they happen.
const ERRNO_OPS: [Operation; 5] =
    [Operation::Open, Operation::GetApiVersion, Operation::CreateVm, Operation::CreateVcpu, Operation::Run];
const HV_OPS: [Operation; 3] = [Operation::HvVmCreate, Operation::HvVmConfig, Operation::HvCapability];

/// One reading: the operations that read the code the same way, and the error.
struct Reading {
    operations: Vec<Operation>,
    error: ProbeError,
}

fn readings(raw: RawCode) -> Vec<Reading> {
    let errors: Vec<(Operation, ProbeError)> = match raw {
        RawCode::Errno(v) => ERRNO_OPS.iter().map(|op| (*op, ProbeError::from_errno(*op, v))).collect(),
        RawCode::HvReturn(v) => {
            HV_OPS.iter().filter_map(|op| Some((*op, ProbeError::from_hv_return(*op, v)?))).collect()
        }
        RawCode::Returned(_) => Vec::new(),
    };
    let mut out: Vec<Reading> = Vec::new();
    for (op, error) in errors {
        match out.iter_mut().find(|r| r.error.cause() == error.cause()) {
            Some(r) => r.operations.push(op),
            None => out.push(Reading { operations: vec![op], error }),
        }
    }
    out
}

fn is_known(raw: RawCode) -> bool {
    raw.value() == 0 || raw.name().is_some()
}

/// The Mach structure of a hv_return_t-like value.
fn mach(v: i32) -> (String, serde_json::Value) {
    let (system, sub, code) = hv::mach_parts(v);
    let hvf = system == hv::MACH_SYSTEM && sub == hv::MACH_SUBSYSTEM;
    let text = format!(
        "Mach error structure: system {system:#x}{}, subsystem {sub:#x}{}, code {code:#x}",
        if system == hv::MACH_SYSTEM { " (err_local)" } else { "" },
        if hvf { " (Hypervisor.framework)" } else { " (not Hypervisor.framework)" },
    );
    (text, json!({"system": system, "subsystem": sub, "code": code, "hypervisor_framework": hvf}))
}

pub fn run(args: ExplainArgs) -> ExitCode {
    let parsed = match args.as_kind {
        Some(CodeKind::Errno) => parse_errno(&args.code).map(RawCode::Errno),
        Some(CodeKind::Hv) => parse_hv_return(&args.code).map(RawCode::HvReturn),
        None => parse_code(&args.code),
    };
    let raw = match parsed {
        Ok(raw) => raw,
        Err(e) => {
            eprintln!("hvprobe explain: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let known = is_known(raw);
    let readings = readings(raw);
    let v = raw.value();
    let (hex, signed, unsigned) = (format!("{:#010x}", v as i32 as u32), v as i32, v as i32 as u32);
    let mach = matches!(raw, RawCode::HvReturn(x) if x != 0).then(|| mach(v as i32));
    let text = match args.format {
        SimpleFormat::Json => check::json(&json!({
            "input": args.code,
            "raw": raw,
            "known": known,
            "forms": {"hex": hex, "signed": signed, "unsigned": unsigned},
            "mach": mach.as_ref().map(|m| m.1.clone()),
            "readings": readings.iter().map(|r| json!({
                "operations": r.operations.iter().map(|o| o.call_name()).collect::<Vec<_>>(),
                "kind": r.error.kind().name(),
                "cause": r.error.cause().name(),
                "code": r.error.code(),
                "summary": r.error.summary(),
                "remedies": r.error.remedies(),
            })).collect::<Vec<_>>(),
        })),
        SimpleFormat::Human => {
            let mut out = String::new();
            let what = match raw {
                RawCode::Errno(_) => "Linux errno",
                _ => "hv_return_t",
            };
            out.push_str(&format!("{raw}: {what}; hex {hex}, signed {signed}, unsigned {unsigned}\n"));
            if v == 0 {
                out.push_str("0 means success (HV_SUCCESS; no errno).\n");
            } else if !known {
                out.push_str(&format!("Unknown: no {what} has this value; it is kept and reported as data.\n"));
            }
            if let Some((m, _)) = &mach {
                out.push_str(&format!("{m}\n"));
            }
            for r in &readings {
                let ops: Vec<&str> = r.operations.iter().map(|o| o.call_name()).collect();
                let e = &r.error;
                out.push_str(&format!(
                    "\nfrom {}:\n  {} / {} ({}): {}\n",
                    ops.join(", "),
                    e.kind(),
                    e.cause(),
                    e.code(),
                    e.summary()
                ));
                for remedy in e.remedies() {
                    out.push_str(&format!("  fix: {remedy}\n"));
                }
            }
            if matches!(raw, RawCode::Errno(22)) {
                out.push_str("\nlibkrun returns -22 (EINVAL) for every Hypervisor.framework failure: run `hvprobe diagnose --errno 22` on the host to recover the real cause.\n");
            }
            if readings.iter().any(|r| r.error.cause() == Cause::UnexpectedHvReturn) && known {
                out.push_str("\nThis code has a name but no documented meaning here.\n");
            }
            out
        }
    };
    output::stdout(&text, if known { exit::OK } else { exit::NOT_OK })
}
