//! The machine credential, stored with the `keyring` crate. It never appears in logs or
//! `Debug` output.
//!
//! With `credential_store = "auto"` (the default) enrollment uses the first store that works,
//! where "works" means the write reads back:
//! - on Linux, the Secret Service (GNOME Keyring, KWallet, KeePassXC) when a D-Bus session bus
//!   is present and the service answers; else the kernel's keyutils keyring, which works
//!   headless but loses its keys on reboot; else
//! - on macOS and Windows, the Keychain or Credential Manager; else
//! - a file only the user can read (0600), with a warning.
//!
//! `"keyring"` means the OS keyring only (on Linux the Secret Service, then keyutils);
//! `"secret-service"`, `"keyutils"` (Linux) and `"file"` name one store. Enrollment records
//! the store it used as `credential_location` in agent.toml, and loading looks there.
//!
//! Secret Service calls block (up to 20 s when the service does not answer) and must not run
//! on an async runtime's threads: async callers use [`save_async`] and [`load_async`].
//!
//! Note on keyutils: an agent that finds its credential gone after a reboot says so and asks
//! to be enrolled again; machines that reboot unattended without a Secret Service should set
//! `credential_store = "file"`.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(not(target_os = "linux"))]
mod native;
mod select;

#[cfg(target_os = "linux")]
use linux as platform;
#[cfg(not(target_os = "linux"))]
use native as platform;

use std::path::{Path, PathBuf};

use sessionforge_shared::files;

use crate::config::CredentialStore;

/// Keyring service name; the entry's user is the machine id.
const SERVICE: &str = "sessionforge-agent";
/// File name of the fallback credential file inside the state dir.
const FILE: &str = "credential";
/// Whether the Linux stores (Secret Service, keyutils) exist here.
const LINUX: bool = cfg!(target_os = "linux");

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("the {store} is not available: {reason}")]
    Unavailable { store: CredentialStore, reason: String },
    #[error("the {0} exists only on Linux; use credential_store = \"keyring\", \"file\" or \"auto\"")]
    Unsupported(CredentialStore),
    #[error("no credential store worked ({0})")]
    NoStore(String),
    #[error("the machine credential is missing from the {place}; enroll this machine again{}", reboot_note(*.reboot_hint))]
    Missing { place: String, reboot_hint: bool },
    #[error("cannot read or write {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("the credential task failed: {0}")]
    Task(String),
}

fn reboot_note(show: bool) -> &'static str {
    if show {
        " (keyutils keys do not survive a reboot: set credential_store = \"file\" to keep it on disk)"
    } else {
        ""
    }
}

/// A machine credential. `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Self(s)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

fn file_path(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE)
}

fn missing(store: CredentialStore) -> CredentialError {
    CredentialError::Missing { place: store.to_string(), reboot_hint: store == CredentialStore::Keyutils }
}

/// Writes to one concrete store, and reads the value back: some keyrings accept writes they
/// cannot serve.
fn save_to(store: CredentialStore, state_dir: &Path, machine_id: &str, secret: &Secret) -> Result<(), CredentialError> {
    if store == CredentialStore::File {
        let path = file_path(state_dir);
        let io = |source| CredentialError::Io { path: path.display().to_string(), source };
        files::create_private_dir(state_dir).map_err(io)?;
        return files::write_private_atomic(&path, secret.expose().as_bytes()).map_err(io);
    }
    let secret = secret.clone();
    platform::with_entry(store, machine_id, move |entry| {
        let failed = |reason: String| CredentialError::Unavailable { store, reason };
        entry.set_password(secret.expose()).map_err(|e| failed(e.to_string()))?;
        let back = match entry.get_password() {
            Ok(back) if back == secret.expose() => return Ok(()),
            Ok(_) => failed("it returned a different value than was written".into()),
            Err(e) => failed(format!("it cannot read back what was written: {e}")),
        };
        let _ = entry.delete_credential();
        Err(back)
    })
}

/// Reads from one concrete store.
fn load_from(store: CredentialStore, state_dir: &Path, machine_id: &str) -> Result<Secret, CredentialError> {
    if store == CredentialStore::File {
        let path = file_path(state_dir);
        return match std::fs::read_to_string(&path) {
            Ok(s) if !s.trim().is_empty() => Ok(Secret(s.trim().to_string())),
            Ok(_) => Err(missing(store)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(missing(store)),
            Err(source) => Err(CredentialError::Io { path: path.display().to_string(), source }),
        };
    }
    platform::with_entry(store, machine_id, move |entry| match entry.get_password() {
        Ok(s) => Ok(Secret(s)),
        Err(keyring::Error::NoEntry) => Err(missing(store)),
        Err(e) => Err(CredentialError::Unavailable { store, reason: e.to_string() }),
    })
}

/// Stores the credential as `preference` says; returns the store it went to, to be recorded
/// as `credential_location`. Blocks: async callers use [`save_async`].
pub fn save(
    preference: CredentialStore,
    state_dir: &Path,
    machine_id: &str,
    secret: &Secret,
) -> Result<CredentialStore, CredentialError> {
    let order = select::save_order(preference, LINUX)?;
    let chosen = select::first_that_works(&order, |store| save_to(store, state_dir, machine_id, secret))?;
    for (store, reason) in &chosen.passed_over {
        tracing::info!(%store, %reason, "not storing the machine credential here");
    }
    if select::fell_back_to_file(preference, &chosen) {
        tracing::warn!(
            path = %file_path(state_dir).display(),
            "no usable OS keyring; storing the machine credential in a file readable only by you"
        );
    }
    tracing::info!(store = %chosen.store, "machine credential stored");
    Ok(chosen.store)
}

/// Loads the credential from where enrollment put it (`location`, or `Auto` when none was
/// recorded: then every store is searched). Blocks: async callers use [`load_async`].
pub fn load(location: CredentialStore, state_dir: &Path, machine_id: &str) -> Result<Secret, CredentialError> {
    let order = select::load_order(location, LINUX)?;
    Ok(select::first_that_works(&order, |store| load_from(store, state_dir, machine_id))?.value)
}

/// Removes the credential from every store (signing the machine out). Blocks.
pub fn delete(state_dir: &Path, machine_id: &str) {
    let stores: &[CredentialStore] =
        if LINUX { &[CredentialStore::SecretService, CredentialStore::Keyutils] } else { &[CredentialStore::Keyring] };
    for &store in stores {
        let _ = platform::with_entry(store, machine_id, |entry| Ok(entry.delete_credential()));
    }
    let _ = std::fs::remove_file(file_path(state_dir));
}

/// [`save`] on a blocking thread, for async callers.
pub async fn save_async(
    preference: CredentialStore,
    state_dir: PathBuf,
    machine_id: String,
    secret: Secret,
) -> Result<CredentialStore, CredentialError> {
    blocking(move || save(preference, &state_dir, &machine_id, &secret)).await
}

/// [`load`] on a blocking thread, for async callers.
pub async fn load_async(
    location: CredentialStore,
    state_dir: PathBuf,
    machine_id: String,
) -> Result<Secret, CredentialError> {
    blocking(move || load(location, &state_dir, &machine_id)).await
}

/// [`delete`] on a blocking thread, for async callers.
pub async fn delete_async(state_dir: PathBuf, machine_id: String) {
    let _ = blocking(move || {
        delete(&state_dir, &machine_id);
        Ok(())
    })
    .await;
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, CredentialError> + Send + 'static,
) -> Result<T, CredentialError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| CredentialError::Task(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_store_round_trips_with_owner_only_permissions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let secret = Secret::new("sfm_test_secret".into());
        let used = save(CredentialStore::File, dir.path(), "m1", &secret).expect("save");
        assert_eq!(used, CredentialStore::File);
        assert_eq!(load(CredentialStore::File, dir.path(), "m1").expect("load").expose(), "sfm_test_secret");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(FILE)).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert!(!format!("{secret:?}").contains("sfm_"));
        delete(dir.path(), "m1");
        assert!(matches!(load(CredentialStore::File, dir.path(), "m1"), Err(CredentialError::Missing { .. })));
    }

    /// The kernel keyring works headless on Linux (no D-Bus, no desktop session).
    #[cfg(target_os = "linux")]
    #[test]
    fn linux_keyutils_round_trips_headless() {
        let dir = tempfile::tempdir().expect("tempdir");
        let machine = format!("test-{}", uuid::Uuid::new_v4());
        let secret = Secret::new(format!("sfm_{}", uuid::Uuid::new_v4().simple()));
        let used = save(CredentialStore::Keyutils, dir.path(), &machine, &secret).expect("keyutils works headless");
        assert_eq!(used, CredentialStore::Keyutils);
        assert_eq!(load(CredentialStore::Keyutils, dir.path(), &machine).expect("load").expose(), secret.expose());
        // Agents before Secret Service support recorded "keyring" for keyutils.
        assert_eq!(load(CredentialStore::Keyring, dir.path(), &machine).expect("legacy").expose(), secret.expose());
        assert!(!dir.path().join(FILE).exists(), "nothing written to disk");
        delete(dir.path(), &machine);
        let err = load(CredentialStore::Keyutils, dir.path(), &machine).expect_err("deleted");
        assert!(matches!(err, CredentialError::Missing { reboot_hint: true, .. }), "{err}");
    }
}
