//! Licenses as their issuer stores them: licenses (keys only as keyed hashes), their state
//! changes (audited), validation in Keygen's order, and activations taken inside the writer's
//! transaction (so at `max_activations`, exactly that many concurrent activations succeed),
//! with activations whose heartbeats stopped released first. The license this server itself
//! runs under is in [`super::installed_license`].

use rusqlite::{Connection, OptionalExtension, params};

use super::audit::{AuditEntry, record};
use super::{Store, StoreError, now};

/// A license as its issuer keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct License {
    pub id: String,
    pub key_hint: String,
    pub org_id: Option<String>,
    pub customer_email: Option<String>,
    pub licensee: String,
    pub plan: String,
    pub max_activations: u32,
    pub expires_at: Option<i64>,
    pub grace_days: u32,
    pub heartbeat_secs: u32,
    pub created_at: i64,
    pub suspended_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// Activations whose heartbeat is alive.
    pub activations: u32,
}

/// A license to create (the key's hash; the key itself is shown once by the caller).
#[derive(Clone, Debug)]
pub struct NewLicense {
    pub id: String,
    pub key_hash: Vec<u8>,
    pub key_hint: String,
    pub org_id: Option<String>,
    pub customer_email: Option<String>,
    pub licensee: String,
    pub plan: String,
    pub max_activations: u32,
    pub expires_at: Option<i64>,
    pub grace_days: u32,
    pub heartbeat_secs: u32,
}

/// A change of a license's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LicenseChange {
    Suspend,
    Reinstate,
    Revoke,
    /// A new expiry (`None`: perpetual).
    Renew(Option<i64>),
}

/// Validation's answer, in Keygen's precedence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    NotFound,
    Suspended,
    Expired,
    /// Past expiry, within grace: valid, with a warning.
    Overdue,
    NoMachine,
    FingerprintScopeMismatch,
    TooManyMachines,
    HeartbeatDead,
    Valid,
}

impl Verdict {
    pub fn code(self) -> &'static str {
        match self {
            Verdict::NotFound => "NOT_FOUND",
            Verdict::Suspended => "SUSPENDED",
            Verdict::Expired => "EXPIRED",
            Verdict::Overdue => "OVERDUE",
            Verdict::NoMachine => "NO_MACHINE",
            Verdict::FingerprintScopeMismatch => "FINGERPRINT_SCOPE_MISMATCH",
            Verdict::TooManyMachines => "TOO_MANY_MACHINES",
            Verdict::HeartbeatDead => "HEARTBEAT_DEAD",
            Verdict::Valid => "VALID",
        }
    }

    pub fn valid(self) -> bool {
        matches!(self, Verdict::Valid | Verdict::Overdue)
    }
}

const COLS: &str = "l.id, l.key_hint, l.org_id, l.customer_email, l.licensee, l.plan, l.max_activations, l.expires_at,
    l.grace_days, l.heartbeat_secs, l.created_at, l.suspended_at, l.revoked_at,
    (SELECT COUNT(*) FROM license_activations a WHERE a.license_id = l.id AND a.last_heartbeat_at > :now - l.heartbeat_secs)";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<License> {
    Ok(License {
        id: r.get(0)?,
        key_hint: r.get(1)?,
        org_id: r.get(2)?,
        customer_email: r.get(3)?,
        licensee: r.get(4)?,
        plan: r.get(5)?,
        max_activations: r.get(6)?,
        expires_at: r.get(7)?,
        grace_days: r.get(8)?,
        heartbeat_secs: r.get(9)?,
        created_at: r.get(10)?,
        suspended_at: r.get(11)?,
        revoked_at: r.get(12)?,
        activations: r.get(13)?,
    })
}

/// Licenses matching `filter`, which compares something with `:arg`.
fn select(c: &Connection, filter: &str, arg: &dyn rusqlite::ToSql) -> Result<Vec<License>, StoreError> {
    let sql = format!("SELECT {COLS} FROM licenses l WHERE {filter} ORDER BY l.created_at DESC LIMIT 1000");
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::named_params! {":arg": arg, ":now": now()}, from_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

fn by_hash(c: &Connection, hash: &[u8]) -> Result<Option<License>, StoreError> {
    Ok(select(c, "l.key_hash = :arg", &hash)?.into_iter().next())
}

/// The license's standing before machines are looked at.
fn standing(l: &License, at: i64) -> Verdict {
    if l.suspended_at.is_some() || l.revoked_at.is_some() {
        return Verdict::Suspended;
    }
    match l.expires_at {
        Some(exp) if at >= exp + i64::from(l.grace_days) * 86_400 => Verdict::Expired,
        Some(exp) if at >= exp => Verdict::Overdue,
        _ => Verdict::Valid,
    }
}

/// Releases the license's activations whose heartbeat stopped.
fn release_dead(c: &Connection, l: &License, at: i64) -> Result<(), StoreError> {
    c.execute(
        "DELETE FROM license_activations WHERE license_id = ?1 AND last_heartbeat_at <= ?2",
        params![l.id, at - i64::from(l.heartbeat_secs)],
    )?;
    Ok(())
}

/// Records a heartbeat of the instance `fingerprint`; `false` when it holds no activation.
fn beat(c: &Connection, l: &License, fingerprint: &str, at: i64) -> Result<bool, StoreError> {
    let n = c.execute(
        "UPDATE license_activations SET last_heartbeat_at = ?1 WHERE license_id = ?2 AND fingerprint = ?3",
        params![at, l.id, fingerprint],
    )?;
    Ok(n > 0)
}

/// Creates a license inside the caller's transaction (audited).
pub(crate) fn insert_license(
    tx: &rusqlite::Transaction<'_>,
    new: &NewLicense,
    audit: &AuditEntry,
) -> Result<License, StoreError> {
    if let Some(org) = &new.org_id {
        let exists: Option<i64> = tx.query_row("SELECT 1 FROM orgs WHERE id = ?1", [org], |r| r.get(0)).optional()?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
    }
    tx.execute(
        "INSERT INTO licenses (id, key_hash, key_hint, org_id, customer_email, licensee, plan, max_activations,
            expires_at, grace_days, heartbeat_secs, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            new.id,
            new.key_hash,
            new.key_hint,
            new.org_id,
            new.customer_email,
            new.licensee,
            new.plan,
            new.max_activations,
            new.expires_at,
            new.grace_days,
            new.heartbeat_secs,
            now()
        ],
    )?;
    let details =
        serde_json::json!({"plan": new.plan, "licensee": new.licensee, "max_activations": new.max_activations});
    record(tx, &audit.clone().target("license", &new.id).details(details))?;
    select(tx, "l.id = :arg", &new.id)?.into_iter().next().ok_or(StoreError::NotFound)
}

impl Store {
    pub async fn create_license(&self, new: NewLicense, audit: AuditEntry) -> Result<License, StoreError> {
        self.db.write(move |tx| insert_license(tx, &new, &audit)).await
    }

    pub async fn licenses(&self) -> Result<Vec<License>, StoreError> {
        self.db.read(|c| select(c, ":arg = 1", &1)).await
    }

    pub async fn license(&self, id: String) -> Result<License, StoreError> {
        self.db.read(move |c| select(c, "l.id = :arg", &id)?.into_iter().next().ok_or(StoreError::NotFound)).await
    }

    /// Whether `key_hash` is the keyed hash of license `id`'s key.
    pub async fn license_has_key(&self, id: String, key_hash: Vec<u8>) -> Result<bool, StoreError> {
        self.db
            .read(move |c| {
                Ok(c.query_row(
                    "SELECT EXISTS (SELECT 1 FROM licenses WHERE id = ?1 AND key_hash = ?2)",
                    params![id, key_hash],
                    |r| r.get(0),
                )?)
            })
            .await
    }

    /// Suspends, reinstates, revokes or renews a license (audited).
    pub async fn change_license(
        &self,
        id: String,
        change: LicenseChange,
        audit: AuditEntry,
    ) -> Result<License, StoreError> {
        self.db
            .write(move |tx| {
                let l = select(tx, "l.id = :arg", &id)?.into_iter().next().ok_or(StoreError::NotFound)?;
                if l.revoked_at.is_some() {
                    return Err(StoreError::Refused {
                        code: "LICENSE_REVOKED",
                        message: "a revoked license stays revoked".into(),
                    });
                }
                let at = now();
                let details = match change {
                    LicenseChange::Suspend => {
                        tx.execute(
                            "UPDATE licenses SET suspended_at = COALESCE(suspended_at, ?1) WHERE id = ?2",
                            params![at, id],
                        )?;
                        serde_json::json!({})
                    }
                    LicenseChange::Reinstate => {
                        tx.execute("UPDATE licenses SET suspended_at = NULL WHERE id = ?1", [&id])?;
                        serde_json::json!({})
                    }
                    LicenseChange::Revoke => {
                        tx.execute("UPDATE licenses SET revoked_at = ?1 WHERE id = ?2", params![at, id])?;
                        tx.execute("DELETE FROM license_activations WHERE license_id = ?1", [&id])?;
                        serde_json::json!({})
                    }
                    LicenseChange::Renew(until) => {
                        tx.execute("UPDATE licenses SET expires_at = ?1 WHERE id = ?2", params![until, id])?;
                        serde_json::json!({"before": l.expires_at, "after": until})
                    }
                };
                record(tx, &audit.target("license", &id).details(details))?;
                select(tx, "l.id = :arg", &id)?.into_iter().next().ok_or(StoreError::NotFound)
            })
            .await
    }

    /// Validates a license key (by hash), optionally for one instance fingerprint.
    pub async fn validate_license(
        &self,
        hash: Vec<u8>,
        fingerprint: Option<String>,
    ) -> Result<(Verdict, Option<License>), StoreError> {
        self.db
            .read(move |c| {
                let at = now();
                let Some(l) = by_hash(c, &hash)? else { return Ok((Verdict::NotFound, None)) };
                let standing = standing(&l, at);
                if !standing.valid() {
                    return Ok((standing, Some(l)));
                }
                let total: u32 = c.query_row(
                    "SELECT COUNT(*) FROM license_activations WHERE license_id = ?1",
                    [&l.id],
                    |r| r.get(0),
                )?;
                if let Some(fp) = fingerprint {
                    let beat: Option<i64> = c
                        .query_row(
                            "SELECT last_heartbeat_at FROM license_activations WHERE license_id = ?1 AND fingerprint = ?2",
                            params![l.id, fp],
                            |r| r.get(0),
                        )
                        .optional()?;
                    let verdict = match beat {
                        None if total == 0 => Verdict::NoMachine,
                        None => Verdict::FingerprintScopeMismatch,
                        Some(_) if l.activations > l.max_activations => Verdict::TooManyMachines,
                        Some(t) if t <= at - i64::from(l.heartbeat_secs) => Verdict::HeartbeatDead,
                        Some(_) => standing,
                    };
                    return Ok((verdict, Some(l)));
                }
                Ok((standing, Some(l)))
            })
            .await
    }

    /// Activates an instance: released dead activations first, then one more only below the
    /// license's maximum, all in one write. An instance already activated just heartbeats.
    pub async fn activate_license(
        &self,
        hash: Vec<u8>,
        fingerprint: String,
        name: String,
        platform: String,
    ) -> Result<(Verdict, Option<License>), StoreError> {
        self.db
            .write(move |tx| {
                let at = now();
                let Some(l) = by_hash(tx, &hash)? else { return Ok((Verdict::NotFound, None)) };
                let standing = standing(&l, at);
                if !standing.valid() {
                    return Ok((standing, Some(l)));
                }
                release_dead(tx, &l, at)?;
                if !beat(tx, &l, &fingerprint, at)? {
                    let used: u32 =
                        tx.query_row("SELECT COUNT(*) FROM license_activations WHERE license_id = ?1", [&l.id], |r| r.get(0))?;
                    if used >= l.max_activations {
                        return Ok((Verdict::TooManyMachines, Some(l)));
                    }
                    tx.execute(
                        "INSERT INTO license_activations (id, license_id, fingerprint, name, platform, created_at, last_heartbeat_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                        params![uuid::Uuid::now_v7().to_string(), l.id, fingerprint, name, platform, at],
                    )?;
                }
                let l = select(tx, "l.id = :arg", &l.id)?.into_iter().next().ok_or(StoreError::NotFound)?;
                Ok((standing, Some(l)))
            })
            .await
    }

    /// A heartbeat (`true`) or a deactivation (`false`) of an instance; `false` when the
    /// instance holds no (live) activation.
    pub async fn license_instance(
        &self,
        hash: Vec<u8>,
        fingerprint: String,
        heartbeat: bool,
    ) -> Result<bool, StoreError> {
        self.db
            .write(move |tx| {
                let at = now();
                let Some(l) = by_hash(tx, &hash)? else { return Ok(false) };
                release_dead(tx, &l, at)?;
                Ok(if heartbeat {
                    beat(tx, &l, &fingerprint, at)?
                } else {
                    tx.execute(
                        "DELETE FROM license_activations WHERE license_id = ?1 AND fingerprint = ?2",
                        params![l.id, fingerprint],
                    )? > 0
                })
            })
            .await
    }
}
