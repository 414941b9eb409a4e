//! Per-org settings that reach agents: the allow-list of commands users may start remotely
//! (each optionally restricted to argument patterns) and the agents' update policy. Both are
//! told to each connecting agent, and pushed to connected ones when they change.

use rusqlite::{OptionalExtension, params};
use serde::Deserialize;

use sessionforge_shared::ids::OrgId;
use sessionforge_shared::protocol::{AllowedCommand, KNOWN_AI_CLIS, UpdatePolicy};

use super::orgs::OrgScope;
use super::{Store, StoreError};

/// What an org's agents must follow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentPolicy {
    /// The org's own allow-list, or `None` for the built-in list of AI CLIs.
    pub allow_list: Option<Vec<AllowedCommand>>,
    pub update_policy: UpdatePolicy,
}

impl AgentPolicy {
    /// The allow-list in force: the org's own, else the built-in AI CLIs with any arguments.
    pub fn effective_allow_list(&self) -> Vec<AllowedCommand> {
        self.allow_list.clone().unwrap_or_else(default_allow_list)
    }
}

/// The built-in allow-list: every known AI CLI, with any arguments.
pub fn default_allow_list() -> Vec<AllowedCommand> {
    KNOWN_AI_CLIS.iter().map(|c| AllowedCommand::any_args(*c)).collect()
}

/// A stored entry: older servers stored bare command names.
#[derive(Deserialize)]
#[serde(untagged)]
enum StoredEntry {
    Name(String),
    Entry(AllowedCommand),
}

fn parse_allow_list(json: &str) -> Option<Vec<AllowedCommand>> {
    let entries: Vec<StoredEntry> = serde_json::from_str(json).ok()?;
    Some(
        entries
            .into_iter()
            .map(|e| match e {
                StoredEntry::Name(n) => AllowedCommand::any_args(n),
                StoredEntry::Entry(e) => e,
            })
            .collect(),
    )
}

fn policy_str(p: UpdatePolicy) -> &'static str {
    match p {
        UpdatePolicy::Off => "off",
        UpdatePolicy::Notify => "notify",
        UpdatePolicy::Automatic => "automatic",
    }
}

fn parse_policy(s: &str) -> UpdatePolicy {
    match s {
        "off" => UpdatePolicy::Off,
        "automatic" => UpdatePolicy::Automatic,
        _ => UpdatePolicy::Notify,
    }
}

impl Store {
    /// The org's settings for its agents.
    pub async fn agent_policy(&self, scope: &OrgScope) -> Result<AgentPolicy, StoreError> {
        self.org_agent_policy(scope.org_id()).await
    }

    /// The settings for the agents of an org whose machine has authenticated.
    pub async fn org_agent_policy(&self, org: OrgId) -> Result<AgentPolicy, StoreError> {
        self.db
            .read(move |c| {
                let row: Option<(Option<String>, Option<String>)> = c
                    .query_row(
                        "SELECT allowed_commands, update_policy FROM org_settings WHERE org_id = ?1",
                        [org.to_string()],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                let (list, policy) = row.unwrap_or((None, None));
                Ok(AgentPolicy {
                    allow_list: list.as_deref().and_then(parse_allow_list),
                    update_policy: policy.as_deref().map(parse_policy).unwrap_or_default(),
                })
            })
            .await
    }

    /// Replaces the org's allow-list.
    pub async fn set_allow_list(&self, scope: &OrgScope, list: Vec<AllowedCommand>) -> Result<(), StoreError> {
        let org = scope.org_id();
        let json = serde_json::to_string(&list).map_err(|e| StoreError::Internal(e.to_string()))?;
        self.db
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO org_settings (org_id, allowed_commands) VALUES (?1, ?2)
                     ON CONFLICT (org_id) DO UPDATE SET allowed_commands = excluded.allowed_commands",
                    params![org.to_string(), json],
                )?;
                Ok(())
            })
            .await
    }

    /// Sets the org's update policy.
    pub async fn set_update_policy(&self, scope: &OrgScope, policy: UpdatePolicy) -> Result<(), StoreError> {
        let org = scope.org_id();
        self.db
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO org_settings (org_id, update_policy) VALUES (?1, ?2)
                     ON CONFLICT (org_id) DO UPDATE SET update_policy = excluded.update_policy",
                    params![org.to_string(), policy_str(policy)],
                )?;
                Ok(())
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_name_lists_and_entries_both_parse() {
        let list = parse_allow_list(r#"["claude", {"command": "aider", "args": ["--model", "*"]}]"#).expect("parses");
        assert_eq!(list[0], AllowedCommand::any_args("claude"));
        assert_eq!(list[1].args.as_deref(), Some(&["--model".to_string(), "*".to_string()][..]));
        assert!(parse_allow_list("{").is_none());
    }
}
