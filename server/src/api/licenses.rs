//! Licensing. As an issuer: administrators create licenses (the key shown once), change their
//! state and export offline license files; anyone holding a key validates it, activates an
//! instance, heartbeats and deactivates, each answer signed with the server's license key (a
//! header over the exact body bytes, the caller's nonce echoed). As a licensed server:
//! administrators install a license file (verified offline against `licensing.trusted_keys`),
//! see it, and remove it.

use poem::Request;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::{Binary, Json, PlainText};
use poem_openapi::types::ToJSON;
use poem_openapi::{ApiResponse, Object, OpenApi};
use sessionforge_shared::license::{self, LicenseDoc};
use time::OffsetDateTime;
use uuid::Uuid;

use super::ApiTags;
use super::body::JsonBody;
use super::dto::ts;
use super::fields::Label;
use crate::auth::principal::Auth;
use crate::auth::tokens::token_hash;
use crate::error::ApiError;
use crate::http::middleware::client_ip;
use crate::licensing::{self, PURPOSE_LICENSE_KEY};
use crate::state::AppState;
use crate::store::licenses::{License, LicenseChange, NewLicense, Verdict};
use crate::store::now;

pub struct LicensesApi;

#[derive(Object, Clone)]
pub struct LicenseDto {
    pub id: String,
    /// The key's last group (the key itself is shown once, at creation).
    pub key_hint: String,
    #[oai(skip_serializing_if_is_none)]
    pub org_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub customer_email: Option<String>,
    pub licensee: String,
    pub plan: String,
    pub max_activations: u32,
    /// Live activations now.
    pub activations: u32,
    /// Absent: perpetual.
    #[oai(skip_serializing_if_is_none)]
    pub expires_at: Option<OffsetDateTime>,
    pub grace_days: u32,
    pub heartbeat_secs: u32,
    /// `active`, `suspended` or `revoked`.
    pub status: String,
    pub created_at: OffsetDateTime,
}

impl From<License> for LicenseDto {
    fn from(l: License) -> Self {
        let status = if l.revoked_at.is_some() {
            "revoked"
        } else if l.suspended_at.is_some() {
            "suspended"
        } else {
            "active"
        };
        Self {
            id: l.id,
            key_hint: l.key_hint,
            org_id: l.org_id,
            customer_email: l.customer_email,
            licensee: l.licensee,
            plan: l.plan,
            max_activations: l.max_activations,
            activations: l.activations,
            expires_at: l.expires_at.map(ts),
            grace_days: l.grace_days,
            heartbeat_secs: l.heartbeat_secs,
            status: status.into(),
            created_at: ts(l.created_at),
        }
    }
}

#[derive(Object)]
pub struct CreateLicense {
    /// A plan id of this server's catalogue.
    pub plan: String,
    /// Who it is for, as shown in the license.
    pub licensee: Label,
    /// The org it is for, on this server.
    pub org_id: Option<Uuid>,
    /// A customer with no account yet.
    pub customer_email: Option<super::fields::Email>,
    #[oai(validator(minimum(value = "1"), maximum(value = "100000")))]
    pub max_activations: u32,
    /// Absent: perpetual.
    pub expires_at: Option<OffsetDateTime>,
    /// Days past expiry it keeps working, with a warning (default 14).
    #[oai(validator(minimum(value = "0"), maximum(value = "365")))]
    pub grace_days: Option<u32>,
    /// An activation without a heartbeat for this long is released (default 1 day).
    #[oai(validator(minimum(value = "1"), maximum(value = "31536000")))]
    pub heartbeat_secs: Option<u32>,
}

#[derive(Object)]
pub struct CreatedLicense {
    pub license: LicenseDto,
    /// The license key, shown this once (only its keyed hash is kept).
    pub key: String,
}

#[derive(ApiResponse)]
pub enum LicenseCreated {
    #[oai(status = 201)]
    Created(Json<CreatedLicense>),
}

#[derive(Object)]
pub struct Renew {
    /// The new expiry; absent for perpetual.
    pub expires_at: Option<OffsetDateTime>,
}

#[derive(Object)]
pub struct ExportFile {
    /// Bind the file to one instance (its `instance_id`); absent for any instance.
    pub fingerprint: Option<Label>,
}

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

#[derive(ApiResponse)]
pub enum LicenseFile {
    /// The license file (text armour around the signed license).
    #[oai(status = 200, content_type = "text/plain")]
    Ok(Binary<Vec<u8>>, #[oai(header = "Content-Disposition")] String),
}

#[derive(Object)]
pub struct LicensePublicKey {
    /// The license key's public half in hex (also the `kid` in signatures and files): add it to
    /// `licensing.trusted_keys` on servers that accept this issuer's licenses.
    pub key_id: String,
}

#[derive(Object)]
pub struct InstanceId {
    pub instance_id: String,
}

#[derive(Object)]
pub struct InstalledDto {
    /// `file` or `key`.
    pub source: String,
    pub license_id: String,
    pub plan: String,
    pub licensee: String,
    #[oai(skip_serializing_if_is_none)]
    pub expires_at: Option<OffsetDateTime>,
    pub grace_days: u32,
    pub installed_at: OffsetDateTime,
    /// This instance's fingerprint (what licenses are bound to).
    pub instance_id: String,
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
fn answer(state: &AppState, v: Verdict, l: Option<License>, nonce: Option<String>) -> Signed {
    let license = l.filter(|_| v != Verdict::NotFound).map(|l| LicenseGrant {
        id: l.id,
        plan: l.plan,
        licensee: l.licensee,
        expires_at: l.expires_at,
        grace_days: l.grace_days,
        max_activations: l.max_activations,
        activations: l.activations,
    });
    let body = LicenseAnswer {
        valid: v.valid(),
        code: v.code().into(),
        detail: detail(v).into(),
        license,
        nonce: nonce.map(|n| n.chars().take(200).collect()),
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
impl LicensesApi {
    /// Create a license; its key is in the answer, once. Server administrators.
    #[oai(path = "/api/v1/admin/licenses", method = "post")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: JsonBody<CreateLicense>,
    ) -> Result<LicenseCreated, ApiError> {
        auth.require_server_admin()?;
        if state.store.catalogue().plan(&body.plan).is_none() {
            return Err(ApiError::not_found_because(format!("no plan {:?} in plans.catalogue", body.plan)));
        }
        let key = license::new_key();
        let new = NewLicense {
            id: Uuid::now_v7().to_string(),
            key_hash: token_hash(&state.keys, PURPOSE_LICENSE_KEY, &key),
            key_hint: key.rsplit('-').next().unwrap_or_default().to_string(),
            org_id: body.org_id.map(|o| o.to_string()),
            customer_email: body.customer_email.as_ref().map(|e| e.trim().to_string()),
            licensee: body.licensee.trim().to_string(),
            plan: body.plan.clone(),
            max_activations: body.max_activations,
            expires_at: body.expires_at.map(OffsetDateTime::unix_timestamp),
            grace_days: body.grace_days.unwrap_or(14),
            heartbeat_secs: body.heartbeat_secs.unwrap_or(86_400),
        };
        let created = state.store.create_license(new, auth.audit("license.created")).await?;
        Ok(LicenseCreated::Created(Json(CreatedLicense { license: created.into(), key })))
    }

    /// Every license this server issued, newest first. Server administrators.
    #[oai(path = "/api/v1/admin/licenses", method = "get")]
    async fn list(&self, state: Data<&AppState>, auth: Auth) -> Result<Json<Vec<LicenseDto>>, ApiError> {
        auth.require_server_admin()?;
        Ok(Json(state.store.licenses().await?.into_iter().map(Into::into).collect()))
    }

    /// Suspend a license: validation answers SUSPENDED until it is reinstated.
    #[oai(path = "/api/v1/admin/licenses/:id/suspend", method = "post")]
    async fn suspend(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> Result<Json<LicenseDto>, ApiError> {
        auth.require_server_admin()?;
        let l = state
            .store
            .change_license(id.0.to_string(), LicenseChange::Suspend, auth.audit("license.suspended"))
            .await?;
        Ok(Json(l.into()))
    }

    /// Reinstate a suspended license.
    #[oai(path = "/api/v1/admin/licenses/:id/reinstate", method = "post")]
    async fn reinstate(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
    ) -> Result<Json<LicenseDto>, ApiError> {
        auth.require_server_admin()?;
        let change = LicenseChange::Reinstate;
        let l = state.store.change_license(id.0.to_string(), change, auth.audit("license.reinstated")).await?;
        Ok(Json(l.into()))
    }

    /// Revoke a license for good; its activations are released.
    #[oai(path = "/api/v1/admin/licenses/:id/revoke", method = "post")]
    async fn revoke(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> Result<Json<LicenseDto>, ApiError> {
        auth.require_server_admin()?;
        let l =
            state.store.change_license(id.0.to_string(), LicenseChange::Revoke, auth.audit("license.revoked")).await?;
        Ok(Json(l.into()))
    }

    /// Renew a license: a new expiry (absent for perpetual).
    #[oai(path = "/api/v1/admin/licenses/:id/renew", method = "post")]
    async fn renew(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        body: JsonBody<Renew>,
    ) -> Result<Json<LicenseDto>, ApiError> {
        auth.require_server_admin()?;
        let change = LicenseChange::Renew(body.expires_at.map(OffsetDateTime::unix_timestamp));
        let l = state.store.change_license(id.0.to_string(), change, auth.audit("license.renewed")).await?;
        Ok(Json(l.into()))
    }

    /// Export a license as an offline license file, optionally bound to one instance.
    #[oai(path = "/api/v1/admin/licenses/:id/file", method = "post")]
    async fn file(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        body: JsonBody<ExportFile>,
    ) -> Result<LicenseFile, ApiError> {
        auth.require_server_admin()?;
        let l = state.store.license(id.0.to_string()).await?;
        let doc = LicenseDoc {
            id: l.id.clone(),
            plan: l.plan,
            licensee: l.licensee,
            issued_at: now(),
            expires_at: l.expires_at,
            grace_days: l.grace_days,
            max_activations: l.max_activations,
            fingerprint: body.fingerprint.as_ref().map(|f| f.trim().to_string()),
        };
        state.store.audit(auth.audit("license.file_exported").target("license", &l.id)).await?;
        let text = license::encode_file(&doc, &state.keys.license_key);
        Ok(LicenseFile::Ok(Binary(text.into_bytes()), format!("attachment; filename=\"{}.lic\"", l.id)))
    }

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
        Ok(answer(&state, v, l, body.nonce.clone()))
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
        Ok(answer(&state, v, l, body.nonce.clone()))
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

    /// This instance's id: the fingerprint licenses are bound to. Server administrators.
    #[oai(path = "/api/v1/admin/license/instance", method = "get")]
    async fn instance(&self, state: Data<&AppState>, auth: Auth) -> Result<Json<InstanceId>, ApiError> {
        auth.require_server_admin()?;
        Ok(Json(InstanceId { instance_id: licensing::instance_id(&state.keys) }))
    }

    /// The license this instance runs under. Server administrators.
    #[oai(path = "/api/v1/admin/license", method = "get")]
    async fn installed(&self, state: Data<&AppState>, auth: Auth) -> Result<Json<InstalledDto>, ApiError> {
        auth.require_server_admin()?;
        let l = state
            .store
            .installed_license()
            .await?
            .ok_or_else(|| ApiError::not_found_because("no license is installed"))?;
        Ok(Json(InstalledDto {
            source: l.source,
            license_id: l.license_id,
            plan: l.plan,
            licensee: l.licensee,
            expires_at: l.expires_at.map(ts),
            grace_days: l.grace_days,
            installed_at: ts(l.installed_at),
            instance_id: licensing::instance_id(&state.keys),
        }))
    }

    /// Install a license file (its text as the body), verified offline against
    /// `licensing.trusted_keys`. Server administrators.
    #[oai(path = "/api/v1/admin/license", method = "put")]
    async fn install(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: PlainText<String>,
    ) -> Result<Json<InstalledDto>, ApiError> {
        auth.require_server_admin()?;
        let installed = licensing::check_file(
            &state.settings.licensing.trusted_keys,
            &state.keys,
            state.store.catalogue(),
            &body.0,
        )
        .map_err(|e| ApiError::bad_request(e.code(), e.to_string()))?;
        state.store.install_license(installed, auth.audit("license.installed")).await?;
        self.installed(state, auth).await
    }

    /// Remove the installed license; the default plan applies again and nothing is deleted.
    #[oai(path = "/api/v1/admin/license", method = "delete")]
    async fn remove(&self, state: Data<&AppState>, auth: Auth) -> Result<Done, ApiError> {
        auth.require_server_admin()?;
        state.store.remove_installed_license(auth.audit("license.removed")).await?;
        Ok(Done::NoContent)
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
