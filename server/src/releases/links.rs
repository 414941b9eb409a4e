//! Signed, time-limited download links: `…/downloads/{artifact}?exp=UNIX&kid=ID&sig=HEX`, where
//! `sig` is HMAC-SHA256 over the method, the artifact id and the expiry, keyed by the HMAC key
//! named `kid` (so keys can rotate: old keys keep verifying until they are dropped). Checking
//! runs in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::keys::{HmacKey, Keys};

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LinkError {
    #[error("the download link has expired; ask for a new one")]
    Expired,
    #[error("the download link is not valid (altered, or signed with an unknown key)")]
    Invalid,
}

/// The signed part of a link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkParams {
    pub exp: i64,
    pub kid: String,
    pub sig: String,
}

impl LinkParams {
    pub fn query(&self) -> String {
        format!("exp={}&kid={}&sig={}", self.exp, self.kid, self.sig)
    }
}

fn mac(key: &HmacKey, method: &str, artifact: Uuid, exp: i64) -> HmacSha256 {
    // Any key length is fine for HMAC; ours are 32 bytes.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(&key.key).unwrap_or_else(|_| unreachable!());
    mac.update(format!("{method}\n{artifact}\n{exp}").as_bytes());
    mac
}

/// Signs `GET` of `artifact` until `exp` (Unix seconds) with the current key.
pub fn sign(keys: &Keys, artifact: Uuid, exp: i64) -> LinkParams {
    let key = keys.current_hmac();
    let sig = hex::encode(mac(key, "GET", artifact, exp).finalize().into_bytes());
    LinkParams { exp, kid: key.id.clone(), sig }
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
    let key = keys.hmac_by_id(&p.kid).ok_or(LinkError::Invalid)?;
    let sig = hex::decode(&p.sig).map_err(|_| LinkError::Invalid)?;
    mac(key, method, artifact, p.exp).verify_slice(&sig).map_err(|_| LinkError::Invalid)?;
    if p.exp < now {
        return Err(LinkError::Expired);
    }
    if p.exp.saturating_sub(now) > i64::try_from(max_ttl).unwrap_or(i64::MAX) {
        return Err(LinkError::Invalid);
    }
    Ok(())
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
}
