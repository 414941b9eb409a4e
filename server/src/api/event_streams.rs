//! Event streams per user, bounded: opening one more than `connections.event_streams_per_user`
//! ends that user's oldest, so abandoned streams can never pile up.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use sessionforge_shared::ids::UserId;
use tokio::sync::oneshot;

/// Open event streams per user, oldest first.
/// Per user, each open stream's id and the sender that ends it.
type Open = HashMap<UserId, VecDeque<(u64, oneshot::Sender<()>)>>;

#[derive(Debug, Default)]
pub struct EventStreams {
    open: Mutex<Open>,
    next: AtomicU64,
    this: Weak<EventStreams>,
}

/// One open stream's place; dropping it frees the place.
pub struct Slot {
    id: u64,
    user: UserId,
    evicted: oneshot::Receiver<()>,
    streams: Weak<EventStreams>,
}

impl EventStreams {
    pub fn new() -> Arc<Self> {
        Arc::new_cyclic(|this| Self { this: this.clone(), ..Self::default() })
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for a new stream of `user`, ending the user's oldest streams beyond `max`.
    pub fn open(&self, user: UserId, max: u32) -> Slot {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, evicted) = oneshot::channel();
        let mut open = self.lock();
        let mine = open.entry(user).or_default();
        while mine.len() >= max.max(1) as usize {
            if let Some((_, oldest)) = mine.pop_front() {
                let _ = oldest.send(());
            }
        }
        mine.push_back((id, tx));
        Slot { id, user, evicted, streams: self.this.clone() }
    }

    /// Streams `user` holds open.
    pub fn count(&self, user: UserId) -> usize {
        self.lock().get(&user).map_or(0, VecDeque::len)
    }
}

impl Slot {
    /// Resolves when a newer stream took this one's place.
    pub async fn evicted(&mut self) {
        if (&mut self.evicted).await.is_err() {
            // The sender is only dropped with its slot's entry, which happens when this slot
            // is dropped: never while we wait.
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(streams) = self.streams.upgrade() {
            let mut open = streams.lock();
            if let Some(mine) = open.get_mut(&self.user) {
                mine.retain(|(id, _)| *id != self.id);
                if mine.is_empty() {
                    open.remove(&self.user);
                }
            }
        }
    }
}
