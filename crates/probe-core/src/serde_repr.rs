//! JSON shapes of the types whose published form differs from their Rust form.

use crate::cause::{Cause, Kind, Operation};
use crate::error::ProbeError;
use crate::raw::RawCode;

/// `{"kind": "errno" | "hv_return" | "returned", "value": N, "name": "EACCES" | null}`
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct RawRepr {
    kind: String,
    value: i64,
    name: Option<String>,
}

impl From<RawCode> for RawRepr {
    fn from(raw: RawCode) -> Self {
        RawRepr { kind: raw.kind_name().to_owned(), value: raw.value(), name: raw.name().map(str::to_owned) }
    }
}

impl TryFrom<RawRepr> for RawCode {
    type Error = String;
    fn try_from(r: RawRepr) -> Result<Self, String> {
        let narrow = |v: i64| i32::try_from(v).map_err(|_| format!("{} value {v} is out of range", r.kind));
        match r.kind.as_str() {
            "errno" => Ok(RawCode::Errno(narrow(r.value)?)),
            "hv_return" => Ok(RawCode::HvReturn(narrow(r.value)?)),
            "returned" => Ok(RawCode::Returned(r.value)),
            other => Err(format!("unknown raw code kind `{other}`")),
        }
    }
}

impl serde::Serialize for RawCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RawRepr::from(*self).serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for RawCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RawCode::try_from(RawRepr::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// The published error object; `kind`, `code` and `summary` derive from `cause`.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct ErrorRepr {
    kind: Kind,
    cause: Cause,
    code: u16,
    operation: Operation,
    raw: Option<RawCode>,
    summary: String,
    detail: String,
    remedies: Vec<String>,
}

impl From<ProbeError> for ErrorRepr {
    fn from(e: ProbeError) -> Self {
        ErrorRepr {
            kind: e.kind(),
            cause: e.cause,
            code: e.cause.code(),
            operation: e.operation,
            raw: e.raw,
            summary: e.cause.summary().to_owned(),
            detail: e.detail,
            remedies: e.remedies,
        }
    }
}

impl TryFrom<ErrorRepr> for ProbeError {
    type Error = String;
    fn try_from(r: ErrorRepr) -> Result<Self, String> {
        if r.code != r.cause.code() || r.kind != r.cause.kind() {
            return Err(format!("cause `{}` does not match code {} / kind `{}`", r.cause, r.code, r.kind));
        }
        Ok(ProbeError { cause: r.cause, operation: r.operation, raw: r.raw, detail: r.detail, remedies: r.remedies })
    }
}
