//! The numbered, append-only schema migrations, applied in order over `PRAGMA user_version`.
//! Each runs in its own transaction together with its version bump.

use rusqlite_migration::{M, Migrations};

/// Every migration this server knows, oldest first. Never edit or reorder a released entry.
const MIGRATIONS: &[M<'static>] = &[
    M::up(include_str!("../../migrations/0001_accounts.sql")),
    M::up(include_str!("../../migrations/0002_machines_sessions.sql")),
    M::up(include_str!("../../migrations/0003_releases.sql")),
    M::up(include_str!("../../migrations/0004_session_size_policy.sql")),
    M::up(include_str!("../../migrations/0005_release_trust.sql")),
    M::up(include_str!("../../migrations/0006_output_by_time.sql")),
];

pub fn all() -> Migrations<'static> {
    Migrations::from_slice(MIGRATIONS)
}

/// The schema version a fully migrated database has.
pub fn latest_version() -> usize {
    MIGRATIONS.len()
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        super::all().validate().expect("migrations apply cleanly to an empty database");
    }
}
