//! Stripe's webhook signature: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`, each `v1`
//! an HMAC-SHA256 of `"{t}.{raw body}"` under one of the endpoint's signing secrets. Any `v1`
//! may match any configured secret (Stripe signs with every active secret while one rotates);
//! comparison is constant-time; a timestamp outside the tolerance is refused (replays).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("no Stripe-Signature header")]
    Missing,
    #[error("the Stripe-Signature header has no timestamp (t=) or no v1 signature")]
    Malformed,
    #[error("the event was signed {0} s from now, outside the tolerance")]
    Stale(i64),
    #[error("no signature matches any configured webhook secret")]
    NoMatch,
}

fn mac(secret: &str, t: &str, payload: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length, so this cannot fail.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!("any key"));
    m.update(t.as_bytes());
    m.update(b".");
    m.update(payload);
    m.finalize().into_bytes().into()
}

/// The header Stripe would send for `payload` signed with `secret` at `t`.
pub fn sign(payload: &[u8], secret: &str, t: i64) -> String {
    format!("t={t},v1={}", hex::encode(mac(secret, &t.to_string(), payload)))
}

/// Verifies `header` over the raw `payload`; returns the signature's timestamp.
pub fn verify(
    header: Option<&str>,
    payload: &[u8],
    secrets: &[String],
    now: i64,
    tolerance: u64,
) -> Result<i64, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.to_string()),
            Some(("v1", v)) => sigs.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let t_text = t.ok_or(SignatureError::Malformed)?;
    let at: i64 = t_text.parse().map_err(|_| SignatureError::Malformed)?;
    if sigs.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let skew = now.saturating_sub(at);
    if skew.unsigned_abs() > tolerance {
        return Err(SignatureError::Stale(-skew));
    }
    let mut matched = false;
    for secret in secrets {
        let expected = mac(secret, &t_text, payload);
        for sig in &sigs {
            matched |= bool::from(expected.as_slice().ct_eq(sig.as_slice()));
        }
    }
    if matched { Ok(at) } else { Err(SignatureError::NoMatch) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_under_any_active_secret_within_the_tolerance() {
        let body = br#"{"id":"evt_1","type":"invoice.paid"}"#;
        let (old, new) = ("whsec_old".to_string(), "whsec_new".to_string());
        let now = 1_800_000_000;
        let by_old = sign(body, &old, now);
        let both = format!("{by_old},v1={}", sign(body, &new, now).split("v1=").nth(1).expect("v1"));
        let rotating = [old.clone(), new.clone()];
        assert_eq!(verify(Some(&by_old), body, &rotating, now, 300), Ok(now));
        assert_eq!(
            verify(Some(&both), body, std::slice::from_ref(&new), now + 10, 300),
            Ok(now),
            "one of several v1 matches"
        );
        assert_eq!(
            verify(Some(&by_old), body, std::slice::from_ref(&new), now, 300),
            Err(SignatureError::NoMatch),
            "old secret removed"
        );
        assert_eq!(verify(Some(&by_old), b"{}", &rotating, now, 300), Err(SignatureError::NoMatch), "another body");
        assert_eq!(verify(Some(&by_old), body, &rotating, now + 301, 300), Err(SignatureError::Stale(-301)));
        assert_eq!(verify(None, body, &rotating, now, 300), Err(SignatureError::Missing));
        assert_eq!(verify(Some("v1=00"), body, &rotating, now, 300), Err(SignatureError::Malformed));
        assert_eq!(verify(Some(&format!("t={now}")), body, &rotating, now, 300), Err(SignatureError::Malformed));
    }
}
