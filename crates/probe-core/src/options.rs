//! What a probe is asked to check.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::report::Level;

/// A set of KVM capabilities a VMM needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum CapabilityProfile {
    /// What any VM needs (user memory).
    #[default]
    Minimal,
    /// What Firecracker checks at start.
    Firecracker,
    /// What cloud-hypervisor checks at start.
    CloudHypervisor,
    /// What QEMU requires in general.
    Qemu,
    /// A VMM's own list of `KVM_CAP_*` numbers.
    Custom(Vec<u32>),
}

impl CapabilityProfile {
    /// The named profiles.
    pub const NAMED: [CapabilityProfile; 4] = [
        CapabilityProfile::Minimal,
        CapabilityProfile::Firecracker,
        CapabilityProfile::CloudHypervisor,
        CapabilityProfile::Qemu,
    ];

    /// `minimal`, `firecracker`, `cloud-hypervisor`, `qemu` or `custom`.
    pub fn name(&self) -> &'static str {
        match self {
            CapabilityProfile::Minimal => "minimal",
            CapabilityProfile::Firecracker => "firecracker",
            CapabilityProfile::CloudHypervisor => "cloud-hypervisor",
            CapabilityProfile::Qemu => "qemu",
            CapabilityProfile::Custom(_) => "custom",
        }
    }
}

impl fmt::Display for CapabilityProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown profile name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown profile `{0}` (expected one of: minimal, firecracker, cloud-hypervisor, qemu)")]
pub struct UnknownProfile(pub String);

impl FromStr for CapabilityProfile {
    type Err = UnknownProfile;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::NAMED
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownProfile(s.to_owned()))
    }
}

/// Options for a probe. Construct with `ProbeOptions::default()` and the `with_*`
/// methods.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProbeOptions {
    /// The KVM device (default `/dev/kvm`); ignored by other backends.
    pub device: PathBuf,
    /// The capabilities to require.
    pub profile: CapabilityProfile,
    /// vCPUs the VMM wants, checked against the limits.
    pub vcpus: Option<u32>,
    /// Guest memory the VMM wants, in MiB, checked against the limits.
    pub memory_mib: Option<u64>,
    /// How far to go.
    pub level: Level,
    /// How many times VM creation is retried after EINTR.
    pub eintr_retries: u32,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            device: PathBuf::from("/dev/kvm"),
            profile: CapabilityProfile::default(),
            vcpus: None,
            memory_mib: None,
            level: Level::Quick,
            eintr_retries: 8,
        }
    }
}

impl ProbeOptions {
    /// Uses another device path.
    #[must_use]
    pub fn with_device(mut self, device: impl Into<PathBuf>) -> Self {
        self.device = device.into();
        self
    }

    /// Requires another capability profile.
    #[must_use]
    pub fn with_profile(mut self, profile: CapabilityProfile) -> Self {
        self.profile = profile;
        self
    }

    /// Checks this many vCPUs against the limits.
    #[must_use]
    pub fn with_vcpus(mut self, vcpus: u32) -> Self {
        self.vcpus = Some(vcpus);
        self
    }

    /// Checks this much guest memory (MiB) against the limits.
    #[must_use]
    pub fn with_memory_mib(mut self, mib: u64) -> Self {
        self.memory_mib = Some(mib);
        self
    }

    /// Sets the level.
    #[must_use]
    pub fn with_level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    /// Sets the EINTR retry bound.
    #[must_use]
    pub fn with_eintr_retries(mut self, retries: u32) -> Self {
        self.eintr_retries = retries;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_parse_by_name() {
        for p in CapabilityProfile::NAMED {
            assert_eq!(p.name().parse::<CapabilityProfile>(), Ok(p.clone()));
        }
        assert!("vmware".parse::<CapabilityProfile>().is_err());
    }
}
