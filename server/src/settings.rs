//! Server configuration: built-in defaults, then a TOML file, then `SESSIONFORGE_*` environment
//! variables, then command-line flags. The documented defaults live in `default-config.toml`,
//! which is embedded and printed by `sessionforge-server default-config`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

mod billing;
mod people;
mod plans;
mod sections;

pub use billing::*;
pub use people::*;
pub use plans::*;
pub use sections::*;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// The commented default configuration, exactly as `default-config` prints it.
pub const DEFAULT_CONFIG_TOML: &str = include_str!("../default-config.toml");

/// Prefix of every environment variable the server reads.
pub const ENV_PREFIX: &str = "SESSIONFORGE_";

/// Config file read when neither `--config` nor `SESSIONFORGE_CONFIG` names one, if it exists.
pub const IMPLICIT_CONFIG_FILE: &str = "sessionforge.toml";

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("config file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub public_url: String,
    pub hostnames: Vec<String>,
    pub behind_proxy: bool,
    /// Behind a proxy: how many proxies append to `X-Forwarded-For` (the client is that many
    /// entries from the right).
    pub trusted_proxy_hops: u32,
    pub cors_origins: Vec<String>,
    pub body_limit_bytes: u64,
    pub shutdown_grace_secs: u64,
    pub login_ttl_hours: u64,
    pub tls: TlsSettings,
    pub log: LogSettings,
    pub database: DatabaseSettings,
    pub rate_limit: RateLimitSettings,
    pub relay: RelaySettings,
    pub releases: ReleaseSettings,
    pub connections: ConnectionSettings,
    pub limits: LimitSettings,
    pub metrics: MetricsSettings,
    pub email: EmailSettings,
    pub accounts: AccountSettings,
    pub plans: PlansSettings,
    pub licensing: LicensingSettings,
    pub billing: BillingSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::new(),
            listen: SocketAddr::from(([0, 0, 0, 0], 8443)),
            public_url: String::new(),
            hostnames: Vec::new(),
            behind_proxy: false,
            trusted_proxy_hops: 1,
            cors_origins: Vec::new(),
            body_limit_bytes: 1024 * 1024,
            shutdown_grace_secs: 10,
            login_ttl_hours: 24 * 7,
            tls: TlsSettings::default(),
            log: LogSettings::default(),
            database: DatabaseSettings::default(),
            rate_limit: RateLimitSettings::default(),
            relay: RelaySettings::default(),
            releases: ReleaseSettings::default(),
            connections: ConnectionSettings::default(),
            limits: LimitSettings::default(),
            metrics: MetricsSettings::default(),
            email: EmailSettings::default(),
            accounts: AccountSettings::default(),
            plans: PlansSettings::default(),
            licensing: LicensingSettings::default(),
            billing: BillingSettings::default(),
        }
    }
}

/// Values given as command-line flags; `None` leaves the lower layers' value alone.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<LogOverrides>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct LogOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<LogFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
}

impl Settings {
    /// Loads the layered configuration. `config_file` is the file named by `--config` or
    /// `SESSIONFORGE_CONFIG`; it must exist when given.
    pub fn load(config_file: Option<&Path>, overrides: &Overrides) -> Result<Self, SettingsError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        match config_file {
            Some(path) if !path.is_file() => return Err(SettingsError::MissingFile(path.into())),
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new(IMPLICIT_CONFIG_FILE).is_file() => {
                figment = figment.merge(Toml::file_exact(IMPLICIT_CONFIG_FILE));
            }
            None => {}
        }
        figment = figment
            .merge(Env::prefixed(ENV_PREFIX).split("__").ignore(&["config"]))
            .merge(Serialized::defaults(overrides));
        let mut settings: Settings = figment.extract().map_err(|e| SettingsError::Invalid(e.to_string()))?;
        settings.fill_derived_defaults();
        settings.validate()?;
        Ok(settings)
    }

    /// Resolves the values whose default depends on the machine.
    fn fill_derived_defaults(&mut self) {
        if self.data_dir.as_os_str().is_empty() {
            self.data_dir = default_data_dir();
        }
        if self.hostnames.is_empty() {
            self.hostnames = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
            if let Some(host) = machine_hostname().filter(|h| !self.hostnames.contains(h)) {
                self.hostnames.push(host);
            }
        }
    }

    fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |msg: String| Err(SettingsError::Invalid(msg));
        if !self.tls.enabled && !self.listen.ip().is_loopback() && !self.behind_proxy {
            return invalid(format!(
                "plain HTTP on {} is refused: set tls.enabled = true, listen on a loopback address, \
                 or set behind_proxy = true when a proxy terminates TLS",
                self.listen
            ));
        }
        let custom_cert = !self.tls.cert_file.as_os_str().is_empty();
        let custom_key = !self.tls.key_file.as_os_str().is_empty();
        if custom_cert != custom_key {
            return invalid("tls.cert_file and tls.key_file must be set together".into());
        }
        let url = &self.public_url;
        if !(url.is_empty() || url.starts_with("https://") || url.starts_with("http://")) {
            return invalid(format!("public_url {:?} must start with https:// or http://", self.public_url));
        }
        if self.body_limit_bytes == 0 {
            return invalid("body_limit_bytes must be greater than 0".into());
        }
        if !self.plans.catalogue.contains_key(&self.plans.default) {
            return invalid(format!("plans.default {:?} is not a plan of plans.catalogue", self.plans.default));
        }
        if let Some(bad) =
            self.licensing.trusted_keys.iter().find(|k| sessionforge_shared::license::parse_key_id(k).is_none())
        {
            return invalid(format!(
                "licensing.trusted_keys: {bad:?} is not an ed25519 public key in hex (64 characters)"
            ));
        }
        if self.database.readers == 0 {
            return invalid("database.readers must be at least 1".into());
        }
        if self.relay.retention_bytes_per_session < 64 * 1024 {
            return invalid("relay.retention_bytes_per_session must be at least 65536".into());
        }
        let limits = &self.rate_limit;
        if limits.login_per_ip_per_minute == 0
            || limits.login_per_account_per_minute == 0
            || limits.login_per_account_and_ip_per_minute == 0
            || limits.tokens_per_minute == 0
            || limits.downloads_per_ip_per_minute == 0
            || limits.mail_links_per_minute == 0
        {
            return invalid("rate_limit values must be at least 1".into());
        }
        let c = &self.connections;
        if c.max == 0
            || c.max_per_ip == 0
            || c.handshake_timeout_secs == 0
            || c.header_timeout_secs == 0
            || c.idle_timeout_secs == 0
            || c.event_streams_per_user == 0
        {
            return invalid("connections values must be at least 1".into());
        }
        let l = &self.limits;
        if l.machines_per_org == 0 || l.api_keys_per_user == 0 || l.orgs_per_user == 0 {
            return invalid("limits values must be at least 1".into());
        }
        let relay = &self.relay;
        if relay.max_sessions_per_machine == 0
            || relay.agent_bytes_per_sec < 64 * 1024
            || relay.heartbeat_flush_secs == 0
        {
            return invalid(
                "relay.max_sessions_per_machine and relay.heartbeat_flush_secs must be at least 1, \
                 relay.agent_bytes_per_sec at least 65536"
                    .into(),
            );
        }
        if relay.max_stored_bytes != 0 && relay.max_stored_bytes < relay.retention_bytes_per_session {
            return invalid(
                "relay.max_stored_bytes must be 0 (no budget) or at least retention_bytes_per_session".into(),
            );
        }
        let r = &self.releases;
        if r.link_ttl_secs == 0 || r.link_ttl_secs > r.max_link_ttl_secs {
            return invalid("releases.link_ttl_secs must be 1 to releases.max_link_ttl_secs".into());
        }
        for key in &r.trusted_keys {
            let parsed = sessionforge_shared::signing::PublicKey {
                algorithm: "ed25519".into(),
                key_id: String::new(),
                public_key: key.trim().to_string(),
            };
            if parsed.verifying_key().is_err() {
                return invalid(format!("releases.trusted_keys: {key:?} is not a base64 ed25519 public key"));
            }
        }
        if r.signing == SigningMode::Offline && r.trusted_keys.is_empty() {
            return invalid(
                "releases.signing = \"offline\" needs releases.trusted_keys (see `sessionforge-server release keygen`)"
                    .into(),
            );
        }
        if r.manifest_ttl_days == 0 {
            return invalid("releases.manifest_ttl_days must be at least 1".into());
        }
        if r.max_upload_bytes == 0 || r.max_downloads_per_ip == 0 || r.send_timeout_secs == 0 {
            return invalid(
                "releases.max_upload_bytes, max_downloads_per_ip and send_timeout_secs must be at least 1".into(),
            );
        }
        Ok(())
    }

    /// How many `X-Forwarded-For` entries proxies we trust appended: 0 unless behind a proxy.
    pub fn proxy_hops(&self) -> usize {
        if self.behind_proxy { self.trusted_proxy_hops as usize } else { 0 }
    }

    /// The scheme this server speaks on its own socket.
    pub fn scheme(&self) -> &'static str {
        if self.tls.enabled { "https" } else { "http" }
    }

    /// The URL to print in setup links, given the port actually bound.
    pub fn public_url_for(&self, bound: SocketAddr) -> String {
        if !self.public_url.is_empty() {
            return self.public_url.trim_end_matches('/').to_string();
        }
        let host = self.hostnames.first().map(String::as_str).unwrap_or("localhost");
        let host = if host.contains(':') { format!("[{host}]") } else { host.to_string() };
        format!("{}://{}:{}", self.scheme(), host, bound.port())
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("sessionforge.db")
    }
}

fn default_data_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .or_else(|| std::env::var_os("LOCALAPPDATA").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("sessionforge-server")
}

fn machine_hostname() -> Option<String> {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())?;
    let host = raw.trim().to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error
mod tests {
    use super::*;

    #[test]
    fn embedded_default_config_matches_built_in_defaults() {
        let from_file: Settings = toml::from_str(DEFAULT_CONFIG_TOML).expect("default config parses");
        assert_eq!(from_file, Settings::default());
    }

    #[test]
    fn layers_apply_in_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("custom.toml", "listen = \"127.0.0.1:9000\"\nbody_limit_bytes = 10\n")?;
            jail.set_env("SESSIONFORGE_BODY_LIMIT_BYTES", "20");
            jail.set_env("SESSIONFORGE_TLS__ENABLED", "false");
            let overrides = Overrides { listen: Some("127.0.0.1:9100".parse().expect("addr")), ..Overrides::default() };
            let s = Settings::load(Some(Path::new("custom.toml")), &overrides).expect("load");
            assert_eq!(s.listen.port(), 9100, "flag beats file");
            assert_eq!(s.body_limit_bytes, 20, "env beats file");
            assert!(!s.tls.enabled, "nested env keys use __");
            Ok(())
        });
    }

    #[test]
    fn plain_http_on_a_public_address_is_refused() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SESSIONFORGE_TLS__ENABLED", "false");
            let err = Settings::load(None, &Overrides::default()).expect_err("must refuse");
            assert!(err.to_string().contains("plain HTTP"), "{err}");
            jail.set_env("SESSIONFORGE_BEHIND_PROXY", "true");
            Settings::load(None, &Overrides::default()).expect("allowed behind a proxy");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_and_missing_files_are_errors() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "lisen = \"127.0.0.1:1\"\n")?;
            let err = Settings::load(Some(Path::new("bad.toml")), &Overrides::default());
            assert!(err.expect_err("unknown key").to_string().contains("lisen"));
            let err = Settings::load(Some(Path::new("nope.toml")), &Overrides::default());
            assert!(matches!(err, Err(SettingsError::MissingFile(_))));
            Ok(())
        });
    }
}
