//! First run and every run: make sure the data dir, database, keys, TLS certificate and (until
//! an administrator exists) the one-time setup token exist, generating whatever is missing and
//! reusing whatever is there.

use std::time::Duration;

use crate::auth::tokens;
use crate::keys::{Keys, KeysError, SECRETS_FILE};
use crate::settings::Settings;
use crate::store::{Store, StoreError};
use crate::tls::{self, TlsError, TlsMaterial};
use sessionforge_shared::files;

/// Characters in the setup token (62^32 ≈ 2^190).
const SETUP_TOKEN_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("cannot create data dir {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] KeysError),
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// Everything the server needs from disk to start.
#[derive(Debug)]
pub struct Bootstrapped {
    pub store: Store,
    pub keys: Keys,
    pub tls: Option<TlsMaterial>,
    /// What this run generated (empty on a restart).
    pub generated: Vec<&'static str>,
}

pub async fn bootstrap(settings: &Settings) -> Result<Bootstrapped, BootstrapError> {
    let dir = &settings.data_dir;
    let mut generated = Vec::new();
    if !dir.exists() {
        generated.push("data dir");
    }
    files::create_private_dir(dir)
        .map_err(|source| BootstrapError::DataDir { path: dir.display().to_string(), source })?;

    let db_path = settings.db_path();
    if !db_path.exists() {
        generated.push("database");
    }
    let store =
        Store::open(&db_path, settings.database.readers, Duration::from_millis(settings.database.busy_timeout_ms))?;

    let keys_path = dir.join(SECRETS_FILE);
    let (mut keys, mut dirty) = match Keys::load(&keys_path)? {
        Some((keys, added)) => (keys, added),
        None => {
            generated.push("keys");
            (Keys::generate(), true)
        }
    };
    let admin_exists = store.admin_exists().await?;
    if admin_exists && keys.setup_token.is_some() {
        keys.setup_token = None;
        dirty = true;
    } else if !admin_exists && keys.setup_token.is_none() {
        keys.setup_token = Some(tokens::random_alnum(SETUP_TOKEN_LEN));
        generated.push("setup token");
        dirty = true;
    }
    if dirty {
        keys.save(&keys_path)?;
    }

    let tls = if !settings.tls.enabled {
        None
    } else if !settings.tls.cert_file.as_os_str().is_empty() {
        Some(tls::load_files(&settings.tls.cert_file, &settings.tls.key_file)?)
    } else {
        let (material, fresh) = tls::load_or_generate(dir, &settings.hostnames)?;
        if fresh {
            generated.push("TLS certificate");
        }
        Some(material)
    };

    Ok(Bootstrapped { store, keys, tls, generated })
}
