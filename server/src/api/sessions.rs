//! Sessions: list with filters, detail, stored output by offset range, asciinema recordings,
//! starting sessions on machines (within the org's command allow-list) and stopping them.
//! Watching live is the viewer socket (`relay::viewer_socket`).

use base64::Engine;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, Object, OpenApi};
use sessionforge_shared::ids::{MachineId, SessionId};
use sessionforge_shared::protocol::{ServerMessage, SessionSource, SessionState};
use sessionforge_shared::roles::Role;
use time::OffsetDateTime;
use uuid::Uuid;

use super::ApiTags;
use super::body::JsonBody;
use super::cast;
use super::dto::ts;
use super::fields::Command;
use super::orgs::{require_role, scope};
use super::session_start::{StartSpec, start_session};
use crate::auth::principal::Auth;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::api_keys::Scope;
use crate::store::sessions::{Session, SessionFilter};

pub struct SessionsApi;

/// Most output one `output` call returns.
const MAX_OUTPUT_PAGE: u64 = 4 * 1024 * 1024;

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
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
    /// A local terminal (`wrap`) holds the size: viewers resize only with force.
    pub size_locked: bool,
    /// The agent says the session waits for its user (a bell, or quiet after output).
    pub waiting_for_input: bool,
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
            size_locked: s.size_locked,
            waiting_for_input: s.waiting_for_input,
        }
    }
}

#[derive(Object)]
pub struct StartSession {
    pub machine_id: Uuid,
    /// Must be on the org's allow-list exactly as written.
    pub command: Command,
    /// At most 64 arguments of at most 4096 characters, without NUL.
    #[oai(default, validator(max_items = 64, max_length = 4096, pattern = r"^[^\x00]*$"))]
    pub args: Vec<String>,
    /// Working directory on the machine; empty means the agent's home directory.
    #[oai(default, validator(max_length = 4096, pattern = r"^[^\x00]*$"))]
    pub cwd: String,
    /// Terminal columns, 1 to 1000 (`MAX_TERM_DIM`); default 120.
    #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
    pub cols: Option<u16>,
    /// Terminal rows, 1 to 1000 (`MAX_TERM_DIM`); default 32.
    #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
    pub rows: Option<u16>,
    /// Environment variables the command needs (at most 32 names of letters, digits and `_`,
    /// not starting with a digit); the agent refuses to start it when one is not set.
    #[oai(default, validator(max_items = 32, max_length = 128, pattern = "^[A-Za-z_][A-Za-z0-9_]*$"))]
    pub env_names: Vec<String>,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
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
        #[oai(name = "state")] session_state: Query<Option<SessionState>>,
        kind: Query<Option<String>>,
        source: Query<Option<SessionSource>>,
    ) -> Result<Json<Vec<SessionDto>>, ApiError> {
        let scope = scope(&state, &auth, org_id.0).await?;
        let filter = SessionFilter {
            machine_id: machine_id.0.map(MachineId),
            state: session_state.0,
            kind: kind.0,
            source: source.0,
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
        /// First offset (default: the oldest stored).
        #[oai(validator(minimum(value = "0"), maximum(value = "9007199254740991")))]
        from: Query<Option<u64>>,
        /// Offset to stop before (default: the end of stored output).
        #[oai(validator(minimum(value = "0"), maximum(value = "9007199254740991")))]
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
        let resizes = state.store.session_resizes(session.id).await?;
        let body = poem::Body::from_bytes_stream(cast::render(state.store.clone(), &session, resizes));
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
        body: JsonBody<StartSession>,
    ) -> Result<Started, ApiError> {
        let scope = scope(&state, &auth, org_id.0).await?;
        let req = body.0;
        let spec = StartSpec {
            machine_id: MachineId(req.machine_id),
            command: req.command.0,
            args: req.args,
            cwd: req.cwd,
            cols: req.cols,
            rows: req.rows,
            env_names: req.env_names,
        };
        let session = start_session(&state, &auth, &scope, spec).await?;
        let details = serde_json::json!({"command": session.command, "machine_id": session.machine_id.to_string()});
        let entry = auth.audit("session.started").org(scope.org_id()).target("session", session.id).details(details);
        state.store.audit(entry).await?;
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
        state.store.audit(auth.audit("session.stopped").org(scope.org_id()).target("session", session.id)).await?;
        Ok(Stopping::Accepted(Json(session.into())))
    }
}
