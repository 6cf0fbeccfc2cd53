//! Why a task failed. Every variant prints a message that says what to do.

use std::path::PathBuf;

/// A task's failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The task exists only on macOS (codesign, xcrun, the SDK).
    #[error("`cargo xtask {task}` needs macOS with Xcode command-line tools: {why}")]
    NeedsMacos {
        /// The task as typed after `cargo xtask`.
        task: &'static str,
        /// What was missing.
        why: String,
    },
    /// A file the task needs does not exist.
    #[error("{}: no such file", path.display())]
    MissingFile {
        /// The path given.
        path: PathBuf,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// bindgen could not generate bindings.
    #[error(
        "bindgen failed for {target}: {message} (is libclang installed? e.g. `apt-get install libclang-dev clang`)"
    )]
    Bindgen {
        /// The clang target.
        target: String,
        /// bindgen's message.
        message: String,
    },
    /// Checked-in bindings differ from what the header generates now.
    #[error(
        "generated bindings are out of date: {}\n{detail}\nrun `cargo xtask bindgen` and commit the result",
        files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    Drift {
        /// The files that differ.
        files: Vec<PathBuf>,
        /// Where they first differ.
        detail: String,
    },
    /// The subset header disagrees with the real SDK.
    #[error(
        "include/hvf_subset.h disagrees with the SDK at {}:\n  {}\nfix the header, then run `cargo xtask bindgen`",
        sdk.display(),
        mismatches.join("\n  ")
    )]
    SdkMismatch {
        /// The SDK path.
        sdk: PathBuf,
        /// One line per disagreement.
        mismatches: Vec<String>,
    },
    /// Generated Rust could not be read back.
    #[error("cannot read generated bindings for {target}: {message}")]
    Parse {
        /// The clang target.
        target: String,
        /// The parser's message.
        message: String,
    },
    /// The entitlements file is not what signing needs.
    #[error("{}: {problem}", path.display())]
    Entitlements {
        /// The plist.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A task failed for a reason it states.
    #[error("{0}")]
    Task(String),
    /// An external command failed.
    #[error("`{command}` failed: {detail}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status and output, or why it could not start.
        detail: String,
    },
}

impl Error {
    /// A failure described by a message.
    pub fn msg(message: impl Into<String>) -> Self {
        Error::Task(message.into())
    }
}
