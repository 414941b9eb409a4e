//! The machine credential: kept in the OS keyring (macOS Keychain, Windows Credential Manager,
//! Linux kernel keyutils, which works headless), or, where no keyring works at all, in a file
//! only the user can read, with a warning. It never appears in logs or `Debug` output.
//!
//! Note on Linux: keyutils keys live in kernel memory and do not survive a reboot. An agent
//! that finds its credential gone says so and asks to be enrolled again; set
//! `credential_store = "file"` on machines that reboot unattended.

use std::path::{Path, PathBuf};

use sessionforge_shared::files;

use crate::config::CredentialStore;

/// Keyring service name; the entry's user is the machine id.
const SERVICE: &str = "sessionforge-agent";
/// File name of the fallback credential file inside the state dir.
const FILE: &str = "credential";

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("the OS keyring is not available: {0}")]
    NoKeyring(String),
    #[error(
        "the machine credential is missing from the {0}; enroll this machine again \
         (keyutils keys do not survive a reboot: set credential_store = \"file\" to keep it on disk)"
    )]
    Missing(&'static str),
    #[error("cannot read or write {path}: {source}")]
    Io { path: String, source: std::io::Error },
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

/// On Linux the entry lives in the kernel's *user* keyring (shared by the user's login shells,
/// systemd user services and desktop session), and is linked into the persistent keyring when
/// there is one. keyring's default, the session keyring, is per login session: an agent started
/// by systemd would not see a credential enrolled from a terminal.
#[cfg(target_os = "linux")]
fn keyring_entry(machine_id: &str) -> Result<keyring::Entry, CredentialError> {
    use linux_keyutils::{KeyRing, KeyRingIdentifier};
    let user = KeyRing::from_special_id(KeyRingIdentifier::User, true)
        .map_err(|e| CredentialError::NoKeyring(format!("kernel keyutils: {e:?}")))?;
    let credential = keyring::keyutils::KeyutilsCredential {
        session: user,
        persistent: KeyRing::get_persistent(KeyRingIdentifier::User).ok(),
        description: format!("{SERVICE}:{machine_id}"),
    };
    Ok(keyring::Entry::new_with_credential(Box::new(credential)))
}

#[cfg(not(target_os = "linux"))]
fn keyring_entry(machine_id: &str) -> Result<keyring::Entry, CredentialError> {
    keyring::Entry::new(SERVICE, machine_id).map_err(|e| CredentialError::NoKeyring(e.to_string()))
}

fn save_keyring(machine_id: &str, secret: &Secret) -> Result<(), CredentialError> {
    let entry = keyring_entry(machine_id)?;
    entry.set_password(secret.expose()).map_err(|e| CredentialError::NoKeyring(e.to_string()))?;
    // Read it back: some "keyrings" accept writes they cannot serve.
    match entry.get_password() {
        Ok(back) if back == secret.expose() => Ok(()),
        Ok(_) => Err(CredentialError::NoKeyring("the keyring returned a different value".into())),
        Err(e) => Err(CredentialError::NoKeyring(e.to_string())),
    }
}

fn save_file(state_dir: &Path, secret: &Secret) -> Result<(), CredentialError> {
    let path = file_path(state_dir);
    let io = |source| CredentialError::Io { path: path.display().to_string(), source };
    files::create_private_dir(state_dir).map_err(io)?;
    files::write_private_atomic(&path, secret.expose().as_bytes()).map_err(io)
}

/// Stores the credential as `preference` says; returns where it went (`Keyring` or `File`).
pub fn save(
    preference: CredentialStore,
    state_dir: &Path,
    machine_id: &str,
    secret: &Secret,
) -> Result<CredentialStore, CredentialError> {
    match preference {
        CredentialStore::File => save_file(state_dir, secret).map(|_| CredentialStore::File),
        CredentialStore::Keyring => save_keyring(machine_id, secret).map(|_| CredentialStore::Keyring),
        CredentialStore::Auto => match save_keyring(machine_id, secret) {
            Ok(()) => Ok(CredentialStore::Keyring),
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    path = %file_path(state_dir).display(),
                    "no usable OS keyring; storing the machine credential in a file readable only by you"
                );
                save_file(state_dir, secret).map(|_| CredentialStore::File)
            }
        },
    }
}

/// Loads the credential from where enrollment put it.
pub fn load(location: CredentialStore, state_dir: &Path, machine_id: &str) -> Result<Secret, CredentialError> {
    match location {
        CredentialStore::File => {
            let path = file_path(state_dir);
            match std::fs::read_to_string(&path) {
                Ok(s) if !s.trim().is_empty() => Ok(Secret(s.trim().to_string())),
                Ok(_) => Err(CredentialError::Missing("credential file")),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(CredentialError::Missing("credential file")),
                Err(source) => Err(CredentialError::Io { path: path.display().to_string(), source }),
            }
        }
        CredentialStore::Keyring | CredentialStore::Auto => match keyring_entry(machine_id)?.get_password() {
            Ok(s) => Ok(Secret(s)),
            Err(keyring::Error::NoEntry) => Err(CredentialError::Missing("OS keyring")),
            Err(e) => Err(CredentialError::NoKeyring(e.to_string())),
        },
    }
}

/// Removes the credential from both places (signing the machine out).
pub fn delete(state_dir: &Path, machine_id: &str) {
    if let Ok(entry) = keyring_entry(machine_id) {
        let _ = entry.delete_credential();
    }
    let _ = std::fs::remove_file(file_path(state_dir));
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
        assert!(matches!(load(CredentialStore::File, dir.path(), "m1"), Err(CredentialError::Missing(_))));
    }

    /// The kernel keyring works headless on Linux (no D-Bus, no desktop session).
    #[cfg(target_os = "linux")]
    #[test]
    fn linux_keyutils_round_trips_headless() {
        let dir = tempfile::tempdir().expect("tempdir");
        let machine = format!("test-{}", uuid::Uuid::new_v4());
        let secret = Secret::new(format!("sfm_{}", uuid::Uuid::new_v4().simple()));
        let used = save(CredentialStore::Keyring, dir.path(), &machine, &secret).expect("keyutils works headless");
        assert_eq!(used, CredentialStore::Keyring);
        assert_eq!(load(CredentialStore::Keyring, dir.path(), &machine).expect("load").expose(), secret.expose());
        assert!(!dir.path().join(FILE).exists(), "nothing written to disk");
        delete(dir.path(), &machine);
        assert!(load(CredentialStore::Keyring, dir.path(), &machine).is_err());
    }
}
