//! Sessions: relayed (running in an agent's PTY) and discovered (AI CLIs found on a machine).
//! Agents may only touch sessions of their own machine; users only those of their orgs.

use rusqlite::{OptionalExtension, params};
use sessionforge_shared::ids::{MachineId, OrgId, SessionId, UserId};
use sessionforge_shared::protocol::{SessionInfo, SessionSource, SessionState};

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
         {STORED_END}, s.retained_from"
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
    })
}

fn get_session(c: &rusqlite::Connection, id: SessionId) -> Result<Option<Session>, StoreError> {
    let sql = format!("SELECT {} FROM sessions s WHERE s.id = ?1", cols());
    Ok(c.query_row(&sql, [id.to_string()], session_from_row).optional()?)
}

impl Store {
    /// Records a session a user requested; it starts in state `starting`.
    pub async fn create_requested_session(&self, scope: &OrgScope, new: NewSession) -> Result<Session, StoreError> {
        let org = scope.org_id();
        self.db
            .write(move |tx| {
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
                get_session(tx, id)?.ok_or(StoreError::NotFound)
            })
            .await
    }

    /// Inserts or refreshes a session an agent reports, as `state`. A session id that belongs
    /// to another machine is refused with `NotFound`.
    pub async fn upsert_agent_session(
        &self,
        org: OrgId,
        machine: MachineId,
        info: SessionInfo,
        state: SessionState,
    ) -> Result<Session, StoreError> {
        self.db
            .write(move |tx| {
                let at = now();
                tx.execute(
                    "INSERT INTO sessions (id, org_id, machine_id, source, kind, command, args, cwd, pid, state, cols, rows,
                        cpu_percent, memory_bytes, started_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
                     ON CONFLICT (id) DO UPDATE SET
                        pid = excluded.pid, cols = excluded.cols, rows = excluded.rows,
                        cpu_percent = excluded.cpu_percent, memory_bytes = excluded.memory_bytes,
                        updated_at = excluded.updated_at,
                        -- An agent re-announcing a session it still holds output for never brings
                        -- an ended session back to life; a stale one (agent was away) it does.
                        state = CASE WHEN sessions.state IN ('exited', 'crashed') THEN sessions.state
                                     ELSE excluded.state END
                     WHERE sessions.machine_id = excluded.machine_id",
                    params![
                        info.session_id.to_string(),
                        org.to_string(),
                        machine.to_string(),
                        source_str(info.source),
                        info.kind,
                        info.command,
                        serde_json::to_string(&info.args).unwrap_or_else(|_| "[]".into()),
                        info.cwd,
                        info.pid,
                        state_str(state),
                        info.cols.max(1),
                        info.rows.max(1),
                        f64::from(info.cpu_percent),
                        i64::try_from(info.memory_bytes).unwrap_or(i64::MAX),
                        info.started_at,
                        at
                    ],
                )?;
                let session = get_session(tx, info.session_id)?.ok_or(StoreError::NotFound)?;
                if session.machine_id != machine {
                    return Err(StoreError::NotFound);
                }
                Ok(session)
            })
            .await
    }

    /// Ends or updates a session of `machine`: `exit_code`/`reason` are kept when given.
    pub async fn set_session_state(
        &self,
        machine: MachineId,
        id: SessionId,
        state: SessionState,
        exit_code: Option<i32>,
        reason: Option<String>,
    ) -> Result<Session, StoreError> {
        self.db
            .write(move |tx| {
                let at = now();
                let ended = (!state.is_live()).then_some(at);
                let n = tx.execute(
                    "UPDATE sessions SET state = ?1, exit_code = COALESCE(?2, exit_code), reason = COALESCE(?3, reason),
                        ended_at = CASE WHEN ?4 IS NULL THEN NULL ELSE COALESCE(ended_at, ?4) END, updated_at = ?5
                     WHERE id = ?6 AND machine_id = ?7",
                    params![state_str(state), exit_code, reason, ended, at, id.to_string(), machine.to_string()],
                )?;
                if n == 0 {
                    return Err(StoreError::NotFound);
                }
                get_session(tx, id)?.ok_or(StoreError::NotFound)
            })
            .await
    }

    /// Marks live sessions stale (their agent went away and never reported them again), or
    /// crashed when they never started. Returns the sessions it changed.
    pub async fn mark_sessions_stale(&self, ids: Vec<SessionId>) -> Result<Vec<Session>, StoreError> {
        self.db
            .write(move |tx| {
                let at = now();
                let mut out = Vec::new();
                for id in ids {
                    // A session that never started (its machine never confirmed it) has
                    // crashed; one that was running just lost its agent, which may come back.
                    let n = tx.execute(
                        "UPDATE sessions SET updated_at = ?1,
                            state = CASE state WHEN 'starting' THEN 'crashed' ELSE 'stale' END,
                            ended_at = CASE state WHEN 'starting' THEN ?1 ELSE ended_at END,
                            reason = CASE state WHEN 'starting' THEN 'the machine never started the session'
                                                ELSE reason END
                         WHERE id = ?2 AND state IN ('starting', 'running')",
                        params![at, id.to_string()],
                    )?;
                    if n > 0 {
                        out.extend(get_session(tx, id)?);
                    }
                }
                Ok(out)
            })
            .await
    }

    /// Discovered sessions of `machine` that are live in the registry but no longer reported:
    /// they ended while nobody was watching.
    pub async fn end_unreported_discovered(
        &self,
        machine: MachineId,
        reported: Vec<SessionId>,
    ) -> Result<Vec<Session>, StoreError> {
        self.db
            .write(move |tx| {
                let mut stmt = tx.prepare_cached(
                    "SELECT id FROM sessions WHERE machine_id = ?1 AND source = 'discovered' AND state IN ('starting', 'running')",
                )?;
                let live: Vec<SessionId> =
                    stmt.query_map([machine.to_string()], |r| parse_col(r, 0))?.collect::<Result<_, _>>()?;
                drop(stmt);
                let at = now();
                let mut out = Vec::new();
                for id in live.into_iter().filter(|id| !reported.contains(id)) {
                    tx.execute(
                        "UPDATE sessions SET state = 'exited', ended_at = ?1, updated_at = ?1 WHERE id = ?2",
                        params![at, id.to_string()],
                    )?;
                    out.extend(get_session(tx, id)?);
                }
                Ok(out)
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
