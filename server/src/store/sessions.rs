//! Sessions: relayed (running in an agent's PTY) and discovered (AI CLIs found on a machine).
//! Agents may only touch sessions of their own machine; users only those of their orgs.

use rusqlite::{OptionalExtension, params};
use sessionforge_shared::ids::{MachineId, OrgId, SessionId, UserId};
use sessionforge_shared::protocol::{SessionSource, SessionState};

use super::orgs::OrgScope;
use super::output::STORED_END;
use super::{Store, StoreError, now, parse_col};

#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    pub id: SessionId,
    pub org_id: OrgId,
    pub machine_id: MachineId,
    pub source: SessionSource,
    pub kind: String,
    pub command: String,
    pub args: Vec<String>,
    pub cwd: String,
    pub pid: Option<u32>,
    pub state: SessionState,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    pub cols: u16,
    pub rows: u16,
    pub cpu_percent: f32,
    pub memory_bytes: u64,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub updated_at: i64,
    pub output_end: u64,
    pub retained_from: u64,
    /// A local terminal (`wrap`) holds the size.
    pub size_locked: bool,
    pub waiting_for_input: bool,
}

/// A size a session took, at the output offset where it took effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resize {
    pub at_offset: u64,
    pub at_ms: i64,
    pub cols: u16,
    pub rows: u16,
}

#[cfg(test)]
impl Session {
    /// A running relayed session with nothing stored, for unit tests.
    pub fn for_tests(id: SessionId) -> Self {
        Self {
            id,
            org_id: OrgId::new(),
            machine_id: MachineId::new(),
            source: SessionSource::Relayed,
            kind: "other".into(),
            command: "sh".into(),
            args: vec![],
            cwd: String::new(),
            pid: None,
            state: SessionState::Running,
            exit_code: None,
            reason: None,
            cols: 80,
            rows: 24,
            cpu_percent: 0.0,
            memory_bytes: 0,
            started_at: 0,
            ended_at: None,
            updated_at: 0,
            output_end: 0,
            retained_from: 0,
            size_locked: false,
            waiting_for_input: false,
        }
    }
}

/// A session a user asked a machine to start.
#[derive(Clone, Debug)]
pub struct NewSession {
    pub machine_id: MachineId,
    pub kind: String,
    pub command: String,
    pub args: Vec<String>,
    pub cwd: String,
    pub cols: u16,
    pub rows: u16,
    pub requested_by: UserId,
}

/// Optional filters for listing sessions.
#[derive(Clone, Debug, Default)]
pub struct SessionFilter {
    pub machine_id: Option<MachineId>,
    pub state: Option<SessionState>,
    pub kind: Option<String>,
    pub source: Option<SessionSource>,
}

/// Most sessions a list returns (newest first).
const LIST_LIMIT: i64 = 500;

/// Columns of a session row (`s` is the sessions table); the stored end is derived.
fn cols() -> String {
    format!(
        "s.id, s.org_id, s.machine_id, s.source, s.kind, s.command, s.args, s.cwd, s.pid, s.state, s.exit_code, \
         s.reason, s.cols, s.rows, s.cpu_percent, s.memory_bytes, s.started_at, s.ended_at, s.updated_at, \
         {STORED_END}, s.retained_from, s.size_locked, s.waiting_for_input"
    )
}

pub fn source_str(s: SessionSource) -> &'static str {
    match s {
        SessionSource::Relayed => "relayed",
        SessionSource::Discovered => "discovered",
    }
}

pub fn state_str(s: SessionState) -> &'static str {
    match s {
        SessionState::Starting => "starting",
        SessionState::Running => "running",
        SessionState::Exited => "exited",
        SessionState::Crashed => "crashed",
        SessionState::Stale => "stale",
    }
}

fn parse_enum<T: serde::de::DeserializeOwned>(r: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<T> {
    let text: String = r.get(idx)?;
    serde_json::from_value(serde_json::Value::String(text))
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e)))
}

fn session_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Session> {
    let args: String = r.get(6)?;
    Ok(Session {
        id: parse_col(r, 0)?,
        org_id: parse_col(r, 1)?,
        machine_id: parse_col(r, 2)?,
        source: parse_enum(r, 3)?,
        kind: r.get(4)?,
        command: r.get(5)?,
        args: serde_json::from_str(&args).unwrap_or_default(),
        cwd: r.get(7)?,
        pid: r.get(8)?,
        state: parse_enum(r, 9)?,
        exit_code: r.get(10)?,
        reason: r.get(11)?,
        cols: r.get(12)?,
        rows: r.get(13)?,
        cpu_percent: r.get::<_, f64>(14)? as f32,
        memory_bytes: r.get::<_, i64>(15)?.max(0) as u64,
        started_at: r.get(16)?,
        ended_at: r.get(17)?,
        updated_at: r.get(18)?,
        output_end: r.get::<_, i64>(19)?.max(0) as u64,
        retained_from: r.get::<_, i64>(20)?.max(0) as u64,
        size_locked: r.get(21)?,
        waiting_for_input: r.get(22)?,
    })
}

fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Records the size a session has from `at_offset` on, unless it already has that size.
/// Returns whether anything changed.
pub(super) fn record_size(
    tx: &rusqlite::Transaction<'_>,
    id: SessionId,
    at_offset: u64,
    cols: u16,
    rows: u16,
) -> Result<bool, StoreError> {
    let sid = id.to_string();
    let last: Option<(u16, u16)> = tx
        .prepare_cached(
            "SELECT cols, rows FROM session_resizes WHERE session_id = ?1 ORDER BY at_offset DESC, rowid DESC LIMIT 1",
        )?
        .query_row([&sid], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    if last == Some((cols, rows)) {
        return Ok(false);
    }
    let at = i64::try_from(at_offset).unwrap_or(i64::MAX);
    tx.prepare_cached(
        "INSERT INTO session_resizes (session_id, at_offset, at_ms, cols, rows) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![sid, at, now_ms(), cols, rows])?;
    tx.prepare_cached("UPDATE sessions SET cols = ?2, rows = ?3 WHERE id = ?1")?.execute(params![sid, cols, rows])?;
    Ok(true)
}

pub(super) fn get_session(c: &rusqlite::Connection, id: SessionId) -> Result<Option<Session>, StoreError> {
    let sql = format!("SELECT {} FROM sessions s WHERE s.id = ?1", cols());
    Ok(c.query_row(&sql, [id.to_string()], session_from_row).optional()?)
}

impl Store {
    /// Records a session a user requested; it starts in state `starting`. Refused with
    /// `Conflict` when the machine already has `max_live` live sessions.
    pub async fn create_requested_session(
        &self,
        scope: &OrgScope,
        new: NewSession,
        max_live: u32,
    ) -> Result<Session, StoreError> {
        let org = scope.org_id();
        let catalogue = self.catalogue.clone();
        let session = self
            .db
            .write(move |tx| {
                let running: i64 = tx
                    .prepare_cached("SELECT COUNT(*) FROM sessions WHERE org_id = ?1 AND state IN ('starting', 'running')")?
                    .query_row([org.to_string()], |r| r.get(0))?;
                super::entitlements::require(tx, org, &catalogue, crate::plans::Limit::ConcurrentSessions, running.unsigned_abs())?;
                let live: u32 = tx
                    .prepare_cached(
                        "SELECT COUNT(*) FROM sessions WHERE machine_id = ?1 AND state IN ('starting', 'running')",
                    )?
                    .query_row([new.machine_id.to_string()], |r| r.get(0))?;
                if live >= max_live {
                    return Err(StoreError::Conflict(format!(
                        "the machine already has {live} live sessions, the most allowed (relay.max_sessions_per_machine)"
                    )));
                }
                let id = SessionId::new();
                let at = now();
                tx.execute(
                    "INSERT INTO sessions (id, org_id, machine_id, source, kind, command, args, cwd, state, cols, rows,
                        started_at, updated_at, requested_by)
                     VALUES (?1, ?2, ?3, 'relayed', ?4, ?5, ?6, ?7, 'starting', ?8, ?9, ?10, ?10, ?11)",
                    params![
                        id.to_string(),
                        org.to_string(),
                        new.machine_id.to_string(),
                        new.kind,
                        new.command,
                        serde_json::to_string(&new.args).unwrap_or_else(|_| "[]".into()),
                        new.cwd,
                        new.cols,
                        new.rows,
                        at,
                        new.requested_by.to_string()
                    ],
                )?;
                record_size(tx, id, 0, new.cols, new.rows)?;
                get_session(tx, id)?.ok_or(StoreError::NotFound)
            })
            .await?;
        self.meter.add(org, now(), |c| c.sessions_started += 1);
        Ok(session)
    }

    /// The sizes a session took, in output order (the first is its size at the start).
    pub async fn session_resizes(&self, id: SessionId) -> Result<Vec<Resize>, StoreError> {
        self.db
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT at_offset, at_ms, cols, rows FROM session_resizes WHERE session_id = ?1
                     ORDER BY at_offset, rowid",
                )?;
                let rows = stmt.query_map([id.to_string()], |r| {
                    Ok(Resize {
                        at_offset: r.get::<_, i64>(0)?.max(0) as u64,
                        at_ms: r.get(1)?,
                        cols: r.get(2)?,
                        rows: r.get(3)?,
                    })
                })?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }

    pub async fn sessions(&self, scope: &OrgScope, filter: SessionFilter) -> Result<Vec<Session>, StoreError> {
        let org = scope.org_id();
        self.db
            .read(move |c| {
                let sql = format!(
                    "SELECT {} FROM sessions s WHERE s.org_id = ?1
                       AND (?2 IS NULL OR s.machine_id = ?2) AND (?3 IS NULL OR s.state = ?3)
                       AND (?4 IS NULL OR s.kind = ?4) AND (?5 IS NULL OR s.source = ?5)
                     ORDER BY s.started_at DESC, s.id DESC LIMIT {LIST_LIMIT}",
                    cols()
                );
                let mut stmt = c.prepare_cached(&sql)?;
                let rows = stmt.query_map(
                    params![
                        org.to_string(),
                        filter.machine_id.map(|m| m.to_string()),
                        filter.state.map(state_str),
                        filter.kind,
                        filter.source.map(source_str)
                    ],
                    session_from_row,
                )?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }

    /// One session of the scope's org.
    pub async fn session(&self, scope: &OrgScope, id: SessionId) -> Result<Session, StoreError> {
        let org = scope.org_id();
        let s = self.session_by_id(id).await?;
        if s.org_id == org { Ok(s) } else { Err(StoreError::NotFound) }
    }

    /// A session by id, for the relay (which has already authenticated its peer).
    pub async fn session_by_id(&self, id: SessionId) -> Result<Session, StoreError> {
        self.db.read(move |c| get_session(c, id)?.ok_or(StoreError::NotFound)).await
    }

    /// Every live (starting or running) session, for reconciling after restarts.
    pub async fn live_sessions(&self) -> Result<Vec<Session>, StoreError> {
        self.db
            .read(|c| {
                let sql = format!("SELECT {} FROM sessions s WHERE s.state IN ('starting', 'running')", cols());
                let mut stmt = c.prepare_cached(&sql)?;
                let rows = stmt.query_map([], session_from_row)?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }
}
