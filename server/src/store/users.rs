//! User accounts. Creating a user always creates their personal org in the same transaction.

use rusqlite::{OptionalExtension, params};
use sessionforge_shared::ids::{OrgId, UserId};
use sessionforge_shared::roles::Role;

use super::audit::{AuditEntry, record};
use super::{Store, StoreError, now, optional, parse_col};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub display_name: String,
    pub is_admin: bool,
    pub created_at: i64,
    /// Whether the address is confirmed (by a mailed link, an invitation, or an administrator
    /// who made the account). Unverified accounts may only sign in and ask for the link again.
    pub email_verified: bool,
}

/// A user with their password hash, for sign-in only.
#[derive(Clone)]
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("user", &self.user).field("password_hash", &"<redacted>").finish()
    }
}

/// An account to create. `Debug` never shows the password hash.
#[derive(Clone)]
pub struct NewUser {
    pub email: String,
    pub display_name: String,
    pub password_hash: String,
    pub is_admin: bool,
    /// Made by an administrator or through an invitation link: the address needs no check.
    pub email_verified: bool,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("email", &self.email)
            .field("display_name", &self.display_name)
            .field("password_hash", &"<redacted>")
            .field("is_admin", &self.is_admin)
            .field("email_verified", &self.email_verified)
            .finish()
    }
}

const USER_COLS: &str = "id, email, display_name, is_admin, created_at, email_verified_at IS NOT NULL";
/// [`USER_COLS`] of a `users` table aliased `u`, for joins.
pub(super) const U_USER_COLS: &str =
    "u.id, u.email, u.display_name, u.is_admin, u.created_at, u.email_verified_at IS NOT NULL";

fn user_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    user_at(row, 0)
}

/// A user read from [`USER_COLS`] (or [`U_USER_COLS`]) starting at column `at`.
pub(super) fn user_at(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<User> {
    Ok(User {
        id: parse_col(row, at)?,
        email: row.get(at + 1)?,
        display_name: row.get(at + 2)?,
        is_admin: row.get(at + 3)?,
        created_at: row.get(at + 4)?,
        email_verified: row.get(at + 5)?,
    })
}

impl Store {
    /// Creates a user and their personal org (where they are owner).
    pub async fn create_user(&self, new: NewUser) -> Result<(User, OrgId), StoreError> {
        self.db.write(move |tx| insert_user(tx, &new)).await
    }

    /// Creates the first server administrator, but only while no administrator exists, so that
    /// the one-time setup can never run twice even under concurrent requests.
    pub async fn create_first_admin(&self, new: NewUser) -> Result<(User, OrgId), StoreError> {
        self.db
            .write(move |tx| {
                let admins: i64 = tx.query_row("SELECT COUNT(*) FROM users WHERE is_admin = 1", [], |r| r.get(0))?;
                if admins > 0 {
                    return Err(StoreError::Conflict("setup is already complete".into()));
                }
                insert_user(tx, &NewUser { is_admin: true, ..new })
            })
            .await
    }

    pub async fn admin_exists(&self) -> Result<bool, StoreError> {
        self.db
            .read(|c| {
                let n: i64 = c.query_row("SELECT COUNT(*) FROM users WHERE is_admin = 1", [], |r| r.get(0))?;
                Ok(n > 0)
            })
            .await
    }

    pub async fn user_by_id(&self, id: UserId) -> Result<User, StoreError> {
        self.db
            .read(move |c| {
                let sql = format!("SELECT {USER_COLS} FROM users WHERE id = ?1 AND disabled_at IS NULL");
                optional(c.query_row(&sql, [id.to_string()], user_from_row))?.ok_or(StoreError::NotFound)
            })
            .await
    }

    pub async fn user_by_email(&self, email: &str) -> Result<User, StoreError> {
        Ok(self.credentials_by_email(email).await?.user)
    }

    /// The user and password hash for an email, if the account exists and is enabled.
    pub async fn credentials_by_email(&self, email: &str) -> Result<Credentials, StoreError> {
        let email = email.trim().to_string();
        self.db
            .read(move |c| {
                let sql =
                    format!("SELECT {USER_COLS}, password_hash FROM users WHERE email = ?1 AND disabled_at IS NULL");
                let row = c
                    .query_row(&sql, [email], |row| {
                        Ok(Credentials { user: user_from_row(row)?, password_hash: row.get(6)? })
                    })
                    .optional()?;
                row.ok_or(StoreError::NotFound)
            })
            .await
    }

    pub async fn password_hash(&self, id: UserId) -> Result<String, StoreError> {
        self.db
            .read(move |c| {
                let sql = "SELECT password_hash FROM users WHERE id = ?1 AND disabled_at IS NULL";
                optional(c.query_row(sql, [id.to_string()], |r| r.get(0)))?.ok_or(StoreError::NotFound)
            })
            .await
    }

    /// Replaces a password hash and ends every browser sign-in of the user, so that a reset
    /// locks out whoever knew the old password.
    pub async fn set_password(&self, id: UserId, password_hash: String) -> Result<(), StoreError> {
        self.db
            .write(move |tx| {
                let n = tx.execute(
                    "UPDATE users SET password_hash = ?1, updated_at = ?2 WHERE id = ?3",
                    params![password_hash, now(), id.to_string()],
                )?;
                if n == 0 {
                    return Err(StoreError::NotFound);
                }
                tx.execute("DELETE FROM login_sessions WHERE user_id = ?1", [id.to_string()])?;
                Ok(())
            })
            .await
    }

    /// Every account (disabled ones too, with when), by address. For server administrators.
    pub async fn all_users(&self) -> Result<Vec<(User, Option<i64>)>, StoreError> {
        self.db
            .read(|c| {
                let sql = format!("SELECT {USER_COLS}, disabled_at FROM users ORDER BY email LIMIT 10000");
                let mut stmt = c.prepare_cached(&sql)?;
                let rows = stmt.query_map([], |r| Ok((user_from_row(r)?, r.get(6)?)))?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }

    /// Disables (or enables again) an account. Disabling ends its browser sign-ins and revokes
    /// its API keys; the account and its data stay.
    pub async fn set_user_disabled(&self, id: UserId, disabled: bool, audit: AuditEntry) -> Result<User, StoreError> {
        self.db
            .write(move |tx| {
                let at = now();
                let n = if disabled {
                    tx.execute(
                        "UPDATE users SET disabled_at = COALESCE(disabled_at, ?1), updated_at = ?1 WHERE id = ?2",
                        params![at, id.to_string()],
                    )?
                } else {
                    tx.execute(
                        "UPDATE users SET disabled_at = NULL, updated_at = ?1 WHERE id = ?2",
                        params![at, id.to_string()],
                    )?
                };
                if n == 0 {
                    return Err(StoreError::NotFound);
                }
                if disabled {
                    tx.execute("DELETE FROM login_sessions WHERE user_id = ?1", [id.to_string()])?;
                    tx.execute(
                        "UPDATE api_keys SET revoked_at = ?1 WHERE user_id = ?2 AND revoked_at IS NULL",
                        params![at, id.to_string()],
                    )?;
                }
                record(tx, &audit.target("user", id))?;
                let sql = format!("SELECT {USER_COLS} FROM users WHERE id = ?1");
                Ok(tx.query_row(&sql, [id.to_string()], user_from_row)?)
            })
            .await
    }
}

pub(super) fn insert_user(tx: &rusqlite::Transaction<'_>, new: &NewUser) -> Result<(User, OrgId), StoreError> {
    let email = new.email.trim().to_string();
    let taken: Option<i64> = tx.query_row("SELECT 1 FROM users WHERE email = ?1", [&email], |r| r.get(0)).optional()?;
    if taken.is_some() {
        return Err(StoreError::Conflict(format!("a user with email {email} already exists")));
    }
    let user = User {
        id: UserId::new(),
        email,
        display_name: new.display_name.trim().to_string(),
        is_admin: new.is_admin,
        created_at: now(),
        email_verified: new.email_verified,
    };
    tx.execute(
        "INSERT INTO users (id, email, display_name, password_hash, is_admin, created_at, updated_at, email_verified_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, CASE WHEN ?7 THEN ?6 END)",
        params![
            user.id.to_string(),
            user.email,
            user.display_name,
            new.password_hash,
            user.is_admin,
            user.created_at,
            user.email_verified
        ],
    )?;
    let org = OrgId::new();
    let name = if user.display_name.is_empty() { user.email.clone() } else { user.display_name.clone() };
    tx.execute(
        "INSERT INTO orgs (id, name, personal_owner_id, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![org.to_string(), format!("{name} (personal)"), user.id.to_string(), user.created_at],
    )?;
    tx.execute(
        "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![org.to_string(), user.id.to_string(), Role::Owner.as_str(), user.created_at],
    )?;
    Ok((user, org))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_password_hashes() {
        let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";
        let new = NewUser {
            email: "a@example.com".into(),
            display_name: "A".into(),
            password_hash: hash.into(),
            is_admin: true,
            email_verified: true,
        };
        let debug = format!("{new:?}");
        assert!(!debug.contains(hash) && !debug.contains("argon2"), "password hash leaked: {debug}");
        assert!(debug.contains("a@example.com"), "{debug}");

        let user = User {
            id: UserId::new(),
            email: new.email,
            display_name: new.display_name,
            is_admin: true,
            created_at: 0,
            email_verified: true,
        };
        let debug = format!("{:?}", Credentials { user, password_hash: hash.into() });
        assert!(!debug.contains(hash) && !debug.contains("argon2"), "password hash leaked: {debug}");
    }
}
