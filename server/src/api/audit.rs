//! The audit log, read: an org's events for its admins, every event for server administrators,
//! newest first with cursor pages, and the same as CSV.

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, Object, OpenApi};
use sessionforge_shared::ids::OrgId;
use sessionforge_shared::roles::Role;
use time::OffsetDateTime;
use uuid::Uuid;

use super::ApiTags;
use super::dto::ts;
use super::orgs::{require_role, scope};
use crate::auth::principal::Auth;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::audit::{AuditEvent, AuditFilter};

pub struct AuditApi;

/// Events per page (and the most one CSV export holds).
const PAGE: u32 = 200;
const CSV_MAX: u32 = 100_000;

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AuditEventDto {
    /// Increases with every event; pass the last one as `before` for the next page.
    pub seq: i64,
    pub at: OffsetDateTime,
    /// Absent for instance-wide events (sign-ins, accounts, releases).
    pub org_id: Option<String>,
    /// `user`, `api_key`, `machine`, `anonymous` or `system`.
    pub actor_kind: String,
    pub actor_id: Option<String>,
    /// Who, readably (an address, a key, a hostname), as it was at the time.
    pub actor: String,
    /// What happened, like `member.removed` or `auth.sign_in_failed`.
    pub action: String,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    pub ip: Option<String>,
    /// A before/after summary; never a secret.
    pub details: serde_json::Value,
}

impl From<AuditEvent> for AuditEventDto {
    fn from(e: AuditEvent) -> Self {
        Self {
            seq: e.seq,
            at: ts(e.at),
            org_id: e.org_id,
            actor_kind: e.actor_kind,
            actor_id: e.actor_id,
            actor: e.actor_label,
            action: e.action,
            target_kind: e.target_kind,
            target_id: e.target_id,
            ip: e.ip,
            details: e.details,
        }
    }
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AuditPage {
    pub events: Vec<AuditEventDto>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next_before: Option<i64>,
}

#[derive(ApiResponse)]
pub enum AuditCsv {
    /// The matching events as CSV, newest first.
    #[oai(status = 200, content_type = "text/csv")]
    Ok(Binary<Vec<u8>>, #[oai(header = "Content-Disposition")] String),
}

fn filter(
    org: Option<OrgId>,
    action: Option<String>,
    actor_id: Option<String>,
    since: Option<OffsetDateTime>,
    until: Option<OffsetDateTime>,
    before: Option<i64>,
    limit: u32,
) -> AuditFilter {
    AuditFilter {
        org,
        action: action.filter(|a| !a.is_empty()),
        actor_id: actor_id.filter(|a| !a.is_empty()),
        since: since.map(OffsetDateTime::unix_timestamp),
        until: until.map(OffsetDateTime::unix_timestamp),
        before,
        limit,
    }
}

async fn page(state: &AppState, f: AuditFilter) -> Result<Json<AuditPage>, ApiError> {
    let events = state.store.audit_events(f).await?;
    let next_before = (events.len() == PAGE as usize).then(|| events.last().map(|e| e.seq)).flatten();
    Ok(Json(AuditPage { events: events.into_iter().map(Into::into).collect(), next_before }))
}

/// One CSV field, quoted when it must be, with formula-looking values defused for spreadsheets.
fn field(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@']) { format!("'{v}") } else { v.to_string() };
    if v.contains([',', '"', '\n', '\r']) { format!("\"{}\"", v.replace('"', "\"\"")) } else { v }
}

fn csv(events: Vec<AuditEvent>) -> Vec<u8> {
    let mut out = String::from("seq,at,org_id,actor_kind,actor_id,actor,action,target_kind,target_id,ip,details\n");
    for e in events {
        let at = crate::api_time(e.at);
        let row = [
            e.seq.to_string(),
            at,
            e.org_id.unwrap_or_default(),
            e.actor_kind,
            e.actor_id.unwrap_or_default(),
            e.actor_label,
            e.action,
            e.target_kind.unwrap_or_default(),
            e.target_id.unwrap_or_default(),
            e.ip.unwrap_or_default(),
            e.details.to_string(),
        ];
        out += &row.iter().map(|v| field(v)).collect::<Vec<_>>().join(",");
        out.push('\n');
    }
    out.into_bytes()
}

#[OpenApi(tag = "ApiTags::Orgs")]
impl AuditApi {
    /// The org's audit log, newest first. Admins and owners.
    #[oai(path = "/api/v1/orgs/:org_id/audit", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn org_audit(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        /// Only this action (like `member.removed`).
        action: Query<Option<String>>,
        /// Only this actor (a user, key or machine id).
        actor_id: Query<Option<String>>,
        since: Query<Option<OffsetDateTime>>,
        until: Query<Option<OffsetDateTime>>,
        /// Cursor: the `next_before` of the previous page.
        before: Query<Option<i64>>,
    ) -> Result<Json<AuditPage>, ApiError> {
        let scope = scope(&state, &auth, org_id.0).await?;
        require_role(&scope, Role::Admin)?;
        page(&state, filter(Some(scope.org_id()), action.0, actor_id.0, since.0, until.0, before.0, PAGE)).await
    }

    /// The org's audit log as CSV (newest first, up to 100,000 events). Admins and owners.
    #[oai(path = "/api/v1/orgs/:org_id/audit.csv", method = "get")]
    async fn org_audit_csv(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        action: Query<Option<String>>,
        since: Query<Option<OffsetDateTime>>,
        until: Query<Option<OffsetDateTime>>,
    ) -> Result<AuditCsv, ApiError> {
        let scope = scope(&state, &auth, org_id.0).await?;
        require_role(&scope, Role::Admin)?;
        let events = state
            .store
            .audit_events(filter(Some(scope.org_id()), action.0, None, since.0, until.0, None, CSV_MAX))
            .await?;
        let name = format!("attachment; filename=\"audit-{}.csv\"", scope.org_id());
        Ok(AuditCsv::Ok(Binary(csv(events)), name))
    }

    /// Every audit event of the server, newest first. Server administrators.
    #[oai(path = "/api/v1/admin/audit", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn instance_audit(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        action: Query<Option<String>>,
        actor_id: Query<Option<String>>,
        since: Query<Option<OffsetDateTime>>,
        until: Query<Option<OffsetDateTime>>,
        before: Query<Option<i64>>,
    ) -> Result<Json<AuditPage>, ApiError> {
        auth.require_server_admin()?;
        page(&state, filter(None, action.0, actor_id.0, since.0, until.0, before.0, PAGE)).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(super::field("plain"), "plain");
        assert_eq!(super::field("a,b"), "\"a,b\"");
        assert_eq!(super::field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(super::field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
    }
}
