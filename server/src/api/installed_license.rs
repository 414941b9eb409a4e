//! The license this server runs under (as a licensed instance): administrators install a
//! license file, verified offline against `licensing.trusted_keys`, see it and this instance's
//! id, and remove it. Issuing licenses is in [`super::licenses`].

use poem::web::Data;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, Object, OpenApi};
use time::OffsetDateTime;

use super::ApiTags;
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
    async fn remove(&self, state: Data<&AppState>, auth: Auth) -> Result<Removed, ApiError> {
        auth.require_server_admin()?;
        state.store.remove_installed_license(auth.audit("license.removed")).await?;
        Ok(Removed::NoContent)
    }
}
