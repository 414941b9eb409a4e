//! The email outbox. Mail is queued by [`queue_mail`] inside the transaction of the change that
//! causes it, so a crash can never keep a change and lose its email (or the reverse); the
//! background sender then moves each row from `queued` to `sent` or `failed`.
//!
//! Rows hold no secrets: a mail carrying a single-use link names the row whose token the sender
//! derives (`link_kind`, `link_id`), and only keyed hashes of those tokens are stored.

use rusqlite::{OptionalExtension, Transaction, params};
use uuid::Uuid;

use super::{Store, StoreError, now};

/// Which single-use link a mail carries, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkKind {
    /// An `account_tokens` row: verify an address, reset a password, confirm a new address.
    Account,
    /// An `invitations` row.
    Invitation,
    /// A one-click unsubscribe link for notification mail (the id is the user's).
    Unsubscribe,
}

impl LinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::Account => "account",
            LinkKind::Invitation => "invitation",
            LinkKind::Unsubscribe => "unsubscribe",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "account" => Some(LinkKind::Account),
            "invitation" => Some(LinkKind::Invitation),
            "unsubscribe" => Some(LinkKind::Unsubscribe),
            _ => None,
        }
    }
}

/// A mail to queue.
#[derive(Clone, Debug)]
pub struct NewMail {
    pub to: String,
    /// A template name under `server/templates/email/`.
    pub template: &'static str,
    /// The template's values (never a secret: this is stored as it is).
    pub params: serde_json::Value,
    pub link: Option<(LinkKind, String)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MailState {
    Queued,
    Sent,
    Failed,
}

impl MailState {
    pub fn as_str(self) -> &'static str {
        match self {
            MailState::Queued => "queued",
            MailState::Sent => "sent",
            MailState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "queued" => Ok(MailState::Queued),
            "sent" => Ok(MailState::Sent),
            "failed" => Ok(MailState::Failed),
            other => Err(StoreError::Internal(format!("unknown mail state {other:?}"))),
        }
    }
}

/// A queued or delivered mail as the sender and the admin view see it.
#[derive(Clone, Debug)]
pub struct OutboxMail {
    pub id: String,
    pub to: String,
    pub template: String,
    pub params: serde_json::Value,
    pub link: Option<(LinkKind, String)>,
    pub state: MailState,
    pub attempts: u32,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub queued_at: i64,
    pub sent_at: Option<i64>,
}

const COLS: &str = "id, to_addr, template, params, link_kind, link_id, state, attempts, next_attempt_at, last_error,
                    created_at, queued_at, sent_at";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(OutboxMail, String)> {
    let params: String = r.get(3)?;
    let kind: Option<String> = r.get(4)?;
    let link_id: Option<String> = r.get(5)?;
    let link = kind.as_deref().and_then(LinkKind::parse).zip(link_id);
    let mail = OutboxMail {
        id: r.get(0)?,
        to: r.get(1)?,
        template: r.get(2)?,
        params: serde_json::from_str(&params).unwrap_or(serde_json::Value::Null),
        link,
        state: MailState::Queued,
        attempts: r.get(7)?,
        next_attempt_at: r.get(8)?,
        last_error: r.get(9)?,
        created_at: r.get(10)?,
        queued_at: r.get(11)?,
        sent_at: r.get(12)?,
    };
    Ok((mail, r.get(6)?))
}

fn with_state((mut mail, state): (OutboxMail, String)) -> Result<OutboxMail, StoreError> {
    mail.state = MailState::parse(&state)?;
    Ok(mail)
}

/// Queues a mail inside the caller's transaction; returns its id (also its Message-ID).
pub(crate) fn queue_mail(tx: &Transaction<'_>, mail: &NewMail) -> Result<String, StoreError> {
    let id = Uuid::now_v7().to_string();
    let at = now();
    let (kind, link_id) = match &mail.link {
        Some((k, id)) => (Some(k.as_str()), Some(id.as_str())),
        None => (None, None),
    };
    tx.execute(
        "INSERT INTO outbox (id, to_addr, template, params, link_kind, link_id, state, next_attempt_at, created_at, queued_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7, ?7, ?7)",
        params![id, mail.to, mail.template, mail.params.to_string(), kind, link_id, at],
    )?;
    Ok(id)
}

impl Store {
    /// Queues a mail on its own (a mail that goes with no other change, like a resend).
    pub async fn queue_mail(&self, mail: NewMail) -> Result<String, StoreError> {
        self.db.write(move |tx| queue_mail(tx, &mail)).await
    }

    /// Queued mail due at `at` or earlier, oldest due first.
    pub async fn mail_due(&self, at: i64, limit: u32) -> Result<Vec<OutboxMail>, StoreError> {
        self.db
            .read(move |c| {
                let sql = format!(
                    "SELECT {COLS} FROM outbox WHERE state = 'queued' AND next_attempt_at <= ?1
                     ORDER BY next_attempt_at, id LIMIT ?2"
                );
                let mut stmt = c.prepare_cached(&sql)?;
                let rows = stmt.query_map(params![at, limit], from_row)?.collect::<Result<Vec<_>, _>>()?;
                rows.into_iter().map(with_state).collect()
            })
            .await
    }

    /// When the next queued mail is due, if any is queued.
    pub async fn next_mail_due(&self) -> Result<Option<i64>, StoreError> {
        self.db
            .read(|c| {
                Ok(c.query_row("SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'queued'", [], |r| r.get(0))?)
            })
            .await
    }

    /// The SMTP server accepted the mail.
    pub async fn mail_sent(&self, id: String) -> Result<(), StoreError> {
        self.db
            .write(move |tx| {
                tx.execute(
                    "UPDATE outbox SET state = 'sent', attempts = attempts + 1, sent_at = ?2, last_error = NULL
                     WHERE id = ?1 AND state = 'queued'",
                    params![id, now()],
                )?;
                Ok(())
            })
            .await
    }

    /// A delivery attempt failed: tries again at `retry_at`, or gives up (`None`).
    pub async fn mail_attempt_failed(
        &self,
        id: String,
        error: String,
        retry_at: Option<i64>,
    ) -> Result<(), StoreError> {
        self.db
            .write(move |tx| {
                match retry_at {
                    Some(at) => tx.execute(
                        "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3
                         WHERE id = ?1 AND state = 'queued'",
                        params![id, error, at],
                    )?,
                    None => tx.execute(
                        "UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = ?2
                         WHERE id = ?1 AND state = 'queued'",
                        params![id, error],
                    )?,
                };
                Ok(())
            })
            .await
    }

    /// Notes why queued mail cannot be sent at all (no SMTP server configured), without
    /// counting an attempt.
    pub async fn mail_undeliverable(&self, reason: String) -> Result<(), StoreError> {
        self.db
            .write(move |tx| {
                tx.execute(
                    "UPDATE outbox SET last_error = ?1 WHERE state = 'queued' AND last_error IS NOT ?1",
                    [reason],
                )?;
                Ok(())
            })
            .await
    }

    /// The outbox, newest first: `before` is the cursor (the last id of the previous page).
    pub async fn outbox(
        &self,
        state: Option<MailState>,
        before: Option<String>,
        limit: u32,
    ) -> Result<Vec<OutboxMail>, StoreError> {
        self.db
            .read(move |c| {
                let sql = format!(
                    "SELECT {COLS} FROM outbox WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR id < ?2)
                     ORDER BY id DESC LIMIT ?3"
                );
                let mut stmt = c.prepare_cached(&sql)?;
                let rows = stmt
                    .query_map(params![state.map(MailState::as_str), before, limit], from_row)?
                    .collect::<Result<Vec<_>, _>>()?;
                rows.into_iter().map(with_state).collect()
            })
            .await
    }

    /// Queues a failed mail again, at once and with a fresh give-up clock. `Conflict` unless it
    /// failed (a queued one is already being tried; a sent one must not go twice).
    pub async fn retry_mail(&self, id: String) -> Result<OutboxMail, StoreError> {
        self.db
            .write(move |tx| {
                let state: Option<String> =
                    tx.query_row("SELECT state FROM outbox WHERE id = ?1", [&id], |r| r.get(0)).optional()?;
                match state.as_deref() {
                    None => return Err(StoreError::NotFound),
                    Some("failed") => {}
                    Some(other) => {
                        return Err(StoreError::Conflict(format!(
                            "only failed mail can be retried; this one is {other}"
                        )));
                    }
                }
                let at = now();
                tx.execute(
                    "UPDATE outbox SET state = 'queued', next_attempt_at = ?2, queued_at = ?2 WHERE id = ?1",
                    params![id, at],
                )?;
                let sql = format!("SELECT {COLS} FROM outbox WHERE id = ?1");
                with_state(tx.query_row(&sql, [&id], from_row)?)
            })
            .await
    }
}
