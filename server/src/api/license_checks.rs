//! Licensing answers for anyone holding a key: validate, activate, heartbeat, deactivate, and
//! the public key that signs the answers. Every answer is signed over its exact body bytes with
//! the server's license key (`X-SessionForge-Signature`), the caller's nonce echoed; checks are
//! rate-limited per address and per key. Issuing licenses is in [`super::licenses`].

use poem::Request;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::types::ToJSON;
use poem_openapi::{ApiResponse, Object, OpenApi};
use sessionforge_shared::license;

use super::ApiTags;
use super::body::JsonBody;
use super::fields::Label;
use crate::auth::tokens::token_hash;
use crate::error::ApiError;
use crate::http::middleware::client_ip;
use crate::licensing::PURPOSE_LICENSE_KEY;
use crate::state::AppState;
use crate::store::licenses::{License, Verdict};
use crate::store::now;

pub struct LicenseChecksApi;

#[derive(Object)]
pub struct Validate {
    pub key: String,
    /// The instance asking (its instance id).
    pub fingerprint: Option<String>,
    /// Echoed in the signed answer, so a replayed answer is recognised.
    pub nonce: Option<String>,
}

#[derive(Object)]
pub struct Activate {
    pub key: String,
    pub fingerprint: Label,
    pub name: Option<Label>,
    pub platform: Option<Label>,
    pub nonce: Option<String>,
}

#[derive(Object)]
pub struct Instance {
    pub key: String,
    pub fingerprint: Label,
}

/// What a license grants, in an answer.
#[derive(Object)]
pub struct LicenseGrant {
    pub id: String,
    pub plan: String,
    pub licensee: String,
    #[oai(skip_serializing_if_is_none)]
    pub expires_at: Option<i64>,
    pub grace_days: u32,
    pub max_activations: u32,
    pub activations: u32,
    /// An activation without a heartbeat for this long is released.
    pub heartbeat_secs: u32,
}

/// A licensing answer. Its exact bytes are signed: see the `X-SessionForge-Signature` header.
#[derive(Object)]
pub struct LicenseAnswer {
    pub valid: bool,
    /// NOT_FOUND, SUSPENDED, EXPIRED, OVERDUE (valid, past expiry within grace), NO_MACHINE,
    /// FINGERPRINT_SCOPE_MISMATCH, TOO_MANY_MACHINES, HEARTBEAT_DEAD or VALID.
    pub code: String,
    pub detail: String,
    #[oai(skip_serializing_if_is_none)]
    pub license: Option<LicenseGrant>,
    #[oai(skip_serializing_if_is_none)]
    pub nonce: Option<String>,
    /// The instance the question was about (echoed and signed, so that an answer about one
    /// instance cannot be passed off as one about another).
    #[oai(skip_serializing_if_is_none)]
    pub fingerprint: Option<String>,
    /// Unix seconds when the answer was made.
    pub issued_at: i64,
}

#[derive(ApiResponse)]
pub enum Signed {
    /// The answer; `X-SessionForge-Signature: kid=<hex>, alg=ed25519, sig=<base64>` signs its body.
    #[oai(status = 200)]
    Ok(Json<LicenseAnswer>, #[oai(header = "X-SessionForge-Signature")] String),
}

#[derive(ApiResponse)]
pub enum Done {
    #[oai(status = 204)]
    NoContent,
}

#[derive(Object)]
pub struct LicensePublicKey {
    /// The license key's public half in hex (also the `kid` in signatures and files): add it to
    /// `licensing.trusted_keys` on servers that accept this issuer's licenses.
    pub key_id: String,
}

fn detail(v: Verdict) -> &'static str {
    match v {
        Verdict::NotFound => "no license has this key",
        Verdict::Suspended => "the license is suspended or revoked",
        Verdict::Expired => "the license expired and its grace period is over",
        Verdict::Overdue => "the license expired; it keeps working through its grace period: renew it",
        Verdict::NoMachine => "the license has no activated instance: activate this one first",
        Verdict::FingerprintScopeMismatch => "this instance is not one of the license's activations",
        Verdict::TooManyMachines => "the license is activated on as many instances as it allows",
        Verdict::HeartbeatDead => "this instance stopped sending heartbeats; activate it again",
        Verdict::Valid => "the license is valid",
    }
}

/// Builds the answer and signs the exact bytes poem will send.
fn answer(
    state: &AppState,
    v: Verdict,
    l: Option<License>,
    nonce: Option<String>,
    fingerprint: Option<String>,
) -> Signed {
    let license = l.filter(|_| v != Verdict::NotFound).map(|l| LicenseGrant {
        id: l.id,
        plan: l.plan,
        licensee: l.licensee,
        expires_at: l.expires_at,
        grace_days: l.grace_days,
        max_activations: l.max_activations,
        activations: l.activations,
        heartbeat_secs: l.heartbeat_secs,
    });
    let body = LicenseAnswer {
        valid: v.valid(),
        code: v.code().into(),
        detail: detail(v).into(),
        license,
        nonce: nonce.map(|n| n.chars().take(200).collect()),
        fingerprint: fingerprint.map(|f| f.trim().chars().take(200).collect()),
        issued_at: now(),
    };
    let bytes = body.to_json_string().into_bytes();
    let signature = license::sign_answer(&state.keys.license_key, &bytes);
    Signed::Ok(Json(body), signature)
}

fn key_hash(state: &AppState, key: &str) -> Option<Vec<u8>> {
    license::normalize_key(key).map(|k| token_hash(&state.keys, PURPOSE_LICENSE_KEY, &k))
}

fn limit(state: &AppState, req: &Request, key: &str) -> Result<(), ApiError> {
    let key: String = key.trim().chars().take(64).collect();
    state.limits.tokens(client_ip(req, state.settings.proxy_hops()), Some(&key))
}

#[OpenApi(tag = "ApiTags::Licenses")]
impl LicenseChecksApi {
    /// The public half of this server's license key, which signs its answers and files.
    #[oai(path = "/api/v1/licenses/public-key", method = "get")]
    async fn public_key(&self, state: Data<&AppState>) -> Json<LicensePublicKey> {
        Json(LicensePublicKey { key_id: license::key_id(&state.keys.license_key.verifying_key()) })
    }

    /// Validate a license key (the key is the credential). Rate-limited per address and key.
    #[oai(path = "/api/v1/licenses/validate", method = "post")]
    async fn validate(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<Validate>,
    ) -> Result<Signed, ApiError> {
        limit(&state, req, &body.key)?;
        let (v, l) = match key_hash(&state, &body.key) {
            Some(hash) => state.store.validate_license(hash, body.fingerprint.clone()).await?,
            None => (Verdict::NotFound, None),
        };
        Ok(answer(&state, v, l, body.nonce.clone(), body.fingerprint.clone()))
    }

    /// Activate an instance (by fingerprint) on a license; at its maximum, TOO_MANY_MACHINES.
    #[oai(path = "/api/v1/licenses/activate", method = "post")]
    async fn activate(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<Activate>,
    ) -> Result<Signed, ApiError> {
        limit(&state, req, &body.key)?;
        let (v, l) = match key_hash(&state, &body.key) {
            Some(hash) => {
                let name = body.name.as_ref().map(|n| n.trim().to_string()).unwrap_or_default();
                let platform = body.platform.as_ref().map(|n| n.trim().to_string()).unwrap_or_default();
                state.store.activate_license(hash, body.fingerprint.trim().to_string(), name, platform).await?
            }
            None => (Verdict::NotFound, None),
        };
        Ok(answer(&state, v, l, body.nonce.clone(), Some(body.fingerprint.to_string())))
    }

    /// An activated instance is alive; 404 when it holds no activation (activate again).
    #[oai(path = "/api/v1/licenses/heartbeat", method = "post")]
    async fn heartbeat(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<Instance>,
    ) -> Result<Done, ApiError> {
        instance(&state, req, &body, true).await
    }

    /// Release an instance's activation.
    #[oai(path = "/api/v1/licenses/deactivate", method = "post")]
    async fn deactivate(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<Instance>,
    ) -> Result<Done, ApiError> {
        instance(&state, req, &body, false).await
    }
}

async fn instance(state: &AppState, req: &Request, body: &Instance, heartbeat: bool) -> Result<Done, ApiError> {
    limit(state, req, &body.key)?;
    let hash = key_hash(state, &body.key).ok_or_else(|| ApiError::not_found_because("no license has this key"))?;
    if state.store.license_instance(hash, body.fingerprint.trim().to_string(), heartbeat).await? {
        Ok(Done::NoContent)
    } else {
        Err(ApiError::not_found_because("this instance holds no activation of the license; activate it"))
    }
}
