//! Statements the server signs with its ed25519 key (release manifests): the exact bytes of a
//! JSON payload travel as a string next to their signature, so that verifying never depends on
//! how anyone re-serialises JSON. The public key is published by the server and pinned by
//! agents at enrollment.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

/// A payload and the server's signature over its UTF-8 bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct Signed {
    /// The signed JSON document, as a string.
    pub payload: String,
    /// Base64 of the ed25519 signature over `payload`'s bytes.
    pub signature: String,
    /// Which key signed it (see [`key_id`]).
    pub key_id: String,
}

/// The server's public signing key, as published at `/.well-known/sessionforge/signing-key`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct PublicKey {
    /// Always `ed25519`.
    pub algorithm: String,
    pub key_id: String,
    /// Base64 of the 32-byte public key.
    pub public_key: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("the signature is not valid base64 ed25519")]
    Malformed,
    #[error("signed by key {0}, not the pinned key")]
    WrongKey(String),
    #[error("the signature does not match the content (tampered or corrupted)")]
    Invalid,
    #[error("not a valid public key")]
    BadKey,
}

/// A short, stable name for a public key: the first 8 bytes of its SHA-256, in hex.
pub fn key_id(key: &VerifyingKey) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(key.as_bytes())[..8])
}

pub fn public_key(key: &SigningKey) -> PublicKey {
    let vk = key.verifying_key();
    PublicKey { algorithm: "ed25519".into(), key_id: key_id(&vk), public_key: B64.encode(vk.as_bytes()) }
}

impl PublicKey {
    /// The key itself, checked.
    pub fn verifying_key(&self) -> Result<VerifyingKey, SignatureError> {
        if self.algorithm != "ed25519" {
            return Err(SignatureError::BadKey);
        }
        let bytes: [u8; 32] =
            B64.decode(&self.public_key).ok().and_then(|b| b.try_into().ok()).ok_or(SignatureError::BadKey)?;
        VerifyingKey::from_bytes(&bytes).map_err(|_| SignatureError::BadKey)
    }
}

/// Signs `payload` with `key`.
pub fn sign(payload: String, key: &SigningKey) -> Signed {
    let signature = B64.encode(key.sign(payload.as_bytes()).to_bytes());
    Signed { payload, signature, key_id: key_id(&key.verifying_key()) }
}

/// Checks `signed` against the pinned `key`; returns the payload only when it is authentic.
/// ed25519 verification does not depend on secret data, so timing reveals nothing.
pub fn verify<'a>(signed: &'a Signed, key: &VerifyingKey) -> Result<&'a str, SignatureError> {
    if signed.key_id != key_id(key) {
        return Err(SignatureError::WrongKey(signed.key_id.clone()));
    }
    let bytes: [u8; 64] =
        B64.decode(&signed.signature).ok().and_then(|b| b.try_into().ok()).ok_or(SignatureError::Malformed)?;
    key.verify_strict(signed.payload.as_bytes(), &Signature::from_bytes(&bytes))
        .map(|()| signed.payload.as_str())
        .map_err(|_| SignatureError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn signed_payloads_verify_and_any_change_is_refused() {
        let k = key(7);
        let signed = sign(r#"{"a":1}"#.into(), &k);
        assert_eq!(verify(&signed, &k.verifying_key()), Ok(r#"{"a":1}"#));

        let mut tampered = signed.clone();
        tampered.payload = r#"{"a":2}"#.into();
        assert_eq!(verify(&tampered, &k.verifying_key()), Err(SignatureError::Invalid));

        let mut bad_sig = signed.clone();
        bad_sig.signature = "AAAA".into();
        assert_eq!(verify(&bad_sig, &k.verifying_key()), Err(SignatureError::Malformed));

        let other = key(8);
        assert!(matches!(verify(&signed, &other.verifying_key()), Err(SignatureError::WrongKey(_))));
        let mut relabelled = sign(r#"{"a":1}"#.into(), &other);
        relabelled.key_id = signed.key_id.clone();
        assert_eq!(verify(&relabelled, &k.verifying_key()), Err(SignatureError::Invalid));
    }

    #[test]
    fn public_keys_round_trip() {
        let k = key(9);
        let published = public_key(&k);
        assert_eq!(published.verifying_key(), Ok(k.verifying_key()));
        let mut wrong = published.clone();
        wrong.public_key = "not base64!".into();
        assert_eq!(wrong.verifying_key(), Err(SignatureError::BadKey));
    }
}
