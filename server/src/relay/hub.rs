//! The hub: which agent connections exist, which connection relays which session, and the
//! sessions being tracked (each a [`LiveSession`]: position, unstored tail, viewers).
//!
//! Output flows agent → [`Hub::output`] → (tail + broadcast to viewers, and the persister) →
//! durable storage (`store::segments`) → ack to the agent. The agent connections themselves are
//! kept in `conns`. Viewers attach with [`Hub::subscribe`], which hands them the
//! unstored tail and a receiver under one lock, so stored output + tail + live has no holes.
//! Locks are plain mutexes held for a few instructions, never across an await.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use prometheus::Histogram;
use sessionforge_shared::frame;
use sessionforge_shared::ids::SessionId;
use sessionforge_shared::protocol::{ServerMessage, SessionState};
use tokio::sync::{Semaphore, mpsc};

use super::events::{Change, OrgEvents, SessionNotice};
use super::heartbeats::Heartbeats;
use super::live::{Item, LiveSession, MAX_OFFSET, Subscription, TermSize, lock};
use super::persist::PersistMsg;
use crate::store::output::OutputWrite;
use crate::store::{Store, StoreError};
use conns::AgentConn;

/// Unstored output a session may accumulate before its agent's socket stops being read.
const TAIL_LIMIT: usize = 4 * 1024 * 1024;
/// Unstored output of all sessions together, in bytes: past it, agents' sockets are read only
/// as fast as storage keeps up (backpressure), so memory stays bounded however many agents
/// send at once.
const UNSTORED_LIMIT: usize = 256 * 1024 * 1024;
/// Longest a session's end waits for its output to be stored (storage retrying a failure).
const SETTLE_LIMIT: Duration = Duration::from_secs(10);

mod conns;

pub type ConnId = u64;

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("session {0} does not belong to this machine")]
    NotYours(SessionId),
    #[error("the session's machine is not connected")]
    NotConnected,
    #[error("output offset {0} is out of range")]
    BadOffset(u64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one agent connection may do.
#[derive(Clone, Copy, Debug)]
pub struct AgentLimits {
    pub max_sessions_per_machine: u32,
    pub agent_bytes_per_sec: u64,
}

pub struct Hub {
    store: Store,
    pub limits: AgentLimits,
    conns: Mutex<HashMap<ConnId, AgentConn>>,
    sessions: Mutex<HashMap<SessionId, Arc<LiveSession>>>,
    /// Live sessions without a connection relaying them, and since when.
    orphans: Mutex<HashMap<SessionId, Instant>>,
    next_conn: AtomicU64,
    /// `None` once the server is shutting down.
    persist_tx: Mutex<Option<mpsc::Sender<PersistMsg>>>,
    /// Change notices for dashboards.
    pub events: OrgEvents,
    /// The latest heartbeat of each connected machine.
    pub heartbeats: Heartbeats,
    /// Bytes of output received but not stored yet, across all sessions.
    unstored: Arc<Semaphore>,
    /// Server-added latency of live output: received from an agent until written to a viewer.
    pub output_latency: Histogram,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("connections", &lock(&self.conns).len()).finish_non_exhaustive()
    }
}

impl Hub {
    pub fn new(
        store: Store,
        persist_tx: mpsc::Sender<PersistMsg>,
        limits: AgentLimits,
        output_latency: Histogram,
    ) -> Self {
        Self {
            store,
            limits,
            conns: Mutex::default(),
            sessions: Mutex::default(),
            orphans: Mutex::default(),
            next_conn: AtomicU64::new(1),
            persist_tx: Mutex::new(Some(persist_tx)),
            events: OrgEvents::default(),
            heartbeats: Heartbeats::default(),
            unstored: Arc::new(Semaphore::new(UNSTORED_LIMIT)),
            output_latency,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    // ---- sessions ----

    /// The tracked session, loading it from storage when the hub has not seen it yet.
    pub async fn live(&self, id: SessionId) -> Result<Arc<LiveSession>, StoreError> {
        if let Some(s) = lock(&self.sessions).get(&id) {
            return Ok(s.clone());
        }
        let row = self.store.session_by_id(id).await?;
        let mut sessions = lock(&self.sessions);
        Ok(sessions.entry(id).or_insert_with(|| Arc::new(LiveSession::new(&row))).clone())
    }

    /// The session, if `conn`'s machine owns it.
    async fn live_for_conn(&self, conn: ConnId, id: SessionId) -> Result<Arc<LiveSession>, RelayError> {
        let live = self.live(id).await.map_err(|e| match e {
            StoreError::NotFound => RelayError::NotYours(id),
            other => other.into(),
        })?;
        if Some(live.machine_id) != self.conn_machine(conn) {
            return Err(RelayError::NotYours(id));
        }
        Ok(live)
    }

    /// Records that `conn` relays the session now; returns where its *stored* output ends, which
    /// is where the agent resends from (anything received but not stored may still be lost).
    pub async fn claim(&self, conn: ConnId, id: SessionId) -> Result<u64, RelayError> {
        let live = self.live_for_conn(conn, id).await?;
        lock(&self.orphans).remove(&id);
        Ok(live.claim(conn))
    }

    /// Publishes a state change to viewers and dashboards.
    pub async fn set_state(&self, id: SessionId, state: SessionState, exit_code: Option<i32>) {
        self.publish_state(id, None, state, exit_code).await;
    }

    /// Publishes a change the caller stored, from the state `before` it: dashboards hear of it
    /// even when nothing held the session in memory, where `set_state` would load the stored row,
    /// already in the new state, and see no change (a start that failed was never claimed).
    pub async fn state_changed(
        &self,
        id: SessionId,
        before: (SessionState, Option<i32>),
        state: SessionState,
        exit_code: Option<i32>,
    ) {
        self.publish_state(id, Some(before), state, exit_code).await;
    }

    async fn publish_state(
        &self,
        id: SessionId,
        before: Option<(SessionState, Option<i32>)>,
        state: SessionState,
        exit_code: Option<i32>,
    ) {
        let Ok(live) = self.live(id).await else { return };
        let changed = before.unwrap_or_else(|| live.state()) != (state, exit_code);
        live.set_state(state, exit_code);
        if !state.is_live() {
            lock(&self.orphans).remove(&id);
            if changed {
                let notice = SessionNotice { id, state, exit_code, waiting_for_input: false };
                self.events.notify(live.org_id, Change::Session(notice));
            }
        }
        self.events.notify(live.org_id, Change::Sessions);
    }

    /// Publishes a session's size as stored (after a start or a resize) to its viewers.
    pub async fn set_size(&self, id: SessionId, size: TermSize) {
        if let Ok(live) = self.live(id).await {
            live.set_size(size);
        }
    }

    /// The agent on `conn` says a session's terminal now has this size: store it (at the current
    /// output position, for recordings) and tell viewers and dashboards.
    pub async fn resized(&self, conn: ConnId, id: SessionId, cols: u16, rows: u16) -> Result<(), RelayError> {
        let live = self.live_for_conn(conn, id).await?;
        if let Some(s) = self.store.resize_session(live.machine_id, id, live.live_end(), cols, rows).await? {
            live.set_size(TermSize { cols: s.cols, rows: s.rows, locked: s.size_locked });
            self.events.notify(live.org_id, Change::Sessions);
        }
        Ok(())
    }

    /// The agent on `conn` says a session started or stopped waiting for its user.
    pub async fn attention(&self, conn: ConnId, id: SessionId, waiting: bool) -> Result<(), RelayError> {
        let live = self.live_for_conn(conn, id).await?;
        if self.store.set_session_waiting(live.machine_id, id, waiting).await? {
            let (state, exit_code) = live.state();
            let notice = SessionNotice { id, state, exit_code, waiting_for_input: waiting };
            self.events.notify(live.org_id, Change::Session(notice));
            self.events.notify(live.org_id, Change::Sessions);
        }
        Ok(())
    }

    /// Output from an agent. Duplicates (already received) are dropped, overlaps trimmed, and
    /// a hole before the data is recorded as a gap — but output may not start further past what
    /// was received than the agent's declared buffer (a bogus offset must not record a huge gap
    /// and push the session's history out of retention). Waits while too much is unstored.
    /// `frame` is the agent's whole output frame.
    pub async fn output(&self, conn: ConnId, id: SessionId, offset: u64, frame: Bytes) -> Result<(), RelayError> {
        let len = frame.len().saturating_sub(frame::HEADER_LEN) as u64;
        if offset > MAX_OFFSET || len > MAX_OFFSET - offset {
            return Err(RelayError::BadOffset(offset));
        }
        let live = self.live_for_conn(conn, id).await?;
        let items = live.output(conn, offset, frame, self.conn_buffer(conn)).map_err(RelayError::BadOffset)?;
        if items.is_empty() {
            return Ok(());
        }
        self.store.meter().add(live.org_id, crate::store::now(), |c| c.bytes_relayed += len);
        self.enqueue(conn, id, items).await;
        self.wait_for_room(&live).await;
        Ok(())
    }

    /// A gap the agent reported: bytes it lost before sending them (bounded like output).
    pub async fn gap(&self, conn: ConnId, id: SessionId, offset: u64, length: u64) -> Result<(), RelayError> {
        if offset > MAX_OFFSET || length > MAX_OFFSET - offset {
            return Err(RelayError::BadOffset(offset));
        }
        let live = self.live_for_conn(conn, id).await?;
        if let Some(item) = live.gap(offset + length, self.conn_buffer(conn)).map_err(RelayError::BadOffset)? {
            self.enqueue(conn, id, vec![item]).await;
        }
        Ok(())
    }

    /// Stops accepting output for storage; the persister finishes what is queued and ends.
    pub fn stop_persisting(&self) {
        lock(&self.persist_tx).take();
    }

    async fn enqueue(&self, conn: ConnId, id: SessionId, items: Vec<Item>) {
        let Some(tx) = lock(&self.persist_tx).clone() else { return };
        for item in items {
            let write = match item {
                Item::Output { offset, end, frame, .. } => {
                    OutputWrite { session_id: id, start: offset, end, data: Some(frame.slice(frame::HEADER_LEN..)) }
                }
                Item::Gap { offset, length } => {
                    OutputWrite { session_id: id, start: offset, end: offset + length, data: None }
                }
                Item::State { .. } | Item::Size { .. } => continue,
            };
            let bytes = write.data.as_ref().map_or(0, |d| d.len());
            let permit =
                u32::try_from(bytes).ok().filter(|n| *n > 0).map(|n| self.unstored.clone().acquire_many_owned(n));
            let permit = match permit {
                // The semaphore is never closed: acquiring only waits for storage to catch up.
                Some(p) => p.await.ok(),
                None => None,
            };
            // The persister only stops when the server does; then nothing is lost that the
            // agent does not still hold unacknowledged.
            let _ = tx.send(PersistMsg { conn, write, permit }).await;
        }
    }

    async fn wait_for_room(&self, live: &LiveSession) {
        loop {
            let notified = live.stored.notified();
            if live.tail_bytes() <= TAIL_LIMIT {
                return;
            }
            if tokio::time::timeout(Duration::from_secs(5), notified).await.is_err() {
                tracing::warn!(session = %live.id, "output storage is falling behind");
            }
        }
    }

    /// The persister stored the session's output up to `end`, and the session keeps output from
    /// `retained_from`: trim the tail and ack the agent.
    pub fn stored(&self, id: SessionId, end: u64, retained_from: u64) {
        let Some(live) = lock(&self.sessions).get(&id).cloned() else { return };
        let owner = live.stored_up_to(end, retained_from);
        if let Some(tx) = owner.and_then(|c| self.conn_tx(c)) {
            // Acks are cumulative: if this one cannot be queued, a later one covers it.
            let _ = tx.try_send(ServerMessage::Ack { session_id: id, offset: end });
        }
    }

    /// Waits (boundedly) until the output received for session `id` so far is stored, so that
    /// an end recorded next never shows a session shorter than what its agent sent first.
    pub async fn settle_output(&self, id: SessionId) {
        let Some(live) = lock(&self.sessions).get(&id).cloned() else { return };
        if !live.wait_stored(SETTLE_LIMIT).await {
            tracing::warn!(session = %id, "recording the session's end before all its output is stored");
        }
    }

    /// Starts following a session from `from`.
    pub fn subscribe(&self, live: &LiveSession, from: u64) -> Subscription {
        live.subscribe(from)
    }

    /// Sends a message to the connection relaying the session.
    pub fn send_to_owner(&self, id: SessionId, msg: ServerMessage) -> Result<(), RelayError> {
        let live = lock(&self.sessions).get(&id).cloned().ok_or(RelayError::NotConnected)?;
        let owner = live.owner().ok_or(RelayError::NotConnected)?;
        let tx = self.conn_tx(owner).ok_or(RelayError::NotConnected)?;
        tx.try_send(msg).map_err(|_| RelayError::NotConnected)
    }

    /// Marks sessions orphaned at start-up (the server restarted; their agents must reconnect).
    pub fn adopt_orphans(&self, ids: impl IntoIterator<Item = SessionId>) {
        let now = Instant::now();
        lock(&self.orphans).extend(ids.into_iter().map(|id| (id, now)));
    }

    /// Orphans older than `grace`, removed from the orphan list.
    pub fn expired_orphans(&self, grace: Duration) -> Vec<SessionId> {
        let mut orphans = lock(&self.orphans);
        let expired: Vec<SessionId> =
            orphans.iter().filter(|(_, since)| since.elapsed() >= grace).map(|(id, _)| *id).collect();
        for id in &expired {
            orphans.remove(id);
        }
        expired
    }

    /// Drops sessions nobody relays or watches and that have nothing unstored.
    pub fn forget_idle_sessions(&self) {
        lock(&self.sessions).retain(|_, s| !s.idle());
    }
}
