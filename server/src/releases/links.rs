//! Signed, time-limited download links (see `sessionforge_shared::links` for the format): this
//! signs with the server's current HMAC key and verifies with whichever of its keys a link names.

use uuid::Uuid;

use crate::keys::Keys;

pub use sessionforge_shared::links::{LinkError, LinkParams};

/// Signs `GET` of `artifact` until `exp` (Unix seconds) with the current key.
pub fn sign(keys: &Keys, artifact: Uuid, exp: i64) -> LinkParams {
    let key = keys.current_hmac();
    sessionforge_shared::links::sign(&key.id, &key.key, artifact, exp)
}

/// Checks a link for `method` on `artifact` at time `now`; links may not reach further into the
/// future than `max_ttl` seconds (so a leaked key cannot mint everlasting links' lookalikes).
pub fn verify(
    keys: &Keys,
    method: &str,
    artifact: Uuid,
    p: &LinkParams,
    now: i64,
    max_ttl: u64,
) -> Result<(), LinkError> {
    let key_by_id = |id: &str| keys.hmac_by_id(id).map(|k| k.key.as_slice());
    sessionforge_shared::links::verify(key_by_id, method, artifact, p, now, max_ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_verify_until_they_expire_and_any_change_breaks_them() {
        let keys = Keys::generate();
        let a = Uuid::now_v7();
        let p = sign(&keys, a, 1_000);
        assert_eq!(verify(&keys, "GET", a, &p, 900, 3600), Ok(()));
        assert_eq!(verify(&keys, "GET", a, &p, 1_001, 3600), Err(LinkError::Expired));
        assert_eq!(verify(&keys, "HEAD", a, &p, 900, 3600), Err(LinkError::Invalid));
        assert_eq!(verify(&keys, "GET", Uuid::now_v7(), &p, 900, 3600), Err(LinkError::Invalid));
        let later = LinkParams { exp: 2_000, ..p.clone() };
        assert_eq!(verify(&keys, "GET", a, &later, 900, 3600), Err(LinkError::Invalid));
        let unknown = LinkParams { kid: "k9".into(), ..p.clone() };
        assert_eq!(verify(&keys, "GET", a, &unknown, 900, 3600), Err(LinkError::Invalid));
        let garbage = LinkParams { sig: "zz".into(), ..p.clone() };
        assert_eq!(verify(&keys, "GET", a, &garbage, 900, 3600), Err(LinkError::Invalid));
        // The cap: a genuine link further out than allowed is refused too.
        assert_eq!(verify(&keys, "GET", a, &p, 0, 100), Err(LinkError::Invalid));
    }

    #[test]
    fn older_keys_still_verify_after_a_rotation() {
        let mut keys = Keys::generate();
        let a = Uuid::now_v7();
        let old = sign(&keys, a, 1_000);
        let retired = keys.hmac_keys[0].clone();
        keys.hmac_keys[0].id = "k2".into();
        keys.hmac_keys[0].key = [3; 32];
        assert_eq!(verify(&keys, "GET", a, &old, 900, 3600), Err(LinkError::Invalid), "k1 is gone");
        keys.hmac_keys.push(retired);
        assert_eq!(verify(&keys, "GET", a, &old, 900, 3600), Ok(()));
        assert_eq!(sign(&keys, a, 1_000).kid, "k2", "new links use the current key");
    }
}
