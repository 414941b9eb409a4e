//! Machines and enrollment: one-time enrollment tokens (created by org admins), the agent's
//! token-for-credential exchange, and the org's machines with their online state.

use poem::Request;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use sessionforge_shared::api::{EnrollRequest, EnrollResponse};
use sessionforge_shared::ids::{EnrollmentTokenId, MachineId};
use sessionforge_shared::roles::Role;
use time::OffsetDateTime;
use uuid::Uuid;

use super::body::JsonBody;
use super::dto::ts;
use super::fields::Label;
use super::orgs::{require_role, scope};
use super::{ApiTags, validate};
use crate::auth::principal::Auth;
use crate::auth::{PURPOSE_ENROLL, PURPOSE_MACHINE, tokens};
use crate::error::ApiError;
use crate::http::middleware::client_ip;
use crate::relay::events::Change;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::api_keys::Scope;
use crate::store::audit::{Actor, AuditEntry};
use crate::store::machines::{EnrollmentToken, Machine};

pub struct MachinesApi;

/// Default lifetime of an enrollment token, in minutes.
const DEFAULT_TOKEN_MINUTES: u32 = 60;
/// Longest lifetime of an enrollment token, in minutes (7 days).
const MAX_TOKEN_MINUTES: u32 = 7 * 24 * 60;
/// Marker at the start of enrollment tokens and machine credentials.
const ENROLL_MARKER: &str = "sfe_";
const MACHINE_MARKER: &str = "sfm_";
/// Random characters in enrollment tokens and machine credentials.
const SECRET_LEN: usize = 40;

#[derive(Object)]
pub struct CreateEnrollmentToken {
    /// A note for people, such as the machine it is meant for.
    pub note: Option<Label>,
    /// Minutes until the token expires (default 60, at most 10080, `MAX_TOKEN_MINUTES`).
    #[oai(validator(minimum(value = "1"), maximum(value = "10080")))]
    pub expires_in_minutes: Option<u32>,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct EnrollmentTokenDto {
    pub id: Uuid,
    pub note: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
    pub machine_id: Option<Uuid>,
    pub revoked_at: Option<OffsetDateTime>,
}

impl From<EnrollmentToken> for EnrollmentTokenDto {
    fn from(t: EnrollmentToken) -> Self {
        Self {
            id: t.id.0,
            note: t.note,
            created_at: ts(t.created_at),
            expires_at: ts(t.expires_at),
            used_at: t.used_at.map(ts),
            machine_id: t.machine_id.map(|m| m.0),
            revoked_at: t.revoked_at.map(ts),
        }
    }
}

#[derive(Object)]
pub struct CreatedEnrollmentToken {
    /// The token (`sfe_…`). Shown only here; it works once, until it expires.
    pub token: String,
    pub enrollment_token: EnrollmentTokenDto,
    /// Ready-to-paste commands that install the agent and enroll it with this token.
    pub install: InstallCommands,
}

#[derive(Object)]
pub struct InstallCommands {
    /// Linux and macOS.
    pub sh: String,
    /// Windows PowerShell.
    pub powershell: String,
    /// An agent that is already installed.
    pub agent: String,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MachineDto {
    pub id: Uuid,
    pub hostname: String,
    pub os: String,
    pub os_version: String,
    pub arch: String,
    pub cpus: u32,
    pub memory_bytes: u64,
    pub agent_version: String,
    /// Connected, with a heartbeat within `relay.online_timeout_secs`.
    pub online: bool,
    pub last_seen_at: Option<OffsetDateTime>,
    /// One-minute load average from the last heartbeat.
    pub load: Option<f64>,
    pub memory_used_bytes: Option<u64>,
    /// Sessions the agent reported in its last heartbeat.
    pub session_count: u32,
    pub enrolled_at: OffsetDateTime,
}

pub fn machine_dto(state: &AppState, mut m: Machine) -> MachineDto {
    // Heartbeats live in memory and reach the database only now and then: the newest wins.
    if let Some(beat) = state.relay.hub.heartbeats.latest(m.id)
        && m.last_seen_at.is_none_or(|t| t <= beat.at)
    {
        m.last_seen_at = Some(beat.at);
        m.load = Some(beat.load);
        m.memory_used_bytes = Some(beat.memory_used_bytes);
        m.session_count = beat.sessions;
    }
    let fresh = m.last_seen_at.is_some_and(|t| {
        crate::store::now() - t <= i64::try_from(state.settings.relay.online_timeout_secs).unwrap_or(i64::MAX)
    });
    MachineDto {
        id: m.id.0,
        online: fresh && state.relay.hub.is_connected(m.id),
        hostname: m.hostname,
        os: m.os,
        os_version: m.os_version,
        arch: m.arch,
        cpus: m.cpus,
        memory_bytes: m.memory_bytes,
        agent_version: m.agent_version,
        last_seen_at: m.last_seen_at.map(ts),
        load: m.load,
        memory_used_bytes: m.memory_used_bytes,
        session_count: m.session_count,
        enrolled_at: ts(m.enrolled_at),
    }
}

#[derive(ApiResponse)]
pub enum TokenCreated {
    #[oai(status = 201)]
    Created(Json<CreatedEnrollmentToken>),
}

#[derive(ApiResponse)]
pub enum Enrolled {
    /// Enrolled; keep the credential secret.
    #[oai(status = 201)]
    Created(Json<EnrollResponse>),
}

#[derive(ApiResponse)]
pub enum Done {
    #[oai(status = 204)]
    NoContent,
}

fn install_commands(state: &AppState, token: &str) -> InstallCommands {
    let (sh, powershell, agent) = crate::installers::commands(state, token);
    InstallCommands { sh, powershell, agent }
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Machines")]
impl MachinesApi {
    /// Create a one-time enrollment token for adding a machine. Admins and owners only.
    #[oai(path = "/orgs/:org_id/enrollment-tokens", method = "post")]
    async fn create_token(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        req: &Request,
        org_id: Path<Uuid>,
        body: JsonBody<CreateEnrollmentToken>,
    ) -> Result<TokenCreated, ApiError> {
        auth.require(Scope::Admin)?;
        let scope = scope(&state, &auth, org_id.0).await?;
        require_role(&scope, Role::Admin)?;
        state.limits.tokens(client_ip(req, state.settings.proxy_hops()), Some(&auth.user.id.to_string()))?;
        let minutes = body.expires_in_minutes.unwrap_or(DEFAULT_TOKEN_MINUTES);
        if minutes == 0 || minutes > MAX_TOKEN_MINUTES {
            return Err(ApiError::bad_request(
                "INVALID_EXPIRY",
                format!("expires_in_minutes must be 1 to {MAX_TOKEN_MINUTES}"),
            ));
        }
        let note = validate::label("note", body.note.as_deref())?;
        let token = format!("{ENROLL_MARKER}{}", tokens::random_alnum(SECRET_LEN));
        let hash = tokens::token_hash(&state.keys, PURPOSE_ENROLL, &token);
        let expires_at = crate::store::now() + i64::from(minutes) * 60;
        let stored = state.store.create_enrollment_token(&scope, hash, note, expires_at).await?;
        let entry = auth.audit("enrollment_token.created").org(scope.org_id()).target("enrollment_token", stored.id);
        state.store.audit(entry).await?;
        Ok(TokenCreated::Created(Json(CreatedEnrollmentToken {
            install: install_commands(&state, &token),
            token,
            enrollment_token: stored.into(),
        })))
    }

    /// The org's enrollment tokens, newest first (secrets are never shown again).
    #[oai(path = "/orgs/:org_id/enrollment-tokens", method = "get")]
    async fn list_tokens(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
    ) -> Result<Json<Vec<EnrollmentTokenDto>>, ApiError> {
        let scope = scope(&state, &auth, org_id.0).await?;
        require_role(&scope, Role::Admin)?;
        Ok(Json(state.store.enrollment_tokens(&scope).await?.into_iter().map(Into::into).collect()))
    }

    /// Revoke an unused enrollment token.
    #[oai(path = "/orgs/:org_id/enrollment-tokens/:id", method = "delete")]
    async fn revoke_token(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        id: Path<Uuid>,
    ) -> Result<Done, ApiError> {
        auth.require(Scope::Admin)?;
        let scope = scope(&state, &auth, org_id.0).await?;
        require_role(&scope, Role::Admin)?;
        state.store.revoke_enrollment_token(&scope, EnrollmentTokenId(id.0)).await?;
        let entry = auth.audit("enrollment_token.revoked").org(scope.org_id()).target("enrollment_token", id.0);
        state.store.audit(entry).await?;
        Ok(Done::NoContent)
    }

    /// Exchange a one-time enrollment token for a machine credential (used by the agent).
    #[oai(path = "/agent/enroll", method = "post")]
    async fn enroll(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<EnrollRequest>,
    ) -> Result<Enrolled, ApiError> {
        state.limits.tokens(client_ip(req, state.settings.proxy_hops()), None)?;
        let info = body.0.machine;
        if let Some(problem) = info.problem() {
            return Err(ApiError::bad_request("INVALID_MACHINE_INFO", problem));
        }
        let token_hash = tokens::token_hash(&state.keys, PURPOSE_ENROLL, body.0.token.trim());
        let credential = format!("{MACHINE_MARKER}{}", tokens::random_alnum(SECRET_LEN));
        let credential_hash = tokens::token_hash(&state.keys, PURPOSE_MACHINE, &credential);
        let max = state.settings.limits.machines_per_org;
        let machine =
            state.store.enroll_machine(token_hash, credential_hash, info, max).await.map_err(|e| match e {
                StoreError::NotFound => ApiError::unauthorized_code(
                    "INVALID_TOKEN",
                    "the enrollment token is wrong, used, revoked or expired",
                ),
                other => other.into(),
            })?;
        tracing::info!(machine = %machine.id, org = %machine.org_id, host = %machine.hostname, "machine enrolled");
        let actor = Actor::Machine { id: machine.id.to_string(), label: machine.hostname.clone() };
        let ip = Some(client_ip(req, state.settings.proxy_hops()).to_string());
        let entry = AuditEntry::new(actor, ip, "machine.enrolled").org(machine.org_id).target("machine", machine.id);
        state.store.audit(entry).await?;
        Ok(Enrolled::Created(Json(EnrollResponse {
            machine_id: machine.id.0,
            org_id: machine.org_id.0,
            credential,
            server_version: env!("CARGO_PKG_VERSION").into(),
        })))
    }

    /// The org's machines, with online state derived from their heartbeats.
    #[oai(path = "/orgs/:org_id/machines", method = "get")]
    async fn list_machines(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
    ) -> Result<Json<Vec<MachineDto>>, ApiError> {
        let scope = scope(&state, &auth, org_id.0).await?;
        let machines = state.store.machines(&scope).await?;
        Ok(Json(machines.into_iter().map(|m| machine_dto(&state, m)).collect()))
    }

    /// One machine.
    #[oai(path = "/orgs/:org_id/machines/:id", method = "get")]
    async fn get_machine(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        id: Path<Uuid>,
    ) -> Result<Json<MachineDto>, ApiError> {
        let scope = scope(&state, &auth, org_id.0).await?;
        let machine = state.store.machine(&scope, MachineId(id.0)).await?;
        Ok(Json(machine_dto(&state, machine)))
    }

    /// Sign a machine out: its credential stops working and it must enroll again.
    #[oai(path = "/orgs/:org_id/machines/:id", method = "delete")]
    async fn revoke_machine(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        id: Path<Uuid>,
    ) -> Result<Done, ApiError> {
        auth.require(Scope::Admin)?;
        let scope = scope(&state, &auth, org_id.0).await?;
        require_role(&scope, Role::Admin)?;
        state.store.revoke_machine(&scope, MachineId(id.0)).await?;
        state.store.audit(auth.audit("machine.removed").org(scope.org_id()).target("machine", id.0)).await?;
        state.relay.hub.disconnect_machine(MachineId(id.0));
        state.relay.hub.events.notify(scope.org_id(), Change::Machines);
        Ok(Done::NoContent)
    }
}
