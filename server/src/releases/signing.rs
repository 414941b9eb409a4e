//! Who vouches for a channel's manifest. With `releases.signing = "server"` this server signs a
//! fresh manifest for every request with its own key. With `"offline"` a release manager signs
//! it with a key that never lives here (`release sign`) and uploads it; the server checks it
//! against `releases.trusted_keys`, stores it byte for byte, and serves it with fresh download
//! links beside it — so a compromised server can withhold updates but never forge one.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::SigningKey;
use rand::rngs::OsRng;
use sessionforge_shared::ids::UserId;
use sessionforge_shared::releases::{Manifest, ManifestEntry, ManifestResponse};
use sessionforge_shared::signing::{self, PublicKey, Signed};

use super::{ReleaseError, download_url, newest};
use crate::keys::Keys;
use crate::settings::{ReleaseSettings, SigningMode};
use crate::store::releases::StoredManifest;
use crate::store::{Store, StoreError};

/// A day in seconds.
const DAY: i64 = 86_400;

/// The public keys agents should pin: this server's own, or the configured offline ones.
pub fn trusted_keys(settings: &ReleaseSettings, keys: &Keys) -> Vec<PublicKey> {
    match settings.signing {
        SigningMode::Server => vec![signing::public_key(&keys.signing_key)],
        SigningMode::Offline => settings.trusted_keys.iter().filter_map(|k| public_key(k).ok()).collect(),
    }
}

/// A base64 ed25519 public key with its id, checked.
pub fn public_key(base64: &str) -> Result<PublicKey, ReleaseError> {
    let mut key = PublicKey { algorithm: "ed25519".into(), key_id: String::new(), public_key: base64.trim().into() };
    let vk = key.verifying_key().map_err(|e| ReleaseError::BadSignedManifest(e.to_string()))?;
    key.key_id = signing::key_id(&vk);
    Ok(key)
}

/// The manifest of `channel` as it stands: the newest live build of each target, without
/// download links (what a release manager signs).
pub async fn unsigned_manifest(
    store: &Store,
    channel: &str,
    generated_at: i64,
    expires_at: i64,
) -> Result<Manifest, ReleaseError> {
    let releases = newest(store, channel).await?;
    Ok(Manifest {
        channel: channel.to_string(),
        generated_at,
        expires_at,
        releases: releases
            .into_iter()
            .map(|r| ManifestEntry {
                target: r.target,
                version: r.version,
                url: String::new(),
                size: r.size,
                sha256: r.sha256,
                notes: r.notes,
            })
            .collect(),
    })
}

/// What `GET /api/v1/releases/manifest/{channel}` answers.
pub async fn manifest_response(
    store: &Store,
    keys: &Keys,
    settings: &ReleaseSettings,
    public_url: &str,
    channel: &str,
) -> Result<ManifestResponse, ReleaseError> {
    let now = crate::store::now();
    let ttl = settings.link_ttl_secs;
    let live = store.live_releases(sessionforge_shared::releases::CHANNELS).await?;
    let link = |e: &ManifestEntry| {
        live.iter()
            .find(|r| r.target == e.target && r.version == e.version && r.sha256 == e.sha256)
            .map(|r| download_url(keys, public_url, r, now, ttl))
    };
    let signed = match settings.signing {
        SigningMode::Server => {
            let expires = now.saturating_add(i64::try_from(settings.manifest_ttl_days).unwrap_or(365) * DAY);
            let mut manifest = unsigned_manifest(store, channel, now, expires).await?;
            for entry in &mut manifest.releases {
                entry.url = link(entry).unwrap_or_default();
            }
            let payload = serde_json::to_string(&manifest).map_err(|e| StoreError::Internal(e.to_string()))?;
            signing::sign(payload, &keys.signing_key)
        }
        SigningMode::Offline => {
            if !sessionforge_shared::releases::CHANNELS.contains(&channel) {
                return Err(ReleaseError::UnknownChannel(channel.to_string()));
            }
            let stored = store
                .signed_manifest(channel.to_string())
                .await?
                .ok_or_else(|| ReleaseError::NoSignedManifest(channel.to_string()))?;
            Signed { payload: stored.payload, signature: stored.signature, key_id: stored.key_id }
        }
    };
    let manifest: Manifest =
        serde_json::from_str(&signed.payload).map_err(|e| ReleaseError::BadSignedManifest(e.to_string()))?;
    // Links only for releases still live: a yanked or corrupt build named by an older signed
    // manifest gets none.
    let links = manifest.releases.iter().filter_map(|e| Some((e.target.clone(), link(e)?))).collect();
    Ok(ManifestResponse { payload: signed.payload, signature: signed.signature, key_id: signed.key_id, links })
}

/// Checks a manifest signed off the server and stores it as the channel's: signed by a trusted
/// key, for that channel, not expired, newer than the stored one, and naming only live releases
/// with their exact size and hash.
pub async fn accept_signed(
    store: &Store,
    settings: &ReleaseSettings,
    keys: &Keys,
    channel: &str,
    signed: Signed,
    by: Option<UserId>,
) -> Result<StoredManifest, ReleaseError> {
    if settings.signing != SigningMode::Offline {
        return Err(ReleaseError::BadSignedManifest(
            "this server signs its own manifests (releases.signing = \"server\"); uploads are for offline signing"
                .into(),
        ));
    }
    let key = trusted_keys(settings, keys)
        .into_iter()
        .find(|k| k.key_id == signed.key_id)
        .ok_or_else(|| ReleaseError::UntrustedKey(signed.key_id.clone()))?;
    let vk = key.verifying_key().map_err(|e| ReleaseError::BadSignedManifest(e.to_string()))?;
    let payload = signing::verify(&signed, &vk).map_err(|e| ReleaseError::BadSignedManifest(e.to_string()))?;
    let manifest: Manifest =
        serde_json::from_str(payload).map_err(|e| ReleaseError::BadSignedManifest(format!("not a manifest: {e}")))?;
    let now = crate::store::now();
    if manifest.channel != channel {
        return Err(ReleaseError::BadSignedManifest(format!("it is the {} channel's manifest", manifest.channel)));
    }
    if manifest.expires_at <= now {
        return Err(ReleaseError::BadSignedManifest("it has expired; sign a new one".into()));
    }
    if let Some(current) = store.signed_manifest(channel.to_string()).await?
        && manifest.generated_at <= current.generated_at
    {
        return Err(ReleaseError::BadSignedManifest(
            "it is not newer than the stored one (agents would refuse it)".into(),
        ));
    }
    let live = store.live_releases(sessionforge_shared::releases::CHANNELS).await?;
    for e in &manifest.releases {
        let known = live
            .iter()
            .any(|r| r.target == e.target && r.version == e.version && r.sha256 == e.sha256 && r.size == e.size);
        if !known {
            return Err(ReleaseError::BadSignedManifest(format!(
                "it names {} {} with a size or hash no live release of this server has",
                e.target, e.version
            )));
        }
    }
    let stored = StoredManifest {
        channel: channel.to_string(),
        payload: signed.payload,
        signature: signed.signature,
        key_id: signed.key_id,
        generated_at: manifest.generated_at,
        expires_at: manifest.expires_at,
        uploaded_at: now,
    };
    store.put_signed_manifest(stored.clone(), by).await?;
    Ok(stored)
}

/// A new offline signing key: `(private key as base64, public key)`.
pub fn keygen() -> (String, PublicKey) {
    let key = SigningKey::generate(&mut OsRng);
    (B64.encode(key.to_bytes()), signing::public_key(&key))
}

/// Signs a manifest's JSON (exactly these bytes) with an offline key given as base64.
pub fn sign_offline(payload: String, private_base64: &str) -> Result<Signed, ReleaseError> {
    let bytes: [u8; 32] = B64
        .decode(private_base64.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ReleaseError::BadSignedManifest("the key file does not hold a base64 ed25519 key".into()))?;
    let manifest: Manifest =
        serde_json::from_str(&payload).map_err(|e| ReleaseError::BadSignedManifest(format!("not a manifest: {e}")))?;
    if manifest.releases.iter().any(|r| !r.url.is_empty()) {
        return Err(ReleaseError::BadSignedManifest("signed manifests carry no download links".into()));
    }
    Ok(signing::sign(payload, &SigningKey::from_bytes(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_keys_sign_what_trusted_keys_verify() {
        let (private, public) = keygen();
        let payload = r#"{"channel":"stable","generated_at":1,"expires_at":2,"releases":[]}"#.to_string();
        let signed = sign_offline(payload.clone(), &private).expect("sign");
        assert_eq!(signed.key_id, public.key_id);
        let vk = public_key(&public.public_key).expect("key").verifying_key().expect("vk");
        assert_eq!(signing::verify(&signed, &vk), Ok(payload.as_str()));
        assert!(sign_offline("not json".into(), &private).is_err());
        assert!(sign_offline(payload, "not a key").is_err());
    }
}
