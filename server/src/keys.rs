//! The server's generated secrets: the cookie/session key, the HMAC keys (with key ids, so they
//! can rotate) and the ed25519 signing key. They are created on first run, stored in one 0600
//! file in the data dir, and never printed: `Debug` shows only key ids and the public key.

use std::fmt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::SigningKey;
use rand::RngCore;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};

use sessionforge_shared::files;

/// File name of the secrets inside the data dir.
pub const SECRETS_FILE: &str = "secrets.json";

/// Length of every symmetric key, in bytes (256 bits).
const KEY_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("cannot read or write {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path} is not a valid secrets file: {reason}")]
    Corrupt { path: String, reason: String },
}

/// One HMAC key and the id that names it inside signed values.
#[derive(Clone)]
pub struct HmacKey {
    pub id: String,
    pub key: [u8; KEY_LEN],
}

/// Every secret the server generated for itself.
#[derive(Clone)]
pub struct Keys {
    /// Signs and hashes browser session cookies and derives CSRF tokens.
    pub cookie_key: [u8; KEY_LEN],
    /// Keyed hashes for stored tokens and signed links. The first is current; the rest still verify.
    pub hmac_keys: Vec<HmacKey>,
    /// Signs release manifests and other server statements.
    pub signing_key: SigningKey,
    /// Signs licensing answers and license files (kept apart from the release key, so that
    /// one can be rotated or published without the other).
    pub license_key: SigningKey,
    /// The one-time first-admin setup token, until an admin exists.
    pub setup_token: Option<String>,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("cookie_key", &"<redacted>")
            .field("hmac_key_ids", &self.hmac_keys.iter().map(|k| k.id.as_str()).collect::<Vec<_>>())
            .field("signing_public_key", &hex::encode(self.signing_key.verifying_key().as_bytes()))
            .field("license_public_key", &hex::encode(self.license_key.verifying_key().as_bytes()))
            .field("setup_token", &self.setup_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
struct KeysFile {
    cookie_key: String,
    hmac_keys: Vec<HmacKeyFile>,
    signing_key: String,
    /// Absent in files written before licensing: one is generated and saved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    license_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    setup_token: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct HmacKeyFile {
    id: String,
    key: String,
}

impl Keys {
    /// Fresh random keys.
    pub fn generate() -> Self {
        let mut cookie_key = [0u8; KEY_LEN];
        OsRng.fill_bytes(&mut cookie_key);
        let mut hmac = [0u8; KEY_LEN];
        OsRng.fill_bytes(&mut hmac);
        Self {
            cookie_key,
            hmac_keys: vec![HmacKey { id: "k1".into(), key: hmac }],
            signing_key: SigningKey::generate(&mut OsRng),
            license_key: SigningKey::generate(&mut OsRng),
            setup_token: None,
        }
    }

    /// The key new HMACs are made with.
    pub fn current_hmac(&self) -> &HmacKey {
        // `load` and `generate` guarantee at least one key.
        &self.hmac_keys[0]
    }

    pub fn hmac_by_id(&self, id: &str) -> Option<&HmacKey> {
        self.hmac_keys.iter().find(|k| k.id == id)
    }

    /// Loads the keys from `path`, or `None` when the file does not exist. The flag says a key
    /// was missing (an older file) and generated: save the keys again.
    pub fn load(path: &Path) -> Result<Option<(Self, bool)>, KeysError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(KeysError::Io { path: path.display().to_string(), source }),
        };
        let corrupt =
            |reason: &str| KeysError::Corrupt { path: path.display().to_string(), reason: reason.to_string() };
        let file: KeysFile = serde_json::from_str(&text).map_err(|e| corrupt(&e.to_string()))?;
        let cookie_key = decode_key(&file.cookie_key).ok_or_else(|| corrupt("bad cookie_key"))?;
        let signing = decode_key(&file.signing_key).ok_or_else(|| corrupt("bad signing_key"))?;
        let mut hmac_keys = Vec::with_capacity(file.hmac_keys.len());
        for k in &file.hmac_keys {
            let key = decode_key(&k.key).ok_or_else(|| corrupt("bad hmac key"))?;
            hmac_keys.push(HmacKey { id: k.id.clone(), key });
        }
        if hmac_keys.is_empty() {
            return Err(corrupt("no hmac keys"));
        }
        let (license_key, added) = match &file.license_key {
            Some(k) => (SigningKey::from_bytes(&decode_key(k).ok_or_else(|| corrupt("bad license_key"))?), false),
            None => (SigningKey::generate(&mut OsRng), true),
        };
        let keys = Self {
            cookie_key,
            hmac_keys,
            signing_key: SigningKey::from_bytes(&signing),
            license_key,
            setup_token: file.setup_token,
        };
        Ok(Some((keys, added)))
    }

    /// Writes the keys atomically with owner-only permissions.
    pub fn save(&self, path: &Path) -> Result<(), KeysError> {
        let file = KeysFile {
            cookie_key: B64.encode(self.cookie_key),
            hmac_keys: self
                .hmac_keys
                .iter()
                .map(|k| HmacKeyFile { id: k.id.clone(), key: B64.encode(k.key) })
                .collect(),
            signing_key: B64.encode(self.signing_key.to_bytes()),
            license_key: Some(B64.encode(self.license_key.to_bytes())),
            setup_token: self.setup_token.clone(),
        };
        let text = serde_json::to_string_pretty(&file)
            .map_err(|e| KeysError::Corrupt { path: path.display().to_string(), reason: e.to_string() })?;
        files::write_private_atomic(path, text.as_bytes())
            .map_err(|source| KeysError::Io { path: path.display().to_string(), source })
    }
}

fn decode_key(text: &str) -> Option<[u8; KEY_LEN]> {
    B64.decode(text).ok()?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_debug_hides_secrets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(SECRETS_FILE);
        let mut keys = Keys::generate();
        keys.setup_token = Some("setup-secret-value".into());
        keys.save(&path).expect("save");
        let loaded = Keys::load(&path).expect("load").expect("present").0;
        assert_eq!(loaded.cookie_key, keys.cookie_key);
        assert_eq!(loaded.signing_key.to_bytes(), keys.signing_key.to_bytes());
        assert_eq!(loaded.setup_token.as_deref(), Some("setup-secret-value"));

        let debug = format!("{loaded:?}");
        assert!(!debug.contains("setup-secret-value"));
        assert!(!debug.contains(&B64.encode(keys.cookie_key)));
        assert!(!debug.contains(&hex::encode(keys.current_hmac().key)));
    }

    #[cfg(unix)]
    #[test]
    fn secrets_file_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(SECRETS_FILE);
        Keys::generate().save(&path).expect("save");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn corrupt_file_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(SECRETS_FILE);
        std::fs::write(&path, "{not json").expect("write");
        let err = Keys::load(&path).expect_err("corrupt");
        assert!(err.to_string().contains("not a valid secrets file"), "{err}");
    }
}
