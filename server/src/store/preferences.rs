//! Per-user preferences, kept as one JSON object per user. The API gives the object its shape
//! (and its defaults for absent keys); the store only keeps it, so adding a preference needs no
//! migration.

use rusqlite::{OptionalExtension, params};
use sessionforge_shared::ids::UserId;

use super::{Store, StoreError, now};

impl Store {
    /// The user's stored preferences, or `None` when they never saved any.
    pub async fn user_preferences(&self, user: UserId) -> Result<Option<serde_json::Value>, StoreError> {
        self.db
            .read(move |c| {
                let text: Option<String> = c
                    .query_row("SELECT prefs FROM user_preferences WHERE user_id = ?1", [user.to_string()], |r| {
                        r.get(0)
                    })
                    .optional()?;
                // A row we cannot read counts as no preferences: the defaults apply.
                Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
            })
            .await
    }

    /// Replaces the user's preferences.
    pub async fn set_user_preferences(&self, user: UserId, prefs: serde_json::Value) -> Result<(), StoreError> {
        let text = serde_json::to_string(&prefs).map_err(|e| StoreError::Internal(e.to_string()))?;
        self.db
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO user_preferences (user_id, prefs, updated_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (user_id) DO UPDATE SET prefs = excluded.prefs, updated_at = excluded.updated_at",
                    params![user.to_string(), text, now()],
                )?;
                Ok(())
            })
            .await
    }
}
