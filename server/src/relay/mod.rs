//! The relay: agents' sockets in, viewers' sockets out, the hub between them, the persister
//! behind it, and the sweeper that marks abandoned sessions stale and enforces retention.

mod agent_messages;
pub mod agent_socket;
pub mod agent_tx;
pub mod events;
pub mod heartbeats;
pub mod hub;
pub mod live;
pub mod persist;
mod sweeper;
mod viewer;
pub mod viewer_socket;

use std::sync::Arc;

use poem::web::websocket::WebSocketConfig;
use tokio::task::JoinHandle;

use crate::settings::RelaySettings;
use crate::store::{Store, StoreError};
use hub::Hub;

/// Output writes queued for the persister before agents feel backpressure.
const PERSIST_QUEUE: usize = 16384;

/// Cheap to clone.
#[derive(Clone, Debug)]
pub struct Relay {
    pub hub: Arc<Hub>,
}

/// The running relay's background tasks; abort them on shutdown.
#[derive(Debug)]
pub struct RelayTasks {
    pub persister: JoinHandle<()>,
    pub sweeper: JoinHandle<()>,
    pub heartbeats: JoinHandle<()>,
}

impl RelayTasks {
    /// Stops the background tasks that never end by themselves (not the persister, which
    /// drains what is queued once the hub stops persisting).
    pub fn abort_housekeeping(&self) {
        self.sweeper.abort();
        self.heartbeats.abort();
    }
}

impl Relay {
    /// Creates the hub and starts the persister and sweeper. Sessions that were live when the
    /// server stopped are orphans until their agents reconnect (or they go stale).
    /// `output_latency` records server-added latency of live output (see [`Hub`]).
    pub async fn start(
        store: Store,
        settings: RelaySettings,
        output_latency: prometheus::Histogram,
    ) -> Result<(Relay, RelayTasks), StoreError> {
        let (persist_tx, persist_rx) = tokio::sync::mpsc::channel(PERSIST_QUEUE);
        let limits = hub::AgentLimits {
            max_sessions_per_machine: settings.max_sessions_per_machine,
            agent_bytes_per_sec: settings.agent_bytes_per_sec,
        };
        let hub = Arc::new(Hub::new(store.clone(), persist_tx, limits, output_latency));
        let live = store.live_sessions().await?;
        hub.adopt_orphans(live.into_iter().map(|s| s.id));
        let persister = tokio::spawn(persist::run(hub.clone(), persist_rx, settings.retention_bytes_per_session));
        let flush_every = std::time::Duration::from_secs(settings.heartbeat_flush_secs);
        let heartbeats = tokio::spawn(heartbeats::run(hub.clone(), flush_every));
        let sweeper = tokio::spawn(sweeper::run(hub.clone(), settings));
        Ok((Relay { hub }, RelayTasks { persister, sweeper, heartbeats }))
    }
}

/// WebSocket limits for agent and viewer sockets: small read buffers (many idle agents must be
/// cheap), eager writes (latency), and bounded messages.
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(2 * 1024 * 1024))
        .max_frame_size(Some(1024 * 1024))
}
