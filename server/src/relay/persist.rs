//! The persister: one task that stores relayed output in batches, then tells the hub (which
//! trims its tail and acks the agent). Batching is group commit: whatever arrived while the
//! previous batch was being made durable goes into the next one, so one segment sync and one
//! index commit cover every session's output in it, and latency stays at one batch under light
//! load. Frames are handed to the store as they came (shared `Bytes`, never copied to merge them):
//! the store writes them with one vectored write and merges their index rows.

use std::sync::Arc;
use std::time::Duration;

use super::hub::{ConnId, Hub};
use crate::store::output::OutputWrite;

/// Most writes merged into one transaction.
const MAX_BATCH_ITEMS: usize = 8192;
/// Most bytes merged into one transaction.
const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;
/// How long the persister keeps collecting after the first write of a batch. Viewers already
/// got the output (fan-out happens before storage), so this only delays acks, and it turns a
/// trickle from many sessions into one transaction instead of one per frame.
const BATCH_WINDOW: Duration = Duration::from_millis(5);
/// Pause before retrying a batch the database refused (disk full, locked, …).
const RETRY_DELAY: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct PersistMsg {
    pub conn: ConnId,
    pub write: OutputWrite,
    /// The write's share of the hub's unstored-bytes budget, given back once it is stored.
    pub permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// Runs until every sender is gone.
pub async fn run(hub: Arc<Hub>, mut rx: tokio::sync::mpsc::Receiver<PersistMsg>, retain_bytes: u64) {
    while let Some(first) = rx.recv().await {
        let mut bytes = first.write.data.as_ref().map_or(0, |d| d.len());
        let mut permits = vec![first.permit];
        let mut batch = vec![first.write];
        let deadline = tokio::time::Instant::now() + BATCH_WINDOW;
        while batch.len() < MAX_BATCH_ITEMS && bytes < MAX_BATCH_BYTES {
            let next = match rx.try_recv() {
                Ok(m) => Some(m),
                Err(_) => tokio::time::timeout_at(deadline, rx.recv()).await.ok().flatten(),
            };
            let Some(m) = next else { break };
            bytes += m.write.data.as_ref().map_or(0, |d| d.len());
            permits.push(m.permit);
            batch.push(m.write);
        }
        // The bytes once (retried until durable), then their index (retried alone, so that a
        // failing database does not make every retry write the batch again).
        let placed = loop {
            match hub.store().place_output(&batch).await {
                Ok(placed) => break placed,
                Err(e) => {
                    tracing::error!(error = %e, "cannot write session output; retrying (agents keep it until acked)");
                    tokio::time::sleep(RETRY_DELAY).await;
                }
            }
        };
        loop {
            match hub.store().index_output(batch.clone(), placed.clone(), retain_bytes).await {
                Ok(stored) => {
                    drop(permits);
                    for s in stored {
                        hub.stored(s.session_id, s.end, s.retained_from);
                    }
                    break;
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot store session output; retrying (agents keep it until acked)");
                    tokio::time::sleep(RETRY_DELAY).await;
                }
            }
        }
    }
}
