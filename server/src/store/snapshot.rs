//! A consistent copy of the live database, taken while the server runs: `VACUUM INTO` reads one
//! snapshot (WAL readers never block the writer, so relaying goes on) and writes a compact copy.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::StoreError;

/// Writes a consistent copy of the database at `db` to `dest` (which must not exist); returns
/// the copy's schema version.
pub fn snapshot(db: &Path, dest: &Path, busy_timeout: Duration) -> Result<i64, StoreError> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(busy_timeout)?;
    let target = dest.to_str().ok_or_else(|| StoreError::Internal("the backup path is not UTF-8".into()))?;
    conn.execute("VACUUM INTO ?1", [target])?;
    let copy = Connection::open_with_flags(dest, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    Ok(copy.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// The output segments a database copy refers to, each with the length it needs to have (none
/// for a database from before segments, schema 12 and older).
pub fn segments(db: &Path) -> Result<Vec<(u64, u64)>, StoreError> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let has_segments: i64 =
        conn.query_row("SELECT COUNT(*) FROM pragma_table_info('session_output') WHERE name = 'segment'", [], |r| {
            r.get(0)
        })?;
    if has_segments == 0 {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare(
        "SELECT segment, MAX(seg_pos + end_offset - start_offset) FROM session_output
         WHERE segment IS NOT NULL GROUP BY segment ORDER BY segment",
    )?;
    let rows =
        stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows.into_iter().map(|(id, len)| (u64::try_from(id).unwrap_or(0), u64::try_from(len).unwrap_or(0))).collect())
}

/// Checks a database file about to be restored: it opens, passes SQLite's quick check, and its
/// schema is not newer than this server knows. Returns its schema version.
pub fn check(db: &Path) -> Result<i64, StoreError> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let ok: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if ok != "ok" {
        return Err(StoreError::Internal(format!("the database fails its integrity check: {ok}")));
    }
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = super::migrations::latest_version();
    if found > known as i64 {
        return Err(StoreError::SchemaTooNew { found, known });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_from_before_segments_refers_to_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("old.db");
        let mut conn = Connection::open(&path).expect("open");
        super::super::migrations::all().to_version(&mut conn, 12).expect("schema 12");
        drop(conn);
        assert_eq!(segments(&path).expect("segments"), Vec::new());
        assert_eq!(check(&path).expect("check"), 12, "and it may be restored");
    }
}
