//! What agents change about sessions: they announce them (insert or refresh), end them, resize
//! them and say whether they wait for their user; and what the relay decides when agents go
//! away (stale, or crashed before they started). Every write checks that the session belongs
//! to the machine that reports it.

use rusqlite::{OptionalExtension, params};
use sessionforge_shared::ids::{MachineId, OrgId, SessionId};
use sessionforge_shared::protocol::{SessionInfo, SessionSource, SessionState, usable_size};

use super::sessions::{Session, get_session, record_size, source_str, state_str};
use super::{Store, StoreError, now, parse_col};

impl Store {
    /// Inserts or refreshes a session an agent reports, as `state`. A session id that belongs
    /// to another machine is refused with `NotFound`; a new session on a machine that already
    /// has `max_live` live ones with `Conflict`.
    pub async fn upsert_agent_session(
        &self,
        org: OrgId,
        machine: MachineId,
        info: SessionInfo,
        state: SessionState,
        max_live: u32,
    ) -> Result<Session, StoreError> {
        let catalogue = self.catalogue.clone();
        let (session, new) = self
            .db
            .write(move |tx| {
                let at = now();
                let known: bool = tx
                    .prepare_cached("SELECT EXISTS (SELECT 1 FROM sessions WHERE id = ?1)")?
                    .query_row([info.session_id.to_string()], |r| r.get(0))?;
                if !known && info.source == SessionSource::Relayed {
                    // A new session the agent relays counts against the plan's concurrent
                    // sessions like one started from the dashboard (discovered ones are only
                    // listed; sessions already known, resumed after a downgrade, stay).
                    let running: i64 = tx
                        .prepare_cached(
                            "SELECT COUNT(*) FROM sessions WHERE org_id = ?1 AND state IN ('starting', 'running')",
                        )?
                        .query_row([org.to_string()], |r| r.get(0))?;
                    super::entitlements::require(
                        tx,
                        org,
                        &catalogue,
                        crate::plans::Limit::ConcurrentSessions,
                        running.unsigned_abs(),
                    )?;
                }
                if !known {
                    let live: u32 = tx
                        .prepare_cached(
                            "SELECT COUNT(*) FROM sessions WHERE machine_id = ?1 AND state IN ('starting', 'running')",
                        )?
                        .query_row([machine.to_string()], |r| r.get(0))?;
                    if live >= max_live {
                        return Err(StoreError::Conflict(format!(
                            "this machine already has {live} live sessions, the most allowed"
                        )));
                    }
                }
                // Discovered sessions have no terminal of ours: their size stays unknown (0).
                let (cols, rows) = match info.source {
                    SessionSource::Relayed => usable_size(info.cols, info.rows),
                    SessionSource::Discovered => (info.cols, info.rows),
                };
                tx.execute(
                    "INSERT INTO sessions (id, org_id, machine_id, source, kind, command, args, cwd, pid, state, cols, rows,
                        cpu_percent, memory_bytes, started_at, updated_at, size_locked)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
                     ON CONFLICT (id) DO UPDATE SET
                        pid = excluded.pid,
                        cpu_percent = excluded.cpu_percent, memory_bytes = excluded.memory_bytes,
                        updated_at = excluded.updated_at, size_locked = excluded.size_locked,
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
                        cols,
                        rows,
                        f64::from(info.cpu_percent),
                        i64::try_from(info.memory_bytes).unwrap_or(i64::MAX),
                        info.started_at,
                        at,
                        info.local_terminal
                    ],
                )?;
                let session = get_session(tx, info.session_id)?.ok_or(StoreError::NotFound)?;
                if session.machine_id != machine {
                    return Err(StoreError::NotFound);
                }
                if session.source == SessionSource::Relayed && record_size(tx, session.id, session.output_end, cols, rows)? {
                    return Ok((get_session(tx, info.session_id)?.ok_or(StoreError::NotFound)?, !known));
                }
                Ok((session, !known))
            })
            .await?;
        if new {
            self.meter.add(org, now(), |c| c.sessions_started += 1);
        }
        Ok(session)
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
                        ended_at = CASE WHEN ?4 IS NULL THEN NULL ELSE COALESCE(ended_at, ?4) END, updated_at = ?5,
                        waiting_for_input = CASE WHEN ?4 IS NULL THEN waiting_for_input ELSE 0 END
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

    /// A relayed session of `machine` has the size `cols`×`rows` from output offset `at` on.
    /// Returns the session when the size changed, `None` when it already had that size.
    pub async fn resize_session(
        &self,
        machine: MachineId,
        id: SessionId,
        at: u64,
        cols: u16,
        rows: u16,
    ) -> Result<Option<Session>, StoreError> {
        let (cols, rows) = usable_size(cols, rows);
        self.db
            .write(move |tx| {
                let owned: Option<String> = tx
                    .query_row("SELECT machine_id FROM sessions WHERE id = ?1", [id.to_string()], |r| r.get(0))
                    .optional()?;
                if owned.as_deref() != Some(machine.to_string().as_str()) {
                    return Err(StoreError::NotFound);
                }
                if !record_size(tx, id, at, cols, rows)? {
                    return Ok(None);
                }
                get_session(tx, id)
            })
            .await
    }

    /// Records whether a live session of `machine` waits for its user; returns whether that
    /// changed.
    pub async fn set_session_waiting(
        &self,
        machine: MachineId,
        id: SessionId,
        waiting: bool,
    ) -> Result<bool, StoreError> {
        self.db
            .write(move |tx| {
                let n = tx.execute(
                    "UPDATE sessions SET waiting_for_input = ?1
                     WHERE id = ?2 AND machine_id = ?3 AND waiting_for_input != ?1 AND state IN ('starting', 'running')",
                    params![waiting, id.to_string(), machine.to_string()],
                )?;
                Ok(n > 0)
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
}
