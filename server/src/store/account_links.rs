//! Single-use account links: confirm an address (after sign-up or a change of email) and reset
//! a password. Each is a row holding only the keyed hash of its token; using one marks it used
//! in the same transaction as its effect, so two concurrent uses give one success.

use rusqlite::{OptionalExtension, Transaction, params};
use sessionforge_shared::ids::{OrgId, UserId};

use super::audit::{AuditEntry, record};
use super::outbox::{LinkKind, NewMail, queue_mail};
use super::users::{NewUser, U_USER_COLS, User, insert_user, user_at};
use super::{Store, StoreError, now};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkPurpose {
    VerifyEmail,
    ResetPassword,
    ChangeEmail,
}

impl LinkPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::VerifyEmail => "verify_email",
            LinkPurpose::ResetPassword => "reset_password",
            LinkPurpose::ChangeEmail => "change_email",
        }
    }
}

/// A link to create: its row id (from which the mailed token is derived), the token's keyed
/// hash and its expiry.
#[derive(Clone)]
pub struct NewLink {
    pub id: String,
    pub hash: Vec<u8>,
    pub expires_at: i64,
}

impl std::fmt::Debug for NewLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewLink").field("id", &self.id).field("expires_at", &self.expires_at).finish()
    }
}

/// Mail for `to` carrying account link `link`.
pub fn link_mail(to: &str, template: &'static str, link: &NewLink, params: serde_json::Value) -> NewMail {
    NewMail { to: to.to_string(), template, params, link: Some((LinkKind::Account, link.id.clone())) }
}

fn insert_link(
    tx: &Transaction<'_>,
    purpose: LinkPurpose,
    user: UserId,
    email: &str,
    link: &NewLink,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO account_tokens (id, purpose, user_id, email, token_hash, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![link.id, purpose.as_str(), user.to_string(), email, link.hash, now(), link.expires_at],
    )?;
    Ok(())
}

/// Marks every unused link of `purpose` for `user` used (superseded by a newer one, or by the
/// change they were for).
fn supersede(tx: &Transaction<'_>, user: UserId, purpose: LinkPurpose) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE account_tokens SET used_at = ?1 WHERE user_id = ?2 AND purpose = ?3 AND used_at IS NULL",
        params![now(), user.to_string(), purpose.as_str()],
    )?;
    Ok(())
}

/// Takes the link with token hash `hash` for one of `purposes`: marks it used and returns its
/// user, purpose and address. Unknown, used and expired links are distinct errors.
fn take_link(
    tx: &Transaction<'_>,
    hash: &[u8],
    purposes: &[LinkPurpose],
) -> Result<(UserId, LinkPurpose, String), StoreError> {
    let row: Option<(String, String, String, i64, Option<i64>)> = tx
        .query_row(
            "SELECT id, purpose, user_id, expires_at, used_at FROM account_tokens WHERE token_hash = ?1",
            [hash],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?;
    let invalid =
        || StoreError::Gone { code: "LINK_INVALID", message: "this link is not valid; ask for a new one".into() };
    let (id, purpose, user, expires_at, used_at) = row.ok_or_else(invalid)?;
    let purpose = purposes.iter().copied().find(|p| p.as_str() == purpose).ok_or_else(invalid)?;
    if used_at.is_some() {
        return Err(StoreError::Gone {
            code: "LINK_USED",
            message: "this link was already used; ask for a new one".into(),
        });
    }
    if expires_at <= now() {
        return Err(StoreError::Gone {
            code: "LINK_EXPIRED",
            message: "this link has expired; ask for a new one".into(),
        });
    }
    tx.execute("UPDATE account_tokens SET used_at = ?1 WHERE id = ?2", params![now(), id])?;
    let email: String = tx.query_row("SELECT email FROM account_tokens WHERE id = ?1", [&id], |r| r.get(0))?;
    let user = user.parse().map_err(|_| StoreError::Internal("bad user id in account_tokens".into()))?;
    Ok((user, purpose, email))
}

fn user_row(tx: &Transaction<'_>, id: UserId) -> Result<User, StoreError> {
    let sql = format!("SELECT {U_USER_COLS} FROM users u WHERE u.id = ?1 AND u.disabled_at IS NULL");
    tx.query_row(&sql, [id.to_string()], |r| user_at(r, 0)).optional()?.ok_or(StoreError::NotFound)
}

impl Store {
    /// Creates an unverified account (and its personal org), its confirmation link and mail,
    /// and the audit event, in one transaction.
    pub async fn sign_up(
        &self,
        new: NewUser,
        link: NewLink,
        mail: NewMail,
        audit: AuditEntry,
    ) -> Result<(User, OrgId), StoreError> {
        self.db
            .write(move |tx| {
                let (user, org) = insert_user(tx, &NewUser { email_verified: false, ..new })?;
                insert_link(tx, LinkPurpose::VerifyEmail, user.id, &user.email, &link)?;
                queue_mail(tx, &mail)?;
                record(tx, &audit.target("user", user.id))?;
                Ok((user, org))
            })
            .await
    }

    /// A new confirmation link for an unverified account (older ones stop working).
    pub async fn resend_verification(&self, user: UserId, link: NewLink, mail: NewMail) -> Result<(), StoreError> {
        self.db
            .write(move |tx| {
                let u = user_row(tx, user)?;
                if u.email_verified {
                    return Err(StoreError::Refused {
                        code: "ALREADY_VERIFIED",
                        message: "this address is already confirmed".into(),
                    });
                }
                supersede(tx, user, LinkPurpose::VerifyEmail)?;
                insert_link(tx, LinkPurpose::VerifyEmail, user, &u.email, &link)?;
                queue_mail(tx, &mail)?;
                Ok(())
            })
            .await
    }

    /// Uses a confirmation link: marks the address verified, or (for a change of email) moves
    /// the account to the new address. Returns the user as it is now.
    pub async fn confirm_email(&self, hash: Vec<u8>, audit: AuditEntry) -> Result<User, StoreError> {
        self.db
            .write(move |tx| {
                let (user, purpose, email) =
                    take_link(tx, &hash, &[LinkPurpose::VerifyEmail, LinkPurpose::ChangeEmail])?;
                let before = user_row(tx, user)?;
                if purpose == LinkPurpose::ChangeEmail {
                    let taken: Option<i64> = tx
                        .query_row(
                            "SELECT 1 FROM users WHERE email = ?1 AND id <> ?2",
                            params![email, user.to_string()],
                            |r| r.get(0),
                        )
                        .optional()?;
                    if taken.is_some() {
                        return Err(StoreError::Refused {
                            code: "EMAIL_TAKEN",
                            message: format!("another account uses {email} now"),
                        });
                    }
                    tx.execute(
                        "UPDATE users SET email = ?1, email_verified_at = ?2, updated_at = ?2 WHERE id = ?3",
                        params![email, now(), user.to_string()],
                    )?;
                    supersede(tx, user, LinkPurpose::ChangeEmail)?;
                    let details = serde_json::json!({"before": before.email, "after": email});
                    record(
                        tx,
                        &AuditEntry { action: "user.email_changed", ..audit }.target("user", user).details(details),
                    )?;
                } else {
                    tx.execute(
                        "UPDATE users SET email_verified_at = COALESCE(email_verified_at, ?1) WHERE id = ?2",
                        params![now(), user.to_string()],
                    )?;
                    supersede(tx, user, LinkPurpose::VerifyEmail)?;
                    record(tx, &audit.target("user", user).details(serde_json::json!({"email": email})))?;
                }
                user_row(tx, user)
            })
            .await
    }

    /// Starts a change of address: a confirmation link to the new address and a notice to the
    /// old one. The account keeps its address until the link is used.
    pub async fn request_email_change(
        &self,
        user: UserId,
        new_email: String,
        link: NewLink,
        mails: Vec<NewMail>,
    ) -> Result<(), StoreError> {
        self.db
            .write(move |tx| {
                let taken: Option<i64> =
                    tx.query_row("SELECT 1 FROM users WHERE email = ?1", [&new_email], |r| r.get(0)).optional()?;
                if taken.is_some() {
                    return Err(StoreError::Refused {
                        code: "EMAIL_TAKEN",
                        message: format!("an account with {new_email} already exists"),
                    });
                }
                supersede(tx, user, LinkPurpose::ChangeEmail)?;
                insert_link(tx, LinkPurpose::ChangeEmail, user, &new_email, &link)?;
                for m in &mails {
                    queue_mail(tx, m)?;
                }
                Ok(())
            })
            .await
    }

    /// A password-reset link for the enabled account with `email`, if there is one; `false`
    /// (and nothing written) when there is none.
    pub async fn request_password_reset(
        &self,
        email: String,
        link: NewLink,
        mail: impl FnOnce(&User) -> NewMail + Send + 'static,
    ) -> Result<bool, StoreError> {
        self.db
            .write(move |tx| {
                let sql = format!("SELECT {U_USER_COLS} FROM users u WHERE u.email = ?1 AND u.disabled_at IS NULL");
                let Some(user) = tx.query_row(&sql, [email.trim()], |r| user_at(r, 0)).optional()? else {
                    return Ok(false);
                };
                insert_link(tx, LinkPurpose::ResetPassword, user.id, &user.email, &link)?;
                queue_mail(tx, &mail(&user))?;
                Ok(true)
            })
            .await
    }

    /// Uses a reset link: sets the new password, ends every browser sign-in of the account,
    /// and (the link proving the mailbox) marks the address verified.
    pub async fn reset_password(
        &self,
        hash: Vec<u8>,
        password_hash: String,
        audit: AuditEntry,
    ) -> Result<User, StoreError> {
        self.db
            .write(move |tx| {
                let (user, _, _) = take_link(tx, &hash, &[LinkPurpose::ResetPassword])?;
                user_row(tx, user)?;
                tx.execute(
                    "UPDATE users SET password_hash = ?1, updated_at = ?2, email_verified_at = COALESCE(email_verified_at, ?2)
                     WHERE id = ?3",
                    params![password_hash, now(), user.to_string()],
                )?;
                tx.execute("DELETE FROM login_sessions WHERE user_id = ?1", [user.to_string()])?;
                supersede(tx, user, LinkPurpose::ResetPassword)?;
                record(tx, &audit.target("user", user))?;
                user_row(tx, user)
            })
            .await
    }
}
