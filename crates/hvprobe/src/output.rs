//! Writing results: stdout, or a file replaced atomically.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use crate::exit;

/// Writes `text` to stdout and exits with `code` (3 if it could not be written).
pub fn stdout(text: &str, code: u8) -> ExitCode {
    let mut out = std::io::stdout().lock();
    if out.write_all(text.as_bytes()).and_then(|()| out.flush()).is_err() {
        return ExitCode::from(exit::IO);
    }
    ExitCode::from(code)
}

/// Replaces `path` with `text` so that a reader sees the old file or the new one,
/// never half of one: write a temporary file in the same directory, sync, rename.
pub fn atomic_write(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| std::io::Error::other("the output path names no file"))?;
    let tmp = dir.join(format!(".{}.tmp.{}", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes to `path` atomically, or says why not and exits 3.
pub fn to_file_or_stdout(path: Option<&Path>, text: &str, code: u8) -> ExitCode {
    match path {
        None => stdout(text, code),
        Some(p) => match atomic_write(p, text) {
            Ok(()) => ExitCode::from(code),
            Err(e) => {
                eprintln!("hvprobe: cannot write {}: {e}", p.display());
                ExitCode::from(exit::IO)
            }
        },
    }
}
