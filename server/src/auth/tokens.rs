//! Random tokens, their keyed hashes for storage, CSRF tokens, and constant-time comparison.
//!
//! Stored tokens (browser sign-ins, API keys, later enrollment tokens) are high-entropy random
//! values, so a keyed SHA-256 (HMAC with a server key) is the right hash: a stolen database
//! alone cannot be used to check guesses, and lookups stay fast enough for every request.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use hmac::{Hmac, Mac};
use rand::Rng;
use rand::distributions::Alphanumeric;
use rand::rngs::OsRng;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::keys::Keys;

type HmacSha256 = Hmac<Sha256>;

/// Characters of randomness in a browser sign-in token (62^43 ≈ 2^256).
const LOGIN_TOKEN_LEN: usize = 43;
/// Visible part of an API key, shown in lists so that people can tell keys apart.
const API_KEY_PREFIX_LEN: usize = 8;
/// Secret part of an API key (62^32 ≈ 2^190).
const API_KEY_SECRET_LEN: usize = 32;
/// Every API key starts with this, so that secret scanners can recognise leaked keys.
pub const API_KEY_MARKER: &str = "sfk_";

/// A random alphanumeric string from the OS RNG.
pub fn random_alnum(len: usize) -> String {
    OsRng.sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}

pub fn new_login_token() -> String {
    random_alnum(LOGIN_TOKEN_LEN)
}

/// A new API key: `(full key shown once, visible prefix)`.
pub fn new_api_key() -> (String, String) {
    let prefix = format!("{API_KEY_MARKER}{}", random_alnum(API_KEY_PREFIX_LEN));
    let key = format!("{prefix}_{}", random_alnum(API_KEY_SECRET_LEN));
    (key, prefix)
}

/// Keyed hash of a token, for storage and lookup. `purpose` separates token kinds, so a hash of
/// one kind can never match a token of another.
pub fn token_hash(keys: &Keys, purpose: &str, token: &str) -> Vec<u8> {
    mac(&keys.current_hmac().key, &[purpose.as_bytes(), b"\0", token.as_bytes()])
}

/// The CSRF token bound to a browser sign-in: derived, so nothing extra is stored.
pub fn csrf_token(keys: &Keys, login_token: &str) -> String {
    B64URL.encode(mac(&keys.cookie_key, &[b"csrf\0", login_token.as_bytes()]))
}

/// The token of a single-use link mailed from the outbox for row `id` of `kind`. Derived from
/// the server's key, so the outbox stores no secret; the row stores only the token's keyed hash
/// ([`token_hash`] with [`crate::auth::PURPOSE_LINK`]).
pub fn link_token(keys: &Keys, kind: crate::store::outbox::LinkKind, id: &str) -> String {
    let mac = mac(&keys.cookie_key, &[b"mail-link\0", kind.as_str().as_bytes(), b"\0", id.as_bytes()]);
    format!("{LINK_MARKER}{}", B64URL.encode(mac))
}

/// Every mailed link token starts with this.
pub const LINK_MARKER: &str = "sfm_";

/// Compares two secrets in time independent of where they differ.
pub fn secure_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

fn mac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut m = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("hmac takes any key length"));
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_have_a_visible_prefix_and_distinct_secrets() {
        let (key, prefix) = new_api_key();
        assert!(key.starts_with(&prefix));
        assert!(prefix.starts_with(API_KEY_MARKER));
        assert_eq!(key.len(), API_KEY_MARKER.len() + API_KEY_PREFIX_LEN + 1 + API_KEY_SECRET_LEN);
        assert_ne!(new_api_key().0, key);
    }

    #[test]
    fn hashes_are_keyed_and_purpose_bound() {
        let a = Keys::generate();
        let b = Keys::generate();
        assert_eq!(token_hash(&a, "login", "t"), token_hash(&a, "login", "t"));
        assert_ne!(token_hash(&a, "login", "t"), token_hash(&b, "login", "t"));
        assert_ne!(token_hash(&a, "login", "t"), token_hash(&a, "api_key", "t"));
    }

    #[test]
    fn secure_eq_compares_exactly() {
        assert!(secure_eq(b"abc", b"abc"));
        assert!(!secure_eq(b"abc", b"abd"));
        assert!(!secure_eq(b"abc", b"abcd"));
    }
}
