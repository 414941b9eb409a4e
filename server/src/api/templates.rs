//! Session templates: saved command lines per org (command, arguments, working directory, the
//! names of environment variables the command needs). Admins and owners manage them; every
//! member lists them, and members and above start one on a machine, which goes through exactly
//! the same checks as `POST /sessions` (allow-list included).

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use sessionforge_shared::ids::MachineId;
use sessionforge_shared::roles::Role;
use time::OffsetDateTime;
use uuid::Uuid;

use super::body::JsonBody;
use super::dto::ts;
use super::fields::{Command, Name};
use super::orgs::{require_role, scope};
use super::session_start::{StartSpec, check_spec, start_session};
use super::sessions::SessionDto;
use super::{ApiTags, validate};
use crate::auth::principal::Auth;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::api_keys::Scope;
use crate::store::templates::{Template, TemplateFields};

pub struct TemplatesApi;

/// Longest working directory a template may hold, in characters (the same as a start request's).
const MAX_CWD_LEN: usize = super::fields::MAX_ARG_LEN;

#[derive(Object)]
pub struct TemplateDto {
    pub id: Uuid,
    pub name: String,
    pub command: String,
    pub args: Vec<String>,
    /// Working directory on the machine; empty means the agent's home directory.
    pub cwd: String,
    /// Environment variables the command needs; the agent refuses to start it when one is
    /// not set on the machine.
    pub env_names: Vec<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl From<Template> for TemplateDto {
    fn from(t: Template) -> Self {
        Self {
            id: t.id,
            name: t.name,
            command: t.command,
            args: t.args,
            cwd: t.cwd,
            env_names: t.env_names,
            created_at: ts(t.created_at),
            updated_at: ts(t.updated_at),
        }
    }
}

// The spec states each rule below, so `JsonBody` refuses what breaks one with the field's code
// before `fields` checks again.
/// A session template: the same rules as a start request (`StartSession`), except that the
/// working directory may hold no control characters at all.
#[derive(Object)]
pub struct TemplateInput {
    /// Unique within the org.
    pub name: Name,
    /// Started only while it is on the org's allow-list.
    pub command: Command,
    /// At most 64 arguments of at most 4096 characters, without NUL.
    #[oai(default, validator(max_items = 64, max_length = 4096, pattern = r"^[^\x00]*$"))]
    pub args: Vec<String>,
    /// Working directory on the machine, at most 4096 characters without control characters;
    /// empty means the agent's home directory. Trimmed.
    #[oai(default, validator(max_length = 4096, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"))]
    pub cwd: String,
    /// Names such as `ANTHROPIC_API_KEY` (at most 32 of letters, digits and `_`, not starting
    /// with a digit). Repeated names are kept once.
    #[oai(default, validator(max_items = 32, max_length = 128, pattern = "^[A-Za-z_][A-Za-z0-9_]*$"))]
    pub env_names: Vec<String>,
}

#[derive(Object)]
pub struct StartTemplate {
    pub machine_id: Uuid,
    /// Terminal columns, 1 to 1000 (`MAX_TERM_DIM`); default 120.
    #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
    pub cols: Option<u16>,
    /// Terminal rows, 1 to 1000 (`MAX_TERM_DIM`); default 32.
    #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
    pub rows: Option<u16>,
}

#[derive(ApiResponse)]
pub enum TemplateCreated {
    #[oai(status = 201)]
    Created(Json<TemplateDto>),
}

#[derive(ApiResponse)]
pub enum TemplateDeleted {
    #[oai(status = 204)]
    NoContent,
}

#[derive(ApiResponse)]
pub enum TemplateStarted {
    /// Requested; the session is `starting` until the agent confirms.
    #[oai(status = 201)]
    Created(Json<SessionDto>),
}

/// Checks and normalises a template body, with the same checks as a start request (command,
/// arguments, environment variable names) plus its name; each failure names the field.
fn fields(input: TemplateInput) -> Result<TemplateFields, ApiError> {
    let name = validate::name("name", &input.name)?;
    // Checked before trimming, as the spec's pattern is: a tab or newline is refused, not eaten.
    if input.cwd.chars().count() > MAX_CWD_LEN || input.cwd.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "INVALID_CWD",
            "cwd must be at most 4096 characters, without control characters",
        ));
    }
    let cwd = input.cwd.trim().to_string();
    let mut seen = std::collections::HashSet::new();
    let env_names: Vec<String> =
        input.env_names.iter().map(|n| n.trim().to_string()).filter(|n| seen.insert(n.clone())).collect();
    let spec = StartSpec {
        machine_id: MachineId(Uuid::nil()),
        command: input.command.into_inner(),
        args: input.args,
        cwd,
        cols: None,
        rows: None,
        env_names,
    };
    let (command, _, _) = check_spec(&spec)?;
    Ok(TemplateFields { name, command, args: spec.args, cwd: spec.cwd, env_names: spec.env_names })
}

fn conflict(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(msg) => ApiError::conflict("TEMPLATE_EXISTS", msg),
        other => other.into(),
    }
}

#[OpenApi(prefix_path = "/api/v1/orgs", tag = "ApiTags::Sessions")]
impl TemplatesApi {
    /// The org's session templates, by name.
    #[oai(path = "/:org_id/templates", method = "get")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
    ) -> Result<Json<Vec<TemplateDto>>, ApiError> {
        let scope = scope(&state, &auth, org_id.0).await?;
        Ok(Json(state.store.templates(&scope).await?.into_iter().map(Into::into).collect()))
    }

    /// Save a session template. Admins and owners only.
    #[oai(path = "/:org_id/templates", method = "post")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        body: JsonBody<TemplateInput>,
    ) -> Result<TemplateCreated, ApiError> {
        auth.require(Scope::Admin)?;
        let scope = scope(&state, &auth, org_id.0).await?;
        require_role(&scope, Role::Admin)?;
        let t = state.store.create_template(&scope, fields(body.0)?).await.map_err(conflict)?;
        Ok(TemplateCreated::Created(Json(t.into())))
    }

    /// One session template.
    #[oai(path = "/:org_id/templates/:id", method = "get")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        id: Path<Uuid>,
    ) -> Result<Json<TemplateDto>, ApiError> {
        let scope = scope(&state, &auth, org_id.0).await?;
        Ok(Json(state.store.template(&scope, id.0).await?.into()))
    }

    /// Replace a session template. Admins and owners only.
    #[oai(path = "/:org_id/templates/:id", method = "put")]
    async fn update(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        id: Path<Uuid>,
        body: JsonBody<TemplateInput>,
    ) -> Result<Json<TemplateDto>, ApiError> {
        auth.require(Scope::Admin)?;
        let scope = scope(&state, &auth, org_id.0).await?;
        require_role(&scope, Role::Admin)?;
        let t = state.store.update_template(&scope, id.0, fields(body.0)?).await.map_err(conflict)?;
        Ok(Json(t.into()))
    }

    /// Delete a session template. Admins and owners only.
    #[oai(path = "/:org_id/templates/:id", method = "delete")]
    async fn delete(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        id: Path<Uuid>,
    ) -> Result<TemplateDeleted, ApiError> {
        auth.require(Scope::Admin)?;
        let scope = scope(&state, &auth, org_id.0).await?;
        require_role(&scope, Role::Admin)?;
        state.store.delete_template(&scope, id.0).await?;
        Ok(TemplateDeleted::NoContent)
    }

    /// Start a session from a template on a machine. Members and above; the same checks as
    /// starting a session directly (allow-list, machine online), and the agent refuses to start
    /// it when one of the template's environment variables is missing on the machine.
    #[oai(path = "/:org_id/templates/:id/start", method = "post")]
    async fn start(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        id: Path<Uuid>,
        body: JsonBody<StartTemplate>,
    ) -> Result<TemplateStarted, ApiError> {
        auth.require(Scope::Write)?;
        let scope = scope(&state, &auth, org_id.0).await?;
        let t = state.store.template(&scope, id.0).await?;
        let req = StartSpec {
            machine_id: MachineId(body.machine_id),
            command: t.command,
            args: t.args,
            cwd: t.cwd,
            cols: body.cols,
            rows: body.rows,
            env_names: t.env_names,
        };
        let session = start_session(&state, &auth, &scope, req).await?;
        tracing::info!(session = %session.id, template = %t.id, "session started from a template");
        Ok(TemplateStarted::Created(Json(session.into())))
    }
}
