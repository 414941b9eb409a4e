//! Release manifests: per channel, the newest agent build of each target, with where to get it
//! and how to check it. The server signs each manifest (see [`crate::signing`]); agents verify
//! the signature with the key they pinned, then the artifact's SHA-256, before installing.

use serde::{Deserialize, Serialize};

/// Release channels, least to most adventurous. `beta` also offers what `stable` has.
pub const CHANNELS: &[&str] = &["stable", "beta"];

/// Targets agents are built for (Rust target triples).
pub const TARGETS: &[&str] = &[
    "x86_64-unknown-linux-musl",
    "aarch64-unknown-linux-musl",
    "x86_64-unknown-linux-gnu",
    "aarch64-unknown-linux-gnu",
    "x86_64-apple-darwin",
    "aarch64-apple-darwin",
    "x86_64-pc-windows-msvc",
    "aarch64-pc-windows-msvc",
];

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub channel: String,
    /// Unix seconds; download links in the manifest expire some time after this.
    pub generated_at: i64,
    pub releases: Vec<ManifestEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub target: String,
    pub version: String,
    /// A signed, time-limited download link.
    pub url: String,
    pub size: u64,
    /// Lower-case hex SHA-256 of the artifact.
    pub sha256: String,
    #[serde(default)]
    pub notes: String,
}

impl Manifest {
    /// The entry for `target`, if the channel has one.
    pub fn for_target(&self, target: &str) -> Option<&ManifestEntry> {
        self.releases.iter().find(|r| r.target == target)
    }
}
