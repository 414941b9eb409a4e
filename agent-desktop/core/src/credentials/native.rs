//! The native OS keyring outside Linux: macOS Keychain, Windows Credential Manager.

use keyring::Entry;

use super::{CredentialError, SERVICE};
use crate::config::CredentialStore;

/// Runs `op` on the keyring entry of `machine_id`; only `Keyring` exists here.
pub(super) fn with_entry<T: Send + 'static>(
    store: CredentialStore,
    machine_id: &str,
    op: impl FnOnce(&Entry) -> Result<T, CredentialError> + Send + 'static,
) -> Result<T, CredentialError> {
    if store != CredentialStore::Keyring {
        return Err(CredentialError::Unsupported(store));
    }
    let entry =
        Entry::new(SERVICE, machine_id).map_err(|e| CredentialError::Unavailable { store, reason: e.to_string() })?;
    op(&entry)
}
