//! Licensing as an issuer: administrators create licenses (the key shown once), change their
//! state and export offline license files; anyone holding a key validates it, activates an
//! instance, heartbeats and deactivates, each answer signed with the server's license key (a
//! header over the exact body bytes, the caller's nonce echoed). This server's own license is
//! in [`super::installed_license`].

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::{Binary, Json};
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
use crate::licensing::PURPOSE_LICENSE_KEY;
use crate::state::AppState;
use crate::store::licenses::{License, LicenseChange, NewLicense};
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
    /// Encrypt the file (AES-256-GCM) under this license's key, so that only its holder can
    /// read the terms; the key must be the license's own (it is not stored here).
    pub encrypt_with_key: Option<String>,
}

#[derive(ApiResponse)]
pub enum LicenseFile {
    /// The license file (text armour around the signed license).
    #[oai(status = 200, content_type = "text/plain")]
    Ok(Binary<Vec<u8>>, #[oai(header = "Content-Disposition")] String),
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
        let text = match &body.encrypt_with_key {
            None => license::encode_file(&doc, &state.keys.license_key),
            Some(key) => {
                let wrong = || ApiError::conflict("WRONG_LICENSE_KEY", "that is not this license's key");
                let key = license::normalize_key(key).ok_or_else(wrong)?;
                let hash = token_hash(&state.keys, PURPOSE_LICENSE_KEY, &key);
                if !state.store.license_has_key(l.id.clone(), hash).await? {
                    return Err(wrong());
                }
                license::encode_encrypted_file(&doc, &state.keys.license_key, &key)
            }
        };
        state.store.audit(auth.audit("license.file_exported").target("license", &l.id)).await?;
        Ok(LicenseFile::Ok(Binary(text.into_bytes()), format!("attachment; filename=\"{}.lic\"", l.id)))
    }
}
