//! The license this server runs under (as a licensed instance): administrators install a
//! license file, verified offline against `licensing.trusted_keys`, or activate a license key
//! online against its issuer; see it, how the issuer last answered and this instance's id; and
//! remove it. Issuing licenses is in [`super::licenses`].

use poem::web::Data;
use poem_openapi::param::Header;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, Object, OpenApi};
use time::OffsetDateTime;

use super::ApiTags;
use super::body::JsonBody;
use super::dto::ts;
use crate::auth::principal::Auth;
use crate::error::ApiError;
use crate::licensing;
use crate::state::AppState;

pub struct InstalledLicenseApi;

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
    /// For a key activated online: the issuer and how it last answered.
    #[oai(skip_serializing_if_is_none)]
    pub online: Option<OnlineDto>,
}

#[derive(Object)]
pub struct OnlineDto {
    pub issuer_url: String,
    /// The code of the issuer's last signed answer (`VALID`, `OVERDUE`, `SUSPENDED`, …).
    pub last_code: String,
    pub last_attempt_at: OffsetDateTime,
    pub last_valid_at: OffsetDateTime,
    /// Until when the plan applies without another valid answer.
    pub valid_until: OffsetDateTime,
    /// Why the last check failed, if it did.
    #[oai(skip_serializing_if_is_none)]
    pub last_error: Option<String>,
    /// What people should know (issuer unreachable, license refused), if anything.
    #[oai(skip_serializing_if_is_none)]
    pub warning: Option<String>,
}

#[derive(Object)]
pub struct ActivateLicense {
    /// The license key (SF-XXXXX-XXXXX-XXXXX-XXXXX).
    pub key: String,
    /// The issuer's URL, for example `https://licenses.example.com`.
    #[oai(validator(max_length = 2000))]
    pub issuer_url: String,
}

#[derive(ApiResponse)]
pub enum Removed {
    #[oai(status = 204)]
    NoContent,
}

#[OpenApi(tag = "ApiTags::Licenses")]
impl InstalledLicenseApi {
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
            online: l.online.map(|o| OnlineDto {
                warning: licensing::online::warning(&o),
                issuer_url: o.issuer_url,
                last_code: o.last_code,
                last_attempt_at: ts(o.last_attempt_at),
                last_valid_at: ts(o.last_valid_at),
                valid_until: ts(o.valid_until),
                last_error: o.last_error,
            }),
        }))
    }

    /// Activate this instance online with a license key against its issuer, whose answers must
    /// be signed by a key in `licensing.trusted_keys`; the server then checks it on schedule.
    /// Server administrators.
    #[oai(path = "/api/v1/admin/license/activation", method = "post")]
    async fn activate(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: JsonBody<ActivateLicense>,
    ) -> Result<Json<InstalledDto>, ApiError> {
        auth.require_server_admin()?;
        let installed = licensing::online::activate(
            &state.settings,
            &state.keys,
            state.store.catalogue(),
            &body.key,
            body.issuer_url.trim(),
        )
        .await
        .map_err(|e| match e {
            licensing::online::OnlineError::Unreachable { .. } | licensing::online::OnlineError::Http { .. } => {
                ApiError::unavailable_code(e.code(), e.to_string())
            }
            e => ApiError::conflict(e.code(), e.to_string()),
        })?;
        state.store.install_license(installed, auth.audit("license.activated")).await?;
        self.installed(state, auth).await
    }

    /// Install a license file (its text as the body), verified offline against
    /// `licensing.trusted_keys`; an encrypted file needs its license key in `X-License-Key`.
    /// Server administrators.
    #[oai(path = "/api/v1/admin/license", method = "put")]
    async fn install(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: PlainText<String>,
        #[oai(name = "X-License-Key")] license_key: Header<Option<String>>,
    ) -> Result<Json<InstalledDto>, ApiError> {
        auth.require_server_admin()?;
        let installed = licensing::check_file(
            &state.settings.licensing.trusted_keys,
            &state.keys,
            state.store.catalogue(),
            &body.0,
            license_key.0.as_deref(),
        )
        .map_err(|e| ApiError::bad_request(e.code(), e.to_string()))?;
        state.store.install_license(installed, auth.audit("license.installed")).await?;
        self.installed(state, auth).await
    }

    /// Remove the installed license; the default plan applies again and nothing is deleted.
    #[oai(path = "/api/v1/admin/license", method = "delete")]
    async fn remove(&self, state: Data<&AppState>, auth: Auth) -> Result<Removed, ApiError> {
        auth.require_server_admin()?;
        // A key activated online releases its activation on the issuer (best effort: the
        // issuer also releases it once heartbeats stop).
        if let Some(o) = state.store.installed_license().await?.and_then(|l| l.online)
            && let Err(e) = licensing::online::deactivate(&state.settings, &state.keys, &o).await
        {
            tracing::warn!(error = %e, "cannot release the license activation on the issuer");
        }
        state.store.remove_installed_license(auth.audit("license.removed")).await?;
        Ok(Removed::NoContent)
    }
}
