//! The administrators' console: every org with the plan that applies and where it comes from,
//! and (with billing on) the Stripe webhook event log with replay of a stored event.

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use time::OffsetDateTime;

use super::ApiTags;
use super::billing::{apply, enabled};
use super::dto::ts;
use crate::auth::principal::Auth;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::billing::Outcome;

pub struct BillingAdminApi;

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AdminOrgDto {
    pub id: String,
    pub name: String,
    pub personal: bool,
    /// The plan that applies now, and where it comes from (`override`, `subscription`,
    /// `license` or `default`), until when.
    pub plan: String,
    pub source: String,
    pub ends_at: Option<OffsetDateTime>,
    pub subscription_status: Option<String>,
    pub members: u64,
    pub machines: u64,
    pub api_calls_this_month: u64,
}

#[derive(Object)]
pub struct BillingEventDto {
    pub id: String,
    #[oai(rename = "type")]
    pub kind: String,
    pub created: OffsetDateTime,
    /// `processed`, `ignored` (duplicate-safe, not acted on) or `failed`.
    pub state: String,
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<String>,
    pub received_at: OffsetDateTime,
    pub attempts: u32,
    /// The event as Stripe sent it.
    pub payload: String,
}

#[derive(Object)]
pub struct EventOutcomeDto {
    /// `processed`, `duplicate`, `ignored` or `failed`.
    pub outcome: String,
    #[oai(skip_serializing_if_is_none)]
    pub detail: Option<String>,
}

pub(super) fn outcome_dto(o: Outcome) -> EventOutcomeDto {
    let (outcome, detail) = match o {
        Outcome::Processed => ("processed", None),
        Outcome::Duplicate => ("duplicate", None),
        Outcome::Ignored(why) => ("ignored", Some(why)),
        Outcome::Failed(why) => ("failed", Some(why)),
    };
    EventOutcomeDto { outcome: outcome.into(), detail }
}

#[OpenApi(tag = "ApiTags::Admin")]
impl BillingAdminApi {
    /// Every org with its plan, where it comes from, its subscription's status and usage
    /// (server administrators). Works without billing too.
    #[oai(path = "/api/v1/admin/orgs", method = "get")]
    async fn orgs(&self, state: Data<&AppState>, auth: Auth) -> Result<Json<Vec<AdminOrgDto>>, ApiError> {
        auth.require_server_admin()?;
        let list = state.store.org_overview().await?;
        Ok(Json(
            list.into_iter()
                .map(|o| AdminOrgDto {
                    id: o.id,
                    name: o.name,
                    personal: o.personal,
                    plan: o.plan,
                    source: o.source.into(),
                    ends_at: o.ends_at.map(ts),
                    subscription_status: o.subscription_status,
                    members: o.members,
                    machines: o.machines,
                    api_calls_this_month: o.api_calls_this_month,
                })
                .collect(),
        ))
    }

    /// The webhook event log, newest first (server administrators).
    #[oai(path = "/api/v1/admin/billing/events", method = "get")]
    async fn events(&self, state: Data<&AppState>, auth: Auth) -> Result<Json<Vec<BillingEventDto>>, ApiError> {
        enabled(&state)?;
        auth.require_server_admin()?;
        let list = state.store.billing_events(500).await?;
        Ok(Json(
            list.into_iter()
                .map(|e| BillingEventDto {
                    id: e.id,
                    kind: e.kind,
                    created: ts(e.created),
                    state: e.state,
                    error: e.error,
                    received_at: ts(e.received_at),
                    attempts: e.attempts,
                    payload: e.payload,
                })
                .collect(),
        ))
    }

    /// Run a stored event again (a failed one; a processed one is a duplicate and does
    /// nothing). Server administrators; audited through what the event changes.
    #[oai(path = "/api/v1/admin/billing/events/:id/replay", method = "post")]
    async fn replay(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<String>,
    ) -> Result<Json<EventOutcomeDto>, ApiError> {
        enabled(&state)?;
        auth.require_server_admin()?;
        let payload = state.store.billing_event_payload(id.0.clone()).await?;
        state.store.audit(auth.audit("billing.event_replayed").target("billing_event", &id.0)).await?;
        Ok(Json(outcome_dto(apply(&state, payload.as_bytes()).await?)))
    }
}
