//! Entitlements: an org's plan, where it comes from, and each limit with what is in use; and
//! instance administrators' plan overrides (with a reason, until a date, audited).

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use sessionforge_shared::ids::OrgId;
use time::OffsetDateTime;
use uuid::Uuid;

use super::ApiTags;
use super::body::JsonBody;
use super::dto::ts;
use super::fields::Label;
use super::orgs::scope;
use crate::auth::principal::Auth;
use crate::error::ApiError;
use crate::licensing;
use crate::plans::Source;
use crate::settings::PlanSettings;
use crate::state::AppState;
use crate::store::entitlements::PlanOverride;

pub struct EntitlementsApi;

#[derive(Object)]
pub struct LimitDto {
    /// `machines`, `seats`, `concurrent_sessions` or `api_calls_per_month`.
    pub name: String,
    /// What the plan allows; absent when unlimited.
    #[oai(skip_serializing_if_is_none)]
    pub max: Option<u64>,
    /// What the org uses now.
    pub used: u64,
}

#[derive(Object)]
pub struct FeaturesDto {
    pub team_orgs: bool,
    pub audit_export: bool,
    pub sso: bool,
    pub webhooks: bool,
    pub ip_allow_list: bool,
}

#[derive(Object)]
pub struct EntitlementsDto {
    /// The plan's id in the catalogue.
    pub plan: String,
    /// The plan's name for people.
    pub plan_name: String,
    /// `override` (an administrator's), `license` (this instance's) or `default` (`plans.default`).
    pub source: String,
    /// When the source stops applying, if it does.
    #[oai(skip_serializing_if_is_none)]
    pub ends_at: Option<OffsetDateTime>,
    pub limits: Vec<LimitDto>,
    /// Days and bytes per session of stored output the plan keeps (0: the server's own limits).
    pub retention_days: u32,
    pub retention_bytes_per_session: u64,
    /// API calls per UTC month (0: unlimited).
    pub api_calls_per_month: u64,
    pub features: FeaturesDto,
    /// Where to upgrade; empty when the operator set none.
    pub upgrade_url: String,
    /// What people should know about the plan's source (the license issuer cannot be reached,
    /// or refused this server's license), if anything.
    #[oai(skip_serializing_if_is_none)]
    pub warning: Option<String>,
}

fn features(p: &PlanSettings) -> FeaturesDto {
    FeaturesDto {
        team_orgs: p.team_orgs,
        audit_export: p.audit_export,
        sso: p.sso,
        webhooks: p.webhooks,
        ip_allow_list: p.ip_allow_list,
    }
}

#[derive(Object)]
pub struct SetPlanOverride {
    /// A plan id of the catalogue (`plans.catalogue`).
    pub plan: String,
    /// Why (kept in the audit log).
    pub reason: Label,
    /// Until when it applies; absent for no end.
    pub until: Option<OffsetDateTime>,
}

#[derive(ApiResponse)]
pub enum OverrideSet {
    #[oai(status = 204)]
    NoContent,
}

#[OpenApi(tag = "ApiTags::Orgs")]
impl EntitlementsApi {
    /// The org's plan, where it comes from and until when, and each limit with its current use.
    #[oai(path = "/api/v1/orgs/:org_id/entitlements", method = "get")]
    async fn entitlements(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
    ) -> Result<Json<EntitlementsDto>, ApiError> {
        let scope = scope(&state, &auth, org_id.0).await?;
        let catalogue = state.store.catalogue().clone();
        let (plan, usage) = state.store.entitlements(&scope, catalogue.clone()).await?;
        let limits = usage
            .iter()
            .map(|(limit, used)| LimitDto { name: limit.as_str().into(), max: limit.of(&plan.plan), used: *used })
            .collect();
        let warning = match plan.source {
            Source::Override => None,
            _ => state
                .store
                .installed_license()
                .await?
                .and_then(|l| l.online)
                .and_then(|o| licensing::online::warning(&o)),
        };
        let p = &plan.plan;
        Ok(Json(EntitlementsDto {
            warning,
            plan: plan.plan_id.clone(),
            plan_name: p.name.clone(),
            source: plan.source.as_str().into(),
            ends_at: plan.ends_at.map(ts),
            limits,
            retention_days: p.retention_days,
            retention_bytes_per_session: p.retention_bytes_per_session,
            api_calls_per_month: p.api_calls_per_month,
            features: features(p),
            upgrade_url: catalogue.upgrade_url().to_string(),
        }))
    }

    /// Give an org a plan of the catalogue (until a date, with a reason), overriding what it
    /// would have. Lowering limits deletes nothing. Server administrators.
    #[oai(path = "/api/v1/admin/orgs/:org_id/plan", method = "put")]
    async fn set_override(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        body: JsonBody<SetPlanOverride>,
    ) -> Result<OverrideSet, ApiError> {
        auth.require_server_admin()?;
        if state.store.catalogue().plan(&body.plan).is_none() {
            return Err(ApiError::not_found_because(format!("no plan {:?} in plans.catalogue", body.plan)));
        }
        let value = PlanOverride {
            plan: body.plan.clone(),
            until: body.until.map(OffsetDateTime::unix_timestamp),
            reason: body.reason.trim().to_string(),
        };
        state.store.set_plan_override(OrgId(org_id.0), Some(value), auth.audit("org.plan_overridden")).await?;
        Ok(OverrideSet::NoContent)
    }

    /// Remove an org's plan override. Server administrators.
    #[oai(path = "/api/v1/admin/orgs/:org_id/plan", method = "delete")]
    async fn clear_override(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
    ) -> Result<OverrideSet, ApiError> {
        auth.require_server_admin()?;
        state.store.set_plan_override(OrgId(org_id.0), None, auth.audit("org.plan_override_removed")).await?;
        Ok(OverrideSet::NoContent)
    }
}
