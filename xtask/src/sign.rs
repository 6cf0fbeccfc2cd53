//! `cargo xtask sign BINARY`: ad-hoc sign a binary with the hypervisor entitlement.
//!
//! Hypervisor.framework refuses processes without `com.apple.security.hypervisor`
//! (HV_DENIED). Building strips the signature, so sign after every build; the cargo
//! runner `scripts/macos-sign-runner.sh` does the same for test binaries.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Error;

/// The entitlement Hypervisor.framework checks.
pub const HYPERVISOR_ENTITLEMENT: &str = "com.apple.security.hypervisor";

/// The legacy entitlement: ad-hoc signatures carrying it have been killed at launch.
pub const LEGACY_ENTITLEMENT: &str = "com.apple.vm.hypervisor";

/// Options of `cargo xtask sign`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The binary to sign.
    pub binary: PathBuf,
    /// The entitlements plist (default: hvf.entitlements at the workspace root).
    #[arg(long)]
    pub entitlements: Option<PathBuf>,
}

/// Checks that a plist grants the hypervisor entitlement and nothing dangerous.
pub fn check_entitlements(path: &Path, text: &str) -> Result<(), Error> {
    let problem = |problem: String| Error::Entitlements { path: path.to_path_buf(), problem };
    if text.contains(LEGACY_ENTITLEMENT) {
        return Err(problem(format!(
            "remove {LEGACY_ENTITLEMENT}: processes ad-hoc signed with it have been killed at launch"
        )));
    }
    let key = format!("<key>{HYPERVISOR_ENTITLEMENT}</key>");
    let granted = text.split_once(&key).is_some_and(|(_, rest)| rest.trim_start().starts_with("<true/>"));
    if !granted {
        return Err(problem(format!("it must set {HYPERVISOR_ENTITLEMENT} to <true/>")));
    }
    Ok(())
}

/// The `codesign` command line that signs `binary` with `entitlements`.
pub fn codesign_command(binary: &Path, entitlements: &Path) -> Command {
    let mut cmd = Command::new("codesign");
    cmd.args(["--sign", "-", "--entitlements"]).arg(entitlements).arg("--force").arg(binary);
    cmd
}

fn show(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs the task.
pub fn run(root: &Path, args: &Args) -> Result<(), Error> {
    if !args.binary.is_file() {
        return Err(Error::MissingFile { path: args.binary.clone() });
    }
    let plist = args.entitlements.clone().unwrap_or_else(|| root.join("hvf.entitlements"));
    let text = std::fs::read_to_string(&plist).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => Error::MissingFile { path: plist.clone() },
        _ => Error::Io { path: plist.clone(), source },
    })?;
    check_entitlements(&plist, &text)?;
    if !cfg!(target_os = "macos") {
        return Err(Error::NeedsMacos {
            task: "sign",
            why: format!(
                "this host runs {}, which has no codesign; sign on the Mac that runs the binary",
                std::env::consts::OS
            ),
        });
    }
    let mut cmd = codesign_command(&args.binary, &plist);
    let line = show(&cmd);
    let output = cmd.output().map_err(|e| Error::Command {
        command: line.clone(),
        detail: format!("cannot start it ({e}); install Xcode command-line tools with `xcode-select --install`"),
    })?;
    if !output.status.success() {
        return Err(Error::Command {
            command: line,
            detail: format!("{}: {}", output.status, String::from_utf8_lossy(&output.stderr).trim()),
        });
    }
    println!("signed {} with {}", args.binary.display(), plist.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace_root;

    #[test]
    fn repository_plist_grants_only_the_hypervisor_entitlement() {
        let path = workspace_root().join("hvf.entitlements");
        let text = std::fs::read_to_string(&path).unwrap();
        check_entitlements(&path, &text).unwrap();
        assert_eq!(text.matches("<key>").count(), 1, "exactly one entitlement");
    }

    #[test]
    fn dangerous_or_incomplete_plists_are_refused() {
        let p = Path::new("x.plist");
        let legacy = "<key>com.apple.security.hypervisor</key><true/><key>com.apple.vm.hypervisor</key><true/>";
        let err = check_entitlements(p, legacy).unwrap_err().to_string();
        assert!(err.contains("com.apple.vm.hypervisor"), "{err}");
        let off = "<key>com.apple.security.hypervisor</key>\n\t<false/>";
        assert!(check_entitlements(p, off).is_err());
        assert!(check_entitlements(p, "<dict></dict>").is_err());
        let on = "<key>com.apple.security.hypervisor</key>\n\t<true/>";
        assert!(check_entitlements(p, on).is_ok());
    }

    #[test]
    fn the_command_is_the_ad_hoc_recipe() {
        let cmd = codesign_command(Path::new("target/t"), Path::new("hvf.entitlements"));
        assert_eq!(show(&cmd), "codesign --sign - --entitlements hvf.entitlements --force target/t");
    }

    #[test]
    fn missing_binary_is_a_clear_error() {
        let args = Args { binary: PathBuf::from("/nonexistent/hvprobe-test-binary"), entitlements: None };
        let err = run(&workspace_root(), &args).unwrap_err();
        assert!(matches!(err, Error::MissingFile { .. }), "{err}");
        assert_eq!(err.to_string(), "/nonexistent/hvprobe-test-binary: no such file");
    }

    #[test]
    fn missing_entitlements_file_is_a_clear_error() {
        let args = Args {
            binary: std::env::current_exe().unwrap(),
            entitlements: Some(PathBuf::from("/nonexistent/x.entitlements")),
        };
        let err = run(&workspace_root(), &args).unwrap_err();
        assert!(matches!(err, Error::MissingFile { .. }), "{err}");
    }

    #[test]
    fn off_macos_signing_fails_cleanly() {
        if cfg!(target_os = "macos") {
            return;
        }
        let args = Args { binary: std::env::current_exe().unwrap(), entitlements: None };
        let err = run(&workspace_root(), &args).unwrap_err();
        assert!(matches!(err, Error::NeedsMacos { task: "sign", .. }));
        assert!(err.to_string().contains("`cargo xtask sign` needs macOS with Xcode command-line tools"), "{err}");
    }
}
