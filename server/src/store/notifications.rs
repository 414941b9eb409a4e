//! What mailing a session notice needs in one read: the session (command, machine, who started
//! it) and its org's members who may get mail (enabled, address confirmed) with their stored
//! preferences.

use rusqlite::OptionalExtension;
use sessionforge_shared::ids::{OrgId, SessionId, UserId};

use super::{Store, StoreError, parse_col};

#[derive(Clone, Debug)]
pub struct NoticeSubject {
    pub org_id: OrgId,
    pub org_name: String,
    pub command: String,
    pub hostname: String,
    /// Who started it: from the dashboard or API, or else whoever enrolled its machine.
    pub requested_by: Option<UserId>,
    /// Members who can get mail: id, address, stored preferences (if any).
    pub members: Vec<(UserId, String, Option<serde_json::Value>)>,
}

impl Store {
    pub async fn notice_subject(&self, id: SessionId) -> Result<Option<NoticeSubject>, StoreError> {
        self.db
            .read(move |c| {
                let row = c
                    .query_row(
                        "SELECT s.org_id, o.name, s.command, m.hostname, COALESCE(s.requested_by, m.enrolled_by)
                         FROM sessions s JOIN orgs o ON o.id = s.org_id JOIN machines m ON m.id = s.machine_id
                         WHERE s.id = ?1",
                        [id.to_string()],
                        |r| {
                            let by: Option<String> = r.get(4)?;
                            Ok((parse_col::<OrgId>(r, 0)?, r.get(1)?, r.get(2)?, r.get(3)?, by))
                        },
                    )
                    .optional()?;
                let Some((org_id, org_name, command, hostname, by)) = row else { return Ok(None) };
                let mut stmt = c.prepare_cached(
                    "SELECT u.id, u.email, p.prefs FROM memberships mb JOIN users u ON u.id = mb.user_id
                     LEFT JOIN user_preferences p ON p.user_id = u.id
                     WHERE mb.org_id = ?1 AND u.disabled_at IS NULL AND u.email_verified_at IS NOT NULL",
                )?;
                let members = stmt
                    .query_map([org_id.to_string()], |r| {
                        let prefs: Option<String> = r.get(2)?;
                        Ok((parse_col::<UserId>(r, 0)?, r.get(1)?, prefs.and_then(|p| serde_json::from_str(&p).ok())))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Some(NoticeSubject {
                    org_id,
                    org_name,
                    command,
                    hostname,
                    requested_by: by.and_then(|b| b.parse().ok()),
                    members,
                }))
            })
            .await
    }
}
