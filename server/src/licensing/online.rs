//! A license key activated online: this instance activates itself on the issuer (its
//! fingerprint is the instance id), stores the issuer's signed answer and the key (sealed with
//! the server's key, since heartbeats need it), then heartbeats and re-validates on schedule.
//!
//! Every answer must carry a signature by a key in `licensing.trusted_keys` over its exact bytes
//! and echo the nonce this request sent; anything else is treated like no answer at all. While
//! the issuer cannot be reached the plan keeps applying for `licensing.offline_grace_days` after
//! its last valid answer (with a warning), then the default plan applies; nothing is deleted. A
//! signed refusal (suspended, expired, revoked) applies at once.

use std::time::Duration;

use ed25519_dalek::VerifyingKey;
use rand::RngCore;
use serde::Deserialize;
use sessionforge_shared::{license, seal};

use super::instance_id;
use crate::keys::Keys;
use crate::plans::Catalogue;
use crate::settings::Settings;
use crate::state::AppState;
use crate::store::installed_license::{Check, Installed, Online, VALID_CODES};
use crate::store::now;

/// Purpose of the key that seals the stored license key.
const SEAL_PURPOSE: &str = "installed-license-key";
/// How often the loop looks at the installed license (checks run when due, not this often).
const LOOK_EVERY: Duration = Duration::from_secs(1);
/// Retry after a failed check no later than this.
const RETRY_AFTER_FAILURE_SECS: i64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum OnlineError {
    #[error("that is not a license key (they look like SF-XXXXX-XXXXX-XXXXX-XXXXX)")]
    BadKey,
    #[error(
        "no issuer key is trusted: add the issuer's key (GET <issuer>/api/v1/licenses/public-key) to \
         licensing.trusted_keys"
    )]
    NoTrustedKeys,
    #[error("the issuer at {url} cannot be reached: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the issuer answered HTTP {status}: {body}")]
    Http { status: u16, body: String },
    #[error("the issuer's answer is not signed by a trusted key (licensing.trusted_keys); it was refused")]
    Untrusted,
    #[error("the issuer's answer does not echo this request's nonce (a replayed answer); it was refused")]
    Replayed,
    #[error("the issuer's answer is not a licensing answer: {0}")]
    Malformed(String),
    #[error("the issuer refused the license: {code}: {detail}")]
    Refused { code: String, detail: String },
    #[error("the license is for plan {0:?}, which this server's plans.catalogue does not have")]
    UnknownPlan(String),
}

impl OnlineError {
    pub fn code(&self) -> &'static str {
        match self {
            OnlineError::BadKey => "NOT_A_LICENSE_KEY",
            OnlineError::NoTrustedKeys => "NO_TRUSTED_KEYS",
            OnlineError::Unreachable { .. } | OnlineError::Http { .. } => "ISSUER_UNREACHABLE",
            OnlineError::Untrusted => "UNTRUSTED_ANSWER",
            OnlineError::Replayed => "REPLAYED_ANSWER",
            OnlineError::Malformed(_) => "MALFORMED_ANSWER",
            OnlineError::Refused { .. } => "LICENSE_REFUSED",
            OnlineError::UnknownPlan(_) => "UNKNOWN_PLAN",
        }
    }
}

/// A licensing answer as the issuer signs it.
#[derive(Clone, Debug, Deserialize)]
pub struct Answer {
    pub valid: bool,
    pub code: String,
    pub detail: String,
    pub license: Option<Grant>,
    pub nonce: Option<String>,
    #[serde(default)]
    pub fingerprint: Option<String>,
    pub issued_at: i64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Grant {
    pub id: String,
    pub plan: String,
    pub licensee: String,
    pub expires_at: Option<i64>,
    pub grace_days: u32,
    pub max_activations: u32,
    pub activations: u32,
    pub heartbeat_secs: Option<u32>,
}

/// A verified answer and the document kept of it (its exact bytes and signature).
pub struct Signed {
    pub answer: Answer,
    pub document: String,
}

/// Talks to one issuer, trusting only answers signed by `trusted`.
pub struct Issuer {
    http: reqwest::Client,
    url: String,
    trusted: Vec<VerifyingKey>,
}

impl Issuer {
    pub fn new(url: &str, trusted: &[String]) -> Result<Self, OnlineError> {
        let trusted: Vec<_> = trusted.iter().filter_map(|k| license::parse_key_id(k)).collect();
        if trusted.is_empty() {
            return Err(OnlineError::NoTrustedKeys);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| OnlineError::Unreachable { url: url.into(), reason: e.to_string() })?;
        Ok(Self { http, url: url.trim_end_matches('/').to_string(), trusted })
    }

    async fn post(&self, path: &str, body: serde_json::Value) -> Result<reqwest::Response, OnlineError> {
        let unreachable = |e: reqwest::Error| OnlineError::Unreachable { url: self.url.clone(), reason: chain(&e) };
        self.http.post(format!("{}{path}", self.url)).json(&body).send().await.map_err(unreachable)
    }

    /// A signed answer to `path`, verified: trusted signature over the exact bytes, nonce echoed.
    async fn signed(&self, path: &str, mut body: serde_json::Value) -> Result<Signed, OnlineError> {
        let mut nonce = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut nonce);
        let nonce = hex::encode(nonce);
        body["nonce"] = nonce.clone().into();
        let body_fingerprint = body["fingerprint"].as_str().map(str::to_string);
        let resp = self.post(path, body).await?;
        let status = resp.status();
        let header = resp.headers().get(license::SIGNATURE_HEADER).and_then(|h| h.to_str().ok()).map(str::to_string);
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| OnlineError::Unreachable { url: self.url.clone(), reason: e.to_string() })?;
        if !status.is_success() {
            let body = String::from_utf8_lossy(&bytes).chars().take(300).collect();
            return Err(OnlineError::Http { status: status.as_u16(), body });
        }
        let header = header.ok_or(OnlineError::Untrusted)?;
        if !license::verify_answer(&header, &bytes, &self.trusted) {
            return Err(OnlineError::Untrusted);
        }
        let answer: Answer = serde_json::from_slice(&bytes).map_err(|e| OnlineError::Malformed(e.to_string()))?;
        if answer.nonce.as_deref() != Some(nonce.as_str()) {
            return Err(OnlineError::Replayed);
        }
        // An answer about another instance (a relay rewriting the question) is no answer.
        if let Some(asked) = body_fingerprint.as_deref()
            && answer.fingerprint.as_deref() != Some(asked)
        {
            return Err(OnlineError::Malformed("the answer is about another instance".into()));
        }
        let document = serde_json::json!({"answer": String::from_utf8_lossy(&bytes), "signature": header}).to_string();
        Ok(Signed { answer, document })
    }

    pub async fn activate(&self, key: &str, fingerprint: &str, name: &str) -> Result<Signed, OnlineError> {
        let platform = format!(
            "sessionforge-server {} {}-{}",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::env::consts::ARCH
        );
        let body = serde_json::json!({"key": key, "fingerprint": fingerprint, "name": name, "platform": platform});
        self.signed("/api/v1/licenses/activate", body).await
    }

    pub async fn validate(&self, key: &str, fingerprint: &str) -> Result<Signed, OnlineError> {
        self.signed("/api/v1/licenses/validate", serde_json::json!({"key": key, "fingerprint": fingerprint})).await
    }

    /// Whether the issuer still holds this instance's activation (a 404 says it released it).
    pub async fn heartbeat(&self, key: &str, fingerprint: &str) -> Result<bool, OnlineError> {
        let resp = self
            .post("/api/v1/licenses/heartbeat", serde_json::json!({"key": key, "fingerprint": fingerprint}))
            .await?;
        match resp.status().as_u16() {
            204 => Ok(true),
            404 => Ok(false),
            status => Err(OnlineError::Http { status, body: resp.text().await.unwrap_or_default() }),
        }
    }

    pub async fn deactivate(&self, key: &str, fingerprint: &str) -> Result<(), OnlineError> {
        self.post("/api/v1/licenses/deactivate", serde_json::json!({"key": key, "fingerprint": fingerprint})).await?;
        Ok(())
    }
}

/// An error with its causes ("error sending request: connection refused").
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn seal_key(keys: &Keys) -> [u8; 32] {
    seal::derive_key(&keys.cookie_key, SEAL_PURPOSE)
}

/// The license key of an installed online license, unsealed.
fn unseal(keys: &Keys, online: &Online) -> Option<String> {
    seal::open(&seal_key(keys), &online.key_sealed).and_then(|k| String::from_utf8(k).ok())
}

/// How to name this instance on the issuer: its public host.
fn instance_name(settings: &Settings) -> String {
    let url = settings.public_url.clone();
    let host = url.split("://").nth(1).unwrap_or(&url).split('/').next().unwrap_or_default().to_string();
    if host.is_empty() { "sessionforge-server".into() } else { host }
}

/// Activates this instance on `issuer_url` with `key` and returns the license to install.
pub async fn activate(
    settings: &Settings,
    keys: &Keys,
    catalogue: &Catalogue,
    key: &str,
    issuer_url: &str,
) -> Result<Installed, OnlineError> {
    let key = license::normalize_key(key).ok_or(OnlineError::BadKey)?;
    let issuer = Issuer::new(issuer_url, &settings.licensing.trusted_keys)?;
    let signed = issuer.activate(&key, &instance_id(keys), &instance_name(settings)).await?;
    let a = &signed.answer;
    let grant = match (&a.license, a.valid) {
        (Some(g), true) => g.clone(),
        _ => return Err(OnlineError::Refused { code: a.code.clone(), detail: a.detail.clone() }),
    };
    if catalogue.plan(&grant.plan).is_none() {
        return Err(OnlineError::UnknownPlan(grant.plan));
    }
    let at = now();
    Ok(Installed {
        source: "key".into(),
        license_id: grant.id,
        plan: grant.plan,
        licensee: grant.licensee,
        expires_at: grant.expires_at,
        grace_days: grant.grace_days,
        document: signed.document,
        installed_at: at,
        online: Some(Online {
            issuer_url: issuer_url.trim_end_matches('/').to_string(),
            key_sealed: seal::seal(&seal_key(keys), key.as_bytes()),
            heartbeat_secs: grant.heartbeat_secs.unwrap_or(86_400),
            last_valid_at: at,
            valid_until: at + grace_secs(settings),
            last_attempt_at: at,
            last_code: a.code.clone(),
            last_error: None,
        }),
    })
}

fn grace_secs(settings: &Settings) -> i64 {
    i64::from(settings.licensing.offline_grace_days) * 86_400
}

/// Releases this instance's activation on the issuer (best effort: the issuer also releases it
/// once heartbeats stop).
pub async fn deactivate(settings: &Settings, keys: &Keys, online: &Online) -> Result<(), OnlineError> {
    let key = unseal(keys, online).ok_or(OnlineError::BadKey)?;
    Issuer::new(&online.issuer_url, &settings.licensing.trusted_keys)?.deactivate(&key, &instance_id(keys)).await
}

/// One check with the issuer: a heartbeat (activating again when the issuer released the
/// activation), then a signed validation of this instance.
pub async fn check(settings: &Settings, keys: &Keys, license_id: &str, online: &Online) -> Check {
    let result = async {
        let key = unseal(keys, online).ok_or(OnlineError::BadKey)?;
        let issuer = Issuer::new(&online.issuer_url, &settings.licensing.trusted_keys)?;
        let fingerprint = instance_id(keys);
        let signed = if issuer.heartbeat(&key, &fingerprint).await? {
            issuer.validate(&key, &fingerprint).await?
        } else {
            issuer.activate(&key, &fingerprint, &instance_name(settings)).await?
        };
        Ok::<_, OnlineError>(signed)
    }
    .await;
    match result {
        Ok(Signed { answer, .. }) if answer.license.as_ref().is_some_and(|g| g.id != license_id) => {
            Check::Failed("the issuer answered about another license".into())
        }
        Ok(Signed { answer, document }) => match answer.license {
            Some(g) => Check::Answered {
                code: answer.code,
                plan: g.plan,
                expires_at: g.expires_at,
                grace_days: g.grace_days,
                document,
                valid_until: now() + grace_secs(settings),
            },
            // NOT_FOUND: the license is gone on the issuer.
            None => Check::Answered {
                code: answer.code,
                plan: String::new(),
                expires_at: None,
                grace_days: 0,
                document,
                valid_until: 0,
            },
        },
        Err(e) => Check::Failed(e.to_string()),
    }
}

/// When the next check of `online` is due.
pub fn next_check(online: &Online) -> i64 {
    let every = i64::from((online.heartbeat_secs / 3).clamp(1, 6 * 3600));
    let every = if online.last_error.is_some() { every.min(RETRY_AFTER_FAILURE_SECS) } else { every };
    online.last_attempt_at + every
}

/// The warning people see while the issuer does not confirm the license, if any.
pub fn warning(online: &Online) -> Option<String> {
    if !VALID_CODES.contains(&online.last_code.as_str()) {
        return Some(format!(
            "the license issuer refused this server's license ({}); the default plan applies",
            online.last_code
        ));
    }
    online.last_error.as_ref().map(|e| {
        format!(
            "the license issuer has not confirmed the license since {} ({e}); the plan applies until {}, then the \
             default plan (nothing is deleted)",
            crate::api_time(online.last_valid_at),
            crate::api_time(online.valid_until)
        )
    })
}

/// Keeps the license activated online checked, and plans current when the license changes
/// underneath (installed or removed by `sessionforge-server license …` in another process).
pub async fn run(state: AppState) {
    let mut tick = tokio::time::interval(LOOK_EVERY);
    let mut seen: Option<Installed> = None;
    loop {
        tick.tick().await;
        let installed = match state.store.installed_license().await {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the installed license");
                continue;
            }
        };
        if installed != seen {
            state.store.plans_changed();
            seen = installed.clone();
        }
        let Some((license, online)) = installed.and_then(|l| l.online.clone().map(|o| (l, o))) else { continue };
        if now() < next_check(&online) {
            continue;
        }
        let check = check(&state.settings, &state.keys, &license.license_id, &online).await;
        match &check {
            Check::Answered { code, .. } if VALID_CODES.contains(&code.as_str()) => {}
            Check::Answered { code, .. } => tracing::warn!(code, "the license issuer refused this server's license"),
            Check::Failed(e) => tracing::warn!(error = %e, "cannot check the license with its issuer"),
        }
        if let Err(e) = state.store.record_license_check(license.license_id, check, now()).await {
            tracing::warn!(error = %e, "cannot record the license check");
        }
    }
}

#[cfg(test)]
#[path = "online_tests.rs"]
mod tests;
