//! Sessions: list with filters, detail, stored output by offset range, asciinema recordings,
//! starting sessions on machines (within the org's command allow-list) and stopping them.
//! Watching live is the viewer socket (`relay::viewer_socket`).

use base64::Engine;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, Object, OpenApi};
use sessionforge_shared::ids::{MachineId, SessionId};
use sessionforge_shared::protocol::{KNOWN_AI_CLIS, ServerMessage, SessionSource, SessionState};
use sessionforge_shared::roles::Role;
use time::OffsetDateTime;
use uuid::Uuid;

use super::ApiTags;
use super::cast;
use super::dto::ts;
use super::orgs::{require_role, scope};
use crate::auth::principal::Auth;
use crate::error::ApiError;
use crate::relay::events::Change;
use crate::state::AppState;
use crate::store::api_keys::Scope;
use crate::store::orgs::OrgScope;
use crate::store::sessions::{NewSession, Session, SessionFilter};

pub struct SessionsApi;

/// Most output one `output` call returns.
const MAX_OUTPUT_PAGE: u64 = 4 * 1024 * 1024;
/// Limits on what a start request may contain.
const MAX_ARGS: usize = 64;
const MAX_ARG_LEN: usize = 4096;
const MAX_TERM: u16 = 1000;

#[derive(Object)]
pub struct SessionDto {
    pub id: Uuid,
    pub machine_id: Uuid,
    /// `relayed` (live in SessionForge) or `discovered` (found running on the machine).
    pub source: SessionSource,
    /// The AI CLI (`claude`, `codex`, …) or `other`.
    pub kind: String,
    pub command: String,
    pub args: Vec<String>,
    pub cwd: String,
    pub pid: Option<u32>,
    pub state: SessionState,
    pub exit_code: Option<i32>,
    /// Why it crashed, when it did.
    pub reason: Option<String>,
    pub cols: u16,
    pub rows: u16,
    pub cpu_percent: f32,
    pub memory_bytes: u64,
    pub started_at: OffsetDateTime,
    pub ended_at: Option<OffsetDateTime>,
    /// Offset just past the stored output.
    pub output_end: u64,
    /// Output before this offset is no longer stored.
    pub retained_from: u64,
}

impl From<Session> for SessionDto {
    fn from(s: Session) -> Self {
        Self {
            id: s.id.0,
            machine_id: s.machine_id.0,
            source: s.source,
            kind: s.kind,
            command: s.command,
            args: s.args,
            cwd: s.cwd,
            pid: s.pid,
            state: s.state,
            exit_code: s.exit_code,
            reason: s.reason,
            cols: s.cols,
            rows: s.rows,
            cpu_percent: s.cpu_percent,
            memory_bytes: s.memory_bytes,
            started_at: ts(s.started_at),
            ended_at: s.ended_at.map(ts),
            output_end: s.output_end,
            retained_from: s.retained_from,
        }
    }
}

#[derive(Object)]
pub struct StartSession {
    pub machine_id: Uuid,
    /// Must be on the org's allow-list exactly as written.
    pub command: String,
    #[oai(default)]
    pub args: Vec<String>,
    /// Working directory on the machine; empty means the agent's home directory.
    #[oai(default)]
    pub cwd: String,
    pub cols: Option<u16>,
    pub rows: Option<u16>,
}

#[derive(Object)]
pub struct OutputChunk {
    pub offset: u64,
    pub length: u64,
    /// Base64 of the bytes; absent for a gap (bytes lost on the agent).
    pub data: Option<String>,
}

#[derive(Object)]
pub struct OutputPage {
    pub from: u64,
    /// Offset just past the last chunk returned; ask again from here for more.
    pub to: u64,
    /// Offset just past all stored output.
    pub end: u64,
    pub retained_from: u64,
    pub chunks: Vec<OutputChunk>,
}

#[derive(Object)]
pub struct AllowedCommands {
    pub commands: Vec<String>,
    /// True when the org uses the built-in list of AI CLIs.
    pub default: bool,
}

#[derive(Object)]
pub struct SetAllowedCommands {
    pub commands: Vec<String>,
}

#[derive(ApiResponse)]
pub enum Started {
    /// Requested; the session is `starting` until the agent confirms.
    #[oai(status = 201)]
    Created(Json<SessionDto>),
}

#[derive(ApiResponse)]
pub enum Stopping {
    /// The stop request was sent to the agent.
    #[oai(status = 202)]
    Accepted(Json<SessionDto>),
}

#[derive(ApiResponse)]
pub enum Recording {
    /// An asciinema v2 recording.
    #[oai(status = 200, content_type = "application/x-asciicast")]
    Ok(Binary<poem::Body>, #[oai(header = "Content-Disposition")] String),
}

fn parse_state(s: &str) -> Result<SessionState, ApiError> {
    serde_json::from_value(serde_json::Value::String(s.into()))
        .map_err(|_| ApiError::bad_request("INVALID_FILTER", format!("unknown state {s:?}")))
}

fn parse_source(s: &str) -> Result<SessionSource, ApiError> {
    serde_json::from_value(serde_json::Value::String(s.into()))
        .map_err(|_| ApiError::bad_request("INVALID_FILTER", format!("unknown source {s:?}")))
}

fn allowed(list: Option<Vec<String>>) -> Vec<String> {
    list.unwrap_or_else(|| KNOWN_AI_CLIS.iter().map(|s| s.to_string()).collect())
}

#[OpenApi(prefix_path = "/api/v1/orgs", tag = "ApiTags::Sessions")]
impl SessionsApi {
    /// The org's sessions, newest first (at most 500), filtered by machine, state, kind or source.
    #[oai(path = "/:org_id/sessions", method = "get")]
    #[allow(clippy::too_many_arguments)] // one per query parameter, as poem-openapi wants them
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        machine_id: Query<Option<Uuid>>,
        #[oai(name = "state")] session_state: Query<Option<String>>,
        kind: Query<Option<String>>,
        source: Query<Option<String>>,
    ) -> Result<Json<Vec<SessionDto>>, ApiError> {
        let scope = scope(&state, &auth, org_id.0).await?;
        let filter = SessionFilter {
            machine_id: machine_id.0.map(MachineId),
            state: session_state.0.as_deref().map(parse_state).transpose()?,
            kind: kind.0,
            source: source.0.as_deref().map(parse_source).transpose()?,
        };
        let sessions = state.store.sessions(&scope, filter).await?;
        Ok(Json(sessions.into_iter().map(Into::into).collect()))
    }

    /// One session.
    #[oai(path = "/:org_id/sessions/:id", method = "get")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        id: Path<Uuid>,
    ) -> Result<Json<SessionDto>, ApiError> {
        let scope = scope(&state, &auth, org_id.0).await?;
        Ok(Json(state.store.session(&scope, SessionId(id.0)).await?.into()))
    }

    /// Stored output in `[from, to)` (at most 4 MiB per call), as base64 chunks and gaps.
    #[oai(path = "/:org_id/sessions/:id/output", method = "get")]
    async fn output(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        id: Path<Uuid>,
        from: Query<Option<u64>>,
        to: Query<Option<u64>>,
    ) -> Result<Json<OutputPage>, ApiError> {
        let scope = scope(&state, &auth, org_id.0).await?;
        let session = state.store.session(&scope, SessionId(id.0)).await?;
        let from = from.0.unwrap_or(session.retained_from);
        let to = to.0.unwrap_or(session.output_end).min(session.output_end);
        if to < from {
            return Err(ApiError::bad_request("INVALID_RANGE", "to must not be before from"));
        }
        let limit = usize::try_from(MAX_OUTPUT_PAGE).unwrap_or(usize::MAX);
        let chunks = state.store.read_output(session.id, from, to, limit).await?;
        let mut page = OutputPage {
            from,
            to: from,
            end: session.output_end,
            retained_from: session.retained_from,
            chunks: vec![],
        };
        for c in chunks {
            let start = c.start.max(from);
            let end = c.end.min(to);
            if end <= start {
                continue;
            }
            let data = c.data.map(|d| {
                let lo = usize::try_from(start - c.start).unwrap_or(0);
                let hi = usize::try_from(end - c.start).unwrap_or(d.len()).min(d.len());
                base64::engine::general_purpose::STANDARD.encode(&d[lo..hi])
            });
            page.chunks.push(OutputChunk { offset: start, length: end - start, data });
            page.to = end;
        }
        Ok(Json(page))
    }

    /// The session as an asciinema v2 recording (`.cast`).
    #[oai(path = "/:org_id/sessions/:id/cast", method = "get")]
    async fn cast(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        id: Path<Uuid>,
    ) -> Result<Recording, ApiError> {
        let scope = scope(&state, &auth, org_id.0).await?;
        let session = state.store.session(&scope, SessionId(id.0)).await?;
        let body = poem::Body::from_bytes_stream(cast::render(state.store.clone(), &session));
        let disposition = format!("attachment; filename=\"session-{}.cast\"", session.id);
        Ok(Recording::Ok(Binary(body), disposition))
    }

    /// Start a session on a machine. Members and above; the command must be allowed.
    #[oai(path = "/:org_id/sessions", method = "post")]
    async fn start(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        body: Json<StartSession>,
    ) -> Result<Started, ApiError> {
        auth.require(Scope::Write)?;
        let scope = scope(&state, &auth, org_id.0).await?;
        let req = body.0;
        let start = StartRequest {
            machine_id: MachineId(req.machine_id),
            command: req.command,
            args: req.args,
            cwd: req.cwd,
            cols: req.cols,
            rows: req.rows,
            env_names: vec![],
        };
        let session = start_session(&state, &auth, &scope, start).await?;
        Ok(Started::Created(Json(session.into())))
    }

    /// Stop a relayed session. Members and above.
    #[oai(path = "/:org_id/sessions/:id/stop", method = "post")]
    async fn stop(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        id: Path<Uuid>,
    ) -> Result<Stopping, ApiError> {
        auth.require(Scope::Write)?;
        let scope = scope(&state, &auth, org_id.0).await?;
        require_role(&scope, Role::Member)?;
        let session = state.store.session(&scope, SessionId(id.0)).await?;
        if session.source == SessionSource::Discovered {
            return Err(ApiError::conflict(
                "NOT_RELAYED",
                "discovered sessions run outside SessionForge; stop them on the machine",
            ));
        }
        if !session.state.is_live() {
            return Err(ApiError::conflict("NOT_RUNNING", "the session is not running"));
        }
        state.relay.hub.live(session.id).await?;
        state
            .relay
            .hub
            .send_to_owner(session.id, ServerMessage::StopSession { session_id: session.id })
            .map_err(|_| ApiError::conflict("MACHINE_OFFLINE", "the session's agent is not connected"))?;
        Ok(Stopping::Accepted(Json(session.into())))
    }

    /// Commands members may start remotely.
    #[oai(path = "/:org_id/allowed-commands", method = "get")]
    async fn allowed_commands(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
    ) -> Result<Json<AllowedCommands>, ApiError> {
        let scope = scope(&state, &auth, org_id.0).await?;
        let list = state.store.allowed_commands(&scope).await?;
        Ok(Json(AllowedCommands { default: list.is_none(), commands: allowed(list) }))
    }

    /// Replace the allow-list. Admins and owners only.
    #[oai(path = "/:org_id/allowed-commands", method = "put")]
    async fn set_allowed_commands(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        body: Json<SetAllowedCommands>,
    ) -> Result<Json<AllowedCommands>, ApiError> {
        auth.require(Scope::Admin)?;
        let scope = scope(&state, &auth, org_id.0).await?;
        require_role(&scope, Role::Admin)?;
        let mut commands: Vec<String> = body.0.commands.iter().map(|c| c.trim().to_string()).collect();
        if commands.iter().any(|c| c.is_empty() || c.len() > MAX_ARG_LEN || c.chars().any(char::is_control)) {
            return Err(ApiError::bad_request(
                "INVALID_COMMAND",
                "commands must be non-empty, without control characters",
            ));
        }
        commands.sort();
        commands.dedup();
        state.store.set_allowed_commands(&scope, commands.clone()).await?;
        Ok(Json(AllowedCommands { commands, default: false }))
    }
}

/// What starting a session needs, whether it comes from a start request or a template.
pub struct StartRequest {
    pub machine_id: MachineId,
    pub command: String,
    pub args: Vec<String>,
    pub cwd: String,
    pub cols: Option<u16>,
    pub rows: Option<u16>,
    /// Environment variables the command needs on the machine (from a template).
    pub env_names: Vec<String>,
}

/// Starts a session on a machine: the one code path behind `POST /sessions` and template
/// starts. Members and above with a write-capable credential; the command must be on the
/// org's allow-list and the machine's agent connected.
pub async fn start_session(
    state: &AppState,
    auth: &Auth,
    scope: &OrgScope,
    req: StartRequest,
) -> Result<Session, ApiError> {
    auth.require(Scope::Write)?;
    require_role(scope, Role::Member)?;
    let command = req.command.trim().to_string();
    if !allowed(state.store.allowed_commands(scope).await?).contains(&command) {
        return Err(ApiError::forbidden(
            "COMMAND_NOT_ALLOWED",
            format!("{command:?} is not on this org's allow-list of commands"),
        ));
    }
    if req.args.len() > MAX_ARGS || req.args.iter().any(|a| a.len() > MAX_ARG_LEN) || req.cwd.len() > MAX_ARG_LEN {
        return Err(ApiError::bad_request("INVALID_ARGS", "too many or too long arguments"));
    }
    let (cols, rows) = (req.cols.unwrap_or(120), req.rows.unwrap_or(32));
    if !(1..=MAX_TERM).contains(&cols) || !(1..=MAX_TERM).contains(&rows) {
        return Err(ApiError::bad_request("INVALID_SIZE", format!("cols and rows must be 1 to {MAX_TERM}")));
    }
    let machine = state.store.machine(scope, req.machine_id).await?;
    let Some(daemon) = state.relay.hub.daemon(machine.id) else {
        return Err(ApiError::conflict("MACHINE_OFFLINE", "the machine's agent is not connected"));
    };
    let base = command.rsplit(['/', '\\']).next().unwrap_or(&command);
    let kind = if KNOWN_AI_CLIS.contains(&base) { base.to_string() } else { "other".to_string() };
    let new = NewSession {
        machine_id: machine.id,
        kind,
        command: command.clone(),
        args: req.args.clone(),
        cwd: req.cwd.clone(),
        cols,
        rows,
        requested_by: auth.user.id,
    };
    let session = state.store.create_requested_session(scope, new).await?;
    // Until the agent confirms the start, nobody relays it: if nobody ever does, the
    // sweeper marks it crashed instead of leaving it "starting" forever.
    state.relay.hub.adopt_orphans([session.id]);
    state.relay.hub.events.notify(scope.org_id(), Change::Sessions);
    let msg = ServerMessage::StartSession {
        request_id: session.id.to_string(),
        session_id: session.id,
        command,
        args: req.args,
        cwd: req.cwd,
        cols,
        rows,
        // MERGE: env_names: req.env_names (the protocol field lands with main's StartSession change)
    };
    let _pending_env_names = req.env_names;
    if daemon.try_send(msg).is_err() {
        let reason = Some("the agent could not be reached".to_string());
        state.store.set_session_state(machine.id, session.id, SessionState::Crashed, None, reason).await?;
        return Err(ApiError::conflict("MACHINE_OFFLINE", "the machine's agent is not reachable"));
    }
    tracing::info!(session = %session.id, machine = %machine.id, user = %auth.user.id, "session start requested");
    Ok(session)
}
