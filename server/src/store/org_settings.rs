//! Per-org settings: for now, the allow-list of commands users may start on machines remotely
//! (also told to each connecting agent, for the tray's "Start session…").

use rusqlite::{OptionalExtension, params};

use sessionforge_shared::ids::OrgId;
use sessionforge_shared::protocol::KNOWN_AI_CLIS;

use super::orgs::OrgScope;
use super::{Store, StoreError};

impl Store {
    /// The org's allow-list, or `None` when it uses the defaults.
    pub async fn allowed_commands(&self, scope: &OrgScope) -> Result<Option<Vec<String>>, StoreError> {
        self.org_allowed_commands(scope.org_id()).await
    }

    /// What the org of an authenticated machine allows starting (its list, or the defaults),
    /// told to its agent on connect.
    pub async fn machine_allowed_commands(&self, org: OrgId) -> Result<Vec<String>, StoreError> {
        Ok(self
            .org_allowed_commands(org)
            .await?
            .unwrap_or_else(|| KNOWN_AI_CLIS.iter().map(|s| s.to_string()).collect()))
    }

    async fn org_allowed_commands(&self, org: OrgId) -> Result<Option<Vec<String>>, StoreError> {
        self.db
            .read(move |c| {
                let json: Option<Option<String>> = c
                    .query_row("SELECT allowed_commands FROM org_settings WHERE org_id = ?1", [org.to_string()], |r| {
                        r.get(0)
                    })
                    .optional()?;
                Ok(json.flatten().and_then(|j| serde_json::from_str(&j).ok()))
            })
            .await
    }

    pub async fn set_allowed_commands(&self, scope: &OrgScope, commands: Vec<String>) -> Result<(), StoreError> {
        let org = scope.org_id();
        let json = serde_json::to_string(&commands).map_err(|e| StoreError::Internal(e.to_string()))?;
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
}
