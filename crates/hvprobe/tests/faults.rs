//! Real faults produced by the operating system, run in child processes against the
//! real /dev/kvm: an unprivileged user, a stale group session, a mount namespace without
//! the device, a device cgroup that denies it, and a non-KVM node. Each asserts kind,
//! cause, raw errno and exit code.
//!
//! They need root (to drop privileges, make namespaces and cgroups) and /dev/kvm. They
//! skip with a loud message only when those are missing.

#![cfg(target_os = "linux")]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

fn ready(test: &str) -> bool {
    if !is_root() {
        skip(&format!("{test}: needs root to produce the fault (run the suite as root)"));
        return false;
    }
    if !kvm_present() {
        skip(&format!("{test}: needs /dev/kvm"));
        return false;
    }
    true
}

/// A copy of the binary in a world-readable directory, for unprivileged users.
fn public_binary(dir: &TempDir) -> PathBuf {
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    let exe = dir.0.join("hvprobe");
    std::fs::copy(bin(), &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    exe
}

fn sh(script: &str) -> Output {
    Command::new("sh").arg("-c").arg(script).env("NO_COLOR", "1").output().expect("sh runs")
}

fn assert_error(o: &Output, kind: &str, cause: &str, errno: i64, errno_name: &str) -> serde_json::Value {
    let (code, out, err) = parts(o);
    assert_eq!(code, 1, "exit code; stdout {out} stderr {err}");
    let v = json(o);
    assert_eq!(v["usable"], false);
    let e = v["error"].clone();
    assert_eq!(e["kind"], kind, "{e:#}");
    assert_eq!(e["cause"], cause, "{e:#}");
    assert_eq!(e["raw"]["kind"], "errno", "{e:#}");
    assert_eq!(e["raw"]["value"], errno, "{e:#}");
    assert_eq!(e["raw"]["name"], errno_name, "{e:#}");
    assert!(!e["remedies"].as_array().unwrap().is_empty(), "{e:#}");
    e
}

#[test]
fn unprivileged_user_gets_eacces_with_group_and_mode() {
    if !ready("unprivileged_user_gets_eacces_with_group_and_mode") {
        return;
    }
    let dir = TempDir::new("eacces");
    let exe = public_binary(&dir);
    let node = std::fs::metadata("/dev/kvm").unwrap();
    use std::os::unix::fs::MetadataExt;
    if node.mode() & 0o006 == 0o006 {
        skip("/dev/kvm is world read-write here, so no user gets EACCES");
        return;
    }
    let o = Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(&exe)
        .args(["check", "--format", "json"])
        .output()
        .unwrap();
    let e = assert_error(&o, "permission_denied", "device_access_denied", 13, "EACCES");
    assert_eq!(e["operation"], "open");
    let detail = e["detail"].as_str().unwrap();
    assert!(detail.contains(&format!("mode {:04o}", node.mode() & 0o7777)), "{detail}");
    assert!(detail.contains(&format!("({}:{})", node.uid(), node.gid())), "device owner and group: {detail}");
    assert!(detail.contains("uid 65534"), "{detail}");
}

#[test]
fn stale_group_session_is_told_apart_from_missing_membership() {
    if !ready("stale_group_session_is_told_apart_from_missing_membership") {
        return;
    }
    // In a private mount namespace: an /etc/group that lists nobody in group 4242, and
    // a KVM node of that group with mode 0660. nobody runs without the group, as a
    // session started before `usermod -aG` would.
    let dir = TempDir::new("stale");
    let exe = public_binary(&dir);
    let group = dir.0.join("group");
    let host_groups = std::fs::read_to_string("/etc/group").unwrap();
    std::fs::write(&group, format!("{host_groups}hvtest:x:4242:nobody\n")).unwrap();
    std::fs::set_permissions(&group, std::fs::Permissions::from_mode(0o644)).unwrap();
    let node = dir.0.join("kvm");
    let script = format!(
        "set -e; mknod {n} c 10 232; chown 0:4242 {n}; chmod 0660 {n}; mount --bind {g} /etc/group; \
         exec setpriv --reuid 65534 --regid 65534 --clear-groups {exe} check --format json --device {n}",
        n = node.display(),
        g = group.display(),
        exe = exe.display()
    );
    let o =
        Command::new("unshare").args(["--mount", "--propagation", "private", "sh", "-c", &script]).output().unwrap();
    let e = assert_error(&o, "permission_denied", "stale_group_session", 13, "EACCES");
    assert!(e["remedies"][0].as_str().unwrap().contains("newgrp hvtest"), "{e:#}");
    // Without the /etc/group entry the same user is simply not in the group.
    let script = format!(
        "set -e; mknod {n}2 c 10 232; chown 0:4242 {n}2; chmod 0660 {n}2; \
         exec setpriv --reuid 65534 --regid 65534 --clear-groups {exe} check --format json --device {n}2",
        n = node.display(),
        exe = exe.display()
    );
    let e = assert_error(&sh(&script), "permission_denied", "device_access_denied", 13, "EACCES");
    assert!(e["remedies"][0].as_str().unwrap().contains("usermod -aG 4242 nobody"), "{e:#}");
    assert!(!std::fs::read_to_string("/etc/group").unwrap().contains("hvtest"), "host /etc/group untouched");
}

#[test]
fn acl_for_another_user_is_read_and_named() {
    if !ready("acl_for_another_user_is_read_and_named") {
        return;
    }
    if Command::new("setfacl").arg("--version").output().is_err() {
        skip("acl_for_another_user_is_read_and_named: setfacl missing (Debian package acl)");
        return;
    }
    // A KVM node of root's with an ACL for uid 4244 only, as systemd-logind's uaccess
    // leaves it for the desktop user; nobody gets EACCES and is told why.
    let dir = TempDir::new("acl");
    let exe = public_binary(&dir);
    let node = dir.0.join("kvm");
    let script = format!(
        "set -e; mknod {n} c 10 232; chmod 0600 {n}; setfacl -m u:4244:rw {n}; \
         exec setpriv --reuid 65534 --regid 65534 --clear-groups {exe} check --format json --device {n}",
        n = node.display(),
        exe = exe.display()
    );
    let e = assert_error(&sh(&script), "permission_denied", "device_access_denied", 13, "EACCES");
    assert!(e["detail"].as_str().unwrap().contains("ACL user::rw-,user:4244:rw-"), "{e:#}");
    assert!(e["remedies"][0].as_str().unwrap().contains("granted by ACL to other users"), "{e:#}");
}

#[test]
fn mount_namespace_without_the_device_gets_container_remedy() {
    if !ready("mount_namespace_without_the_device_gets_container_remedy") {
        return;
    }
    let dir = TempDir::new("nodev");
    let exe = public_binary(&dir);
    let script = format!("mount -t tmpfs none /dev && exec {} check --format json", exe.display());
    let o =
        Command::new("unshare").args(["--mount", "--propagation", "private", "sh", "-c", &script]).output().unwrap();
    let e = assert_error(&o, "unavailable", "device_node_missing", 2, "ENOENT");
    assert!(e["detail"].as_str().unwrap().contains("/proc/misc lists 232 kvm"), "{e:#}");
    let remedies = e["remedies"].to_string();
    assert!(remedies.contains("--device /dev/kvm") && remedies.contains("mknod /dev/kvm c 10 232"), "{remedies}");
    assert!(Path::new("/dev/kvm").exists(), "the host's /dev is untouched");
}

/// A v1 device cgroup that denies c 10:232, removed on drop.
#[derive(Debug)]
struct DenyingCgroup(PathBuf);

impl DenyingCgroup {
    fn new() -> Option<DenyingCgroup> {
        let root = Path::new("/sys/fs/cgroup/devices");
        if !root.join("devices.deny").exists() {
            return None;
        }
        let dir = root.join(format!("hvprobe-test-{}", std::process::id()));
        std::fs::create_dir(&dir).ok()?;
        let cg = DenyingCgroup(dir);
        std::fs::write(cg.0.join("devices.deny"), "c 10:232 rwm").ok()?;
        Some(cg)
    }
}

impl Drop for DenyingCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn device_cgroup_denial_is_eperm_container_policy() {
    if !ready("device_cgroup_denial_is_eperm_container_policy") {
        return;
    }
    let Some(cg) = DenyingCgroup::new() else {
        skip("no cgroup v1 device controller at /sys/fs/cgroup/devices");
        return;
    };
    let script = format!("echo $$ > {}/cgroup.procs && exec {} check --format json", cg.0.display(), bin());
    let o = sh(&script);
    let e = assert_error(&o, "permission_denied", "container_device_policy", 1, "EPERM");
    assert!(e["detail"].as_str().unwrap().contains("device cgroup (v1)"), "{e:#}");
    drop(cg);
    assert!(
        !std::fs::read_dir("/sys/fs/cgroup/devices").unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(&format!("hvprobe-test-{}", std::process::id()))),
        "the cgroup is removed"
    );
}

#[test]
fn non_kvm_node_is_enotty() {
    let o = run(&["check", "--format", "json", "--device", "/dev/null"]);
    let e = assert_error(&o, "unavailable", "not_a_kvm_device", 25, "ENOTTY");
    assert_eq!(e["operation"], "get_api_version");
    assert!(e["detail"].as_str().unwrap().contains("char 1:3"), "{e:#}");
}
