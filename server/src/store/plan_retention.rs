//! Plans' output retention, applied by the relay's sweeper: per org, stored output of sessions
//! that ended (or went stale) more than the plan's `retention_days` ago is deleted, and
//! sessions keep at most the plan's `retention_bytes_per_session` (oldest bytes first). Both
//! count from when the sweeper first saw the org on its current plan at the earliest
//! (`org_plan_state`), so any change of plan — a downgrade, a lapsed subscription or license —
//! gives existing output the new plan's full period and never deletes anything at once. The
//! server's own `relay.retention_days` and byte limit still apply on top.

use rusqlite::{OptionalExtension, params};
use sessionforge_shared::ids::{OrgId, SessionId};

use super::entitlements::org_plan;
use super::output::{STORED_END, trim};
use super::{Store, StoreError, parse_col};

/// What a plan-retention pass removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    /// Chunks of ended sessions past the plan's days.
    pub chunks: usize,
    /// Sessions trimmed to the plan's bytes per session.
    pub trimmed: usize,
}

impl Store {
    /// Applies every org's plan retention as of `at`.
    pub async fn apply_plan_retention(&self, at: i64) -> Result<Purged, StoreError> {
        let catalogue = self.catalogue.clone();
        self.db
            .write(move |tx| {
                let orgs: Vec<OrgId> = tx
                    .prepare("SELECT id FROM orgs")?
                    .query_map([], |r| parse_col(r, 0))?
                    .collect::<Result<_, _>>()?;
                let mut purged = Purged::default();
                const OVER: &str = "COALESCE(s.ended_at, CASE WHEN s.state = 'stale' THEN s.updated_at END)";
                for org in orgs {
                    let plan = org_plan(tx, org, &catalogue)?;
                    let recorded: Option<(String, i64)> = tx
                        .query_row("SELECT plan, since FROM org_plan_state WHERE org_id = ?1", [org.to_string()], |r| {
                            Ok((r.get(0)?, r.get(1)?))
                        })
                        .optional()?;
                    let since = match recorded {
                        Some((p, since)) if p == plan.plan_id => since,
                        _ => {
                            tx.execute(
                                "INSERT INTO org_plan_state (org_id, plan, since) VALUES (?1, ?2, ?3)
                                 ON CONFLICT (org_id) DO UPDATE SET plan = excluded.plan, since = excluded.since",
                                params![org.to_string(), plan.plan_id, at],
                            )?;
                            at
                        }
                    };
                    let (days, bytes) = (plan.plan.retention_days, plan.plan.retention_bytes_per_session);
                    if days > 0 {
                        let cutoff = at - i64::from(days) * 86_400;
                        // Output of sessions over before the cutoff, counted from the plan's start.
                        let which = format!(
                            "s.org_id = ?1 AND {OVER} IS NOT NULL AND MAX({OVER}, ?3) < ?2"
                        );
                        tx.execute(
                            &format!(
                                "UPDATE sessions AS s SET output_end = {STORED_END}, retained_from = {STORED_END}
                                 WHERE {which} AND EXISTS (SELECT 1 FROM session_output o WHERE o.session_id = s.id)"
                            ),
                            params![org.to_string(), cutoff, since],
                        )?;
                        purged.chunks += tx.execute(
                            &format!("DELETE FROM session_output WHERE session_id IN (SELECT s.id FROM sessions s WHERE {which})"),
                            params![org.to_string(), cutoff, since],
                        )?;
                    }
                    if bytes > 0 {
                        let limit = i64::try_from(bytes).unwrap_or(i64::MAX);
                        // Sessions that started under this plan, holding more than it keeps.
                        // Where a session's output ends is derived from its chunks (the column lags).
                        let over: Vec<(SessionId, i64)> = tx
                            .prepare(&format!(
                                "SELECT s.id, {STORED_END} FROM sessions s
                                 WHERE s.org_id = ?1 AND s.started_at >= ?2 AND {STORED_END} - s.retained_from > ?3"
                            ))?
                            .query_map(params![org.to_string(), since, limit], |r| Ok((parse_col(r, 0)?, r.get(1)?)))?
                            .collect::<Result<_, _>>()?;
                        for (id, end) in over {
                            let end = end.unsigned_abs();
                            trim(tx, id, end.saturating_sub(bytes), end)?;
                            purged.trimmed += 1;
                        }
                    }
                }
                Ok(purged)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    async fn store(dir: &std::path::Path) -> Store {
        Store::open(&dir.join("sf.db"), 2, std::time::Duration::from_secs(5)).expect("open")
    }

    async fn exec(store: &Store, sql: &'static str, args: Vec<String>) {
        store
            .db
            .write(move |tx| {
                tx.execute(sql, rusqlite::params_from_iter(args.iter()))?;
                Ok::<_, StoreError>(())
            })
            .await
            .expect(sql);
    }

    async fn stored(store: &Store, session: &'static str) -> i64 {
        store
            .db
            .read(move |c| {
                Ok(c.query_row("SELECT COUNT(*) FROM session_output WHERE session_id = ?1", [session], |r| r.get(0))?)
            })
            .await
            .expect("count")
    }

    #[tokio::test]
    async fn a_plans_retention_deletes_old_output_but_never_at_once_after_a_downgrade() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store(dir.path()).await;
        let day = 86_400;
        let now = 1_800_000_000;
        // Two orgs on the free plan (7 days): one for 30 days, one downgraded yesterday. Each
        // has a session that ended 10 days ago with output.
        for (org, since, session) in [
            ("00000000-0000-4000-8000-00000000000a", now - 30 * day, "00000000-0000-4000-8000-0000000000c1"),
            ("00000000-0000-4000-8000-00000000000b", now - day, "00000000-0000-4000-8000-0000000000c2"),
        ] {
            exec(&store, "INSERT INTO orgs (id, name, created_at, plan_override, plan_override_at) VALUES (?1, ?1, 0, 'free', ?2)", vec![org.into(), since.to_string()]).await;
            exec(
                &store,
                "INSERT INTO org_plan_state (org_id, plan, since) VALUES (?1, 'free', ?2)",
                vec![org.into(), since.to_string()],
            )
            .await;
            exec(&store, "INSERT INTO machines (id, org_id, credential_hash, hostname, os, arch, enrolled_at) VALUES (?1, ?2, CAST(?1 AS BLOB), 'h', 'linux', 'x86_64', 0)", vec![format!("m-{org}"), org.into()]).await;
            exec(
                &store,
                "INSERT INTO sessions (id, org_id, machine_id, source, kind, command, state, started_at, updated_at, ended_at, output_end)
                 VALUES (?1, ?2, ?3, 'relayed', 'shell', 'sh', 'exited', ?4, ?4, ?4, 5)",
                vec![session.into(), org.into(), format!("m-{org}"), (now - 10 * day).to_string()],
            )
            .await;
            exec(&store, "INSERT INTO session_output (session_id, start_offset, end_offset, at_ms, data) VALUES (?1, 0, 5, 0, X'6869212121')", vec![session.into()]).await;
        }
        let purged = store.apply_plan_retention(now).await.expect("purge");
        assert_eq!(purged.chunks, 1);
        // Moved to another plan (its override ends): that plan's period starts now.
        exec(
            &store,
            "UPDATE orgs SET plan_override = 'pro' WHERE id = ?1",
            vec!["00000000-0000-4000-8000-00000000000b".into()],
        )
        .await;
        assert_eq!(stored(&store, "00000000-0000-4000-8000-0000000000c1").await, 0, "past the free plan's 7 days");
        assert_eq!(
            stored(&store, "00000000-0000-4000-8000-0000000000c2").await,
            1,
            "the downgrade was yesterday: 7 days from then"
        );
        let later = store.apply_plan_retention(now + 7 * day).await.expect("purge");
        assert_eq!(
            (later.chunks, stored(&store, "00000000-0000-4000-8000-0000000000c2").await),
            (0, 1),
            "moved to the pro plan meanwhile: its 30 days start when the sweeper sees it"
        );
        let much_later = store.apply_plan_retention(now + 37 * day + 1).await.expect("purge");
        assert_eq!(
            (much_later.chunks, stored(&store, "00000000-0000-4000-8000-0000000000c2").await),
            (1, 0),
            "30 days after the change"
        );
    }

    #[tokio::test]
    async fn sessions_started_under_a_plan_keep_at_most_its_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = store(dir.path()).await;
        let mut plans = crate::settings::PlansSettings::default();
        plans.catalogue.get_mut("free").expect("free").retention_bytes_per_session = 3;
        store.set_catalogue(crate::plans::Catalogue::new(&plans));
        let org = "00000000-0000-4000-8000-00000000000d";
        exec(
            &store,
            "INSERT INTO orgs (id, name, created_at, plan_override, plan_override_at) VALUES (?1, ?1, 0, 'free', 100)",
            vec![org.into()],
        )
        .await;
        exec(&store, "INSERT INTO org_plan_state (org_id, plan, since) VALUES (?1, 'free', 100)", vec![org.into()])
            .await;
        exec(&store, "INSERT INTO machines (id, org_id, credential_hash, hostname, os, arch, enrolled_at) VALUES ('m', ?1, X'01', 'h', 'linux', 'x86_64', 0)", vec![org.into()]).await;
        for (id, started) in
            [("00000000-0000-4000-8000-0000000000e1", "50"), ("00000000-0000-4000-8000-0000000000e2", "200")]
        {
            exec(
                &store,
                "INSERT INTO sessions (id, org_id, machine_id, source, kind, command, state, started_at, updated_at, output_end)
                 VALUES (?1, ?2, 'm', 'relayed', 'shell', 'sh', 'running', ?3, ?3, 5)",
                vec![id.into(), org.into(), started.into()],
            )
            .await;
            exec(&store, "INSERT INTO session_output (session_id, start_offset, end_offset, at_ms, data) VALUES (?1, 0, 2, 0, X'6869')", vec![id.into()]).await;
            exec(&store, "INSERT INTO session_output (session_id, start_offset, end_offset, at_ms, data) VALUES (?1, 2, 5, 0, X'212121')", vec![id.into()]).await;
        }
        let purged = store.apply_plan_retention(1_000).await.expect("purge");
        assert_eq!(purged.trimmed, 1, "only the session started under the plan");
        assert_eq!(
            stored(&store, "00000000-0000-4000-8000-0000000000e1").await,
            2,
            "started before the downgrade: kept whole"
        );
        assert_eq!(stored(&store, "00000000-0000-4000-8000-0000000000e2").await, 1, "its oldest chunk dropped");
    }
}
