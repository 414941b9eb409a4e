//! Stored output's space: what it takes (the database's pages and the output segments, and of
//! those what is still referenced), keeping it within the server's budget by dropping the
//! oldest output first, deleting segments nothing refers to, and returning freed database pages.

use std::collections::HashSet;

use super::output::{STORED_END, io_error, u};
use super::{Store, StoreError};

impl Store {
    /// Bytes stored output takes on disk: the database's pages in use (freed pages not counted)
    /// and the output segment files.
    pub async fn stored_bytes(&self) -> Result<u64, StoreError> {
        let segments = self.segments.clone();
        self.db
            .read(move |c| {
                let files = segments.disk_bytes().map_err(io_error("cannot measure the output segments"))?;
                Ok(database_bytes(c)? + files)
            })
            .await
    }

    /// Bytes of stored output still kept: the database's pages in use and the segment bytes
    /// chunks refer to (less than the files hold while dropped output waits for its segment to
    /// empty). Reads every chunk's row: called only when the files are over the budget.
    pub async fn referenced_bytes(&self) -> Result<u64, StoreError> {
        self.db
            .read(|c| {
                let referenced: i64 = c.query_row(
                    "SELECT COALESCE(SUM(end_offset - start_offset), 0) FROM session_output WHERE segment IS NOT NULL",
                    [],
                    |r| r.get(0),
                )?;
                Ok(database_bytes(c)? + u(referenced))
            })
            .await
    }

    /// Drops the oldest output while what is kept exceeds `budget` (0: no budget), a little
    /// past it so that this does not run on every call. Space comes back when a segment empties
    /// (see [`Self::collect_segments`]), so the files may exceed the budget by about one
    /// segment; counting what is kept, not the files, keeps one full segment from making every
    /// call drop more. Returns `(bytes kept before, bytes dropped)`.
    pub async fn keep_output_within(&self, budget: u64) -> Result<(u64, u64), StoreError> {
        if budget == 0 {
            return Ok((0, 0));
        }
        let on_disk = self.stored_bytes().await?;
        if on_disk <= budget {
            return Ok((on_disk, 0));
        }
        let kept = self.referenced_bytes().await?;
        if kept <= budget {
            return Ok((kept, 0));
        }
        let dropped = self.drop_oldest_output(kept - budget + budget / 20).await?;
        Ok((kept, dropped))
    }

    /// Deletes output segments no chunk refers to any more (see [`super::segments`]); returns
    /// the bytes freed.
    pub async fn collect_segments(&self) -> Result<u64, StoreError> {
        let referenced: HashSet<u64> = self
            .db
            .read(|c| {
                let mut stmt =
                    c.prepare_cached("SELECT DISTINCT segment FROM session_output WHERE segment IS NOT NULL")?;
                let ids = stmt.query_map([], |r| r.get::<_, i64>(0))?.map(|r| r.map(u)).collect::<Result<_, _>>()?;
                Ok(ids)
            })
            .await?;
        let segments = self.segments.clone();
        tokio::task::spawn_blocking(move || segments.collect(&referenced))
            .await
            .map_err(|e| StoreError::Internal(format!("segment collection failed: {e}")))?
            .map_err(io_error("cannot delete unused output segments"))
    }

    /// Deletes the oldest stored output, across all sessions, until about `bytes` are freed
    /// (whole chunks, at most `MAX_DROP_CHUNKS` per call); each affected session keeps where its
    /// output ends and starts after the dropped part. Returns the bytes dropped.
    pub async fn drop_oldest_output(&self, bytes: u64) -> Result<u64, StoreError> {
        /// Most chunks one call deletes (a few MB of work per transaction).
        const MAX_DROP_CHUNKS: i64 = 2000;
        self.db
            .write(move |tx| {
                let mut pick = tx.prepare_cached(
                    "SELECT rowid, session_id, end_offset,
                            COALESCE(length(data), CASE WHEN segment IS NOT NULL THEN end_offset - start_offset END, 0)
                     FROM session_output
                     ORDER BY at_ms LIMIT ?1",
                )?;
                let mut rows = pick.query([MAX_DROP_CHUNKS])?;
                let mut doomed: Vec<(i64, String, i64)> = Vec::new();
                let mut freed = 0u64;
                while freed < bytes
                    && let Some(r) = rows.next()?
                {
                    freed += u(r.get(3)?);
                    doomed.push((r.get(0)?, r.get(1)?, r.get(2)?));
                }
                drop(rows);
                drop(pick);
                let mut sessions: Vec<&str> = doomed.iter().map(|(_, s, _)| s.as_str()).collect();
                sessions.sort_unstable();
                sessions.dedup();
                for sid in &sessions {
                    // Where the output ends is kept even if every chunk goes.
                    tx.prepare_cached(&format!("UPDATE sessions AS s SET output_end = {STORED_END} WHERE s.id = ?1"))?
                        .execute([sid])?;
                }
                let mut delete = tx.prepare_cached("DELETE FROM session_output WHERE rowid = ?1")?;
                for (rowid, _, _) in &doomed {
                    delete.execute([rowid])?;
                }
                drop(delete);
                for sid in &sessions {
                    tx.prepare_cached(
                        "UPDATE sessions SET retained_from = COALESCE(
                            (SELECT MIN(start_offset) FROM session_output WHERE session_id = ?1), output_end)
                         WHERE id = ?1",
                    )?
                    .execute([sid])?;
                }
                Ok(freed)
            })
            .await
    }

    /// Returns up to `pages` free pages to the file system (the database uses incremental
    /// vacuum, so deleting never shrinks the file by itself).
    pub async fn incremental_vacuum(&self, pages: u32) -> Result<(), StoreError> {
        self.db.write(move |tx| Ok(tx.execute_batch(&format!("PRAGMA incremental_vacuum({pages});"))?)).await
    }
}

/// Bytes of the database's pages in use.
fn database_bytes(c: &rusqlite::Connection) -> Result<u64, StoreError> {
    let pages: i64 = c.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let free: i64 = c.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    let size: i64 = c.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok(u((pages - free).max(0) * size))
}
