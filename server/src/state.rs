//! The state every handler shares: settings, keys, the store, rate limits and metrics.

use std::ops::Deref;
use std::sync::{Arc, Mutex};

use crate::auth::ratelimit::RateLimits;
use crate::keys::{Keys, SECRETS_FILE};
use crate::metrics::Metrics;
use crate::relay::Relay;
use crate::settings::Settings;
use crate::store::Store;

/// Cheap to clone; all clones share one `Inner`.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
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
    /// The one-time admin setup token while no admin exists.
    setup_token: Mutex<Option<String>>,
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
        tls_fingerprint: Option<String>,
    ) -> Self {
        let limits = RateLimits::new(&settings.rate_limit);
        let setup_token = Mutex::new(keys.setup_token.clone());
        Self(Arc::new(Inner {
            settings,
            keys,
            store,
            limits,
            metrics,
            relay,
            public_url,
            tls_fingerprint,
            setup_token,
        }))
    }
}

impl Inner {
    pub fn public_url(&self) -> String {
        self.public_url.clone()
    }

    pub fn setup_token(&self) -> Option<String> {
        self.setup_token.lock().map(|t| t.clone()).unwrap_or(None)
    }

    /// Forgets the setup token in memory and on disk once the first admin exists.
    pub fn consume_setup_token(&self) -> Result<(), crate::keys::KeysError> {
        if let Ok(mut token) = self.setup_token.lock() {
            *token = None;
        }
        let mut keys = self.keys.clone();
        keys.setup_token = None;
        keys.save(&self.settings.data_dir.join(SECRETS_FILE))
    }
}
