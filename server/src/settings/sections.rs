//! The tables of the server configuration (`[tls]`, `[relay]`, …) with their built-in
//! defaults. `default-config.toml` documents every key and must equal these defaults (a test
//! checks it).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    pub enabled: bool,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    pub readers: u32,
    pub busy_timeout_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelaySettings {
    pub retention_bytes_per_session: u64,
    /// Days stored output of ended (and stale) sessions is kept.
    pub retention_days: u64,
    pub stale_after_secs: u64,
    pub online_timeout_secs: u64,
    /// All stored output together is kept under this many bytes, oldest dropped first; 0 means
    /// no global budget.
    pub max_stored_bytes: u64,
    /// Live sessions one machine may have at once.
    pub max_sessions_per_machine: u32,
    /// Output bytes per second one agent connection may send before its socket is read more
    /// slowly (backpressure; nothing is dropped).
    pub agent_bytes_per_sec: u64,
    /// How often heartbeat figures kept in memory are written to the database, in seconds.
    pub heartbeat_flush_secs: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Failed sign-ins (and password checks) per minute from one client address, any account.
    pub login_per_ip_per_minute: u32,
    /// Failed sign-ins per minute for one account, from anywhere.
    pub login_per_account_per_minute: u32,
    /// Failed sign-ins per minute for one account from one client address.
    pub login_per_account_and_ip_per_minute: u32,
    pub tokens_per_minute: u32,
    pub downloads_per_ip_per_minute: u32,
    /// Mailed links (sign-up, confirmation, password reset) per minute for one address; one
    /// client address may ask for four times as many.
    pub mail_links_per_minute: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReleaseSettings {
    /// Largest artifact that may be published, in bytes.
    pub max_upload_bytes: u64,
    /// Lifetime of the download links in manifests and installers, in seconds.
    pub link_ttl_secs: u64,
    /// No download link may live longer than this, in seconds.
    pub max_link_ttl_secs: u64,
    /// Downloads one client address may have in progress at once.
    pub max_downloads_per_ip: u32,
    /// A download whose client takes nothing for this many seconds is ended.
    pub send_timeout_secs: u64,
    /// Who signs channel manifests: `server` (this server's own key, generated on first run)
    /// or `offline` (a key that never lives here; manifests are signed elsewhere and uploaded).
    pub signing: SigningMode,
    /// With `offline` signing: the public keys (base64 ed25519) uploaded manifests may be signed
    /// with; agents pin them at enrollment.
    pub trusted_keys: Vec<String>,
    /// With `server` signing: days a generated manifest stays valid (agents refuse it after).
    pub manifest_ttl_days: u64,
    /// At start, publish the agent builds found beside the server binary (its own platform's
    /// `sessionforge-agent`, and `agents/sessionforge-agent-<target>` of a release bundle).
    pub publish_bundled_agents: bool,
}

/// Who signs channel manifests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SigningMode {
    /// This server's generated key: simple, but whoever controls the server controls updates.
    Server,
    /// A key kept off the server; a compromised server cannot push an update agents accept.
    Offline,
}

/// Limits on connections, applied before any request is read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionSettings {
    /// Most open connections in all.
    pub max: u32,
    /// Most open connections from one peer address (behind a proxy: the proxy's).
    pub max_per_ip: u32,
    /// Seconds a new connection has to complete its TLS handshake.
    pub handshake_timeout_secs: u64,
    /// Seconds a client has to send a request's headers once it started (or kept alive) a
    /// connection.
    pub header_timeout_secs: u64,
    /// Seconds a connection may neither read nor write before it is closed.
    pub idle_timeout_secs: u64,
    /// Event streams one user may hold open; opening another closes the oldest.
    pub event_streams_per_user: u32,
}

/// Caps that keep one account from growing the server without bound.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    pub machines_per_org: u32,
    pub api_keys_per_user: u32,
    pub orgs_per_user: u32,
}

#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Bearer token `/metrics` requires; empty means loopback clients only.
    pub token: String,
}

/// Written by hand: the token never reaches logs.
impl std::fmt::Debug for MetricsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let token = if self.token.is_empty() { "<none>" } else { "<redacted>" };
        f.debug_struct("MetricsSettings").field("token", &token).finish()
    }
}

impl Default for TlsSettings {
    fn default() -> Self {
        Self { enabled: true, cert_file: PathBuf::new(), key_file: PathBuf::new() }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self { format: LogFormat::Text, level: "info".into() }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self { readers: 4, busy_timeout_ms: 5000 }
    }
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            retention_bytes_per_session: 64 * 1024 * 1024,
            retention_days: 30,
            stale_after_secs: 60,
            online_timeout_secs: 30,
            max_stored_bytes: 20 * 1024 * 1024 * 1024,
            max_sessions_per_machine: 64,
            agent_bytes_per_sec: 64 * 1024 * 1024,
            heartbeat_flush_secs: 15,
        }
    }
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            login_per_ip_per_minute: 20,
            login_per_account_per_minute: 100,
            login_per_account_and_ip_per_minute: 10,
            tokens_per_minute: 30,
            downloads_per_ip_per_minute: 120,
            mail_links_per_minute: 3,
        }
    }
}

impl Default for ReleaseSettings {
    fn default() -> Self {
        Self {
            max_upload_bytes: 512 * 1024 * 1024,
            link_ttl_secs: 3600,
            max_link_ttl_secs: 24 * 3600,
            max_downloads_per_ip: 4,
            send_timeout_secs: 60,
            signing: SigningMode::Server,
            trusted_keys: Vec::new(),
            manifest_ttl_days: 7,
            publish_bundled_agents: true,
        }
    }
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        Self {
            max: 20_000,
            max_per_ip: 1_000,
            handshake_timeout_secs: 10,
            header_timeout_secs: 15,
            idle_timeout_secs: 120,
            event_streams_per_user: 16,
        }
    }
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self { machines_per_org: 1_000, api_keys_per_user: 100, orgs_per_user: 50 }
    }
}
