//! The SQLite handle: exactly one writer connection on its own thread, a small pool of
//! read-only readers reached through `spawn_blocking`, and a background checkpointer, all in WAL
//! mode. No query ever runs on the async runtime.
//!
//! Commits are durable: the writer runs with `synchronous = FULL`, so a commit returns only once
//! the WAL is synced to disk, and relayed output is acknowledged to agents only after its
//! commit (group commit: one sync covers every session's output in a batch). The writer keeps
//! the normal CPU priority — acks wait for it, and a starved writer makes agents hold back
//! output. Only the checkpointer, which nothing waits for, runs at the lowest priority.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use r2d2::{Pool, PooledConnection};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::{StoreError, migrations};

type Manager = SqliteConnectionManager;

/// How long a request waits for a pooled connection before giving up.
const POOL_WAIT: Duration = Duration::from_secs(10);
/// How often the background checkpointer copies the WAL into the database. Checkpoints run on
/// their own connection and thread (PASSIVE, never blocking the writer), instead of inside
/// whichever write happens to cross SQLite's auto-checkpoint threshold.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// The WAL is truncated to this size after a checkpoint resets it, in bytes.
const WAL_SIZE_LIMIT: u64 = 64 * 1024 * 1024;
/// Page cache of the writer connection, in KiB (relayed output makes it the busiest one).
const WRITER_CACHE_KIB: u32 = 32 * 1024;
/// Page size for new databases: most rows are output chunks of tens of KiB.
const PAGE_SIZE: u32 = 16 * 1024;
/// Write jobs queued for the writer thread before callers wait.
const WRITE_QUEUE: usize = 1024;

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

#[derive(Debug)]
pub struct Db {
    writer: tokio::sync::mpsc::Sender<Job>,
    writer_busy: Arc<AtomicBool>,
    readers: Pool<Manager>,
    /// Dropping this stops the checkpointer thread.
    _checkpointer: std::sync::mpsc::Sender<()>,
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
                 PRAGMA synchronous = FULL;
                 PRAGMA wal_autocheckpoint = 0;
                 PRAGMA journal_size_limit = {WAL_SIZE_LIMIT};
                 PRAGMA cache_size = -{WRITER_CACHE_KIB};
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

        // The writer migrates before anything else may touch the database.
        let mut conn = Connection::open(path)?;
        // Only takes effect while the database is still empty (it is fixed once tables exist).
        conn.execute_batch(&format!("PRAGMA page_size = {PAGE_SIZE};"))?;
        use_incremental_vacuum(&conn)?;
        writer_init(&mut conn)?;
        migrate(&mut conn)?;
        let writer_busy = Arc::new(AtomicBool::new(false));
        let writer = spawn_writer(conn, writer_busy.clone())?;

        let readers = Pool::builder()
            .max_size(readers)
            .min_idle(Some(1))
            .connection_timeout(POOL_WAIT)
            .build(Manager::file(path).with_init(reader_init))?;
        let checkpointer = spawn_checkpointer(path, busy_ms)?;
        Ok(Self { writer, writer_busy, readers, _checkpointer: checkpointer })
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

    /// Runs `f` inside an immediate transaction on the writer thread. The transaction commits
    /// when `f` returns `Ok` and rolls back otherwise.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn: &mut Connection| {
            let run = || {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let out = f(&tx)?;
                tx.commit()?;
                Ok(out)
            };
            let _ = done.send(run());
        });
        let gone = || StoreError::Internal("the database writer has stopped".into());
        self.writer.send(job).await.map_err(|_| gone())?;
        result.await.map_err(|_| gone())?
    }

    pub fn stats(&self) -> PoolStats {
        let readers = self.readers.state();
        PoolStats {
            readers_open: readers.connections,
            readers_idle: readers.idle_connections,
            writer_busy: self.writer_busy.load(Ordering::Relaxed),
        }
    }
}

/// Starts the writer thread that owns `conn` and runs write jobs in order.
fn spawn_writer(mut conn: Connection, busy: Arc<AtomicBool>) -> Result<tokio::sync::mpsc::Sender<Job>, StoreError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Job>(WRITE_QUEUE);
    std::thread::Builder::new()
        .name("sqlite-writer".into())
        .spawn(move || {
            while let Some(job) = rx.blocking_recv() {
                busy.store(true, Ordering::Relaxed);
                job(&mut conn);
                busy.store(false, Ordering::Relaxed);
            }
        })
        .map_err(|e| StoreError::Internal(format!("cannot start the database writer: {e}")))?;
    Ok(tx)
}

/// Gives the calling thread the lowest CPU priority; best effort. On Linux it moves to
/// `SCHED_IDLE`, which runs only when nothing else wants the CPU.
#[cfg(target_os = "linux")]
fn lowest_priority() {
    use thread_priority::ThreadPriority;
    use thread_priority::unix::{
        NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy, thread_native_id,
    };
    let policy = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    if let Err(e) = set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, policy) {
        tracing::debug!(error = ?e, "cannot change the database thread's scheduling");
    }
}

/// Gives the calling thread the lowest CPU priority; best effort.
#[cfg(not(target_os = "linux"))]
fn lowest_priority() {
    if let Err(e) = thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min) {
        tracing::debug!(error = ?e, "cannot lower the database thread's priority");
    }
}

/// Runs PASSIVE checkpoints every [`CHECKPOINT_EVERY`] until the returned sender is dropped.
fn spawn_checkpointer(path: &Path, busy_ms: u128) -> Result<std::sync::mpsc::Sender<()>, StoreError> {
    let conn = Connection::open(path)?;
    conn.execute_batch(&format!("PRAGMA busy_timeout = {busy_ms};"))?;
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            lowest_priority();
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(CHECKPOINT_EVERY) {
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(error = %e, "WAL checkpoint failed");
                }
            }
            // A final full checkpoint leaves a tidy database behind on shutdown.
            let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        })
        .map_err(|e| StoreError::Internal(format!("cannot start the checkpointer: {e}")))?;
    Ok(tx)
}

async fn blocking<T, F>(f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(f).await.map_err(|e| StoreError::Internal(format!("database task failed: {e}")))?
}

/// Makes the database give deleted pages back to the file system on request (`PRAGMA
/// incremental_vacuum`) instead of keeping them forever. A new database just says so; an older
/// one is rewritten once by `VACUUM` (which needs as much free disk as the database takes).
fn use_incremental_vacuum(conn: &Connection) -> Result<(), StoreError> {
    const INCREMENTAL: i64 = 2;
    let mode: i64 = conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?;
    if mode == INCREMENTAL {
        return Ok(());
    }
    let tables: i64 = conn.query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get(0))?;
    if tables > 0 {
        tracing::info!("converting the database to incremental vacuum (once; this rewrites it)");
    }
    conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;")?;
    Ok(())
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
        let vacuum: i64 = db.read(|c| Ok(c.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?)).await.expect("vacuum");
        assert_eq!(vacuum, 2, "incremental");
        let err = db.read(|c| Ok(c.execute("DELETE FROM users", [])?)).await;
        assert!(err.is_err(), "readers are query-only");
        let n = db.write(|tx| Ok(tx.execute("DELETE FROM users", [])?)).await.expect("writer writes");
        assert_eq!(n, 0);
    }
}
