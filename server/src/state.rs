//! The state every handler shares: settings, keys, the store, rate limits and metrics.

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use crate::auth::ratelimit::RateLimits;
use crate::keys::{Keys, KeysError, SECRETS_FILE};
use crate::metrics::Metrics;
use crate::relay::Relay;
use crate::releases::artifacts::Artifacts;
use crate::settings::Settings;
use crate::store::Store;

/// What clients need to know about the server's certificate.
#[derive(Clone, Debug, Default)]
pub struct TlsInfo {
    /// SHA-256 fingerprint of the certificate, when serving TLS.
    pub fingerprint: Option<String>,
    /// `curl --pinnedpubkey` pin, when the certificate is self-signed.
    pub pin: Option<String>,
}

/// Cheap to clone; all clones share one `Inner`.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub settings: Settings,
    pub keys: Keys,
    pub store: Store,
    pub limits: RateLimits,
    pub metrics: Metrics,
    pub relay: Relay,
    /// The URL people and agents use to reach this server.
    pub public_url: String,
    /// SHA-256 fingerprint of the TLS certificate, when serving TLS.
    pub tls_fingerprint: Option<String>,
    /// `curl --pinnedpubkey` pin of a self-signed certificate (installers use it to trust this
    /// server without a CA).
    pub tls_pin: Option<String>,
    /// Stored release artifacts.
    pub artifacts: Artifacts,
    /// Downloads in progress per client address (bounded).
    pub downloads: crate::api::downloads::DownloadSlots,
    /// Open event streams per user (bounded).
    pub event_streams: Arc<crate::api::event_streams::EventStreams>,
    /// Queued mail's sender (handlers wake it after queueing).
    pub outbox: Arc<crate::email::Outbox>,
    /// Access held by open connections, so that revocations reach them.
    pub access: Arc<crate::access::Access>,
    /// The one-time admin setup token while no admin exists.
    setup_token: Mutex<Option<String>>,
}

/// Written by hand so that the setup token never reaches logs: it shows only whether one is set.
impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `try_lock`: formatting must never block or deadlock, even while the token is being consumed.
        let setup_token = match self.setup_token.try_lock() {
            Ok(token) => token.as_ref().map(|_| "<redacted>"),
            Err(_) => Some("<unavailable>"),
        };
        f.debug_struct("Inner")
            .field("settings", &self.settings)
            .field("keys", &self.keys)
            .field("store", &self.store)
            .field("limits", &self.limits)
            .field("metrics", &self.metrics)
            .field("relay", &self.relay)
            .field("public_url", &self.public_url)
            .field("tls_fingerprint", &self.tls_fingerprint)
            .field("tls_pin", &self.tls_pin)
            .field("setup_token", &setup_token)
            .finish()
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(
        settings: Settings,
        keys: Keys,
        store: Store,
        metrics: Metrics,
        relay: Relay,
        public_url: String,
        tls: TlsInfo,
    ) -> Result<Self, crate::email::EmailError> {
        let outbox = Arc::new(crate::email::Outbox::new(&settings.email, keys.clone(), public_url.clone())?);
        let limits = RateLimits::new(&settings.rate_limit);
        let artifacts = Artifacts::new(&settings.data_dir);
        let setup_token = Mutex::new(keys.setup_token.clone());
        Ok(Self(Arc::new(Inner {
            settings,
            keys,
            store,
            limits,
            metrics,
            relay,
            public_url,
            tls_fingerprint: tls.fingerprint,
            tls_pin: tls.pin,
            artifacts,
            downloads: crate::api::downloads::DownloadSlots::default(),
            event_streams: crate::api::event_streams::EventStreams::new(),
            outbox,
            access: crate::access::Access::new(),
            setup_token,
        })))
    }
}

impl Inner {
    pub fn public_url(&self) -> String {
        self.public_url.clone()
    }

    pub fn setup_token(&self) -> Option<String> {
        self.setup_token.lock().map(|t| t.clone()).unwrap_or(None)
    }

    /// Forgets the setup token in memory and on disk once the first admin exists. The file is
    /// written on the blocking pool, so that a slow disk never stalls the async runtime.
    pub async fn consume_setup_token(&self) -> Result<(), KeysError> {
        if let Ok(mut token) = self.setup_token.lock() {
            *token = None;
        }
        let mut keys = self.keys.clone();
        keys.setup_token = None;
        let path = self.settings.data_dir.join(SECRETS_FILE);
        let shown = path.display().to_string();
        tokio::task::spawn_blocking(move || keys.save(&path))
            .await
            .map_err(|e| KeysError::Io { path: shown, source: std::io::Error::other(e) })?
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::relay::RelayTasks;

    const TOKEN: &str = "setup-token-that-must-stay-secret";

    /// A state whose settings point at `data_dir`, with its store in `db_dir`.
    async fn state(data_dir: &Path, db_dir: &Path) -> (AppState, RelayTasks) {
        let settings = Settings { data_dir: data_dir.to_path_buf(), ..Settings::default() };
        let store = Store::open(&db_dir.join("test.db"), 1, Duration::from_secs(5)).expect("store");
        let mut keys = Keys::generate();
        keys.setup_token = Some(TOKEN.into());
        let metrics = Metrics::new();
        let latency = metrics.relay_output_latency.clone();
        let (relay, tasks) = Relay::start(store.clone(), settings.relay.clone(), latency).await.expect("relay");
        let url = "https://localhost:8443".to_string();
        let state = AppState::new(settings, keys, store, metrics, relay, url, TlsInfo::default()).expect("state");
        (state, tasks)
    }

    #[tokio::test]
    async fn debug_shows_only_that_a_setup_token_exists() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (state, tasks) = state(dir.path(), dir.path()).await;
        let debug = format!("{state:?}");
        assert!(!debug.contains(TOKEN), "setup token leaked: {debug}");
        assert!(debug.contains(r#"setup_token: Some("<redacted>")"#), "{debug}");
        tasks.persister.abort();
        tasks.abort_housekeeping();
    }

    #[tokio::test]
    async fn consuming_the_setup_token_forgets_it_in_memory_and_on_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (state, tasks) = state(dir.path(), dir.path()).await;
        state.keys.save(&dir.path().join(SECRETS_FILE)).expect("save");
        state.consume_setup_token().await.expect("consume");
        assert_eq!(state.setup_token(), None);
        let on_disk = Keys::load(&dir.path().join(SECRETS_FILE)).expect("load").expect("present").0;
        assert_eq!(on_disk.setup_token, None);
        assert!(format!("{state:?}").contains("setup_token: None"));
        tasks.persister.abort();
        tasks.abort_housekeeping();
    }

    #[tokio::test]
    async fn a_failed_write_is_reported_and_the_token_is_still_forgotten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("no-such-dir");
        let (state, tasks) = state(&missing, dir.path()).await;
        let err = state.consume_setup_token().await.expect_err("the data dir does not exist");
        assert!(matches!(err, KeysError::Io { .. }), "{err}");
        assert_eq!(state.setup_token(), None);
        tasks.persister.abort();
        tasks.abort_housekeeping();
    }
}
