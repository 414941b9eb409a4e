//! The SQLite handle: exactly one writer connection and a small pool of read-only readers, all
//! in WAL mode, reached only through `spawn_blocking` so that no query runs on the async runtime.

use std::path::Path;
use std::time::Duration;

use r2d2::{Pool, PooledConnection};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::{StoreError, migrations};

type Manager = SqliteConnectionManager;

/// How long a request waits for a pooled connection before giving up.
const POOL_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct Db {
    writer: Pool<Manager>,
    readers: Pool<Manager>,
}

/// Connection counts for `/metrics`.
#[derive(Debug, Clone, Copy)]
pub struct PoolStats {
    pub readers_open: u32,
    pub readers_idle: u32,
    pub writer_busy: bool,
}

impl Db {
    /// Opens (creating if needed) the database at `path`, applies pending migrations, and refuses
    /// a database whose schema is newer than this build knows.
    pub fn open(path: &Path, readers: u32, busy_timeout: Duration) -> Result<Self, StoreError> {
        let busy_ms = busy_timeout.as_millis();
        let writer_init = move |c: &mut Connection| {
            c.execute_batch(&format!(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = NORMAL;
                 PRAGMA foreign_keys = ON;
                 PRAGMA busy_timeout = {busy_ms};"
            ))
        };
        let reader_init = move |c: &mut Connection| {
            c.execute_batch(&format!(
                "PRAGMA foreign_keys = ON;
                 PRAGMA busy_timeout = {busy_ms};
                 PRAGMA query_only = ON;"
            ))
        };

        // Migrate on a dedicated connection before any pool exists.
        let mut conn = Connection::open(path)?;
        writer_init(&mut conn)?;
        migrate(&mut conn)?;
        drop(conn);

        let writer = Pool::builder()
            .max_size(1)
            .connection_timeout(POOL_WAIT)
            .build(Manager::file(path).with_init(writer_init))?;
        let readers = Pool::builder()
            .max_size(readers)
            .min_idle(Some(1))
            .connection_timeout(POOL_WAIT)
            .build(Manager::file(path).with_init(reader_init))?;
        Ok(Self { writer, readers })
    }

    /// Runs `f` on a reader connection, off the async runtime.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = self.readers.clone();
        blocking(move || {
            let conn: PooledConnection<Manager> = pool.get()?;
            f(&conn)
        })
        .await
    }

    /// Runs `f` inside an immediate transaction on the single writer, off the async runtime.
    /// The transaction commits when `f` returns `Ok` and rolls back otherwise.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = self.writer.clone();
        blocking(move || {
            let mut conn = pool.get()?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    pub fn stats(&self) -> PoolStats {
        let readers = self.readers.state();
        let writer = self.writer.state();
        PoolStats {
            readers_open: readers.connections,
            readers_idle: readers.idle_connections,
            writer_busy: writer.connections > writer.idle_connections,
        }
    }
}

async fn blocking<T, F>(f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(f).await.map_err(|e| StoreError::Internal(format!("database task failed: {e}")))?
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = migrations::latest_version();
    if found > known as i64 {
        return Err(StoreError::SchemaTooNew { found, known });
    }
    migrations::all().to_latest(conn).map_err(|e| StoreError::Internal(format!("migration failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_a_database_from_the_future() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db.sqlite");
        Db::open(&path, 1, Duration::from_secs(1)).expect("fresh open");
        let conn = Connection::open(&path).expect("open");
        conn.pragma_update(None, "user_version", 999).expect("bump");
        drop(conn);
        let err = Db::open(&path, 1, Duration::from_secs(1)).expect_err("must refuse");
        assert!(matches!(err, StoreError::SchemaTooNew { found: 999, .. }), "{err}");
    }

    #[tokio::test]
    async fn readers_cannot_write_and_pragmas_hold() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(&dir.path().join("db.sqlite"), 2, Duration::from_secs(1)).expect("open");
        let (mode, fk): (String, i64) = db
            .read(|c| {
                let mode = c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
                let fk = c.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
                Ok((mode, fk))
            })
            .await
            .expect("pragmas");
        assert_eq!(mode, "wal");
        assert_eq!(fk, 1);
        let err = db.read(|c| Ok(c.execute("DELETE FROM users", [])?)).await;
        assert!(err.is_err(), "readers are query-only");
        let n = db.write(|tx| Ok(tx.execute("DELETE FROM users", [])?)).await.expect("writer writes");
        assert_eq!(n, 0);
    }
}
