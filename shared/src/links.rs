//! Signed, time-limited download links: `…/downloads/{artifact}?exp=UNIX&kid=ID&sig=HEX`, where
//! `sig` is HMAC-SHA256 over the method, the artifact id and the expiry, keyed by the HMAC key
//! named `kid` (so keys can rotate: old keys keep verifying until they are dropped). Checking
//! runs in constant time. This is the core over raw key bytes, so that it can be fuzzed without
//! the server; the server's `releases::links` wraps it with its own key store.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

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

fn mac(key: &[u8], method: &str, artifact: Uuid, exp: i64) -> HmacSha256 {
    // HMAC takes keys of any length (longer ones are hashed first), so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(format!("{method}\n{artifact}\n{exp}").as_bytes());
    mac
}

/// Signs `GET` of `artifact` until `exp` (Unix seconds) with `key`, named `key_id` in the link.
pub fn sign(key_id: &str, key: &[u8], artifact: Uuid, exp: i64) -> LinkParams {
    let sig = hex::encode(mac(key, "GET", artifact, exp).finalize().into_bytes());
    LinkParams { exp, kid: key_id.to_string(), sig }
}

/// Checks a link for `method` on `artifact` at time `now`, with `key_by_id` giving the key a
/// link names (or `None` for an unknown one). Links may not reach further into the future than
/// `max_ttl` seconds (so a leaked key cannot mint everlasting links' lookalikes).
pub fn verify<'k>(
    key_by_id: impl FnOnce(&str) -> Option<&'k [u8]>,
    method: &str,
    artifact: Uuid,
    p: &LinkParams,
    now: i64,
    max_ttl: u64,
) -> Result<(), LinkError> {
    let key = key_by_id(&p.kid).ok_or(LinkError::Invalid)?;
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

    const KEY: &[u8] = &[7; 32];

    fn keys(id: &str) -> Option<&'static [u8]> {
        (id == "k1").then_some(KEY)
    }

    #[test]
    fn links_verify_until_they_expire_and_any_change_breaks_them() {
        let a = Uuid::now_v7();
        let p = sign("k1", KEY, a, 1_000);
        assert_eq!(verify(keys, "GET", a, &p, 900, 3600), Ok(()));
        assert_eq!(verify(keys, "GET", a, &p, 1_001, 3600), Err(LinkError::Expired));
        assert_eq!(verify(keys, "HEAD", a, &p, 900, 3600), Err(LinkError::Invalid));
        assert_eq!(verify(keys, "GET", Uuid::now_v7(), &p, 900, 3600), Err(LinkError::Invalid));
        let later = LinkParams { exp: 2_000, ..p.clone() };
        assert_eq!(verify(keys, "GET", a, &later, 900, 3600), Err(LinkError::Invalid));
        let unknown = LinkParams { kid: "k9".into(), ..p.clone() };
        assert_eq!(verify(keys, "GET", a, &unknown, 900, 3600), Err(LinkError::Invalid));
        let garbage = LinkParams { sig: "zz".into(), ..p.clone() };
        assert_eq!(verify(keys, "GET", a, &garbage, 900, 3600), Err(LinkError::Invalid));
        let truncated = LinkParams { sig: p.sig[..32].to_string(), ..p.clone() };
        assert_eq!(verify(keys, "GET", a, &truncated, 900, 3600), Err(LinkError::Invalid));
        // The cap: a genuine link further out than allowed is refused too.
        assert_eq!(verify(keys, "GET", a, &p, 0, 100), Err(LinkError::Invalid));
    }

    #[test]
    fn extreme_times_neither_overflow_nor_pass() {
        let a = Uuid::now_v7();
        let p = sign("k1", KEY, a, i64::MAX);
        assert_eq!(verify(keys, "GET", a, &p, i64::MIN, u64::MAX), Ok(()), "no cap: far future is fine");
        assert_eq!(verify(keys, "GET", a, &p, i64::MIN, 86_400), Err(LinkError::Invalid));
        let past = sign("k1", KEY, a, i64::MIN);
        assert_eq!(verify(keys, "GET", a, &past, i64::MAX, u64::MAX), Err(LinkError::Expired));
    }

    #[test]
    fn the_query_carries_every_signed_part() {
        let p = LinkParams { exp: 5, kid: "k2".into(), sig: "ab".into() };
        assert_eq!(p.query(), "exp=5&kid=k2&sig=ab");
    }
}
