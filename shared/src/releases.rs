//! Release manifests: per channel, the newest agent build of each target, with how to check it
//! (and, when the server signs the manifest itself, where to get it). A manifest is signed
//! either by the server's key or by a key that never lives on the server (offline signing);
//! agents verify the signature with a key they pinned, refuse a manifest that expired or is
//! older than one they already saw (freeze and replay protection, as TUF does), then check the
//! artifact's SHA-256 before installing.

use std::collections::BTreeMap;

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
    /// Unix seconds. Agents refuse a manifest generated before the newest one they have seen.
    pub generated_at: i64,
    /// Unix seconds after which agents refuse the manifest (0 from servers that predate it).
    #[serde(default)]
    pub expires_at: i64,
    pub releases: Vec<ManifestEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub target: String,
    pub version: String,
    /// A signed, time-limited download link, when the server signed the manifest itself;
    /// empty in manifests signed off the server (the answer's `links` has it then).
    #[serde(default, skip_serializing_if = "String::is_empty")]
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

/// What the server answers for a channel's manifest: the signed payload (exactly as signed) and
/// a fresh signed download link per target, which a manifest signed off the server cannot
/// carry itself. Older agents read the first three fields as a plain signed statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct ManifestResponse {
    /// The signed manifest JSON, as a string.
    pub payload: String,
    /// Base64 of the ed25519 signature over `payload`'s bytes.
    pub signature: String,
    /// Which key signed it.
    pub key_id: String,
    /// Target triple → download link, valid for a limited time.
    #[serde(default)]
    pub links: BTreeMap<String, String>,
}

impl ManifestResponse {
    /// The signed part.
    pub fn signed(&self) -> crate::signing::Signed {
        crate::signing::Signed {
            payload: self.payload.clone(),
            signature: self.signature.clone(),
            key_id: self.key_id.clone(),
        }
    }
}
