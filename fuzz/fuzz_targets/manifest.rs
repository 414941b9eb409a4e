//! Release manifests as agents receive them: `ManifestResponse` (the signed payload, its
//! ed25519 signature and key id, and download links), its signature checked by `signing::verify`
//! against a fixed pinned key, the `Manifest` inside, and published `PublicKey`s. Parsing must
//! round-trip, and only an authentic payload may come out of `verify`.
#![no_main]

use std::fmt::Debug;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sessionforge_fuzz::fixtures::manifest_key;
use sessionforge_shared::releases::{Manifest, ManifestResponse, TARGETS};
use sessionforge_shared::signing::{self, PublicKey, Signed};

/// The pinned key, derived once (deriving it costs more than everything else per input).
static KEY: LazyLock<ed25519_dalek::SigningKey> = LazyLock::new(manifest_key);

/// `T` parsed from `text`, after checking that it survives a round trip.
fn parse<T: Serialize + DeserializeOwned + PartialEq + Debug>(text: &str) -> Option<T> {
    let value = serde_json::from_str::<T>(text).ok()?;
    let json = serde_json::to_string(&value).expect("always serializes");
    let again = serde_json::from_str::<T>(&json).unwrap_or_else(|e| panic!("{json} does not parse back: {e}"));
    assert_eq!(again, value, "{json} parses back to something else");
    Some(value)
}

fn check_manifest(m: &Manifest) {
    for target in TARGETS {
        if let Some(entry) = m.for_target(target) {
            assert_eq!(entry.target, *target);
        }
    }
}

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    let key = &*KEY;
    let pinned = key.verifying_key();
    if let Some(response) = parse::<ManifestResponse>(text) {
        let signed = response.signed();
        if let Ok(payload) = signing::verify(&signed, &pinned) {
            assert_eq!(payload, response.payload);
            // Only our own seeds get here: the fuzzer cannot forge a signature. An authentic
            // payload that is not a manifest is refused by the agent, which is fine.
            if let Ok(m) = serde_json::from_str::<Manifest>(payload) {
                check_manifest(&m);
            }
        }
    }
    if let Some(m) = parse::<Manifest>(text) {
        check_manifest(&m);
    }
    if let Some(signed) = parse::<Signed>(text) {
        if signing::verify(&signed, &pinned).is_ok() {
            // Whatever verifies must be exactly what this key signs (ed25519 is deterministic).
            assert_eq!(signing::sign(signed.payload.clone(), key).signature, signed.signature);
        }
    }
    if let Some(published) = parse::<PublicKey>(text) {
        if let Ok(vk) = published.verifying_key() {
            assert_eq!(signing::key_id(&vk).len(), 16);
        }
    }
});
