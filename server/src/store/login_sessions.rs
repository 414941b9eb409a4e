//! Browser sign-ins. The cookie holds a random token; the store keeps only its keyed hash.

use rusqlite::{OptionalExtension, params};
use sessionforge_shared::ids::UserId;

use super::users::{U_USER_COLS, User, user_at};
use super::{Store, StoreError, now};

/// How often `last_seen_at` is refreshed, in seconds (see the API-key equivalent).
const LAST_SEEN_GRANULARITY: i64 = 60;

/// A browser sign-in to store. `Debug` never shows the token hash.
#[derive(Clone)]
pub struct NewLogin {
    pub token_hash: Vec<u8>,
    pub user_id: UserId,
    pub expires_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl std::fmt::Debug for NewLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewLogin")
            .field("token_hash", &"<redacted>")
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .field("ip", &self.ip)
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

impl Store {
    pub async fn create_login(&self, new: NewLogin) -> Result<(), StoreError> {
        self.db
            .write(move |tx| {
                let at = now();
                tx.execute(
                    "INSERT INTO login_sessions (token_hash, user_id, created_at, expires_at, last_seen_at, ip, user_agent)
                     VALUES (?1, ?2, ?3, ?4, ?3, ?5, ?6)",
                    params![new.token_hash, new.user_id.to_string(), at, new.expires_at, new.ip, new.user_agent],
                )?;
                // Housekeeping rides along with sign-ins, which are rare.
                tx.execute("DELETE FROM login_sessions WHERE expires_at <= ?1", [at])?;
                Ok(())
            })
            .await
    }

    /// The signed-in user for a cookie token hash, if the sign-in is live.
    pub async fn login_user(&self, token_hash: Vec<u8>) -> Result<User, StoreError> {
        let at = now();
        let hash = token_hash.clone();
        let (user, last_seen) = self
            .db
            .read(move |c| {
                let sql = format!(
                    "SELECT {U_USER_COLS}, s.last_seen_at
                     FROM login_sessions s JOIN users u ON u.id = s.user_id
                     WHERE s.token_hash = ?1 AND s.expires_at > ?2 AND u.disabled_at IS NULL"
                );
                let mut stmt = c.prepare_cached(&sql)?;
                stmt.query_row(params![hash, at], |r| Ok((user_at(r, 0)?, r.get::<_, i64>(6)?)))
                    .optional()?
                    .ok_or(StoreError::NotFound)
            })
            .await?;
        if at - last_seen >= LAST_SEEN_GRANULARITY {
            self.db
                .write(move |tx| {
                    tx.execute(
                        "UPDATE login_sessions SET last_seen_at = ?1 WHERE token_hash = ?2",
                        params![at, token_hash],
                    )?;
                    Ok(())
                })
                .await?;
        }
        Ok(user)
    }

    pub async fn delete_login(&self, token_hash: Vec<u8>) -> Result<(), StoreError> {
        self.db
            .write(move |tx| {
                tx.execute("DELETE FROM login_sessions WHERE token_hash = ?1", [token_hash])?;
                Ok(())
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_token_hash() {
        let new = NewLogin {
            token_hash: vec![0xab; 32],
            user_id: UserId::new(),
            expires_at: 1,
            ip: Some("10.0.0.1".into()),
            user_agent: None,
        };
        let debug = format!("{new:?}");
        assert!(!debug.contains("171"), "token hash bytes leaked: {debug}");
        assert!(debug.contains("<redacted>") && debug.contains("10.0.0.1"), "{debug}");
    }
}
