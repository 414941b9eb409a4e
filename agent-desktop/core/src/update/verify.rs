//! The checks between a manifest and an installed binary, on in-memory data: the manifest's
//! signature against a pinned key, its expiry and freshness (never older than one already
//! seen: an attacker replaying an old manifest cannot freeze this agent on an old build), this
//! target's entry, and the downloaded bytes' size and SHA-256. (Versions compare in
//! [`crate::version`].)

use sessionforge_shared::releases::{Manifest, ManifestEntry};
use sessionforge_shared::signing::{self, PublicKey, Signed};
use sha2::{Digest, Sha256};

use super::UpdateError;

/// The manifest in `signed`, once its signature verifies with one of the pinned `keys`, it is
/// `channel`'s, it has not expired at `now`, and it is not older than `newest_seen` (the newest
/// `generated_at` this agent accepted before).
pub fn manifest(
    signed: &Signed,
    keys: &[PublicKey],
    channel: &str,
    now: i64,
    newest_seen: Option<i64>,
) -> Result<Manifest, UpdateError> {
    let key = keys
        .iter()
        .find(|k| k.key_id == signed.key_id)
        .ok_or_else(|| UpdateError::Signature(signing::SignatureError::WrongKey(signed.key_id.clone())))?;
    let vk = key.verifying_key().map_err(|_| UpdateError::BadPinnedKey)?;
    let payload = signing::verify(signed, &vk)?;
    let manifest: Manifest = serde_json::from_str(payload).map_err(|e| UpdateError::BadManifest(e.to_string()))?;
    if manifest.channel != channel {
        return Err(UpdateError::BadManifest(format!(
            "it is the {} channel's, not the {channel} channel's",
            manifest.channel
        )));
    }
    if manifest.expires_at <= now {
        return Err(UpdateError::Stale(format!(
            "it expired at {} (it must be signed again)",
            crate::status::format_time(manifest.expires_at)
        )));
    }
    if let Some(seen) = newest_seen
        && manifest.generated_at < seen
    {
        return Err(UpdateError::Stale(format!(
            "it is older ({}) than one this agent already accepted ({}): refusing a replayed manifest",
            crate::status::format_time(manifest.generated_at),
            crate::status::format_time(seen)
        )));
    }
    Ok(manifest)
}

/// The manifest's entry for `target`.
pub fn select<'a>(manifest: &'a Manifest, target: &str) -> Result<&'a ManifestEntry, UpdateError> {
    manifest
        .for_target(target)
        .ok_or_else(|| UpdateError::NoBuild { channel: manifest.channel.clone(), target: target.to_string() })
}

/// Checks downloaded bytes against a manifest entry as they arrive.
#[derive(Debug)]
pub struct ArtifactCheck {
    hasher: Sha256,
    received: u64,
    size: u64,
    sha256: String,
}

impl ArtifactCheck {
    pub fn new(entry: &ManifestEntry) -> Self {
        Self { hasher: Sha256::new(), received: 0, size: entry.size, sha256: entry.sha256.clone() }
    }

    /// Takes the next chunk; refuses to go past the published size.
    pub fn update(&mut self, chunk: &[u8]) -> Result<(), UpdateError> {
        self.received = self.received.saturating_add(chunk.len() as u64);
        if self.received > self.size {
            return Err(UpdateError::Integrity(format!("it is larger than the published {} bytes", self.size)));
        }
        self.hasher.update(chunk);
        Ok(())
    }

    /// Checks the size and the SHA-256 (exact lower-case hex, as the manifest publishes it).
    pub fn finish(self) -> Result<(), UpdateError> {
        if self.received != self.size {
            return Err(UpdateError::Integrity(format!(
                "it has {} bytes, the published build has {}",
                self.received, self.size
            )));
        }
        let actual = hex::encode(self.hasher.finalize());
        if actual != self.sha256 {
            return Err(UpdateError::Integrity(format!(
                "its SHA-256 is {actual}, the published build's is {}",
                self.sha256
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;
    use sessionforge_shared::signing::SignatureError;

    use super::*;

    const TARGET: &str = "x86_64-unknown-linux-gnu";

    fn entry(version: &str, body: &[u8]) -> ManifestEntry {
        ManifestEntry {
            target: TARGET.into(),
            version: version.into(),
            url: "https://sf.example/api/v1/downloads/x".into(),
            size: body.len() as u64,
            sha256: hex::encode(Sha256::digest(body)),
            notes: String::new(),
        }
    }

    const NOW: i64 = 1_800_000_000;

    fn signed_at(
        key: &SigningKey,
        channel: &str,
        generated_at: i64,
        expires_at: i64,
        releases: Vec<ManifestEntry>,
    ) -> Signed {
        let m = Manifest { channel: channel.into(), generated_at, expires_at, releases };
        signing::sign(serde_json::to_string(&m).expect("json"), key)
    }

    fn signed(key: &SigningKey, channel: &str, releases: Vec<ManifestEntry>) -> Signed {
        signed_at(key, channel, NOW - 10, NOW + 3600, releases)
    }

    fn manifest(s: &Signed, key: &PublicKey, channel: &str) -> Result<Manifest, UpdateError> {
        super::manifest(s, std::slice::from_ref(key), channel, NOW, None)
    }

    #[test]
    fn a_manifest_verifies_only_with_the_pinned_key_and_untouched() {
        let server = SigningKey::from_bytes(&[1; 32]);
        let pinned = signing::public_key(&server);
        let s = signed(&server, "stable", vec![entry("2.0.0", b"new build")]);
        let m = manifest(&s, &pinned, "stable").expect("verifies");
        assert_eq!(select(&m, TARGET).expect("entry").version, "2.0.0");
        assert!(matches!(select(&m, "aarch64-apple-darwin"), Err(UpdateError::NoBuild { .. })));

        let mut tampered = s.clone();
        tampered.payload = tampered.payload.replace("2.0.0", "9.0.0");
        assert!(matches!(manifest(&tampered, &pinned, "stable"), Err(UpdateError::Signature(SignatureError::Invalid))));

        let impostor = SigningKey::from_bytes(&[2; 32]);
        let forged = signed(&impostor, "stable", vec![entry("9.0.0", b"evil")]);
        assert!(matches!(
            manifest(&forged, &pinned, "stable"),
            Err(UpdateError::Signature(SignatureError::WrongKey(_)))
        ));
        let mut relabelled = forged.clone();
        relabelled.key_id = pinned.key_id.clone();
        assert!(matches!(
            manifest(&relabelled, &pinned, "stable"),
            Err(UpdateError::Signature(SignatureError::Invalid))
        ));

        // A genuine beta manifest is not accepted as the stable one.
        let beta = signed(&server, "beta", vec![entry("3.0.0-beta.1", b"beta")]);
        assert!(matches!(manifest(&beta, &pinned, "stable"), Err(UpdateError::BadManifest(_))));
        let garbage = signing::sign("not json".into(), &server);
        assert!(matches!(manifest(&garbage, &pinned, "stable"), Err(UpdateError::BadManifest(_))));
        let mut broken_key = pinned.clone();
        broken_key.public_key = "AAAA".into();
        assert!(matches!(manifest(&s, &broken_key, "stable"), Err(UpdateError::BadPinnedKey)));
    }

    #[test]
    fn expired_and_replayed_manifests_are_refused_and_any_pinned_key_may_sign() {
        let (a, b) = (SigningKey::from_bytes(&[3; 32]), SigningKey::from_bytes(&[4; 32]));
        let keys = [signing::public_key(&a), signing::public_key(&b)];
        let fresh = signed_at(&b, "stable", NOW - 5, NOW + 60, vec![]);
        assert!(super::manifest(&fresh, &keys, "stable", NOW, Some(NOW - 100)).is_ok(), "a second pinned key");
        let expired = signed_at(&a, "stable", NOW - 100, NOW - 1, vec![]);
        assert!(matches!(super::manifest(&expired, &keys, "stable", NOW, None), Err(UpdateError::Stale(_))));
        let no_expiry = signed_at(&a, "stable", NOW - 100, 0, vec![]);
        assert!(matches!(super::manifest(&no_expiry, &keys, "stable", NOW, None), Err(UpdateError::Stale(_))));
        let replayed = signed_at(&a, "stable", NOW - 100, NOW + 60, vec![]);
        let err = super::manifest(&replayed, &keys, "stable", NOW, Some(NOW - 5)).expect_err("older than seen");
        assert!(err.to_string().contains("replayed"), "{err}");
    }

    #[test]
    fn downloads_must_match_the_published_size_and_hash() {
        let published = entry("2.0.0", b"the real build");
        let check = |parts: &[&[u8]]| {
            let mut c = ArtifactCheck::new(&published);
            for p in parts {
                c.update(p)?;
            }
            c.finish()
        };
        assert!(check(&[b"the real ", b"build"]).is_ok());
        let err = check(&[b"the fake build"]).expect_err("same size, other bytes");
        assert!(err.to_string().contains("SHA-256"), "{err}");
        assert!(matches!(check(&[b"the real"]), Err(UpdateError::Integrity(_))), "short");
        assert!(matches!(check(&[b"the real build", b"!"]), Err(UpdateError::Integrity(_))), "long");

        // The hash is compared as published: exact lower-case hex.
        let upper = ManifestEntry { sha256: published.sha256.to_uppercase(), ..published.clone() };
        let mut c = ArtifactCheck::new(&upper);
        c.update(b"the real build").expect("size ok");
        assert!(c.finish().is_err());
    }
}
