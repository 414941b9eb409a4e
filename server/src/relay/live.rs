//! One session the hub tracks: where its output ends (received and stored), the tail received
//! but not yet stored, who relays it, and the broadcast its viewers follow.
//!
//! Every change happens under one short lock, so a viewer subscribing gets the unstored tail and
//! its receiver atomically: stored output + tail + live has no holes and no overlaps.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sessionforge_shared::frame;
use sessionforge_shared::ids::{MachineId, OrgId, SessionId};
use sessionforge_shared::protocol::SessionState;
use tokio::sync::{Notify, broadcast};

use super::hub::ConnId;
use crate::store::sessions::Session;

/// Output items kept in each session's broadcast ring. Items carry at most [`RING_ITEM_MAX`]
/// bytes (larger frames are split), so the ring holds at most about 1 MiB per session, however
/// slow or paused a viewer is: a viewer that falls further behind gets `Lagged` and resyncs
/// from storage.
const BROADCAST_CAPACITY: usize = 64;
/// Most output bytes in one broadcast item (what agents send per frame anyway).
pub const RING_ITEM_MAX: usize = 16 * 1024;

/// Highest offset a session's output may reach (2^50 bytes, a petabyte). Offsets come from
/// agents; this keeps every sum of an offset and a length far from overflowing, in memory and
/// in SQLite's signed 64-bit integers.
pub const MAX_OFFSET: u64 = 1 << 50;

/// What viewers receive.
#[derive(Clone, Debug)]
pub enum Item {
    /// `frame` is a complete binary output frame, ready to send as is. `received` is when the
    /// server received it live (`None` for output read back from storage).
    Output {
        offset: u64,
        end: u64,
        frame: Bytes,
        received: Option<Instant>,
    },
    Gap {
        offset: u64,
        length: u64,
    },
    State {
        state: SessionState,
        exit_code: Option<i32>,
    },
    /// The terminal's size, or who holds it, changed.
    Size {
        cols: u16,
        rows: u16,
        locked: bool,
    },
}

impl Item {
    pub fn end(&self) -> u64 {
        match self {
            Item::Output { end, .. } => *end,
            Item::Gap { offset, length } => offset.saturating_add(*length),
            Item::State { .. } | Item::Size { .. } => 0,
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Item::Output { frame, .. } => frame.len(),
            _ => 0,
        }
    }
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
    cols: u16,
    rows: u16,
    size_locked: bool,
}

/// The terminal's size and whether a local terminal holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TermSize {
    pub cols: u16,
    pub rows: u16,
    pub locked: bool,
}

/// One session the hub is tracking.
#[derive(Debug)]
pub struct LiveSession {
    pub id: SessionId,
    pub org_id: OrgId,
    pub machine_id: MachineId,
    state: Mutex<LiveState>,
    tx: broadcast::Sender<Item>,
    /// Woken whenever stored output catches up, for agents waiting for tail room.
    pub stored: Notify,
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
    pub size: TermSize,
}

pub use crate::lock;

impl LiveSession {
    /// Starts tracking a stored session.
    pub fn new(row: &Session) -> Self {
        let (tx, _) = broadcast::channel(BROADCAST_CAPACITY);
        Self {
            id: row.id,
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
                cols: row.cols,
                rows: row.rows,
                size_locked: row.size_locked,
            }),
            tx,
            stored: Notify::new(),
        }
    }

    pub fn tail_bytes(&self) -> usize {
        lock(&self.state).tail_bytes
    }

    pub fn state(&self) -> (SessionState, Option<i32>) {
        let st = lock(&self.state);
        (st.state, st.exit_code)
    }

    pub fn size(&self) -> TermSize {
        let st = lock(&self.state);
        TermSize { cols: st.cols, rows: st.rows, locked: st.size_locked }
    }

    /// Records the terminal's size and lock, telling viewers when either changed.
    pub fn set_size(&self, size: TermSize) {
        {
            let mut st = lock(&self.state);
            if (st.cols, st.rows, st.size_locked) == (size.cols, size.rows, size.locked) {
                return;
            }
            (st.cols, st.rows, st.size_locked) = (size.cols, size.rows, size.locked);
        }
        let _ = self.tx.send(Item::Size { cols: size.cols, rows: size.rows, locked: size.locked });
    }

    /// Offset just past the last output received.
    pub fn live_end(&self) -> u64 {
        lock(&self.state).live_end
    }

    pub fn viewers(&self) -> usize {
        self.tx.receiver_count()
    }

    pub fn owner(&self) -> Option<ConnId> {
        lock(&self.state).owner
    }

    /// Makes `conn` the relaying connection; returns where *stored* output ends, which is where
    /// the agent must resend from (it may hold bytes received here but not yet stored).
    pub fn claim(&self, conn: ConnId) -> u64 {
        let mut st = lock(&self.state);
        st.owner = Some(conn);
        st.persisted_end
    }

    /// Forgets `conn` as the owner; returns whether it was, while the session is live.
    pub fn release(&self, conn: ConnId) -> bool {
        let mut st = lock(&self.state);
        if st.owner != Some(conn) {
            return false;
        }
        st.owner = None;
        st.state.is_live()
    }

    pub fn set_state(&self, state: SessionState, exit_code: Option<i32>) {
        {
            let mut st = lock(&self.state);
            st.state = state;
            st.exit_code = exit_code;
        }
        let _ = self.tx.send(Item::State { state, exit_code });
    }

    /// New output from `conn`: `frame` is the agent's whole output frame, its data starting at
    /// `offset`. Bytes already received are dropped, overlaps trimmed, and a hole before the
    /// data becomes a gap. A frame that needs neither trimming nor splitting is forwarded as
    /// received, without a copy. Returns what to store (nothing for duplicates), or
    /// `Err(offset)` when the output would start more than `max_ahead` past what was received.
    pub fn output(&self, conn: ConnId, offset: u64, frame: Bytes, max_ahead: u64) -> Result<Vec<Item>, u64> {
        let received = Some(Instant::now());
        let data = frame.get(frame::HEADER_LEN..).unwrap_or_default();
        let end = offset + data.len() as u64;
        let mut st = lock(&self.state);
        if offset > st.live_end.saturating_add(max_ahead) {
            return Err(offset);
        }
        if end <= st.live_end || data.is_empty() {
            return Ok(Vec::new());
        }
        let mut items = Vec::with_capacity(2);
        let start = offset.max(st.live_end);
        if start > st.live_end {
            items.push(Item::Gap { offset: st.live_end, length: start - st.live_end });
        }
        if start == offset && data.len() <= RING_ITEM_MAX {
            items.push(Item::Output { offset, end, frame: frame.clone(), received });
        } else {
            let skip = usize::try_from(start - offset).unwrap_or(0);
            let mut at = start;
            for piece in data[skip..].chunks(RING_ITEM_MAX) {
                let frame = Bytes::from(frame::encode_output(self.id, at, piece));
                let piece_end = at + piece.len() as u64;
                items.push(Item::Output { offset: at, end: piece_end, frame, received });
                at = piece_end;
            }
        }
        for item in &items {
            st.tail_bytes += item.bytes();
            st.tail.push_back(item.clone());
            let _ = self.tx.send(item.clone());
        }
        st.live_end = end;
        st.owner = Some(conn);
        Ok(items)
    }

    /// Bytes the agent lost up to `end`; returns the gap to store, if it covers anything new,
    /// or `Err(end)` when it reaches more than `max_ahead` past what was received.
    pub fn gap(&self, end: u64, max_ahead: u64) -> Result<Option<Item>, u64> {
        let mut st = lock(&self.state);
        if end > st.live_end.saturating_add(max_ahead) {
            return Err(end);
        }
        if end <= st.live_end {
            return Ok(None);
        }
        let item = Item::Gap { offset: st.live_end, length: end - st.live_end };
        st.tail.push_back(item.clone());
        let _ = self.tx.send(item.clone());
        st.live_end = end;
        Ok(Some(item))
    }

    /// Output is stored up to `end` (and kept from `retained_from`): drops it from the tail and
    /// returns the connection to acknowledge it to.
    pub fn stored_up_to(&self, end: u64, retained_from: u64) -> Option<ConnId> {
        let owner = {
            let mut st = lock(&self.state);
            st.persisted_end = st.persisted_end.max(end);
            st.retained_from = st.retained_from.max(retained_from);
            while st.tail.front().is_some_and(|i| i.end() <= st.persisted_end) {
                if let Some(item) = st.tail.pop_front() {
                    st.tail_bytes -= item.bytes();
                }
            }
            st.owner
        };
        self.stored.notify_waiters();
        owner
    }

    /// Waits until everything received so far is stored, for at most `limit`; returns whether
    /// it is. A session's end is recorded only after the output sent before it.
    pub async fn wait_stored(&self, limit: Duration) -> bool {
        let target = self.live_end();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            // Created before the check, so a store in between still wakes it.
            let notified = self.stored.notified();
            if lock(&self.state).persisted_end >= target {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return false;
            }
        }
    }

    /// Starts following from `from`: the unstored tail after it, and a receiver for what follows.
    pub fn subscribe(&self, from: u64) -> Subscription {
        let st = lock(&self.state);
        let rx = self.tx.subscribe();
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
            size: TermSize { cols: st.cols, rows: st.rows, locked: st.size_locked },
        }
    }

    /// Whether the hub can forget this session: nobody relays or watches it, nothing unstored.
    pub fn idle(&self) -> bool {
        let st = lock(&self.state);
        st.owner.is_none() && st.tail.is_empty() && self.tx.receiver_count() == 0
    }
}

#[cfg(test)]
#[path = "live_tests.rs"]
mod tests;
