//! Personal API keys. The store sees only the visible prefix and a keyed hash of the secret;
//! the secret itself exists once, in the response that created it.

use rusqlite::{OptionalExtension, params};
use sessionforge_shared::ids::{ApiKeyId, UserId};

use super::users::{U_USER_COLS, User, user_at};
use super::{Store, StoreError, now, parse_col};

/// What a key may do. Each scope includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, poem_openapi::Enum)]
#[oai(rename_all = "lowercase")]
pub enum Scope {
    /// Read anything the owner can read.
    Read,
    /// Also change things: start and stop sessions, create orgs, send input.
    Write,
    /// Also administer: users, members, keys and enrollment tokens.
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    fn parse(s: &str) -> Option<Scope> {
        match s {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }
}

/// How long `last_used_at` may lag behind real use, in seconds. Recording every request would
/// put a write on every authenticated read; once a minute is precise enough to spot stale keys.
const LAST_USED_GRANULARITY: i64 = 60;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub user_id: UserId,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl ApiKey {
    pub fn allows(&self, needed: Scope) -> bool {
        self.scopes.iter().any(|s| *s >= needed)
    }
}

#[derive(Clone)]
pub struct NewApiKey {
    pub user_id: UserId,
    pub name: String,
    pub prefix: String,
    pub secret_hash: Vec<u8>,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<i64>,
}

const KEY_COLS: &str =
    "k.id, k.user_id, k.name, k.prefix, k.scopes, k.created_at, k.last_used_at, k.expires_at, k.revoked_at";

fn key_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKey> {
    let scopes: String = row.get(4)?;
    Ok(ApiKey {
        id: parse_col(row, 0)?,
        user_id: parse_col(row, 1)?,
        name: row.get(2)?,
        prefix: row.get(3)?,
        scopes: scopes.split_whitespace().filter_map(Scope::parse).collect(),
        created_at: row.get(5)?,
        last_used_at: row.get(6)?,
        expires_at: row.get(7)?,
        revoked_at: row.get(8)?,
    })
}

impl Store {
    /// Creates a key; `LimitReached` when the user already has `max_keys` that work.
    pub async fn create_api_key(&self, new: NewApiKey, max_keys: u32) -> Result<ApiKey, StoreError> {
        self.db
            .write(move |tx| {
                let live: u32 = tx.query_row(
                    "SELECT COUNT(*) FROM api_keys WHERE user_id = ?1 AND revoked_at IS NULL
                        AND (expires_at IS NULL OR expires_at > ?2)",
                    params![new.user_id.to_string(), now()],
                    |r| r.get(0),
                )?;
                if live >= max_keys {
                    return Err(StoreError::LimitReached {
                        what: "you already have the most API keys allowed; revoke one first",
                        limit: max_keys,
                        setting: "limits.api_keys_per_user",
                    });
                }
                let mut scopes = new.scopes.clone();
                scopes.sort();
                scopes.dedup();
                let key = ApiKey {
                    id: ApiKeyId::new(),
                    user_id: new.user_id,
                    name: new.name.trim().to_string(),
                    prefix: new.prefix.clone(),
                    scopes,
                    created_at: now(),
                    last_used_at: None,
                    expires_at: new.expires_at,
                    revoked_at: None,
                };
                let scope_text = key.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ");
                tx.execute(
                    "INSERT INTO api_keys (id, user_id, name, prefix, secret_hash, scopes, created_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        key.id.to_string(),
                        key.user_id.to_string(),
                        key.name,
                        key.prefix,
                        new.secret_hash,
                        scope_text,
                        key.created_at,
                        key.expires_at
                    ],
                )?;
                Ok(key)
            })
            .await
    }

    pub async fn api_keys_for_user(&self, user: UserId) -> Result<Vec<ApiKey>, StoreError> {
        self.db
            .read(move |c| {
                let sql = format!("SELECT {KEY_COLS} FROM api_keys k WHERE k.user_id = ?1 ORDER BY k.created_at DESC");
                let mut stmt = c.prepare_cached(&sql)?;
                let rows = stmt.query_map([user.to_string()], key_from_row)?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }

    /// Revokes one of `user`'s keys; it stops working on the next request.
    pub async fn revoke_api_key(&self, user: UserId, id: ApiKeyId) -> Result<(), StoreError> {
        self.db
            .write(move |tx| {
                let exists: Option<Option<i64>> = tx
                    .query_row(
                        "SELECT revoked_at FROM api_keys WHERE id = ?1 AND user_id = ?2",
                        [id.to_string(), user.to_string()],
                        |r| r.get(0),
                    )
                    .optional()?;
                match exists {
                    None => Err(StoreError::NotFound),
                    Some(Some(_)) => Ok(()),
                    Some(None) => {
                        tx.execute(
                            "UPDATE api_keys SET revoked_at = ?1 WHERE id = ?2",
                            params![now(), id.to_string()],
                        )?;
                        Ok(())
                    }
                }
            })
            .await
    }

    /// Finds the live (unrevoked, unexpired) key with this secret hash, and its enabled owner,
    /// and records its use.
    pub async fn authenticate_api_key(&self, secret_hash: Vec<u8>) -> Result<(ApiKey, User), StoreError> {
        let at = now();
        let (key, user) = self
            .db
            .read(move |c| {
                let sql = format!(
                    "SELECT {KEY_COLS}, {U_USER_COLS}
                     FROM api_keys k JOIN users u ON u.id = k.user_id
                     WHERE k.secret_hash = ?1 AND k.revoked_at IS NULL
                       AND (k.expires_at IS NULL OR k.expires_at > ?2) AND u.disabled_at IS NULL"
                );
                let mut stmt = c.prepare_cached(&sql)?;
                stmt.query_row(params![secret_hash, at], |r| {
                    let key = key_from_row(r)?;
                    Ok((key, user_at(r, 9)?))
                })
                .optional()?
                .ok_or(StoreError::NotFound)
            })
            .await?;
        if key.last_used_at.is_none_or(|t| at - t >= LAST_USED_GRANULARITY) {
            let id = key.id;
            self.db
                .write(move |tx| {
                    tx.execute("UPDATE api_keys SET last_used_at = ?1 WHERE id = ?2", params![at, id.to_string()])?;
                    Ok(())
                })
                .await?;
        }
        Ok((key, user))
    }
}
