//! Housekeeping: sessions whose agent went away and did not come back within the grace period
//! become stale (never silently vanish), idle hub entries are dropped, and stored output older
//! than the retention period is deleted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::hub::Hub;
use crate::settings::RelaySettings;

/// How often the sweeper looks for stale sessions.
const TICK: Duration = Duration::from_secs(5);
/// How often old output is purged.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

pub async fn run(hub: Arc<Hub>, settings: RelaySettings) {
    let grace = Duration::from_secs(settings.stale_after_secs);
    let mut tick = tokio::time::interval(TICK);
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
        if last_purge.is_none_or(|t| t.elapsed() >= PURGE_EVERY) {
            last_purge = Some(Instant::now());
            match hub.store().purge_output_older_than(settings.retention_days).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(chunks = n, days = settings.retention_days, "purged old session output"),
                Err(e) => tracing::warn!(error = %e, "cannot purge old output"),
            }
        }
    }
}
