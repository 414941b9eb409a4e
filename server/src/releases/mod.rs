//! Agent releases: publishing (validate, store the artifact, record it), yanking, and the
//! signed per-channel manifest agents update from. The API and the `release` command share
//! this code; `links` signs the download URLs the manifest hands out.

pub mod artifacts;
pub mod bundled;
pub mod links;
pub mod signing;

use bytes::Bytes;
use futures_util::Stream;
use sessionforge_shared::ids::UserId;
use sessionforge_shared::releases::{CHANNELS, TARGETS};

use crate::keys::Keys;
use crate::store::releases::{NewRelease, Release};
use crate::store::{Store, StoreError};
use artifacts::{ArtifactError, Artifacts};

/// Longest release notes accepted.
const MAX_NOTES: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("{0:?} is not a semantic version such as 1.4.2 or 2.0.0-beta.1")]
    BadVersion(String),
    #[error("unknown target {0:?}; known targets: {known}", known = TARGETS.join(", "))]
    UnknownTarget(String),
    #[error("unknown channel {0:?}; use stable or beta")]
    UnknownChannel(String),
    #[error("release notes are limited to {MAX_NOTES} characters")]
    NotesTooLong,
    #[error(
        "no manifest has been signed for the {0} channel yet: sign one with `sessionforge-server release sign` and upload it"
    )]
    NoSignedManifest(String),
    #[error("the signed manifest is refused: {0}")]
    BadSignedManifest(String),
    #[error("the manifest is signed with key {0}, which releases.trusted_keys does not list")]
    UntrustedKey(String),
    #[error("the stored artifact does not match its published SHA-256 (expected {expected}, found {found})")]
    Corrupt { expected: String, found: String },
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What is being published, before the artifact is read.
#[derive(Clone, Debug)]
pub struct Publish {
    pub version: String,
    pub target: String,
    pub channel: String,
    pub notes: String,
    pub file_name: Option<String>,
}

impl Publish {
    /// Checks everything but the artifact; returns the normalised version.
    pub fn validate(&self) -> Result<semver::Version, ReleaseError> {
        let version = semver::Version::parse(self.version.trim().trim_start_matches('v'))
            .map_err(|_| ReleaseError::BadVersion(self.version.clone()))?;
        if !TARGETS.contains(&self.target.as_str()) {
            return Err(ReleaseError::UnknownTarget(self.target.clone()));
        }
        if !CHANNELS.contains(&self.channel.as_str()) {
            return Err(ReleaseError::UnknownChannel(self.channel.clone()));
        }
        if self.notes.chars().count() > MAX_NOTES {
            return Err(ReleaseError::NotesTooLong);
        }
        Ok(version)
    }

    fn default_file_name(&self, version: &semver::Version) -> String {
        let ext = if self.target.contains("windows") { ".exe" } else { "" };
        format!("sessionforge-agent-{version}-{}{ext}", self.target)
    }
}

/// Validates, stores the artifact from `body` (at most `limit` bytes) and records the release.
/// Nothing is kept when any step fails.
pub async fn publish<S>(
    store: &Store,
    artifacts: &Artifacts,
    req: Publish,
    body: S,
    limit: u64,
    by: Option<UserId>,
) -> Result<Release, ReleaseError>
where
    S: Stream<Item = std::io::Result<Bytes>> + Unpin,
{
    let version = req.validate()?;
    let stored = artifacts.put(body, limit).await?;
    let file_name = req
        .file_name
        .clone()
        .filter(|n| !n.is_empty() && n.len() <= 200 && !n.contains(['/', '\\', '"']))
        .unwrap_or_else(|| req.default_file_name(&version));
    let new = NewRelease {
        version: version.to_string(),
        target: req.target,
        channel: req.channel,
        sha256: stored.sha256.clone(),
        size: stored.size,
        file_name,
        notes: req.notes,
        created_by: by,
    };
    match store.insert_release(new).await {
        Ok(r) => Ok(r),
        Err(e) => {
            // The bytes may be shared with another release; only unused ones go.
            if !store.artifact_in_use(stored.sha256.clone()).await.unwrap_or(true) {
                let _ = artifacts.remove(&stored.sha256).await;
            }
            Err(e.into())
        }
    }
}

/// The channels a channel's manifest draws from: beta also offers stable releases.
fn channels_for(channel: &str) -> &'static [&'static str] {
    if channel == "beta" { CHANNELS } else { &CHANNELS[..1] }
}

/// The newest live release of each target on `channel`, by semver precedence.
pub async fn newest(store: &Store, channel: &str) -> Result<Vec<Release>, ReleaseError> {
    if !CHANNELS.contains(&channel) {
        return Err(ReleaseError::UnknownChannel(channel.to_string()));
    }
    let mut best: Vec<(semver::Version, Release)> = Vec::new();
    for r in store.live_releases(channels_for(channel)).await? {
        let Ok(v) = semver::Version::parse(&r.version) else { continue };
        match best.iter_mut().find(|(_, b)| b.target == r.target) {
            Some(slot) if slot.0 < v => *slot = (v, r),
            Some(_) => {}
            None => best.push((v, r)),
        }
    }
    best.sort_by(|a, b| a.1.target.cmp(&b.1.target));
    Ok(best.into_iter().map(|(_, r)| r).collect())
}

/// The signed download URL of a release, valid for `ttl` seconds from `now`.
pub fn download_url(keys: &Keys, public_url: &str, r: &Release, now: i64, ttl: u64) -> String {
    let exp = now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX / 2));
    let link = links::sign(keys, r.id, exp);
    format!("{public_url}/api/v1/downloads/{}?{}", r.id, link.query())
}

/// One artifact `verify_all` found damaged or missing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damaged {
    pub sha256: String,
    /// The releases that use it (version and target).
    pub releases: Vec<String>,
    /// `missing`, or the hash the file has now.
    pub found: String,
}

/// Re-hashes every stored artifact, marks the releases of damaged ones corrupt (they are never
/// served again, and leave the manifests), and returns what it found.
pub async fn verify_all(store: &Store, artifacts: &Artifacts) -> Result<(usize, Vec<Damaged>), ReleaseError> {
    let releases = store.releases().await?;
    let mut hashes: Vec<&str> = releases.iter().map(|r| r.sha256.as_str()).collect();
    hashes.sort_unstable();
    hashes.dedup();
    let mut damaged = Vec::new();
    for sha in &hashes {
        let found = match artifacts.check(sha).await.map_err(ArtifactError::Io)? {
            artifacts::Check::Intact => continue,
            artifacts::Check::Missing => "missing".to_string(),
            artifacts::Check::Mismatch { found } => found,
        };
        store.mark_artifact_corrupt(sha.to_string()).await?;
        let names =
            releases.iter().filter(|r| r.sha256 == *sha).map(|r| format!("{} {}", r.version, r.target)).collect();
        tracing::error!(sha256 = %sha, %found, "a stored release artifact is damaged; it will not be served");
        damaged.push(Damaged { sha256: sha.to_string(), releases: names, found });
    }
    Ok((hashes.len(), damaged))
}
