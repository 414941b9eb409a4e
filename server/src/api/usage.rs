//! An org's metered usage per UTC month (machines that connected, sessions started,
//! session-hours, bytes relayed, API calls), with the plan limits they are held against.

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;

use super::ApiTags;
use super::orgs::scope;
use crate::auth::principal::Auth;
use crate::error::ApiError;
use crate::plans::Limit;
use crate::state::AppState;
use crate::store::now;
use crate::store::usage::MonthUsage;

pub struct UsageApi;

/// Months shown when the request does not say.
const DEFAULT_MONTHS: u32 = 6;

#[derive(Object)]
pub struct MonthUsageDto {
    /// `YYYY-MM`, a calendar month in UTC.
    pub month: String,
    /// Machines whose agent connected at least once in the month.
    pub active_machines: u64,
    pub sessions_started: u64,
    /// Hours sessions ran (starting or running), summed over sessions.
    pub session_hours: f64,
    /// Session output received from agents.
    pub bytes_relayed: u64,
    /// Requests made with API keys (the dashboard's own requests do not count).
    pub api_calls: u64,
}

impl From<MonthUsage> for MonthUsageDto {
    fn from(m: MonthUsage) -> Self {
        Self {
            month: m.month.key(),
            active_machines: m.active_machines,
            sessions_started: m.counts.sessions_started,
            session_hours: (m.counts.session_seconds as f64 / 36.0).round() / 100.0,
            bytes_relayed: m.counts.bytes_relayed,
            api_calls: m.counts.api_calls,
        }
    }
}

#[derive(Object)]
pub struct UsageDto {
    /// The org's plan id.
    pub plan: String,
    pub plan_name: String,
    /// The plan's API calls per month (0: unlimited).
    pub api_calls_per_month: u64,
    /// The plan's machines (0: unlimited).
    pub machines: u64,
    /// Oldest first; the last is the current month (so far).
    pub months: Vec<MonthUsageDto>,
}

#[OpenApi(tag = "ApiTags::Orgs")]
impl UsageApi {
    /// The org's usage in each of the last `months` UTC months (default 6, at most 24), the
    /// current one included, with the plan's monthly limits.
    #[oai(path = "/api/v1/orgs/:org_id/usage", method = "get")]
    async fn usage(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        #[oai(validator(minimum(value = "1"), maximum(value = "24")))] months: Query<Option<u32>>,
    ) -> Result<Json<UsageDto>, ApiError> {
        let scope = scope(&state, &auth, org_id.0).await?;
        let list = state.store.usage(&scope, months.0.unwrap_or(DEFAULT_MONTHS), now()).await?;
        let plan = state.store.cached_plan(scope.org_id()).await?;
        Ok(Json(UsageDto {
            plan: plan.plan_id.clone(),
            plan_name: plan.plan.name.clone(),
            api_calls_per_month: Limit::ApiCallsPerMonth.of(&plan.plan).unwrap_or(0),
            machines: Limit::Machines.of(&plan.plan).unwrap_or(0),
            months: list.into_iter().map(Into::into).collect(),
        }))
    }
}
