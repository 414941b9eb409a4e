//! The persister: one task that stores relayed output in batched transactions, then tells the
//! hub (which trims its tail and acks the agent). Batching is what lets a single SQLite writer
//! keep up with many sessions: whatever arrived while the previous batch was being written goes
//! into the next one, so latency stays at one transaction under light load.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;

use super::hub::{ConnId, Hub};
use crate::store::output::OutputWrite;

/// Most writes merged into one transaction.
const MAX_BATCH_ITEMS: usize = 8192;
/// Most bytes merged into one transaction.
const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;
/// Largest stored chunk when merging contiguous writes of one session.
const MAX_CHUNK: usize = 256 * 1024;
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
        let batch = coalesce(batch);
        loop {
            match hub.store().append_output(batch.clone(), retain_bytes).await {
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

/// Merges contiguous data writes of the same session (keeping order), so that a burst of small
/// frames becomes a few rows.
fn coalesce(batch: Vec<OutputWrite>) -> Vec<OutputWrite> {
    let mut out: Vec<OutputWrite> = Vec::with_capacity(batch.len());
    let mut pending: Option<(OutputWrite, BytesMut)> = None;
    for w in batch {
        if let Some((p, buf)) = &mut pending
            && p.session_id == w.session_id
            && p.end == w.start
            && let Some(d) = &w.data
            && buf.len() + d.len() <= MAX_CHUNK
        {
            buf.extend_from_slice(d);
            p.end = w.end;
            continue;
        }
        if let Some((mut p, buf)) = pending.take() {
            p.data = Some(buf.freeze());
            out.push(p);
        }
        match &w.data {
            Some(d) => {
                let buf = BytesMut::from(&d[..]);
                pending = Some((w, buf));
            }
            None => out.push(w),
        }
    }
    if let Some((mut p, buf)) = pending {
        p.data = Some(buf.freeze());
        out.push(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use sessionforge_shared::ids::SessionId;

    use super::*;

    fn w(s: SessionId, start: u64, data: Option<&'static [u8]>, len: u64) -> OutputWrite {
        OutputWrite { session_id: s, start, end: start + len, data: data.map(Bytes::from_static) }
    }

    #[test]
    fn merges_contiguous_writes_per_session_in_order() {
        let (a, b) = (SessionId::new(), SessionId::new());
        let out = coalesce(vec![
            w(a, 0, Some(b"ab"), 2),
            w(a, 2, Some(b"cd"), 2),
            w(b, 0, Some(b"x"), 1),
            w(a, 4, None, 3),
            w(a, 7, Some(b"ef"), 2),
        ]);
        let shape: Vec<(SessionId, u64, u64, Option<&[u8]>)> =
            out.iter().map(|o| (o.session_id, o.start, o.end, o.data.as_deref())).collect();
        assert_eq!(
            shape,
            vec![
                (a, 0, 4, Some(&b"abcd"[..])),
                (b, 0, 1, Some(&b"x"[..])),
                (a, 4, 7, None),
                (a, 7, 9, Some(&b"ef"[..])),
            ]
        );
    }
}
