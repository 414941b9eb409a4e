//! Agent configuration: built-in defaults, then `agent.toml`, then `SESSIONFORGE_*` environment
//! variables (`SESSIONFORGE_UPDATE__AUTO` for `update.auto`), then flags. Enrollment writes the
//! server, machine, pinned fingerprint and pinned release signing key into the file, keeping
//! whatever else the user put there. The tray app and the headless agent share it.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use sessionforge_shared::files;
use sessionforge_shared::protocol::{AllowedCommand, KNOWN_AI_CLIS};
use uuid::Uuid;

/// Name of the config file inside the config dir.
pub const CONFIG_FILE: &str = "agent.toml";
/// Environment variable naming one directory for both config and state (tests, portable installs).
pub const CONFIG_DIR_ENV: &str = "SESSIONFORGE_CONFIG_DIR";
/// Keys that may come from `SESSIONFORGE_<KEY>` environment variables.
const ENV_KEYS: &[&str] = &[
    "server_url",
    "credential_store",
    "buffer_bytes",
    "spool_bytes",
    "discover",
    "discovery_interval_secs",
    "update.channel",
    "update.auto",
    "update.check_interval_hours",
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid agent configuration: {0}")]
    Invalid(String),
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
}

/// Where the agent keeps its machine credential: what `credential_store` asks for, and what
/// `credential_location` records (always a concrete store: `secret-service`, `keyutils`,
/// `keyring` or `file`). See [`crate::credentials`] for how `auto` chooses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialStore {
    /// The best store that works: on Linux the Secret Service, then kernel keyutils; elsewhere
    /// the OS keyring; else a 0600 file (with a warning).
    #[default]
    Auto,
    /// The OS keyring only: macOS Keychain, Windows Credential Manager, and on Linux the Secret
    /// Service, then kernel keyutils. As a recorded location on Linux (written by agents before
    /// the Secret Service was supported) it means kernel keyutils.
    Keyring,
    /// Linux: the freedesktop Secret Service over D-Bus (GNOME Keyring, KWallet, KeePassXC).
    SecretService,
    /// Linux: the kernel's keyutils user keyring (works headless; lost on reboot).
    Keyutils,
    /// A file readable only by the user.
    File,
}

impl std::fmt::Display for CredentialStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CredentialStore::Auto => "best available credential store",
            CredentialStore::Keyring => "OS keyring",
            CredentialStore::SecretService => "Secret Service",
            CredentialStore::Keyutils => "kernel keyutils keyring",
            CredentialStore::File => "credential file",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentConfig {
    /// The server this machine is enrolled with; empty until `enroll`.
    pub server_url: String,
    pub machine_id: Option<Uuid>,
    pub org_id: Option<Uuid>,
    /// SHA-256 fingerprint of the server certificate, pinned at enrollment when it was
    /// self-signed. Empty means normal WebPKI validation.
    pub server_fingerprint: String,
    pub credential_store: CredentialStore,
    /// Where enrollment actually stored the credential, so that loading looks there.
    pub credential_location: Option<CredentialStore>,
    /// Unacknowledged output held in memory per session when it cannot be spooled; past it the
    /// session's program waits for the server (backpressure), nothing is dropped.
    pub buffer_bytes: usize,
    /// Unacknowledged output spooled to disk per session (in the state dir), resent after a
    /// restart; past it the session's program waits for the server. 0 keeps output in memory.
    pub spool_bytes: u64,
    /// AI CLIs to discover.
    pub discover: Vec<String>,
    /// Seconds between discovery scans of the process table (each costs a few ms of CPU).
    pub discovery_interval_secs: u64,
    /// The release signing keys (base64 ed25519) pinned at enrollment: manifests must be signed
    /// by one of them. Empty until then (the first update check pins them over the pinned TLS
    /// connection).
    pub signing_keys: Vec<String>,
    /// The single key agents enrolled before several keys were supported pinned (still trusted).
    pub signing_key: String,
    pub update: UpdateConfig,
    /// This machine's own allow-list (`[[allow]]` tables): when set, a session the server asks
    /// to start must be permitted by it as well as by the org's list. The server cannot widen it.
    pub allow: Option<Vec<AllowedCommand>>,
}

/// The `[update]` table: how the running agent keeps itself up to date.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpdateConfig {
    /// Release channel: `stable` or `beta`.
    pub channel: String,
    /// Install newer builds by itself (when no relayed session is running) and restart — when
    /// the org's update policy is `automatic` too. `false` keeps this machine at `notify`
    /// whatever the org says.
    pub auto: bool,
    /// How often `run` checks for a newer build; 0 disables checks. Fractions are allowed.
    pub check_interval_hours: f64,
}

impl Default for UpdateConfig {
    fn default() -> Self {
        Self { channel: "stable".into(), auto: true, check_interval_hours: 6.0 }
    }
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            server_url: String::new(),
            machine_id: None,
            org_id: None,
            server_fingerprint: String::new(),
            credential_store: CredentialStore::Auto,
            credential_location: None,
            buffer_bytes: crate::outbuf::DEFAULT_LIMIT,
            spool_bytes: crate::outbuf::DEFAULT_SPOOL_LIMIT,
            discover: KNOWN_AI_CLIS.iter().map(|s| s.to_string()).collect(),
            discovery_interval_secs: 10,
            signing_keys: Vec::new(),
            signing_key: String::new(),
            update: UpdateConfig::default(),
            allow: None,
        }
    }
}

/// The agent's files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    pub config_file: PathBuf,
    /// Credential file (when no keyring), status files, lock file.
    pub state_dir: PathBuf,
}

impl Paths {
    /// `dir` (or `SESSIONFORGE_CONFIG_DIR`) holds everything; otherwise the platform's config
    /// and data directories.
    pub fn resolve(dir: Option<&Path>) -> Self {
        let dir = dir.map(Path::to_path_buf).or_else(|| std::env::var_os(CONFIG_DIR_ENV).map(PathBuf::from));
        match dir {
            Some(d) => Self { config_file: d.join(CONFIG_FILE), state_dir: d },
            None => {
                let config = dirs::config_dir().unwrap_or_else(|| PathBuf::from(".")).join("sessionforge");
                let state = dirs::data_local_dir().map(|d| d.join("sessionforge")).unwrap_or_else(|| config.clone());
                Self { config_file: config.join(CONFIG_FILE), state_dir: state }
            }
        }
    }
}

impl AgentConfig {
    /// Defaults, then the file (if it exists), then the environment.
    pub fn load(paths: &Paths) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(AgentConfig::default()));
        if paths.config_file.is_file() {
            figment = figment.merge(Toml::file_exact(&paths.config_file));
        }
        figment = figment.merge(Env::prefixed("SESSIONFORGE_").split("__").only(ENV_KEYS));
        let cfg: AgentConfig = figment.extract().map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if cfg.buffer_bytes < 4096 {
            return Err(ConfigError::Invalid("buffer_bytes must be at least 4096".into()));
        }
        if cfg.spool_bytes != 0 && cfg.spool_bytes < 65536 {
            return Err(ConfigError::Invalid("spool_bytes must be 0 (no spool) or at least 65536".into()));
        }
        if !sessionforge_shared::releases::CHANNELS.contains(&cfg.update.channel.as_str()) {
            return Err(ConfigError::Invalid(format!(
                "update.channel {:?} must be stable or beta",
                cfg.update.channel
            )));
        }
        let hours = cfg.update.check_interval_hours;
        if !hours.is_finite() || hours < 0.0 {
            return Err(ConfigError::Invalid("update.check_interval_hours must be 0 or more".into()));
        }
        Ok(cfg)
    }

    /// Whether this config records an enrollment with `server` (ignoring a trailing slash and
    /// the case of scheme and host).
    pub fn enrolled_with(&self, server: &str) -> bool {
        let norm = |s: &str| s.trim().trim_end_matches('/').to_ascii_lowercase();
        self.is_enrolled() && norm(&self.server_url) == norm(server)
    }

    /// How often `run` checks for updates; `None` when checks are off.
    pub fn update_interval(&self) -> Option<std::time::Duration> {
        let secs = self.update.check_interval_hours * 3600.0;
        (secs >= 1.0).then(|| std::time::Duration::from_secs_f64(secs.min(1e9)))
    }

    /// Where enrollment stored the credential, for people.
    pub fn credential_place(&self) -> String {
        match self.credential_location {
            Some(CredentialStore::Keyring) if cfg!(target_os = "linux") => "OS keyring (kernel keyutils)".into(),
            Some(store) => store.to_string(),
            None => "store chosen at enrollment (not recorded)".into(),
        }
    }

    pub fn is_enrolled(&self) -> bool {
        !self.server_url.is_empty() && self.machine_id.is_some()
    }

    /// Writes the enrollment keys into the config file, keeping every other key the file has.
    pub fn save_enrollment(&self, paths: &Paths) -> Result<(), ConfigError> {
        let location = self
            .credential_location
            .and_then(|l| serde_json::to_value(l).ok())
            .and_then(|v| v.as_str().map(String::from));
        let text = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty()).map(toml::Value::String);
        save_values(
            paths,
            &[
                ("server_url", text(&self.server_url)),
                ("machine_id", self.machine_id.map(|m| toml::Value::String(m.to_string()))),
                ("org_id", self.org_id.map(|m| toml::Value::String(m.to_string()))),
                ("server_fingerprint", text(&self.server_fingerprint)),
                ("credential_location", location.map(toml::Value::String)),
                ("signing_keys", keys(&self.signing_keys)),
                ("signing_key", text(&self.signing_key)),
            ],
        )
    }

    /// Every pinned release key (base64).
    pub fn pinned_signing_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.signing_keys.iter().map(|k| k.trim().to_string()).collect();
        if !self.signing_key.trim().is_empty() && !keys.contains(&self.signing_key.trim().to_string()) {
            keys.push(self.signing_key.trim().to_string());
        }
        keys.retain(|k| !k.is_empty());
        keys
    }

    /// Removes the enrollment from the config file (signing this machine out), keeping the
    /// user's own settings.
    pub fn forget_enrollment(paths: &Paths) -> Result<(), ConfigError> {
        save_values(paths, &ENROLLMENT_KEYS.map(|k| (k, None)))
    }

    /// Writes only the pinned release signing keys into the config file.
    pub fn save_signing_keys(&self, paths: &Paths) -> Result<(), ConfigError> {
        save_values(paths, &[("signing_keys", keys(&self.signing_keys))])
    }

    /// Writes the list of AI CLIs to discover into the config file.
    pub fn save_discover(&self, paths: &Paths) -> Result<(), ConfigError> {
        let list = self.discover.iter().cloned().map(toml::Value::String).collect();
        save_values(paths, &[("discover", Some(toml::Value::Array(list)))])
    }
}

/// A list of keys as a TOML value (`None` when empty, so that the key is removed).
fn keys(list: &[String]) -> Option<toml::Value> {
    (!list.is_empty()).then(|| toml::Value::Array(list.iter().cloned().map(toml::Value::String).collect()))
}

/// The keys enrollment manages.
const ENROLLMENT_KEYS: [&str; 7] =
    ["server_url", "machine_id", "org_id", "server_fingerprint", "credential_location", "signing_keys", "signing_key"];

/// Sets (or, for `None`, removes) keys of the config file, keeping the rest. A key may name a
/// table entry as `table.key` (`tray.notify_ended`); the table is created when missing.
pub fn save_values(paths: &Paths, keys: &[(&str, Option<toml::Value>)]) -> Result<(), ConfigError> {
    let write_err = |source| ConfigError::Write { path: paths.config_file.display().to_string(), source };
    let mut root: toml::Table =
        std::fs::read_to_string(&paths.config_file).ok().and_then(|t| t.parse().ok()).unwrap_or_default();
    for (key, value) in keys {
        let (table, leaf) = match key.split_once('.') {
            Some((t, leaf)) => {
                let entry = root.entry(t.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
                match entry.as_table_mut() {
                    Some(table) => (table, leaf),
                    None => return Err(ConfigError::Invalid(format!("{t} in {CONFIG_FILE} must be a table"))),
                }
            }
            None => (&mut root, *key),
        };
        match value {
            Some(v) => {
                table.insert(leaf.into(), v.clone());
            }
            None => {
                table.remove(leaf);
            }
        }
    }
    let text = format!(
        "# SessionForge agent configuration. Enrollment manages server_url, machine_id, org_id,\n\
         # server_fingerprint, credential_location and signing_keys; everything else is yours to edit.\n{}",
        toml::to_string(&root).map_err(|e| ConfigError::Invalid(e.to_string()))?
    );
    if let Some(dir) = paths.config_file.parent() {
        std::fs::create_dir_all(dir).map_err(write_err)?;
    }
    files::write_private_atomic(&paths.config_file, text.as_bytes()).map_err(write_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_out_and_tray_settings_keep_everything_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = Paths::resolve(Some(dir.path()));
        std::fs::write(&paths.config_file, "buffer_bytes = 65536\n[update]\nauto = false\n").expect("write");
        let mut cfg = AgentConfig::load(&paths).expect("load");
        cfg.server_url = "https://example.test".into();
        cfg.machine_id = Some(Uuid::new_v4());
        cfg.save_enrollment(&paths).expect("save");
        cfg.discover = vec!["claude".into(), "my-agent".into()];
        cfg.save_discover(&paths).expect("save discover");
        save_values(&paths, &[("tray.notify_ended", Some(toml::Value::Boolean(false)))]).expect("tray key");
        save_values(&paths, &[("update.channel", Some(toml::Value::String("beta".into())))]).expect("update key");

        AgentConfig::forget_enrollment(&paths).expect("forget");
        let again = AgentConfig::load(&paths).expect("reload");
        assert!(!again.is_enrolled() && again.server_url.is_empty() && again.machine_id.is_none());
        assert_eq!(again.discover, vec!["claude".to_string(), "my-agent".to_string()]);
        assert_eq!((again.buffer_bytes, again.update.auto, again.update.channel.as_str()), (65536, false, "beta"));
        let text = std::fs::read_to_string(&paths.config_file).expect("read");
        assert!(text.contains("[tray]") && text.contains("notify_ended = false"), "{text}");
        assert!(
            save_values(&paths, &[("buffer_bytes.x", Some(toml::Value::Boolean(true)))]).is_err(),
            "a key that is not a table is refused, not overwritten"
        );
    }

    #[test]
    fn enrollment_is_saved_without_losing_user_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = Paths::resolve(Some(dir.path()));
        std::fs::write(&paths.config_file, "discover = [\"claude\"]\nbuffer_bytes = 65536\n").expect("write");
        let mut cfg = AgentConfig::load(&paths).expect("load");
        assert_eq!(cfg.discover, vec!["claude".to_string()]);
        cfg.server_url = "https://example.test:8443".into();
        cfg.machine_id = Some(Uuid::new_v4());
        cfg.server_fingerprint = "AB:CD".into();
        cfg.credential_location = Some(CredentialStore::SecretService);
        cfg.save_enrollment(&paths).expect("save");
        let text = std::fs::read_to_string(&paths.config_file).expect("read");
        assert!(text.contains("credential_location = \"secret-service\""), "{text}");
        let again = AgentConfig::load(&paths).expect("reload");
        assert_eq!(again.server_url, "https://example.test:8443");
        assert_eq!(again.machine_id, cfg.machine_id);
        assert_eq!(again.buffer_bytes, 65536, "user keys survive");
        assert_eq!(again.credential_location, Some(CredentialStore::SecretService));
        assert!(again.is_enrolled());
    }

    #[test]
    fn update_settings_come_from_the_file_and_the_environment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = Paths::resolve(Some(dir.path()));
        let defaults = AgentConfig::load(&paths).expect("defaults");
        assert_eq!(defaults.update, UpdateConfig::default());
        assert_eq!(defaults.update_interval(), Some(std::time::Duration::from_secs(6 * 3600)));

        std::fs::write(&paths.config_file, "[update]\nchannel = \"beta\"\nauto = false\ncheck_interval_hours = 0\n")
            .expect("write");
        let cfg = AgentConfig::load(&paths).expect("load");
        assert_eq!((cfg.update.channel.as_str(), cfg.update.auto), ("beta", false));
        assert_eq!(cfg.update_interval(), None, "0 disables checks");

        // Saving an enrollment keeps the table and adds the pinned key at the top level.
        let mut cfg = cfg;
        cfg.server_url = "https://example.test".into();
        cfg.machine_id = Some(Uuid::new_v4());
        cfg.signing_keys = vec!["S0VZ".into(), "S0VZMg==".into()];
        cfg.save_enrollment(&paths).expect("save");
        let again = AgentConfig::load(&paths).expect("reload");
        assert_eq!(again.pinned_signing_keys(), vec!["S0VZ".to_string(), "S0VZMg==".to_string()]);
        assert_eq!(again.update.channel, "beta");
        assert!(again.enrolled_with("HTTPS://example.test/") && !again.enrolled_with("https://other.test"));

        std::fs::write(&paths.config_file, "[update]\nchannel = \"nightly\"\n").expect("write");
        assert!(AgentConfig::load(&paths).is_err(), "unknown channels are refused");
    }

    #[test]
    fn a_local_allow_list_parses_from_allow_tables() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = Paths::resolve(Some(dir.path()));
        std::fs::write(
            &paths.config_file,
            "[[allow]]\ncommand = \"claude\"\n\n[[allow]]\ncommand = \"aider\"\nargs = [\"--model\", \"gpt-*\"]\n",
        )
        .expect("write");
        let cfg = AgentConfig::load(&paths).expect("load");
        let list = cfg.allow.expect("allow list");
        assert_eq!(list[0], AllowedCommand::any_args("claude"));
        assert_eq!(list[1].args.as_ref().map(Vec::len), Some(2));
        assert_eq!(AgentConfig::default().allow, None, "no local list unless configured");
    }

    #[test]
    fn every_credential_store_name_parses() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = Paths::resolve(Some(dir.path()));
        for (name, store) in [
            ("auto", CredentialStore::Auto),
            ("keyring", CredentialStore::Keyring),
            ("secret-service", CredentialStore::SecretService),
            ("keyutils", CredentialStore::Keyutils),
            ("file", CredentialStore::File),
        ] {
            std::fs::write(&paths.config_file, format!("credential_store = \"{name}\"\n")).expect("write");
            assert_eq!(AgentConfig::load(&paths).expect(name).credential_store, store);
        }
    }
}
