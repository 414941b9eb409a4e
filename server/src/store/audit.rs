//! The audit log: who did what, to what, from where, when. Append-only (the schema's triggers
//! refuse updates and deletes). Changes made through the store record their event in the same
//! transaction ([`record`]); the rest call [`Store::audit`] right after the change.

use rusqlite::{Transaction, params};
use sessionforge_shared::ids::OrgId;

use super::{Store, StoreError, now};

/// Who acted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    User {
        id: String,
        label: String,
    },
    ApiKey {
        id: String,
        label: String,
    },
    Machine {
        id: String,
        label: String,
    },
    /// Someone not signed in (a failed sign-in, a sign-up, a reset link).
    Anonymous {
        label: String,
    },
    System,
}

impl Actor {
    fn parts(&self) -> (&'static str, Option<&str>, &str) {
        match self {
            Actor::User { id, label } => ("user", Some(id), label),
            Actor::ApiKey { id, label } => ("api_key", Some(id), label),
            Actor::Machine { id, label } => ("machine", Some(id), label),
            Actor::Anonymous { label } => ("anonymous", None, label),
            Actor::System => ("system", None, ""),
        }
    }
}

/// One event to record. `details` is a small before/after summary and never holds a secret.
#[derive(Clone, Debug)]
pub struct AuditEntry {
    pub org_id: Option<OrgId>,
    pub actor: Actor,
    pub ip: Option<String>,
    pub action: &'static str,
    pub target: Option<(&'static str, String)>,
    pub details: serde_json::Value,
}

impl AuditEntry {
    pub fn new(actor: Actor, ip: Option<String>, action: &'static str) -> Self {
        Self { org_id: None, actor, ip, action, target: None, details: serde_json::json!({}) }
    }

    pub fn org(mut self, org: OrgId) -> Self {
        self.org_id = Some(org);
        self
    }

    pub fn target(mut self, kind: &'static str, id: impl ToString) -> Self {
        self.target = Some((kind, id.to_string()));
        self
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// A recorded event.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEvent {
    pub seq: i64,
    pub at: i64,
    pub org_id: Option<String>,
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub actor_label: String,
    pub action: String,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    pub ip: Option<String>,
    pub details: serde_json::Value,
}

/// Which events to list. `org: None` lists every org's and the instance's events.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub org: Option<OrgId>,
    pub action: Option<String>,
    pub actor_id: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Cursor: only events older than this sequence number.
    pub before: Option<i64>,
    pub limit: u32,
}

/// Records `entry` inside the caller's transaction.
pub(crate) fn record(tx: &Transaction<'_>, entry: &AuditEntry) -> Result<(), StoreError> {
    let (kind, id, label) = entry.actor.parts();
    let (target_kind, target_id) = match &entry.target {
        Some((k, id)) => (Some(*k), Some(id.as_str())),
        None => (None, None),
    };
    tx.prepare_cached(
        "INSERT INTO audit_events (at, org_id, actor_kind, actor_id, actor_label, action, target_kind, target_id, ip, details)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        now(),
        entry.org_id.map(|o| o.to_string()),
        kind,
        id,
        label,
        entry.action,
        target_kind,
        target_id,
        entry.ip,
        entry.details.to_string()
    ])?;
    Ok(())
}

impl Store {
    /// Records an event on its own (for changes that happened in another transaction).
    pub async fn audit(&self, entry: AuditEntry) -> Result<(), StoreError> {
        self.db.write(move |tx| record(tx, &entry)).await
    }

    /// Events matching `filter`, newest first.
    pub async fn audit_events(&self, filter: AuditFilter) -> Result<Vec<AuditEvent>, StoreError> {
        self.db
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT seq, at, org_id, actor_kind, actor_id, actor_label, action, target_kind, target_id, ip, details
                     FROM audit_events
                     WHERE (?1 IS NULL OR org_id = ?1) AND (?2 IS NULL OR action = ?2) AND (?3 IS NULL OR actor_id = ?3)
                       AND (?4 IS NULL OR at >= ?4) AND (?5 IS NULL OR at < ?5) AND (?6 IS NULL OR seq < ?6)
                     ORDER BY seq DESC LIMIT ?7",
                )?;
                let rows = stmt.query_map(
                    params![
                        filter.org.map(|o| o.to_string()),
                        filter.action,
                        filter.actor_id,
                        filter.since,
                        filter.until,
                        filter.before,
                        filter.limit
                    ],
                    |r| {
                        let details: String = r.get(10)?;
                        Ok(AuditEvent {
                            seq: r.get(0)?,
                            at: r.get(1)?,
                            org_id: r.get(2)?,
                            actor_kind: r.get(3)?,
                            actor_id: r.get(4)?,
                            actor_label: r.get(5)?,
                            action: r.get(6)?,
                            target_kind: r.get(7)?,
                            target_id: r.get(8)?,
                            ip: r.get(9)?,
                            details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
                        })
                    },
                )?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }
}
