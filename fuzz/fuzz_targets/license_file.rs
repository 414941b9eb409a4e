//! License files and licensing answers as a licensed server receives them: `decode_file` over
//! any text (with and without a license key for encrypted files), license keys as people type
//! them (`normalize_key`), and an answer's signature header checked over its body. Only a file
//! signed by the fixed issuer key may verify, and what verifies must re-encode to a file that
//! verifies to the same license.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use sessionforge_fuzz::fixtures::{LICENSE_KEY, license_signing_key};
use sessionforge_shared::license;

static KEY: LazyLock<ed25519_dalek::SigningKey> = LazyLock::new(license_signing_key);

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    let key = &*KEY;
    let trusted = [key.verifying_key()];
    for license_key in [None, Some(LICENSE_KEY)] {
        if let Ok(doc) = license::decode_file(text, &trusted, license_key) {
            let again = license::encode_file(&doc, key);
            assert_eq!(license::decode_file(&again, &trusted, None), Ok(doc.clone()), "re-encodes");
        }
    }
    if let Some(normal) = license::normalize_key(text) {
        assert_eq!(license::normalize_key(&normal), Some(normal.clone()), "normal keys stay normal");
        assert_eq!(normal.len(), "SF-XXXXX-XXXXX-XXXXX-XXXXX".len());
    }
    // An answer: the first line as its signature header, the rest as its body.
    if let Some((header, body)) = text.split_once('\n') {
        if license::verify_answer(header, body.as_bytes(), &trusted) {
            // ed25519 is deterministic: only what this key signs verifies.
            assert_eq!(license::sign_answer(key, body.as_bytes()), header.trim());
        }
    }
});
