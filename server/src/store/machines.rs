//! Enrolled machines and the one-time enrollment tokens that create them. Tokens and machine
//! credentials are stored as keyed hashes only.

use rusqlite::{OptionalExtension, params};
use sessionforge_shared::ids::{EnrollmentTokenId, MachineId, OrgId};
use sessionforge_shared::protocol::MachineInfo;

use super::orgs::OrgScope;
use super::{Store, StoreError, now, parse_col};
use crate::plans::Limit;

#[derive(Clone, Debug, PartialEq)]
pub struct EnrollmentToken {
    pub id: EnrollmentTokenId,
    pub org_id: OrgId,
    pub note: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub machine_id: Option<MachineId>,
    pub revoked_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Machine {
    pub id: MachineId,
    pub org_id: OrgId,
    pub hostname: String,
    pub os: String,
    pub os_version: String,
    pub arch: String,
    pub cpus: u32,
    pub memory_bytes: u64,
    pub agent_version: String,
    pub load: Option<f64>,
    pub memory_used_bytes: Option<u64>,
    pub session_count: u32,
    pub enrolled_at: i64,
    pub last_seen_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A machine heard from at `at` (Unix seconds), with its heartbeat figures (load, memory used,
/// sessions) when it sent some.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Seen {
    pub id: MachineId,
    pub figures: Option<(f64, u64, u32)>,
    pub at: i64,
}

const TOKEN_COLS: &str = "id, org_id, note, created_at, expires_at, used_at, machine_id, revoked_at";
const MACHINE_COLS: &str = "id, org_id, hostname, os, os_version, arch, cpus, memory_bytes, agent_version, load, \
     memory_used_bytes, session_count, enrolled_at, last_seen_at, revoked_at";

fn token_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EnrollmentToken> {
    let machine: Option<String> = r.get(6)?;
    Ok(EnrollmentToken {
        id: parse_col(r, 0)?,
        org_id: parse_col(r, 1)?,
        note: r.get(2)?,
        created_at: r.get(3)?,
        expires_at: r.get(4)?,
        used_at: r.get(5)?,
        machine_id: machine.and_then(|m| m.parse().ok()),
        revoked_at: r.get(7)?,
    })
}

fn machine_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Machine> {
    Ok(Machine {
        id: parse_col(r, 0)?,
        org_id: parse_col(r, 1)?,
        hostname: r.get(2)?,
        os: r.get(3)?,
        os_version: r.get(4)?,
        arch: r.get(5)?,
        cpus: r.get(6)?,
        memory_bytes: r.get::<_, i64>(7)?.max(0) as u64,
        agent_version: r.get(8)?,
        load: r.get(9)?,
        memory_used_bytes: r.get::<_, Option<i64>>(10)?.map(|v| v.max(0) as u64),
        session_count: r.get(11)?,
        enrolled_at: r.get(12)?,
        last_seen_at: r.get(13)?,
        revoked_at: r.get(14)?,
    })
}

/// Clamps a u64 into SQLite's signed integer range.
fn db_u64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Store {
    pub async fn create_enrollment_token(
        &self,
        scope: &OrgScope,
        token_hash: Vec<u8>,
        note: String,
        expires_at: i64,
    ) -> Result<EnrollmentToken, StoreError> {
        let (org, user) = (scope.org_id(), scope.user_id());
        self.db
            .write(move |tx| {
                let token = EnrollmentToken {
                    id: EnrollmentTokenId::new(),
                    org_id: org,
                    note,
                    created_at: now(),
                    expires_at,
                    used_at: None,
                    machine_id: None,
                    revoked_at: None,
                };
                tx.execute(
                    "INSERT INTO enrollment_tokens (id, org_id, token_hash, created_by, note, created_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        token.id.to_string(),
                        org.to_string(),
                        token_hash,
                        user.to_string(),
                        token.note,
                        token.created_at,
                        token.expires_at
                    ],
                )?;
                Ok(token)
            })
            .await
    }

    pub async fn enrollment_tokens(&self, scope: &OrgScope) -> Result<Vec<EnrollmentToken>, StoreError> {
        let org = scope.org_id();
        self.db
            .read(move |c| {
                let sql = format!(
                    "SELECT {TOKEN_COLS} FROM enrollment_tokens WHERE org_id = ?1 ORDER BY created_at DESC LIMIT 200"
                );
                let mut stmt = c.prepare_cached(&sql)?;
                let rows = stmt.query_map([org.to_string()], token_from_row)?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }

    pub async fn revoke_enrollment_token(&self, scope: &OrgScope, id: EnrollmentTokenId) -> Result<(), StoreError> {
        let org = scope.org_id();
        self.db
            .write(move |tx| {
                let n = tx.execute(
                    "UPDATE enrollment_tokens SET revoked_at = COALESCE(revoked_at, ?1) WHERE id = ?2 AND org_id = ?3",
                    params![now(), id.to_string(), org.to_string()],
                )?;
                if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
            })
            .await
    }

    /// Spends a live enrollment token and creates the machine, in one transaction. `NotFound`
    /// when the token is unknown, used, revoked or expired; `LimitReached` when the org already
    /// has `max_machines` (the token is then left unspent).
    pub async fn enroll_machine(
        &self,
        token_hash: Vec<u8>,
        credential_hash: Vec<u8>,
        info: MachineInfo,
        max_machines: u32,
    ) -> Result<Machine, StoreError> {
        let catalogue = self.catalogue.clone();
        self.db
            .write(move |tx| {
                let at = now();
                let found: Option<(String, String, Option<String>)> = tx
                    .query_row(
                        "SELECT id, org_id, created_by FROM enrollment_tokens
                         WHERE token_hash = ?1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?2",
                        params![token_hash, at],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .optional()?;
                let (token_id, org, created_by) = found.ok_or(StoreError::NotFound)?;
                let org_id: OrgId = org.parse().map_err(|_| StoreError::Internal("bad org id".into()))?;
                let machines: u32 = tx.query_row(
                    "SELECT COUNT(*) FROM machines WHERE org_id = ?1 AND revoked_at IS NULL",
                    [&org],
                    |r| r.get(0),
                )?;
                super::entitlements::require(tx, org_id, &catalogue, Limit::Machines, u64::from(machines))?;
                if machines >= max_machines {
                    return Err(StoreError::LimitReached {
                        what: "this org already has the most machines allowed",
                        limit: max_machines,
                        setting: "limits.machines_per_org",
                    });
                }
                let machine = Machine {
                    id: MachineId::new(),
                    org_id,
                    hostname: info.hostname,
                    os: info.os,
                    os_version: info.os_version,
                    arch: info.arch,
                    cpus: info.cpus,
                    memory_bytes: info.memory_bytes,
                    agent_version: info.agent_version,
                    load: None,
                    memory_used_bytes: None,
                    session_count: 0,
                    enrolled_at: at,
                    last_seen_at: None,
                    revoked_at: None,
                };
                tx.execute(
                    "INSERT INTO machines (id, org_id, credential_hash, hostname, os, os_version, arch, cpus,
                        memory_bytes, agent_version, enrolled_at, enrolled_by)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                    params![
                        machine.id.to_string(),
                        org_id.to_string(),
                        credential_hash,
                        machine.hostname,
                        machine.os,
                        machine.os_version,
                        machine.arch,
                        machine.cpus,
                        db_u64(machine.memory_bytes),
                        machine.agent_version,
                        at,
                        created_by
                    ],
                )?;
                tx.execute(
                    "UPDATE enrollment_tokens SET used_at = ?1, machine_id = ?2 WHERE id = ?3",
                    params![at, machine.id.to_string(), token_id],
                )?;
                Ok(machine)
            })
            .await
    }

    /// The machine holding this credential, unless it was revoked.
    pub async fn machine_by_credential(&self, credential_hash: Vec<u8>) -> Result<Machine, StoreError> {
        self.db
            .read(move |c| {
                let sql =
                    format!("SELECT {MACHINE_COLS} FROM machines WHERE credential_hash = ?1 AND revoked_at IS NULL");
                c.query_row(&sql, [credential_hash], machine_from_row).optional()?.ok_or(StoreError::NotFound)
            })
            .await
    }

    /// Records the facts an agent reports when it connects.
    pub async fn update_machine_info(&self, id: MachineId, info: MachineInfo) -> Result<(), StoreError> {
        self.db
            .write(move |tx| {
                tx.execute(
                    "UPDATE machines SET hostname = ?1, os = ?2, os_version = ?3, arch = ?4, cpus = ?5,
                        memory_bytes = ?6, agent_version = ?7, last_seen_at = ?8 WHERE id = ?9",
                    params![
                        info.hostname,
                        info.os,
                        info.os_version,
                        info.arch,
                        info.cpus,
                        db_u64(info.memory_bytes),
                        info.agent_version,
                        now(),
                        id.to_string()
                    ],
                )?;
                Ok(())
            })
            .await
    }

    /// Records a heartbeat (or, with `None` figures, just that the machine was seen).
    /// Records that a machine was heard from now (its agent disconnected, say).
    pub async fn machine_seen(&self, id: MachineId, figures: Option<(f64, u64, u32)>) -> Result<(), StoreError> {
        self.machines_seen(vec![Seen { id, figures, at: now() }]).await
    }

    /// Records heartbeats of many machines in one transaction.
    pub async fn machines_seen(&self, seen: Vec<Seen>) -> Result<(), StoreError> {
        self.db
            .write(move |tx| {
                let mut with = tx.prepare_cached(
                    "UPDATE machines SET load = ?1, memory_used_bytes = ?2, session_count = ?3, last_seen_at = ?4
                     WHERE id = ?5",
                )?;
                let mut without = tx.prepare_cached("UPDATE machines SET last_seen_at = ?1 WHERE id = ?2")?;
                for s in seen {
                    match s.figures {
                        Some((load, mem, sessions)) => {
                            with.execute(params![load, db_u64(mem), sessions, s.at, s.id.to_string()])?
                        }
                        None => without.execute(params![s.at, s.id.to_string()])?,
                    };
                }
                Ok(())
            })
            .await
    }

    pub async fn machines(&self, scope: &OrgScope) -> Result<Vec<Machine>, StoreError> {
        let org = scope.org_id();
        self.db
            .read(move |c| {
                let sql = format!(
                    "SELECT {MACHINE_COLS} FROM machines WHERE org_id = ?1 AND revoked_at IS NULL ORDER BY hostname, id"
                );
                let mut stmt = c.prepare_cached(&sql)?;
                let rows = stmt.query_map([org.to_string()], machine_from_row)?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }

    pub async fn machine(&self, scope: &OrgScope, id: MachineId) -> Result<Machine, StoreError> {
        let org = scope.org_id();
        self.db
            .read(move |c| {
                let sql =
                    format!("SELECT {MACHINE_COLS} FROM machines WHERE id = ?1 AND org_id = ?2 AND revoked_at IS NULL");
                c.query_row(&sql, [id.to_string(), org.to_string()], machine_from_row)
                    .optional()?
                    .ok_or(StoreError::NotFound)
            })
            .await
    }

    /// Signs a machine out: its credential stops working at once.
    pub async fn revoke_machine(&self, scope: &OrgScope, id: MachineId) -> Result<(), StoreError> {
        let org = scope.org_id();
        self.db
            .write(move |tx| {
                let n = tx.execute(
                    "UPDATE machines SET revoked_at = ?1 WHERE id = ?2 AND org_id = ?3 AND revoked_at IS NULL",
                    params![now(), id.to_string(), org.to_string()],
                )?;
                if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
            })
            .await
    }

    /// Revokes the machine holding this credential (the agent signing itself out).
    pub async fn revoke_machine_by_id(&self, id: MachineId) -> Result<(), StoreError> {
        self.db
            .write(move |tx| {
                tx.execute(
                    "UPDATE machines SET revoked_at = COALESCE(revoked_at, ?1) WHERE id = ?2",
                    params![now(), id.to_string()],
                )?;
                Ok(())
            })
            .await
    }
}
