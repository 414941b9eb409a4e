//! Stored terminal output: contiguous chunks keyed by byte offset, written in batches by the
//! relay's persister and read back by offset range. Writing is idempotent by offset: a chunk
//! (or part of one) that is already stored is skipped, so an agent may resend freely.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};
use sessionforge_shared::ids::SessionId;

pub use super::segments::Placed;
use super::{Store, StoreError, now};

/// One chunk to store: data, or a gap (bytes lost on the agent) when `data` is `None`.
#[derive(Clone, Debug)]
pub struct OutputWrite {
    pub session_id: SessionId,
    pub start: u64,
    pub end: u64,
    pub data: Option<bytes::Bytes>,
}

/// A stored chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredChunk {
    pub start: u64,
    pub end: u64,
    pub at_ms: i64,
    /// `None` for a gap.
    pub data: Option<Vec<u8>>,
}

/// What a batch write did to one session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stored {
    pub session_id: SessionId,
    /// Offset just past everything stored for the session (for a session that no longer
    /// exists: past everything it was sent, which was dropped).
    pub end: u64,
    /// Output before this offset is no longer kept (retention).
    pub retained_from: u64,
}

pub(super) fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(super) fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// SQL for a session's stored end (`s` is the sessions row): its last chunk, or the recorded end
/// when retention removed every chunk.
pub(super) const STORED_END: &str =
    "COALESCE((SELECT MAX(o.end_offset) FROM session_output o WHERE o.session_id = s.id), s.output_end)";

/// Deletes chunks ending at or before `cut`, recording where stored output now begins and ends;
/// returns the new beginning.
pub(super) fn trim(tx: &rusqlite::Transaction<'_>, session: SessionId, cut: u64, end: u64) -> Result<u64, StoreError> {
    let sid = session.to_string();
    tx.prepare_cached("DELETE FROM session_output WHERE session_id = ?1 AND end_offset <= ?2")?
        .execute(params![sid, i(cut)])?;
    let retained: i64 = tx
        .prepare_cached(
            "UPDATE sessions SET output_end = ?2, retained_from = COALESCE(
                (SELECT MIN(start_offset) FROM session_output WHERE session_id = ?1), ?2)
             WHERE id = ?1 RETURNING retained_from",
        )?
        .query_row(params![sid, i(end)], |r| r.get(0))?;
    Ok(u(retained))
}

fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Largest chunk an index row describes when contiguous writes of a session are merged.
const MAX_CHUNK: u64 = 256 * 1024;

/// One index row to insert: bytes at a place in a segment, or a gap (`at` is `None`).
#[derive(Debug)]
struct Row {
    session_id: SessionId,
    start: u64,
    end: u64,
    at: Option<Placed>,
}

/// Adds `row` to `rows`, extending the last row instead when it continues it (same session,
/// next offset, next byte of the same segment), so a burst of small frames becomes a few rows.
fn push_row(rows: &mut Vec<Row>, row: Row) {
    if let Some(last) = rows.last_mut()
        && last.session_id == row.session_id
        && last.end == row.start
        && let (Some(a), Some(b)) = (last.at, row.at)
        && a.segment == b.segment
        && a.pos + (last.end - last.start) == b.pos
        && row.end - last.start <= MAX_CHUNK
    {
        last.end = row.end;
        return;
    }
    rows.push(row);
}

pub(super) fn io_error(what: &str) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |e| StoreError::Internal(format!("{what}: {e}"))
}

impl Store {
    /// Stores a batch: first every write's bytes, appended to the current output segment and
    /// synced once, then their index rows in one transaction (committed with a sync too). Only
    /// then is the batch stored, and may be acked. Chunks must be in offset order per session;
    /// parts below a session's stored end are skipped, and a hole before a chunk is stored as a
    /// gap. Keeps at most about `retain_bytes` per session, dropping the oldest chunks.
    ///
    /// Every session in the batch gets a [`Stored`], including one deleted meanwhile (its
    /// writes are dropped), so that nothing waits forever for output that will never be stored.
    ///
    /// Only `session_output` is written on the common path: a session's stored end is derived
    /// from its chunks, so a batch touching many sessions does not rewrite their rows too.
    pub async fn append_output(&self, batch: Vec<OutputWrite>, retain_bytes: u64) -> Result<Vec<Stored>, StoreError> {
        let placed = self.place_output(&batch).await?;
        self.index_output(batch, placed, retain_bytes).await
    }

    /// The second half of [`Self::append_output`]: commits the index rows of a batch whose bytes
    /// [`Self::place_output`] made durable. Retrying only this after a failed commit does not
    /// write the bytes again (a database that keeps failing would otherwise fill the disk).
    pub async fn index_output(
        &self,
        batch: Vec<OutputWrite>,
        placed: Vec<Option<Placed>>,
        retain_bytes: u64,
    ) -> Result<Vec<Stored>, StoreError> {
        self.db
            .write(move |tx| {
                let at_ms = now_ms();
                // Per session: (stored end, retained from, whether the session exists).
                let mut ends: HashMap<SessionId, (u64, u64, bool)> = HashMap::new();
                let mut rows: Vec<Row> = Vec::with_capacity(batch.len());
                let mut stored = tx
                    .prepare_cached(&format!("SELECT {STORED_END}, s.retained_from FROM sessions s WHERE s.id = ?1"))?;
                for (w, at) in batch.iter().zip(placed) {
                    let (end, retained, exists) = match ends.get(&w.session_id) {
                        Some(e) => *e,
                        None => {
                            let row: Option<(i64, i64)> = stored
                                .query_row([w.session_id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
                                .optional()?;
                            row.map_or((0, 0, false), |(e, r)| (u(e), u(r), true))
                        }
                    };
                    if !exists {
                        ends.insert(w.session_id, (end.max(w.end), retained, false));
                        continue;
                    }
                    if w.end <= end {
                        ends.insert(w.session_id, (end, retained, true));
                        continue;
                    }
                    if w.start > end {
                        push_row(&mut rows, Row { session_id: w.session_id, start: end, end: w.start, at: None });
                    }
                    let start = w.start.max(end);
                    let at = at.map(|p| Placed { segment: p.segment, pos: p.pos + (start - w.start) });
                    push_row(&mut rows, Row { session_id: w.session_id, start, end: w.end, at });
                    ends.insert(w.session_id, (w.end, retained, true));
                }
                drop(stored);
                let mut insert = tx.prepare_cached(
                    "INSERT INTO session_output (session_id, start_offset, end_offset, at_ms, segment, seg_pos)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                for r in &rows {
                    let (segment, pos) = r.at.map_or((None, None), |p| (Some(i(p.segment)), Some(i(p.pos))));
                    insert.execute(params![r.session_id.to_string(), i(r.start), i(r.end), at_ms, segment, pos])?;
                }
                drop(insert);
                let mut out = Vec::with_capacity(ends.len());
                for (session_id, (end, mut retained_from, exists)) in ends {
                    // Trim in steps of an eighth of the budget, not on every batch.
                    if exists && end.saturating_sub(retained_from) > retain_bytes.saturating_add(retain_bytes / 8) {
                        retained_from = trim(tx, session_id, end - retain_bytes, end)?;
                    }
                    out.push(Stored { session_id, end, retained_from });
                }
                Ok(out)
            })
            .await
    }

    /// The first half of [`Self::append_output`]: writes the batch's bytes to the current
    /// segment and syncs them; returns where each write's bytes are (`None` for gaps).
    pub async fn place_output(&self, batch: &[OutputWrite]) -> Result<Vec<Option<Placed>>, StoreError> {
        let data: Vec<Option<bytes::Bytes>> = batch.iter().map(|w| w.data.clone()).collect();
        if data.iter().all(Option::is_none) {
            return Ok(vec![None; data.len()]);
        }
        let segments = self.segments.clone();
        tokio::task::spawn_blocking(move || {
            let pieces: Vec<&[u8]> = data.iter().flatten().map(|d| &d[..]).collect();
            let mut placed =
                segments.append(&pieces).map_err(io_error("cannot write output to its segment"))?.into_iter();
            Ok(data.iter().map(|d| d.as_ref().and_then(|_| placed.next())).collect())
        })
        .await
        .map_err(|e| StoreError::Internal(format!("output writer task failed: {e}")))?
    }

    /// Stored chunks overlapping `[from, to)`, in order, stopping after about `max_bytes`.
    pub async fn read_output(
        &self,
        session: SessionId,
        from: u64,
        to: u64,
        max_bytes: usize,
    ) -> Result<Vec<StoredChunk>, StoreError> {
        let segments = self.segments.clone();
        self.db
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT start_offset, end_offset, at_ms, data, segment, seg_pos FROM session_output
                     WHERE session_id = ?1 AND end_offset > ?2 AND start_offset < ?3 ORDER BY end_offset",
                )?;
                let mut rows = stmt.query(params![session.to_string(), i(from), i(to)])?;
                let mut out = Vec::new();
                let mut total = 0usize;
                while let Some(r) = rows.next()? {
                    let (start, end) = (u(r.get(0)?), u(r.get(1)?));
                    let inline: Option<Vec<u8>> = r.get(3)?;
                    let place: (Option<i64>, Option<i64>) = (r.get(4)?, r.get(5)?);
                    let data = match (inline, place) {
                        (Some(d), _) => Some(d),
                        (None, (Some(seg), Some(pos))) => {
                            let len = usize::try_from(end - start).unwrap_or(usize::MAX);
                            Some(segments.read(u(seg), u(pos), len).map_err(io_error("cannot read stored output"))?)
                        }
                        _ => None,
                    };
                    let chunk = StoredChunk { start, end, at_ms: r.get(2)?, data };
                    total += chunk.data.as_ref().map_or(0, Vec::len);
                    out.push(chunk);
                    if total >= max_bytes {
                        break;
                    }
                }
                Ok(out)
            })
            .await
    }

    /// Deletes stored output of sessions that ended — or went stale, their agent gone — more
    /// than `days` days ago.
    pub async fn purge_output_older_than(&self, days: u64) -> Result<usize, StoreError> {
        let cutoff = now() - i64::try_from(days.saturating_mul(86_400)).unwrap_or(i64::MAX / 2);
        // When a session stopped mattering: its end, or for a stale one its last update.
        const OVER: &str = "COALESCE(s.ended_at, CASE WHEN s.state = 'stale' THEN s.updated_at END)";
        self.db
            .write(move |tx| {
                tx.execute(
                    &format!(
                        "UPDATE sessions AS s SET output_end = {STORED_END}, retained_from = {STORED_END}
                         WHERE {OVER} < ?1 AND EXISTS (SELECT 1 FROM session_output o WHERE o.session_id = s.id)"
                    ),
                    [cutoff],
                )?;
                let n = tx.execute(
                    &format!(
                        "DELETE FROM session_output WHERE session_id IN (SELECT s.id FROM sessions s WHERE {OVER} < ?1)"
                    ),
                    [cutoff],
                )?;
                Ok(n)
            })
            .await
    }
}

#[cfg(test)]
#[path = "output_tests.rs"]
mod tests;
