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
    M::up(include_str!("../../migrations/0007_templates_preferences.sql")),
    M::up(include_str!("../../migrations/0008_people.sql")),
    M::up(include_str!("../../migrations/0009_plans.sql")),
    M::up(include_str!("../../migrations/0010_licenses.sql")),
    M::up(include_str!("../../migrations/0011_usage_signins_activation.sql")),
    M::up(include_str!("../../migrations/0012_billing.sql")),
    M::up(include_str!("../../migrations/0013_output_segments.sql")),
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
    use std::time::Duration;

    use rusqlite::Connection;

    #[test]
    fn migrations_are_valid() {
        super::all().validate().expect("migrations apply cleanly to an empty database");
    }

    /// Data each schema version stored (`tests/fixtures/migrations/vN.sql`), oldest first.
    const FIXTURES: &[&str] = &[
        include_str!("../../tests/fixtures/migrations/v1.sql"),
        include_str!("../../tests/fixtures/migrations/v2.sql"),
        include_str!("../../tests/fixtures/migrations/v3.sql"),
        include_str!("../../tests/fixtures/migrations/v4.sql"),
        include_str!("../../tests/fixtures/migrations/v5.sql"),
        include_str!("../../tests/fixtures/migrations/v6.sql"),
        include_str!("../../tests/fixtures/migrations/v7.sql"),
        include_str!("../../tests/fixtures/migrations/v8.sql"),
        include_str!("../../tests/fixtures/migrations/v9.sql"),
        include_str!("../../tests/fixtures/migrations/v10.sql"),
        include_str!("../../tests/fixtures/migrations/v11.sql"),
        include_str!("../../tests/fixtures/migrations/v12.sql"),
    ];

    /// A database as schema version `version` left it: migrated step by step, with each
    /// version's data stored along the way.
    fn database_at(path: &std::path::Path, version: usize) {
        let mut conn = Connection::open(path).expect("open");
        for (i, fixture) in FIXTURES.iter().enumerate().take(version) {
            super::all().to_version(&mut conn, i + 1).expect("migrate");
            conn.execute_batch(fixture).expect("fixture");
        }
    }

    fn count(c: &Connection, sql: &str) -> i64 {
        c.query_row(sql, [], |r| r.get(0)).expect(sql)
    }

    #[tokio::test]
    async fn every_earlier_schema_migrates_to_the_current_one_with_its_data_intact() {
        assert_eq!(FIXTURES.len(), super::latest_version() - 1, "a fixture for every earlier version");
        for version in 1..super::latest_version() {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("old.db");
            database_at(&path, version);
            drop(crate::store::Store::open(&path, 1, Duration::from_secs(5)).expect("opens and migrates"));
            let c = Connection::open(&path).expect("reopen");
            let schema: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0)).expect("version");
            assert_eq!(schema, super::latest_version() as i64, "from v{version}");
            assert_eq!(count(&c, "SELECT COUNT(*) FROM users WHERE email = 'admin@example.com' AND is_admin = 1"), 1);
            assert_eq!(count(&c, "SELECT COUNT(*) FROM memberships"), 2, "from v{version}");
            assert_eq!(count(&c, "SELECT COUNT(*) FROM api_keys WHERE scopes = 'read write'"), 1);
            if version >= 2 {
                let bytes: Vec<u8> = c
                    .query_row("SELECT group_concat(CAST(data AS TEXT), '') FROM session_output", [], |r| {
                        r.get::<_, String>(0)
                    })
                    .expect("output")
                    .into_bytes();
                assert_eq!(bytes, b"hello worldbye!", "output and its gap survive from v{version}");
                assert_eq!(count(&c, "SELECT COUNT(*) FROM session_output WHERE data IS NULL"), 1);
                assert_eq!(count(&c, "SELECT size_locked + waiting_for_input FROM sessions"), 0, "new columns default");
                let list: String =
                    c.query_row("SELECT allowed_commands FROM org_settings", [], |r| r.get(0)).expect("allow-list");
                assert!(list.contains("aider"), "{list}");
            }
            if version >= 3 {
                assert_eq!(count(&c, "SELECT COUNT(*) FROM releases WHERE corrupt_at IS NULL"), 2);
                assert_eq!(count(&c, "SELECT COUNT(*) FROM releases WHERE yanked_at IS NOT NULL"), 1);
            }
            if version >= 4 {
                assert_eq!(count(&c, "SELECT COUNT(*) FROM session_resizes"), 2);
            }
            if version >= 5 {
                assert_eq!(count(&c, "SELECT COUNT(*) FROM signed_manifests"), 1);
            }
            let templates = if version >= 7 { 1 } else { 0 };
            assert_eq!(count(&c, "SELECT COUNT(*) FROM session_templates"), templates, "from v{version}");
            assert_eq!(count(&c, "SELECT COUNT(*) FROM user_preferences"), templates, "from v{version}");
            if version >= 8 {
                assert_eq!(count(&c, "SELECT COUNT(*) FROM audit_events"), 1, "from v{version}");
                assert_eq!(count(&c, "SELECT COUNT(*) FROM outbox WHERE state = 'sent'"), 1);
            }
            let overrides = if version >= 9 { 1 } else { 0 };
            assert_eq!(
                count(&c, "SELECT COUNT(*) FROM orgs WHERE plan_override IS NOT NULL"),
                overrides,
                "from v{version}"
            );
            let licenses = if version >= 10 { 1 } else { 0 };
            assert_eq!(count(&c, "SELECT COUNT(*) FROM licenses"), licenses, "from v{version}");
            assert_eq!(
                count(&c, "SELECT COUNT(*) FROM installed_license WHERE source = 'file' AND last_code IS NULL"),
                licenses,
                "from v{version}"
            );
            let metered = if version >= 11 { 1 } else { 0 };
            assert_eq!(count(&c, "SELECT COUNT(*) FROM usage_months WHERE api_calls = 42"), metered, "from v{version}");
            let billed = if version >= 12 { 1 } else { 0 };
            assert_eq!(count(&c, "SELECT COUNT(*) FROM org_billing"), billed, "from v{version}");
            // 0013: output kept inline before stays inline; nothing refers to a segment yet.
            assert_eq!(count(&c, "SELECT COUNT(*) FROM session_output WHERE segment IS NOT NULL"), 0);
            assert_eq!(count(&c, "SELECT COUNT(*) FROM login_sessions WHERE ended_at IS NOT NULL"), 0);
            // 0008: accounts made before sign-up existed count as verified.
            assert_eq!(count(&c, "SELECT COUNT(*) FROM users WHERE email_verified_at IS NULL"), 0, "from v{version}");
        }
    }
}
