//! Housekeeping: sessions whose agent went away and did not come back within the grace period
//! become stale (never silently vanish), idle hub entries are dropped, stored output of sessions
//! that ended (or went stale) longer ago than the retention period (the server's, and each
//! org's plan's: see `store::plan_retention`) is deleted, all stored
//! output together is kept under `relay.max_stored_bytes` (oldest first), and freed pages and
//! output segments nothing refers to any more go back to the file system.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::hub::Hub;
use crate::settings::RelaySettings;

/// How often the sweeper looks for stale sessions.
const TICK: Duration = Duration::from_secs(5);
/// How often old output is purged.
const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// Freed pages handed back to the file system per tick (16 KiB each: 64 MiB).
const VACUUM_PAGES: u32 = 4096;

pub async fn run(hub: Arc<Hub>, settings: RelaySettings) {
    let grace = Duration::from_secs(settings.stale_after_secs);
    let mut tick = tokio::time::interval(TICK);
    // After a slow round (an hourly purge), the next one comes a whole tick later, not at once:
    // segments are deleted only at a second look some time after the first.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_purge: Option<Instant> = None;
    loop {
        tick.tick().await;
        let expired = hub.expired_orphans(grace);
        if !expired.is_empty() {
            match hub.store().mark_sessions_stale(expired).await {
                Ok(stale) => {
                    for s in stale {
                        tracing::info!(session = %s.id, state = ?s.state, "its agent did not come back");
                        hub.set_state(s.id, s.state, s.exit_code).await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot mark sessions stale"),
            }
        }
        hub.forget_idle_sessions();
        let mut freed = false;
        if last_purge.is_none_or(|t| t.elapsed() >= PURGE_EVERY) {
            last_purge = Some(Instant::now());
            match hub.store().purge_output_older_than(settings.retention_days).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(chunks = n, days = settings.retention_days, "purged old session output");
                    freed = true;
                }
                Err(e) => tracing::warn!(error = %e, "cannot purge old output"),
            }
            match hub.store().apply_plan_retention(crate::store::now()).await {
                Ok(p) if p.chunks + p.trimmed > 0 => {
                    tracing::info!(chunks = p.chunks, sessions_trimmed = p.trimmed, "applied plans' output retention");
                    freed = true;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot apply plans' output retention"),
            }
        }
        freed |= keep_within_budget(&hub, settings.max_stored_bytes).await;
        if freed && let Err(e) = hub.store().incremental_vacuum(VACUUM_PAGES).await {
            tracing::warn!(error = %e, "cannot return freed space to the file system");
        }
        if let Err(e) = hub.store().collect_segments().await {
            tracing::warn!(error = %e, "cannot delete unused output segments");
        }
    }
}

/// Drops the oldest stored output while what is kept exceeds `budget` (see
/// `Store::keep_output_within`). Returns whether anything was dropped.
async fn keep_within_budget(hub: &Hub, budget: u64) -> bool {
    match hub.store().keep_output_within(budget).await {
        Ok((_, 0)) => false,
        Ok((kept, dropped)) => {
            tracing::warn!(kept, budget, dropped, "stored output is over relay.max_stored_bytes; dropped the oldest");
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot keep stored output within its budget");
            false
        }
    }
}
