//! What an org's agents must follow: the allow-list of commands members may start remotely
//! (each optionally restricted to argument patterns) and the agents' update policy. Changes
//! reach connected agents at once.

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Union};
use sessionforge_shared::protocol::{AllowedCommand, ServerMessage, UpdatePolicy};
use sessionforge_shared::roles::Role;
use uuid::Uuid;

use super::ApiTags;
use super::body::JsonBody;
use super::fields::Command;
use super::orgs::{require_role, scope};
use crate::auth::principal::Auth;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::api_keys::Scope;

/// Most entries an allow-list may have, and most argument patterns per entry.
const MAX_ENTRIES: usize = 100;
const MAX_PATTERNS: usize = 64;
/// Longest command or pattern, in characters.
const MAX_LEN: usize = 4096;

pub struct OrgPolicyApi;

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AllowedCommands {
    /// The allowed command names (the `command` of each entry).
    pub commands: Vec<String>,
    /// Each allowed command with its argument patterns, if any.
    pub entries: Vec<AllowedCommand>,
    /// True when the org uses the built-in list of AI CLIs.
    pub default: bool,
}

/// The new allow-list: either `commands` (names, any arguments) or `entries` (with argument
/// patterns), not both.
#[derive(Union)]
#[oai(one_of)]
pub enum SetAllowedCommands {
    Names(CommandNames),
    Entries(CommandEntries),
}

#[derive(Object)]
pub struct CommandNames {
    /// At most 100 command names, each allowed with any arguments.
    #[oai(validator(max_items = 100))]
    pub commands: Vec<Command>,
}

#[derive(Object)]
pub struct CommandEntries {
    /// At most 100 commands, each with its argument patterns.
    #[oai(validator(max_items = 100))]
    pub entries: Vec<AllowedCommand>,
}

#[derive(Object)]
pub struct UpdatePolicyDto {
    /// `off`, `notify` (the default) or `automatic`.
    pub policy: UpdatePolicy,
}

fn text_ok(s: &str) -> bool {
    !s.is_empty() && s.chars().count() <= MAX_LEN && !s.chars().any(char::is_control)
}

/// Trims, checks, sorts and de-duplicates an allow-list.
fn clean(body: SetAllowedCommands) -> Result<Vec<AllowedCommand>, ApiError> {
    let mut entries = match body {
        SetAllowedCommands::Names(n) => n.commands.into_iter().map(|c| AllowedCommand::any_args(c.0)).collect(),
        SetAllowedCommands::Entries(e) => e.entries,
    };
    if entries.len() > MAX_ENTRIES {
        return Err(ApiError::bad_request("INVALID_COMMAND", format!("at most {MAX_ENTRIES} commands")));
    }
    for e in &mut entries {
        // Control characters are refused anywhere, even in the white space trimmed off.
        let command_ok = text_ok(&e.command) && !e.command.trim().is_empty();
        e.command = e.command.trim().to_string();
        let patterns_ok = e.args.as_ref().is_none_or(|p| p.len() <= MAX_PATTERNS && p.iter().all(|p| text_ok(p)));
        if !command_ok || !patterns_ok {
            return Err(ApiError::bad_request(
                "INVALID_COMMAND",
                "commands and argument patterns must be non-empty, without control characters",
            ));
        }
    }
    entries.sort_by(|a, b| a.command.cmp(&b.command));
    entries.dedup_by(|a, b| a.command == b.command);
    Ok(entries)
}

fn dto(list: Option<Vec<AllowedCommand>>) -> AllowedCommands {
    let default = list.is_none();
    let entries = list.unwrap_or_else(crate::store::org_settings::default_allow_list);
    AllowedCommands { commands: entries.iter().map(|e| e.command.clone()).collect(), entries, default }
}

#[OpenApi(prefix_path = "/api/v1/orgs", tag = "ApiTags::Orgs")]
impl OrgPolicyApi {
    /// Commands members may start remotely.
    #[oai(path = "/:org_id/allowed-commands", method = "get")]
    async fn allowed_commands(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
    ) -> Result<Json<AllowedCommands>, ApiError> {
        let scope = scope(&state, &auth, org_id.0).await?;
        Ok(Json(dto(state.store.agent_policy(&scope).await?.allow_list)))
    }

    /// Replace the allow-list. Admins and owners only. Connected agents enforce it at once.
    #[oai(path = "/:org_id/allowed-commands", method = "put")]
    async fn set_allowed_commands(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        body: JsonBody<SetAllowedCommands>,
    ) -> Result<Json<AllowedCommands>, ApiError> {
        auth.require(Scope::Admin)?;
        let scope = scope(&state, &auth, org_id.0).await?;
        require_role(&scope, Role::Admin)?;
        let entries = clean(body.0)?;
        state.store.set_allow_list(&scope, entries.clone()).await?;
        let details = serde_json::json!({"commands": entries.iter().map(|e| e.command.clone()).collect::<Vec<_>>()});
        state.store.audit(auth.audit("allow_list.changed").org(scope.org_id()).details(details)).await?;
        let msg = ServerMessage::Policy { allow_list: Some(entries.clone()), update_policy: None };
        state.relay.hub.tell_org(scope.org_id(), &msg);
        Ok(Json(dto(Some(entries))))
    }

    /// How the org's agents update themselves.
    #[oai(path = "/:org_id/update-policy", method = "get")]
    async fn update_policy(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
    ) -> Result<Json<UpdatePolicyDto>, ApiError> {
        let scope = scope(&state, &auth, org_id.0).await?;
        Ok(Json(UpdatePolicyDto { policy: state.store.agent_policy(&scope).await?.update_policy }))
    }

    /// Set how the org's agents update themselves: `off`, `notify` or `automatic`. Admins and
    /// owners only. Connected agents follow it at once.
    #[oai(path = "/:org_id/update-policy", method = "put")]
    async fn set_update_policy(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        body: JsonBody<UpdatePolicyDto>,
    ) -> Result<Json<UpdatePolicyDto>, ApiError> {
        auth.require(Scope::Admin)?;
        let scope = scope(&state, &auth, org_id.0).await?;
        require_role(&scope, Role::Admin)?;
        state.store.set_update_policy(&scope, body.policy).await?;
        let msg = ServerMessage::Policy { allow_list: None, update_policy: Some(body.policy) };
        state.relay.hub.tell_org(scope.org_id(), &msg);
        Ok(Json(UpdatePolicyDto { policy: body.policy }))
    }
}
