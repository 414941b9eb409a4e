//! Linux keyrings: the freedesktop Secret Service over D-Bus (GNOME Keyring, KWallet,
//! KeePassXC; persistent, but needs a session bus and an unlocked collection) and the kernel's
//! keyutils user keyring (headless, but gone after a reboot).
//!
//! keyring's Secret Service backend is zbus on tokio, driven by keyring's own single-threaded
//! runtime through `block_on`, which panics on a thread that is already inside a tokio runtime
//! and can wait forever for a prompt nobody answers. So every Secret Service call runs on a
//! thread of its own and is given up after [`SECRET_SERVICE_TIMEOUT`].

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use keyring::Entry;

use super::{CredentialError, SERVICE};
use crate::config::CredentialStore;

/// How long one Secret Service operation may take before the store counts as not answering:
/// long enough for D-Bus to start the service on demand and for a desktop user to answer an
/// unlock prompt, short enough that a headless enrollment moves on to keyutils.
const SECRET_SERVICE_TIMEOUT: Duration = Duration::from_secs(20);

fn unavailable(store: CredentialStore, reason: impl Into<String>) -> CredentialError {
    CredentialError::Unavailable { store, reason: reason.into() }
}

/// Runs `op` on the entry of `machine_id` in `store` (`SecretService` or `Keyutils`).
pub(super) fn with_entry<T: Send + 'static>(
    store: CredentialStore,
    machine_id: &str,
    op: impl FnOnce(&Entry) -> Result<T, CredentialError> + Send + 'static,
) -> Result<T, CredentialError> {
    match store {
        CredentialStore::Keyutils => op(&keyutils_entry(machine_id)?),
        CredentialStore::SecretService => {
            session_bus()?;
            let entry = secret_service_entry(machine_id)?;
            off_thread(move || op(&entry))
        }
        other => Err(CredentialError::Unsupported(other)),
    }
}

/// Fails at once, with a reason, when there is no D-Bus session bus to reach a Secret Service
/// on (zbus looks at `DBUS_SESSION_BUS_ADDRESS`, then `$XDG_RUNTIME_DIR/bus`).
fn session_bus() -> Result<(), CredentialError> {
    let set = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if set("DBUS_SESSION_BUS_ADDRESS").is_some() {
        return Ok(());
    }
    match set("XDG_RUNTIME_DIR").map(|d| PathBuf::from(d).join("bus")) {
        Some(socket) if socket.exists() => Ok(()),
        _ => Err(unavailable(
            CredentialStore::SecretService,
            "no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset and there is no $XDG_RUNTIME_DIR/bus)",
        )),
    }
}

/// Runs `op` on a thread of its own and waits at most [`SECRET_SERVICE_TIMEOUT`] for it. A
/// call that does not answer in time is left to finish (or hang) on its own.
fn off_thread<T: Send + 'static>(
    op: impl FnOnce() -> Result<T, CredentialError> + Send + 'static,
) -> Result<T, CredentialError> {
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("secret-service".into())
        .spawn(move || {
            let _ = tx.send(op());
        })
        .map_err(|e| unavailable(CredentialStore::SecretService, format!("cannot start a thread: {e}")))?;
    match rx.recv_timeout(SECRET_SERVICE_TIMEOUT) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(unavailable(
            CredentialStore::SecretService,
            format!("no answer within {} s (is the keyring locked?)", SECRET_SERVICE_TIMEOUT.as_secs()),
        )),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Err(unavailable(CredentialStore::SecretService, "the Secret Service call failed"))
        }
    }
}

/// An item in the Secret Service's default collection with the attributes
/// `service = sessionforge-agent` and `username = <machine id>` (what `secret-tool lookup`
/// takes), labelled so that people recognise it in Seahorse or KWallet.
fn secret_service_entry(machine_id: &str) -> Result<Entry, CredentialError> {
    let mut credential = keyring::secret_service::SsCredential::new_with_target(None, SERVICE, machine_id)
        .map_err(|e| unavailable(CredentialStore::SecretService, e.to_string()))?;
    credential.label = format!("SessionForge agent credential (machine {machine_id})");
    Ok(Entry::new_with_credential(Box::new(credential)))
}

/// The entry lives in the kernel's *user* keyring (shared by the user's login shells, systemd
/// user services and desktop session), and is linked into the persistent keyring when there is
/// one. keyring's default, the session keyring, is per login session: an agent started by
/// systemd would not see a credential enrolled from a terminal.
fn keyutils_entry(machine_id: &str) -> Result<Entry, CredentialError> {
    use linux_keyutils::{KeyRing, KeyRingIdentifier};
    let user = KeyRing::from_special_id(KeyRingIdentifier::User, true)
        .map_err(|e| unavailable(CredentialStore::Keyutils, format!("{e:?}")))?;
    let credential = keyring::keyutils::KeyutilsCredential {
        session: user,
        persistent: KeyRing::get_persistent(KeyRingIdentifier::User).ok(),
        description: format!("{SERVICE}:{machine_id}"),
    };
    Ok(Entry::new_with_credential(Box::new(credential)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_thread_hands_back_the_answer() {
        let r: Result<(), _> = off_thread(|| Err(unavailable(CredentialStore::SecretService, "refused")));
        assert!(matches!(r, Err(CredentialError::Unavailable { reason, .. }) if reason == "refused"));
        let r: Result<u8, _> = off_thread(|| Ok(7));
        assert_eq!(r.expect("answered"), 7);
    }
}
