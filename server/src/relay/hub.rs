//! The hub: which agent connections exist, which connection relays which session, and for each
//! live session its output position, the tail not yet stored, and the broadcast to viewers.
//!
//! Output flows agent → [`Hub::output`] → (tail + broadcast to viewers, and the persister) →
//! SQLite → ack to the agent. Viewers attach with [`Hub::subscribe`], which hands them the
//! unstored tail and a receiver under one lock, so stored output + tail + live has no holes.
//! Locks are plain mutexes held for a few instructions, never across an await.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sessionforge_shared::frame;
use sessionforge_shared::ids::{MachineId, OrgId, SessionId};
use sessionforge_shared::protocol::{AgentMode, ServerMessage, SessionState};
use tokio::sync::{Notify, broadcast, mpsc};

use super::events::{Change, OrgEvents};
use super::persist::PersistMsg;
use crate::store::output::OutputWrite;
use crate::store::{Store, StoreError};

/// Output items kept in each session's broadcast ring. With agents sending at most 16 KiB per
/// frame this bounds the ring at about 1 MiB per session, however slow or paused a viewer is:
/// a viewer that falls further behind gets `Lagged` and resyncs from storage.
const BROADCAST_CAPACITY: usize = 64;
/// Unstored output a session may accumulate before its agent's socket stops being read.
const TAIL_LIMIT: usize = 4 * 1024 * 1024;

pub type ConnId = u64;

/// What viewers receive.
#[derive(Clone, Debug)]
pub enum Item {
    /// `frame` is a complete binary output frame, ready to send as is.
    Output {
        offset: u64,
        end: u64,
        frame: Bytes,
    },
    Gap {
        offset: u64,
        length: u64,
    },
    State {
        state: SessionState,
        exit_code: Option<i32>,
    },
}

impl Item {
    fn end(&self) -> u64 {
        match self {
            Item::Output { end, .. } => *end,
            Item::Gap { offset, length } => offset + length,
            Item::State { .. } => 0,
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Item::Output { frame, .. } => frame.len(),
            _ => 0,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("session {0} does not belong to this machine")]
    NotYours(SessionId),
    #[error("the session's machine is not connected")]
    NotConnected,
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct AgentConn {
    machine_id: MachineId,
    mode: AgentMode,
    tx: mpsc::Sender<ServerMessage>,
}

#[derive(Debug)]
struct LiveState {
    /// Offset just past the last output received.
    live_end: u64,
    /// Offset just past the last output stored.
    persisted_end: u64,
    /// Items received but not yet stored, in order.
    tail: VecDeque<Item>,
    tail_bytes: usize,
    owner: Option<ConnId>,
    state: SessionState,
    exit_code: Option<i32>,
    retained_from: u64,
}

/// One session the hub is tracking.
#[derive(Debug)]
pub struct LiveSession {
    pub id: SessionId,
    pub org_id: OrgId,
    pub machine_id: MachineId,
    state: Mutex<LiveState>,
    tx: broadcast::Sender<Item>,
    stored: Notify,
}

/// What a viewer needs to start following a session.
#[derive(Debug)]
pub struct Subscription {
    /// Unstored items (the viewer sends those after replaying storage up to `tail_start`).
    pub snapshot: Vec<Item>,
    pub rx: broadcast::Receiver<Item>,
    pub tail_start: u64,
    pub live_end: u64,
    pub state: SessionState,
    pub exit_code: Option<i32>,
    pub retained_from: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these short locks leaves consistent data; keep going.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl LiveSession {
    fn tail_bytes(&self) -> usize {
        lock(&self.state).tail_bytes
    }

    pub fn state(&self) -> (SessionState, Option<i32>) {
        let st = lock(&self.state);
        (st.state, st.exit_code)
    }

    pub fn viewers(&self) -> usize {
        self.tx.receiver_count()
    }
}

pub struct Hub {
    store: Store,
    conns: Mutex<HashMap<ConnId, AgentConn>>,
    sessions: Mutex<HashMap<SessionId, Arc<LiveSession>>>,
    /// Live sessions without a connection relaying them, and since when.
    orphans: Mutex<HashMap<SessionId, Instant>>,
    next_conn: AtomicU64,
    /// `None` once the server is shutting down.
    persist_tx: Mutex<Option<mpsc::Sender<PersistMsg>>>,
    /// Change notices for dashboards.
    pub events: OrgEvents,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("connections", &lock(&self.conns).len()).finish_non_exhaustive()
    }
}

impl Hub {
    pub fn new(store: Store, persist_tx: mpsc::Sender<PersistMsg>) -> Self {
        Self {
            store,
            conns: Mutex::default(),
            sessions: Mutex::default(),
            orphans: Mutex::default(),
            next_conn: AtomicU64::new(1),
            persist_tx: Mutex::new(Some(persist_tx)),
            events: OrgEvents::default(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    // ---- connections ----

    pub fn register_conn(&self, machine_id: MachineId, mode: AgentMode, tx: mpsc::Sender<ServerMessage>) -> ConnId {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        lock(&self.conns).insert(id, AgentConn { machine_id, mode, tx });
        id
    }

    /// Forgets a connection; the sessions it relayed become orphans (stale if nobody claims them).
    pub fn unregister_conn(&self, conn: ConnId) {
        lock(&self.conns).remove(&conn);
        let now = Instant::now();
        let sessions: Vec<Arc<LiveSession>> = lock(&self.sessions).values().cloned().collect();
        let mut orphans = lock(&self.orphans);
        for s in sessions {
            let mut st = lock(&s.state);
            if st.owner == Some(conn) {
                st.owner = None;
                if st.state.is_live() {
                    orphans.insert(s.id, now);
                }
            }
        }
    }

    /// Drops every connection of a machine (it was signed out); their sockets close.
    pub fn disconnect_machine(&self, machine: MachineId) {
        let ids: Vec<ConnId> =
            lock(&self.conns).iter().filter(|(_, c)| c.machine_id == machine).map(|(id, _)| *id).collect();
        for id in ids {
            self.unregister_conn(id);
        }
    }

    pub fn connection_count(&self) -> usize {
        lock(&self.conns).len()
    }

    /// Whether any agent connection of the machine is open.
    pub fn is_connected(&self, machine: MachineId) -> bool {
        lock(&self.conns).values().any(|c| c.machine_id == machine)
    }

    /// The daemon connection of a machine, which takes start requests.
    pub fn daemon(&self, machine: MachineId) -> Option<mpsc::Sender<ServerMessage>> {
        lock(&self.conns)
            .iter()
            .filter(|(_, c)| c.machine_id == machine && c.mode == AgentMode::Daemon)
            .max_by_key(|(id, _)| **id)
            .map(|(_, c)| c.tx.clone())
    }

    fn conn_machine(&self, conn: ConnId) -> Option<MachineId> {
        lock(&self.conns).get(&conn).map(|c| c.machine_id)
    }

    // ---- sessions ----

    /// The tracked session, loading it from storage when the hub has not seen it yet.
    pub async fn live(&self, id: SessionId) -> Result<Arc<LiveSession>, StoreError> {
        if let Some(s) = lock(&self.sessions).get(&id) {
            return Ok(s.clone());
        }
        let row = self.store.session_by_id(id).await?;
        let mut sessions = lock(&self.sessions);
        let entry = sessions.entry(id).or_insert_with(|| {
            let (tx, _) = broadcast::channel(BROADCAST_CAPACITY);
            Arc::new(LiveSession {
                id,
                org_id: row.org_id,
                machine_id: row.machine_id,
                state: Mutex::new(LiveState {
                    live_end: row.output_end,
                    persisted_end: row.output_end,
                    tail: VecDeque::new(),
                    tail_bytes: 0,
                    owner: None,
                    state: row.state,
                    exit_code: row.exit_code,
                    retained_from: row.retained_from,
                }),
                tx,
                stored: Notify::new(),
            })
        });
        Ok(entry.clone())
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

    /// Records that `conn` relays the session now; returns where stored output ends.
    pub async fn claim(&self, conn: ConnId, id: SessionId) -> Result<u64, RelayError> {
        let live = self.live_for_conn(conn, id).await?;
        lock(&self.orphans).remove(&id);
        let mut st = lock(&live.state);
        st.owner = Some(conn);
        Ok(st.live_end)
    }

    /// Publishes a state change to viewers.
    pub async fn set_state(&self, id: SessionId, state: SessionState, exit_code: Option<i32>) {
        let Ok(live) = self.live(id).await else { return };
        {
            let mut st = lock(&live.state);
            st.state = state;
            st.exit_code = exit_code;
        }
        if !state.is_live() {
            lock(&self.orphans).remove(&id);
        }
        let _ = live.tx.send(Item::State { state, exit_code });
        self.events.notify(live.org_id, Change::Sessions);
    }

    /// Output from an agent. Duplicates (already received) are dropped, overlaps trimmed, and
    /// a hole before the data is recorded as a gap. Waits while too much is unstored.
    pub async fn output(&self, conn: ConnId, id: SessionId, offset: u64, data: &[u8]) -> Result<(), RelayError> {
        let live = self.live_for_conn(conn, id).await?;
        let end = offset + data.len() as u64;
        let mut items = Vec::with_capacity(2);
        {
            let mut st = lock(&live.state);
            if end <= st.live_end || data.is_empty() {
                return Ok(());
            }
            let start = offset.max(st.live_end);
            if start > st.live_end {
                items.push(Item::Gap { offset: st.live_end, length: start - st.live_end });
            }
            let skip = usize::try_from(start - offset).unwrap_or(0);
            let frame = Bytes::from(frame::encode_output(id, start, &data[skip..]));
            items.push(Item::Output { offset: start, end, frame });
            for item in &items {
                st.tail_bytes += item.bytes();
                st.tail.push_back(item.clone());
                let _ = live.tx.send(item.clone());
            }
            st.live_end = end;
            st.owner = Some(conn);
        }
        self.enqueue(conn, id, items).await;
        self.wait_for_room(&live).await;
        Ok(())
    }

    /// A gap the agent reported: bytes it lost before sending them.
    pub async fn gap(&self, conn: ConnId, id: SessionId, offset: u64, length: u64) -> Result<(), RelayError> {
        let live = self.live_for_conn(conn, id).await?;
        let item = {
            let mut st = lock(&live.state);
            let end = offset.saturating_add(length);
            if end <= st.live_end {
                return Ok(());
            }
            let item = Item::Gap { offset: st.live_end, length: end - st.live_end };
            st.tail.push_back(item.clone());
            let _ = live.tx.send(item.clone());
            st.live_end = end;
            item
        };
        self.enqueue(conn, id, vec![item]).await;
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
                Item::Output { offset, end, frame } => {
                    OutputWrite { session_id: id, start: offset, end, data: Some(frame.slice(frame::HEADER_LEN..)) }
                }
                Item::Gap { offset, length } => {
                    OutputWrite { session_id: id, start: offset, end: offset + length, data: None }
                }
                Item::State { .. } => continue,
            };
            // The persister only stops when the server does; then nothing is lost that the
            // agent does not still hold unacknowledged.
            let _ = tx.send(PersistMsg { conn, write }).await;
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

    /// The persister stored the session's output up to `end`: trim the tail and ack the agent.
    pub fn stored(&self, id: SessionId, end: u64) {
        let Some(live) = lock(&self.sessions).get(&id).cloned() else { return };
        let owner = {
            let mut st = lock(&live.state);
            st.persisted_end = st.persisted_end.max(end);
            while st.tail.front().is_some_and(|i| i.end() <= st.persisted_end) {
                if let Some(item) = st.tail.pop_front() {
                    st.tail_bytes -= item.bytes();
                }
            }
            st.owner
        };
        live.stored.notify_waiters();
        if let Some(tx) = owner.and_then(|c| lock(&self.conns).get(&c).map(|c| c.tx.clone())) {
            // Acks are cumulative: if this one cannot be queued, a later one covers it.
            let _ = tx.try_send(ServerMessage::Ack { session_id: id, offset: end });
        }
    }

    /// Where the session's stored output begins, for retention-aware replays.
    pub fn note_retained_from(&self, id: SessionId, retained_from: u64) {
        if let Some(live) = lock(&self.sessions).get(&id) {
            let mut st = lock(&live.state);
            st.retained_from = st.retained_from.max(retained_from);
        }
    }

    /// Starts following a session from `from`.
    pub fn subscribe(&self, live: &LiveSession, from: u64) -> Subscription {
        let st = lock(&live.state);
        let rx = live.tx.subscribe();
        let snapshot: Vec<Item> = st.tail.iter().filter(|i| i.end() > from).cloned().collect();
        let tail_start = match st.tail.front() {
            Some(Item::Output { offset, .. }) | Some(Item::Gap { offset, .. }) => *offset,
            _ => st.live_end,
        };
        Subscription {
            snapshot,
            rx,
            tail_start,
            live_end: st.live_end,
            state: st.state,
            exit_code: st.exit_code,
            retained_from: st.retained_from,
        }
    }

    /// Sends a message to the connection relaying the session.
    pub fn send_to_owner(&self, id: SessionId, msg: ServerMessage) -> Result<(), RelayError> {
        let live = lock(&self.sessions).get(&id).cloned().ok_or(RelayError::NotConnected)?;
        let owner = lock(&live.state).owner.ok_or(RelayError::NotConnected)?;
        let tx = lock(&self.conns).get(&owner).map(|c| c.tx.clone()).ok_or(RelayError::NotConnected)?;
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
        lock(&self.sessions).retain(|_, s| {
            let st = lock(&s.state);
            st.owner.is_some() || !st.tail.is_empty() || s.tx.receiver_count() > 0
        });
    }
}
