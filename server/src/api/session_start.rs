//! Starting a session on a machine: the one path every start takes (the sessions API, and
//! templates), with its checks — the caller's role, the org's allow-list with its argument
//! patterns, sizes and lengths — then the record, the orphan watch and the agent's request.

use sessionforge_shared::ids::MachineId;
use sessionforge_shared::protocol::{KNOWN_AI_CLIS, MAX_TERM_DIM, ServerMessage, SessionState, allowed_by};
use sessionforge_shared::roles::Role;

use super::orgs::require_role;
use crate::auth::principal::Auth;
use crate::error::ApiError;
use crate::relay::events::Change;
use crate::state::AppState;
use crate::store::orgs::OrgScope;
use crate::store::sessions::{NewSession, Session};

/// Limits on what a start request may contain (lengths in characters, as the spec counts).
const MAX_ARGS: usize = 64;
const MAX_ARG_LEN: usize = super::fields::MAX_ARG_LEN;
/// Most environment variable names a start may require, and the longest name.
const MAX_ENV_NAMES: usize = 32;
const MAX_ENV_NAME_LEN: usize = 128;
/// Size of a session started without one.
const DEFAULT_SIZE: (u16, u16) = (120, 32);

/// What to start where.
#[derive(Clone, Debug)]
pub struct StartSpec {
    pub machine_id: MachineId,
    pub command: String,
    pub args: Vec<String>,
    /// Working directory on the machine; empty means the agent's home directory.
    pub cwd: String,
    pub cols: Option<u16>,
    pub rows: Option<u16>,
    /// Environment variables the command needs on the machine.
    pub env_names: Vec<String>,
}

/// A portable environment variable name: a letter or `_`, then letters, digits and `_`.
fn valid_env_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && n.len() <= MAX_ENV_NAME_LEN
}

/// Checks a spec's shape (not permissions); returns the command trimmed and the size.
pub fn check_spec(spec: &StartSpec) -> Result<(String, u16, u16), ApiError> {
    let command = spec.command.trim().to_string();
    let too_long = |s: &str| s.chars().count() > MAX_ARG_LEN;
    if command.is_empty() || too_long(&spec.command) || spec.command.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "INVALID_COMMAND",
            "command must be 1 to 4096 characters, no control characters",
        ));
    }
    if spec.args.len() > MAX_ARGS || spec.args.iter().any(|a| too_long(a) || a.contains('\0')) {
        return Err(ApiError::bad_request("INVALID_ARGS", "too many or too long arguments"));
    }
    if too_long(&spec.cwd) || spec.cwd.contains('\0') {
        return Err(ApiError::bad_request("INVALID_CWD", "cwd must be at most 4096 characters, without NUL"));
    }
    if spec.env_names.len() > MAX_ENV_NAMES || !spec.env_names.iter().all(|n| valid_env_name(n)) {
        return Err(ApiError::bad_request(
            "INVALID_ENV_NAMES",
            format!(
                "env_names takes at most {MAX_ENV_NAMES} names of letters, digits and _, not starting with a digit"
            ),
        ));
    }
    let cols = spec.cols.unwrap_or(DEFAULT_SIZE.0);
    let rows = spec.rows.unwrap_or(DEFAULT_SIZE.1);
    let dims = 1..=MAX_TERM_DIM;
    if !dims.contains(&cols) || !dims.contains(&rows) {
        return Err(ApiError::bad_request("INVALID_SIZE", format!("cols and rows must be 1 to {MAX_TERM_DIM}")));
    }
    Ok((command, cols, rows))
}

/// Starts `spec` for `auth` in the scope's org: members and above with a `write` credential,
/// and only what the org's allow-list permits. The session is `starting` until the agent
/// confirms it.
pub async fn start_session(
    state: &AppState,
    auth: &Auth,
    scope: &OrgScope,
    spec: StartSpec,
) -> Result<Session, ApiError> {
    auth.require(crate::store::api_keys::Scope::Write)?;
    require_role(scope, Role::Member)?;
    let (command, cols, rows) = check_spec(&spec)?;
    let policy = state.store.agent_policy(scope).await?;
    if !allowed_by(&policy.effective_allow_list(), &command, &spec.args) {
        return Err(ApiError::forbidden(
            "COMMAND_NOT_ALLOWED",
            format!("{command:?} with these arguments is not on this org's allow-list of commands"),
        ));
    }
    let machine = state.store.machine(scope, spec.machine_id).await?;
    let Some(daemon) = state.relay.hub.daemon(machine.id) else {
        return Err(ApiError::conflict("MACHINE_OFFLINE", "the machine's agent is not connected"));
    };
    let base = command.rsplit(['/', '\\']).next().unwrap_or(&command);
    let kind = if KNOWN_AI_CLIS.contains(&base) { base.to_string() } else { "other".to_string() };
    let new = NewSession {
        machine_id: machine.id,
        kind,
        command: command.clone(),
        args: spec.args.clone(),
        cwd: spec.cwd.clone(),
        cols,
        rows,
        requested_by: auth.user.id,
    };
    let max_live = state.settings.relay.max_sessions_per_machine;
    let session = state.store.create_requested_session(scope, new, max_live).await.map_err(|e| match e {
        crate::store::StoreError::Conflict(m) => ApiError::conflict("TOO_MANY_SESSIONS", m),
        other => other.into(),
    })?;
    // Until the agent confirms the start, nobody relays it: if nobody ever does, the sweeper
    // marks it crashed instead of leaving it "starting" forever.
    state.relay.hub.adopt_orphans([session.id]);
    state.relay.hub.events.notify(scope.org_id(), Change::Sessions);
    let msg = ServerMessage::StartSession {
        request_id: session.id.to_string(),
        session_id: session.id,
        command,
        args: spec.args,
        cwd: spec.cwd,
        cols,
        rows,
        env_names: spec.env_names,
    };
    if daemon.try_send(msg).is_err() {
        let reason = Some("the agent could not be reached".to_string());
        state.store.set_session_state(machine.id, session.id, SessionState::Crashed, None, reason).await?;
        return Err(ApiError::conflict("MACHINE_OFFLINE", "the machine's agent is not reachable"));
    }
    tracing::info!(session = %session.id, machine = %machine.id, user = %auth.user.id, "session start requested");
    Ok(session)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> StartSpec {
        StartSpec {
            machine_id: MachineId::new(),
            command: " claude ".into(),
            args: vec![],
            cwd: String::new(),
            cols: None,
            rows: None,
            env_names: vec!["ANTHROPIC_API_KEY".into()],
        }
    }

    #[test]
    fn checks_shape_and_fills_defaults() {
        assert_eq!(check_spec(&spec()).ok(), Some(("claude".into(), 120, 32)));
        let bad_env = StartSpec { env_names: vec!["1X".into()], ..spec() };
        assert!(check_spec(&bad_env).is_err());
        let bad_size = StartSpec { cols: Some(0), ..spec() };
        assert!(check_spec(&bad_size).is_err());
        let nul = StartSpec { args: vec!["a\0b".into()], ..spec() };
        assert!(check_spec(&nul).is_err());
    }
}
