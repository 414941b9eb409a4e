//! Self-update from the server's signed release manifests. `check` fetches a channel's manifest,
//! verifies its signature against the release key pinned at enrollment and picks this build's
//! target; `install` downloads the artifact next to the executable, checks its size and
//! SHA-256, runs the new binary's `self-check`, swaps it in and checks it again, restoring the
//! previous binary if that fails. [`daemon`] does the same periodically inside `run`.

pub mod daemon;
mod freshness;
mod install;
mod verify;

use std::cmp::Ordering;
use std::path::PathBuf;
use std::time::Duration;

use sessionforge_shared::api::ErrorBody;
use sessionforge_shared::releases::{ManifestEntry, ManifestResponse};
use sessionforge_shared::signing::{self, PublicKey, SignatureError};

use crate::config::{AgentConfig, ConfigError, Paths};
use crate::enroll::{self, EnrollError};
use crate::tls::Trust;
use crate::version::{TARGET, VERSION};

pub use install::{SELF_CHECK_TIMEOUT, self_check_line};

/// How long fetching the manifest or the signing key may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long downloading an artifact may take (agents are tens of megabytes at most).
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// The hidden subcommand a new binary must pass before (and after) it is installed.
pub const SELF_CHECK_COMMAND: &str = "self-check";

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("this machine is not enrolled yet: run `sessionforge-agent enroll --server URL --token TOKEN`")]
    NotEnrolled,
    #[error("cannot reach the server for {what}: {reason}")]
    Unreachable { what: &'static str, reason: String },
    #[error("the server answered {status} for {what}: {message}")]
    Server { what: &'static str, status: u16, message: String },
    #[error("the server's release signing key is not usable: {0}")]
    BadServerKey(String),
    #[error("a pinned release signing key in agent.toml (signing_keys) is not valid; re-enroll to pin it again")]
    BadPinnedKey,
    #[error("the release manifest failed verification ({0}); refusing to update")]
    Signature(#[from] SignatureError),
    #[error("the release manifest is not valid: {0}")]
    BadManifest(String),
    #[error("the release manifest is refused: {0}")]
    Stale(String),
    #[error("the {channel} channel has no build for this machine's target {target}")]
    NoBuild { channel: String, target: String },
    #[error("the download is not the published build: {0}; nothing was changed")]
    Integrity(String),
    #[error("cannot download the new agent: {0}; nothing was changed")]
    Download(String),
    #[error("the downloaded agent failed its self-check ({0}); nothing was changed")]
    SelfCheck(String),
    #[error("cannot replace {path}: {reason}; nothing was changed")]
    Replace { path: String, reason: String },
    #[error("the new agent failed its self-check after installing ({reason}); the previous version was restored")]
    RolledBack { reason: String },
    #[error(
        "the new agent failed its self-check after installing ({reason}) and restoring the previous version \
         failed too ({restore}); a copy of the previous version is at {backup}"
    )]
    RollbackFailed { reason: String, restore: String, backup: String },
    #[error("cannot find this program's executable: {0}")]
    NoExecutable(String),
    #[error(transparent)]
    Client(#[from] EnrollError),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// What a channel offers this build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub channel: String,
    pub entry: ManifestEntry,
    /// How the offered version compares with this build's (`None`: one is not a semantic
    /// version).
    pub ordering: Option<Ordering>,
}

impl Offer {
    pub fn is_newer(&self) -> bool {
        self.ordering == Some(Ordering::Greater)
    }
}

/// An HTTP client that trusts the enrolled server as enrollment decided.
fn client(cfg: &AgentConfig, timeout: Duration) -> Result<reqwest::Client, UpdateError> {
    let trust = cfg.server_url.starts_with("https://").then(|| Trust::from_fingerprint(&cfg.server_fingerprint));
    Ok(enroll::http_client_with_timeout(trust.as_ref(), timeout)?)
}

/// GETs `url` and decodes a JSON answer.
async fn get_json<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    url: &str,
    what: &'static str,
) -> Result<T, UpdateError> {
    let resp =
        client.get(url).send().await.map_err(|e| UpdateError::Unreachable { what, reason: enroll::error_chain(&e) })?;
    let status = resp.status();
    if !status.is_success() {
        let message = resp.json::<ErrorBody>().await.map(|e| e.message).unwrap_or_else(|_| status.to_string());
        return Err(UpdateError::Server { what, status: status.as_u16(), message });
    }
    resp.json().await.map_err(|e| UpdateError::Server {
        what,
        status: status.as_u16(),
        message: enroll::error_chain(&e),
    })
}

/// Checks a published key: valid, and its id is the key's.
fn checked(key: PublicKey) -> Result<PublicKey, UpdateError> {
    let vk = key.verifying_key().map_err(|e| UpdateError::BadServerKey(e.to_string()))?;
    if key.key_id != signing::key_id(&vk) {
        return Err(UpdateError::BadServerKey(format!("key id {} does not match the key", key.key_id)));
    }
    Ok(key)
}

/// Fetches every key the server's manifests may be signed with, over `client` (which must
/// trust the server). Servers that predate several keys publish one.
pub async fn fetch_signing_keys(client: &reqwest::Client, server: &str) -> Result<Vec<PublicKey>, UpdateError> {
    let base = server.trim_end_matches('/');
    let keys = match get_json::<Vec<PublicKey>>(
        client,
        &format!("{base}/api/v1/releases/signing-keys"),
        "the release signing keys",
    )
    .await
    {
        Ok(keys) => keys,
        Err(UpdateError::Server { status: 404, .. }) => {
            vec![get_json(client, &format!("{base}/api/v1/releases/signing-key"), "the release signing key").await?]
        }
        Err(e) => return Err(e),
    };
    let keys = keys.into_iter().map(checked).collect::<Result<Vec<_>, _>>()?;
    if keys.is_empty() {
        return Err(UpdateError::BadServerKey("the server publishes no release signing key".into()));
    }
    Ok(keys)
}

/// A pinned key (base64) as a [`PublicKey`].
fn pinned(base64: &str) -> Result<PublicKey, UpdateError> {
    let mut key = PublicKey { algorithm: "ed25519".into(), key_id: String::new(), public_key: base64.trim().into() };
    let vk = key.verifying_key().map_err(|_| UpdateError::BadPinnedKey)?;
    key.key_id = signing::key_id(&vk);
    Ok(key)
}

/// The pinned release keys; agents enrolled before keys were pinned fetch them now, over the
/// pinned TLS connection (trust on first use), and save them.
async fn pinned_keys(
    cfg: &mut AgentConfig,
    paths: &Paths,
    client: &reqwest::Client,
) -> Result<Vec<PublicKey>, UpdateError> {
    let configured = cfg.pinned_signing_keys();
    if !configured.is_empty() {
        return configured.iter().map(|k| pinned(k)).collect();
    }
    let keys = fetch_signing_keys(client, &cfg.server_url).await?;
    tracing::info!(
        key_ids = ?keys.iter().map(|k| k.key_id.as_str()).collect::<Vec<_>>(),
        "no release signing key was pinned at enrollment; pinning the server's keys now (trust on first use, \
         over the pinned TLS connection)"
    );
    cfg.signing_keys = keys.iter().map(|k| k.public_key.clone()).collect();
    cfg.save_signing_keys(paths)?;
    Ok(keys)
}

/// Fetches and verifies `channel`'s manifest and returns what it offers this build.
pub async fn check(cfg: &mut AgentConfig, paths: &Paths, channel: &str) -> Result<Offer, UpdateError> {
    if !cfg.is_enrolled() {
        return Err(UpdateError::NotEnrolled);
    }
    let client = client(cfg, REQUEST_TIMEOUT)?;
    let keys = pinned_keys(cfg, paths, &client).await?;
    let url = format!("{}/api/v1/releases/manifest/{channel}", cfg.server_url.trim_end_matches('/'));
    let answer: ManifestResponse = get_json(&client, &url, "the release manifest").await?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let seen = freshness::newest(&paths.state_dir, channel);
    let manifest = verify::manifest(&answer.signed(), &keys, channel, now, seen)?;
    freshness::record(&paths.state_dir, channel, manifest.generated_at);
    let mut entry = verify::select(&manifest, TARGET)?.clone();
    if entry.url.is_empty() {
        // Manifests signed off the server carry no links; the server's answer has one.
        entry.url = answer.links.get(TARGET).cloned().ok_or_else(|| {
            UpdateError::BadManifest(format!("the server offers no download of {} {TARGET} now", entry.version))
        })?;
    }
    let ordering = crate::version::compare(&entry.version, VERSION);
    Ok(Offer { channel: channel.to_string(), entry, ordering })
}

/// Downloads, verifies and installs `entry` over the running executable; returns its path.
/// Every failure before the swap leaves the installed binary untouched; a failure after it
/// restores the previous binary.
pub async fn install(cfg: &AgentConfig, entry: &ManifestEntry) -> Result<PathBuf, UpdateError> {
    let exe = install::current_exe()?;
    let client = client(cfg, DOWNLOAD_TIMEOUT)?;
    let allow_http = cfg.server_url.starts_with("http://");
    let download = install::download(&client, entry, &exe, allow_http).await?;
    let check = install::SelfCheck(&entry.version);
    install::swap(&exe, download.path(), |new: &std::path::Path| self_replace::self_replace(new), &check).await?;
    Ok(exe)
}
