//! The storage boundary. Handlers and the relay talk to `Store` and the domain types of its
//! aggregate modules; nothing above this module sees SQL or rusqlite. A second backend (say
//! Postgres) would replace the bodies here and in the aggregate modules, not the API.
//!
//! Tenant isolation lives here too: every org-scoped read or write takes an [`orgs::OrgScope`],
//! which only [`Store::org_scope`] can make, and which exists only for members of the org.

mod db;
mod migrations;

pub mod account_links;
pub mod api_keys;
pub mod audit;
pub mod billing;
pub mod billing_views;
pub mod entitlements;
pub mod installed_license;
pub mod invitations;
pub mod licenses;
pub mod login_sessions;
pub mod machines;
pub mod notifications;
pub mod org_settings;
pub mod orgs;
pub mod outbox;
pub mod output;
mod output_space;
pub mod plan_retention;
pub mod preferences;
pub mod releases;
pub mod segments;
mod session_updates;
pub mod sessions;
pub mod snapshot;
pub mod templates;
pub mod usage;
pub mod users;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use db::Db;
pub use db::PoolStats;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    /// A rule of the domain refuses the change (`code` says which, for clients: `SEAT_LIMIT`,
    /// `LAST_OWNER`, …).
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    /// The org's plan does not allow one more of `limit`.
    #[error("the {plan} plan allows {max} {limit}; {used} in use")]
    PlanLimit { limit: &'static str, max: u64, used: u64, plan: String, upgrade_url: String },
    /// A single-use link or invitation that no longer works (`LINK_EXPIRED`, `LINK_USED`, …).
    #[error("{message}")]
    Gone { code: &'static str, message: String },
    /// A cap that keeps one account from growing the server without bound.
    #[error("{what}: {limit} (the server's {setting})")]
    LimitReached { what: &'static str, limit: u32, setting: &'static str },
    #[error(
        "the database schema is version {found}, newer than this server knows ({known}); \
         run a newer sessionforge-server or restore a backup of the data dir"
    )]
    SchemaTooNew { found: i64, known: usize },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database pool error: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("{0}")]
    Internal(String),
}

/// Cheap to clone; all clones share one database.
#[derive(Clone, Debug)]
pub struct Store {
    db: Arc<Db>,
    /// The plan catalogue limits are checked against (see [`entitlements`]).
    catalogue: crate::plans::Catalogue,
    /// Usage counted in memory until the next flush (see [`usage`]).
    meter: Arc<usage::Meter>,
    /// Orgs' plans for the hot paths, dropped whenever a plan source changes.
    plans: Arc<entitlements::PlanCache>,
    /// Where stored output's bytes live (see [`segments`]).
    segments: Arc<segments::Segments>,
}

/// The directory beside the database that holds output segments.
pub const OUTPUT_DIR: &str = "output";

impl Store {
    pub fn open(path: &Path, readers: u32, busy_timeout: Duration) -> Result<Self, StoreError> {
        let catalogue = crate::plans::Catalogue::new(&crate::settings::PlansSettings::default());
        let db = Db::open(path, readers, busy_timeout)?;
        // Segments are numbered above every one the index refers to.
        let floor: i64 = rusqlite::Connection::open(path)?.query_row(
            "SELECT COALESCE(MAX(segment), 0) FROM session_output",
            [],
            |r| r.get(0),
        )?;
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).join(OUTPUT_DIR);
        let segments = segments::Segments::open(&dir, u64::try_from(floor).unwrap_or(0))
            .map_err(|e| StoreError::Internal(format!("cannot open {}: {e}", dir.display())))?;
        Ok(Self {
            db: Arc::new(db),
            catalogue,
            meter: Arc::default(),
            plans: Arc::default(),
            segments: Arc::new(segments),
        })
    }

    /// Checks limits against `catalogue` from now on (set before the store is shared).
    pub fn set_catalogue(&mut self, catalogue: crate::plans::Catalogue) {
        self.catalogue = catalogue;
        self.plans.clear();
    }

    pub fn catalogue(&self) -> &crate::plans::Catalogue {
        &self.catalogue
    }

    /// A round trip through a reader connection, for health checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?)).await.map(|_| ())
    }

    pub fn pool_stats(&self) -> PoolStats {
        self.db.stats()
    }
}

/// Seconds since the Unix epoch; every stored timestamp uses this unit.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Maps "no rows" to `NotFound` for single-row lookups.
fn optional<T>(r: rusqlite::Result<T>) -> Result<Option<T>, StoreError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Reads a text column holding one of our typed ids or enums, reporting bad data as a SQL error.
fn parse_col<T>(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<T>
where
    T: std::str::FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let text: String = row.get(idx)?;
    text.parse::<T>()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e)))
}
