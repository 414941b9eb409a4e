//! `GET /api/v1/orgs/{org_id}/events`: a server-sent event stream telling a dashboard which of
//! the org's lists changed (`machines`, `sessions`), so that it refetches them instead of
//! polling. `resync` means notices were missed: refetch everything.
//!
//! Abandoned streams must not pile up: each user holds at most
//! `connections.event_streams_per_user` (opening one more ends the oldest), and a keep-alive
//! comment goes out at once and every few seconds, so that a client that went away is noticed
//! when the write fails rather than when the connection times out.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use futures_util::stream::{self, BoxStream, StreamExt};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::EventStream;
use poem_openapi::{Object, OpenApi};
use sessionforge_shared::ids::{OrgId, UserId};
use sessionforge_shared::protocol::SessionState;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use super::ApiTags;
use super::orgs::scope;
use crate::auth::principal::Auth;
use crate::error::ApiError;
use crate::relay::events::Change;
use crate::state::AppState;

/// Comment lines sent on an idle stream, so that proxies and browsers keep it open and a client
/// that went away is noticed (its second write fails).
const KEEP_ALIVE: Duration = Duration::from_secs(5);

pub struct EventsApi;

#[derive(Object, Debug, Clone, PartialEq, Eq)]
#[oai(skip_serializing_if_is_none)]
pub struct OrgEventDto {
    /// `hello`: the stream is live. `machines` or `sessions`: that list changed. `resync`:
    /// notices were missed, refetch all.
    /// `session`: one session started or stopped waiting for its user, or ended (the fields
    /// below say which).
    pub kind: String,
    pub session_id: Option<Uuid>,
    pub state: Option<SessionState>,
    pub exit_code: Option<i32>,
    pub waiting_for_input: Option<bool>,
}

impl OrgEventDto {
    fn list(kind: &str) -> Self {
        Self { kind: kind.into(), session_id: None, state: None, exit_code: None, waiting_for_input: None }
    }

    fn from_change(change: Change) -> Self {
        match change {
            Change::Session(n) => Self {
                kind: change.as_str().into(),
                session_id: Some(n.id.0),
                state: Some(n.state),
                exit_code: n.exit_code,
                waiting_for_input: Some(n.waiting_for_input),
            },
            other => Self::list(other.as_str()),
        }
    }
}

#[OpenApi(prefix_path = "/api/v1/orgs", tag = "ApiTags::Orgs")]
impl EventsApi {
    /// Live change notices for the org's machines and sessions (server-sent events).
    #[oai(path = "/:org_id/events", method = "get")]
    async fn events(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
    ) -> Result<EventStream<BoxStream<'static, OrgEventDto>>, ApiError> {
        let org = scope(&state, &auth, org_id.0).await?.org_id();
        let rx = state.relay.hub.events.subscribe();
        let slot = state.event_streams.open(auth.user.id, state.settings.connections.event_streams_per_user);
        // The first notice says the stream is live; it also finds a client that left at once.
        let hello = stream::once(async { OrgEventDto::list("hello") });
        Ok(EventStream::new(hello.chain(notices(org, rx, slot)).boxed()).keep_alive(KEEP_ALIVE))
    }
}

fn notices(
    org: OrgId,
    rx: tokio::sync::broadcast::Receiver<crate::relay::events::OrgEvent>,
    slot: Slot,
) -> BoxStream<'static, OrgEventDto> {
    stream::unfold((rx, slot), move |(mut rx, mut slot)| async move {
        loop {
            let ev = tokio::select! {
                ev = rx.recv() => ev,
                // A newer stream of the same user took this one's place.
                () = slot.evicted() => return None,
            };
            match ev {
                Ok(ev) if ev.org == org => return Some((OrgEventDto::from_change(ev.change), (rx, slot))),
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => return Some((OrgEventDto::list("resync"), (rx, slot))),
                Err(RecvError::Closed) => return None,
            }
        }
    })
    .boxed()
}

/// Open event streams per user, oldest first.
#[derive(Debug, Default)]
pub struct EventStreams {
    open: std::sync::Mutex<HashMap<UserId, VecDeque<(u64, tokio::sync::oneshot::Sender<()>)>>>,
    next: std::sync::atomic::AtomicU64,
    this: std::sync::Weak<EventStreams>,
}

/// One open stream's place; dropping it frees the place.
pub struct Slot {
    id: u64,
    user: UserId,
    evicted: tokio::sync::oneshot::Receiver<()>,
    streams: std::sync::Weak<EventStreams>,
}

impl EventStreams {
    pub fn new() -> std::sync::Arc<Self> {
        std::sync::Arc::new_cyclic(|this| Self { this: this.clone(), ..Self::default() })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, VecDeque<(u64, tokio::sync::oneshot::Sender<()>)>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for a new stream of `user`, ending the user's oldest streams beyond `max`.
    pub fn open(&self, user: UserId, max: u32) -> Slot {
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, evicted) = tokio::sync::oneshot::channel();
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
    async fn evicted(&mut self) {
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
