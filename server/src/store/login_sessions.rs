//! Browser sign-ins. The cookie holds a random token; the store keeps only its keyed hash.

use rusqlite::{Connection, OptionalExtension, params};
use sessionforge_shared::ids::{OrgId, UserId};

use super::entitlements::org_plan;
use super::users::{U_USER_COLS, User, user_at};
use super::{Store, StoreError, now, parse_col};
use crate::plans::Catalogue;

/// The code of a sign-in ended by a newer one (plans may cap sign-ins per user).
pub const SIGNED_IN_ELSEWHERE: &str = "SIGNED_IN_ELSEWHERE";

/// The most sign-ins `user` may hold at once: the largest cap among the plans of their orgs,
/// `None` when any of them has none.
fn sign_in_cap(c: &Connection, user: UserId, catalogue: &Catalogue) -> Result<Option<u32>, StoreError> {
    let mut stmt = c.prepare_cached("SELECT org_id FROM memberships WHERE user_id = ?1")?;
    let orgs = stmt.query_map([user.to_string()], |r| parse_col::<OrgId>(r, 0))?.collect::<Result<Vec<_>, _>>()?;
    let mut cap = Some(0);
    for org in orgs {
        let n = org_plan(c, org, catalogue)?.plan.sign_ins_per_user;
        cap = match (cap, n) {
            (_, 0) | (None, _) => None,
            (Some(c), n) => Some(c.max(n)),
        };
    }
    Ok(cap.filter(|c| *c > 0))
}

fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

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
    /// Stores a sign-in. When the user's plans cap sign-ins per user (the most generous plan of
    /// the orgs they belong to decides), the oldest live ones end, marked as signed in
    /// elsewhere; their token hashes are returned so that open connections can be closed.
    pub async fn create_login(&self, new: NewLogin) -> Result<Vec<Vec<u8>>, StoreError> {
        let catalogue = self.catalogue.clone();
        self.db
            .write(move |tx| {
                let at = now();
                // Housekeeping rides along with sign-ins, which are rare.
                tx.execute("DELETE FROM login_sessions WHERE expires_at <= ?1", [at])?;
                let user = new.user_id.to_string();
                let cap = sign_in_cap(tx, new.user_id, &catalogue)?;
                let mut ended = Vec::new();
                if let Some(cap) = cap {
                    let mut live = tx.prepare_cached(
                        "SELECT token_hash FROM login_sessions WHERE user_id = ?1 AND ended_at IS NULL
                         ORDER BY COALESCE(created_ms, created_at * 1000) DESC",
                    )?;
                    let hashes =
                        live.query_map([&user], |r| r.get::<_, Vec<u8>>(0))?.collect::<Result<Vec<_>, _>>()?;
                    // Keep the newest cap − 1; the new one makes cap.
                    let keep = usize::try_from(cap).unwrap_or(usize::MAX).saturating_sub(1);
                    let mut end = tx.prepare_cached(
                        "UPDATE login_sessions SET ended_at = ?1, ended_reason = 'signed_in_elsewhere' WHERE token_hash = ?2",
                    )?;
                    for hash in hashes.into_iter().skip(keep) {
                        end.execute(params![at, hash])?;
                        ended.push(hash);
                    }
                }
                tx.execute(
                    "INSERT INTO login_sessions (token_hash, user_id, created_at, expires_at, last_seen_at, ip, user_agent, created_ms)
                     VALUES (?1, ?2, ?3, ?4, ?3, ?5, ?6, ?7)",
                    params![new.token_hash, user, at, new.expires_at, new.ip, new.user_agent, now_ms()],
                )?;
                Ok(ended)
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
                    "SELECT {U_USER_COLS}, s.last_seen_at, s.ended_reason
                     FROM login_sessions s JOIN users u ON u.id = s.user_id
                     WHERE s.token_hash = ?1 AND s.expires_at > ?2 AND u.disabled_at IS NULL"
                );
                let mut stmt = c.prepare_cached(&sql)?;
                let row = stmt
                    .query_row(params![hash, at], |r| {
                        Ok((user_at(r, 0)?, r.get::<_, i64>(6)?, r.get::<_, Option<String>>(7)?))
                    })
                    .optional()?;
                match row {
                    None => Err(StoreError::NotFound),
                    Some((_, _, Some(_))) => Err(StoreError::Gone {
                        code: SIGNED_IN_ELSEWHERE,
                        message: "you were signed out because your account signed in somewhere else, and its plan \
                                  allows only so many sign-ins at once; sign in again to continue here"
                            .into(),
                    }),
                    Some((user, seen, None)) => Ok((user, seen)),
                }
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
