//! Authenticated encryption of small secrets at rest and in license files: AES-256-GCM with a
//! fresh random 96-bit nonce per message, stored as `nonce ‖ ciphertext ‖ tag`. Keys are derived
//! from a secret and a purpose label with HMAC-SHA256, so one secret never keys two uses.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

const NONCE_LEN: usize = 12;

/// A 256-bit key for `purpose`, derived from `secret`.
pub fn derive_key(secret: &[u8], purpose: &str) -> [u8; 32] {
    // HMAC takes keys of any length, so this cannot fail.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("any key length"));
    m.update(b"sessionforge-seal\0");
    m.update(purpose.as_bytes());
    m.finalize().into_bytes().into()
}

/// Encrypts `plain` under `key`.
pub fn seal(key: &[u8; 32], plain: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
    let mut nonce = [0u8; NONCE_LEN];
    rand::thread_rng().fill_bytes(&mut nonce);
    // Encryption fails only for inputs beyond GCM's 64 GiB limit, far past any secret here.
    let body = cipher.encrypt(Nonce::from_slice(&nonce), plain).unwrap_or_default();
    [nonce.as_slice(), &body].concat()
}

/// Decrypts what [`seal`] made under the same key; `None` if it was made under another key or
/// changed in any way.
pub fn open(key: &[u8; 32], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_LEN {
        return None;
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)).decrypt(Nonce::from_slice(nonce), body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_text_opens_only_under_its_key_and_unchanged() {
        let key = derive_key(b"secret", "license-key");
        assert_ne!(key, derive_key(b"secret", "other purpose"), "purposes get different keys");
        let sealed = seal(&key, b"SF-ABCDE");
        assert_ne!(seal(&key, b"SF-ABCDE"), sealed, "a fresh nonce each time");
        assert_eq!(open(&key, &sealed).as_deref(), Some(b"SF-ABCDE".as_slice()));
        assert_eq!(open(&derive_key(b"other", "license-key"), &sealed), None);
        for i in 0..sealed.len() {
            let mut changed = sealed.clone();
            changed[i] ^= 1;
            assert_eq!(open(&key, &changed), None, "byte {i} changed");
        }
        assert_eq!(open(&key, &sealed[..5]), None);
    }
}
