//! Licenses as they travel: license keys (`SF-XXXXX-XXXXX-XXXXX-XXXXX`, the last character a
//! check character), offline license files, and the signature on every licensing answer.
//!
//! A license file is Keygen's scheme in our armour: `-----BEGIN SESSIONFORGE LICENSE FILE-----`,
//! base64 of `{"enc", "sig", "alg", "kid"}`, where `enc` is base64 of the license JSON and `sig`
//! is ed25519 over the bytes `"license/" + enc`, made with the issuer's license key `kid` (its
//! public key in hex). An answer's signature covers its exact body bytes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use rand::RngCore;
use serde::{Deserialize, Serialize};

const BEGIN: &str = "-----BEGIN SESSIONFORGE LICENSE FILE-----";
const END: &str = "-----END SESSIONFORGE LICENSE FILE-----";
const ALG: &str = "base64+ed25519";
/// An encrypted file: `enc` is base64 of AES-256-GCM (`nonce ‖ ciphertext ‖ tag`) under a key
/// derived from the license key, so only its holder can read the terms.
const ALG_ENCRYPTED: &str = "aes-256-gcm+ed25519";
/// Purpose of the key derived from a license key to encrypt its files.
const FILE_KEY_PURPOSE: &str = "license-file";
/// Crockford's base32: no I, L, O or U, so keys read aloud and typed survive.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Header carrying an answer's signature.
pub const SIGNATURE_HEADER: &str = "x-sessionforge-signature";

/// What a license grants, as signed into a file (and returned by validation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseDoc {
    pub id: String,
    /// A plan id of the issuer's catalogue.
    pub plan: String,
    /// Who it is for (an org name or a customer's address).
    pub licensee: String,
    pub issued_at: i64,
    /// `None`: perpetual.
    pub expires_at: Option<i64>,
    /// Days past expiry it keeps working, with a warning.
    pub grace_days: u32,
    pub max_activations: u32,
    /// The instance it is bound to, if any.
    #[serde(default)]
    pub fingerprint: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LicenseFileError {
    #[error("this is not a SessionForge license file (no BEGIN/END SESSIONFORGE LICENSE FILE lines)")]
    NotAFile,
    #[error("the license file is damaged: {0}")]
    Damaged(String),
    #[error("the license file was signed by a key this server does not trust ({0})")]
    UnknownKey(String),
    #[error("the license file's signature does not match its contents (it was changed)")]
    BadSignature,
    #[error("the license file is encrypted: give its license key to read it")]
    NeedsKey,
    #[error("the license file is encrypted under another license key")]
    WrongKey,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    enc: String,
    sig: String,
    alg: String,
    kid: String,
}

/// A key's id: its public key in hex.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(key.as_bytes())
}

/// Parses a key id (hex public key) into a verifying key.
pub fn parse_key_id(text: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = hex::decode(text.trim()).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

/// Signs `doc` into a license file.
pub fn encode_file(doc: &LicenseDoc, key: &SigningKey) -> String {
    encode(doc, key, None)
}

/// Signs `doc` into a license file encrypted under `license_key` (normalized).
pub fn encode_encrypted_file(doc: &LicenseDoc, key: &SigningKey, license_key: &str) -> String {
    encode(doc, key, Some(license_key))
}

fn file_key(license_key: &str) -> [u8; 32] {
    crate::seal::derive_key(license_key.as_bytes(), FILE_KEY_PURPOSE)
}

fn encode(doc: &LicenseDoc, key: &SigningKey, license_key: Option<&str>) -> String {
    let json = serde_json::to_vec(doc).unwrap_or_default();
    let (enc, alg) = match license_key {
        Some(k) => (B64.encode(crate::seal::seal(&file_key(k), &json)), ALG_ENCRYPTED),
        None => (B64.encode(json), ALG),
    };
    let sig = key.sign(format!("license/{enc}").as_bytes());
    let envelope =
        Envelope { enc, sig: B64.encode(sig.to_bytes()), alg: alg.into(), kid: key_id(&key.verifying_key()) };
    let body = B64.encode(serde_json::to_vec(&envelope).unwrap_or_default());
    let mut out = String::from(BEGIN);
    out.push('\n');
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(END);
    out.push('\n');
    out
}

/// Verifies a license file against `trusted` keys and returns its license (an encrypted file
/// needs `license_key`). Says precisely what is wrong otherwise. Expiry and instance binding
/// are the caller's to judge.
pub fn decode_file(
    text: &str,
    trusted: &[VerifyingKey],
    license_key: Option<&str>,
) -> Result<LicenseDoc, LicenseFileError> {
    let start = text.find(BEGIN).ok_or(LicenseFileError::NotAFile)? + BEGIN.len();
    let end = text[start..].find(END).ok_or(LicenseFileError::NotAFile)? + start;
    let body: String = text[start..end].chars().filter(|c| !c.is_whitespace()).collect();
    let damaged = |what: &str| LicenseFileError::Damaged(what.to_string());
    let raw = B64.decode(body).map_err(|_| damaged("its body is not base64"))?;
    let env: Envelope = serde_json::from_slice(&raw).map_err(|_| damaged("its envelope is not valid JSON"))?;
    if env.alg != ALG && env.alg != ALG_ENCRYPTED {
        return Err(LicenseFileError::Damaged(format!("unknown algorithm {:?}", env.alg)));
    }
    let key =
        trusted.iter().find(|k| key_id(k) == env.kid).ok_or_else(|| LicenseFileError::UnknownKey(env.kid.clone()))?;
    let sig: [u8; 64] = B64
        .decode(&env.sig)
        .ok()
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| damaged("its signature is malformed"))?;
    key.verify(format!("license/{}", env.enc).as_bytes(), &Signature::from_bytes(&sig))
        .map_err(|_| LicenseFileError::BadSignature)?;
    let mut doc = B64.decode(&env.enc).map_err(|_| damaged("its license is not base64"))?;
    if env.alg == ALG_ENCRYPTED {
        let key = license_key.and_then(normalize_key).ok_or(LicenseFileError::NeedsKey)?;
        doc = crate::seal::open(&file_key(&key), &doc).ok_or(LicenseFileError::WrongKey)?;
    }
    serde_json::from_slice(&doc).map_err(|_| damaged("its license is not valid JSON"))
}

/// The signature header for an answer body: `kid=<hex>, alg=ed25519, sig=<base64>`.
pub fn sign_answer(key: &SigningKey, body: &[u8]) -> String {
    let sig = key.sign(body);
    format!("kid={}, alg=ed25519, sig={}", key_id(&key.verifying_key()), B64.encode(sig.to_bytes()))
}

/// Checks an answer's signature header over `body` against `trusted` keys.
pub fn verify_answer(header: &str, body: &[u8], trusted: &[VerifyingKey]) -> bool {
    let field = |name: &str| {
        header.split(',').map(str::trim).find_map(|p| p.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
    };
    let (Some(kid), Some("ed25519"), Some(sig)) = (field("kid"), field("alg"), field("sig")) else { return false };
    let Some(key) = trusted.iter().find(|k| key_id(k) == kid) else { return false };
    let Some(sig) = B64.decode(sig).ok().and_then(|s| <[u8; 64]>::try_from(s).ok()) else { return false };
    key.verify(body, &Signature::from_bytes(&sig)).is_ok()
}

fn check_char(chars: &[u8]) -> u8 {
    let sum: usize =
        chars.iter().enumerate().map(|(i, c)| (i + 1) * ALPHABET.iter().position(|a| a == c).unwrap_or(0)).sum();
    ALPHABET[sum % 32]
}

/// A license key made from `bytes` (at least 19; each picks one character), with its check
/// character: for keys derived from a secret rather than drawn at random.
pub fn key_from_bytes(bytes: &[u8]) -> String {
    let mut chars: Vec<u8> = bytes.iter().take(19).map(|b| ALPHABET[usize::from(*b) % 32]).collect();
    chars.resize(19, ALPHABET[0]);
    chars.push(check_char(&chars));
    let groups: Vec<String> = chars.chunks(5).map(|g| String::from_utf8_lossy(g).into_owned()).collect();
    format!("SF-{}", groups.join("-"))
}

/// A new license key: 19 random characters and a check character, in four groups of five.
pub fn new_key() -> String {
    let mut random = [0u8; 19];
    rand::rngs::OsRng.fill_bytes(&mut random);
    let mut chars: Vec<u8> = random.iter().map(|b| ALPHABET[usize::from(b % 32)]).collect();
    chars.push(check_char(&chars));
    let groups: Vec<String> = chars.chunks(5).map(|g| String::from_utf8_lossy(g).into_owned()).collect();
    format!("SF-{}", groups.join("-"))
}

/// The key in its canonical form if it is well-formed and its check character matches
/// (upper case; `O` read as `0`, `I` and `L` as `1`), else `None`.
pub fn normalize_key(key: &str) -> Option<String> {
    let key = key.trim().to_ascii_uppercase();
    let rest = key.strip_prefix("SF-")?;
    let chars: Vec<u8> = rest
        .bytes()
        .filter(|b| *b != b'-')
        .map(|b| match b {
            b'O' => b'0',
            b'I' | b'L' => b'1',
            other => other,
        })
        .collect();
    if chars.len() != 20 || !chars.iter().all(|c| ALPHABET.contains(c)) {
        return None;
    }
    if check_char(&chars[..19]) != chars[19] {
        return None;
    }
    let groups: Vec<String> = chars.chunks(5).map(|g| String::from_utf8_lossy(g).into_owned()).collect();
    Some(format!("SF-{}", groups.join("-")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> LicenseDoc {
        LicenseDoc {
            id: "lic-1".into(),
            plan: "team".into(),
            licensee: "Acme".into(),
            issued_at: 1_700_000_000,
            expires_at: Some(1_800_000_000),
            grace_days: 14,
            max_activations: 3,
            fingerprint: None,
        }
    }

    #[test]
    fn a_file_round_trips_and_any_change_or_unknown_key_is_refused() {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let file = encode_file(&doc(), &key);
        assert!(file.starts_with(BEGIN) && file.trim_end().ends_with(END));
        assert_eq!(decode_file(&file, &[key.verifying_key()], None), Ok(doc()));
        let other = SigningKey::generate(&mut rand::rngs::OsRng);
        assert!(matches!(decode_file(&file, &[other.verifying_key()], None), Err(LicenseFileError::UnknownKey(_))));
        // A license changed inside a genuine envelope (its signature kept) no longer verifies.
        let body: String = file.lines().filter(|l| !l.starts_with("-----")).collect();
        let mut env: Envelope = serde_json::from_slice(&B64.decode(body).expect("b64")).expect("envelope");
        env.enc = B64.encode(serde_json::to_vec(&LicenseDoc { plan: "enterprise".into(), ..doc() }).expect("json"));
        let forged = format!("{BEGIN}\n{}\n{END}\n", B64.encode(serde_json::to_vec(&env).expect("json")));
        assert_eq!(decode_file(&forged, &[key.verifying_key()], None), Err(LicenseFileError::BadSignature));
        assert_eq!(decode_file("hello", &[key.verifying_key()], None), Err(LicenseFileError::NotAFile));
    }

    #[test]
    fn every_single_character_change_of_a_file_is_refused() {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let trusted = [key.verifying_key()];
        let license_key = new_key();
        for file in [encode_file(&doc(), &key), encode_encrypted_file(&doc(), &key, &license_key)] {
            assert_eq!(decode_file(&file, &trusted, Some(&license_key)), Ok(doc()), "unchanged, it opens");
            let lines: Vec<&str> = file.lines().collect();
            let mut checked = 0;
            for (n, line) in lines.iter().enumerate().filter(|(_, l)| !l.starts_with("-----")) {
                for i in 0..line.len() {
                    let mut changed: Vec<u8> = line.as_bytes().to_vec();
                    changed[i] = if changed[i] == b'A' { b'B' } else { b'A' };
                    let mut copy: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
                    copy[n] = String::from_utf8(changed).expect("ascii");
                    let text = copy.join("\n");
                    assert!(decode_file(&text, &trusted, Some(&license_key)).is_err(), "line {n} char {i} changed");
                    checked += 1;
                }
            }
            assert!(checked > 100, "{checked}");
        }
    }

    #[test]
    fn an_encrypted_file_opens_only_with_its_license_key() {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let trusted = [key.verifying_key()];
        let license_key = new_key();
        let file = encode_encrypted_file(&doc(), &key, &license_key);
        let body: String = file.lines().filter(|l| !l.starts_with("-----")).collect();
        let env: Envelope = serde_json::from_slice(&B64.decode(body).expect("b64")).expect("envelope");
        assert!(!String::from_utf8_lossy(&B64.decode(&env.enc).expect("b64")).contains("Acme"), "the terms are hidden");
        assert_eq!(decode_file(&file, &trusted, Some(&license_key.to_lowercase())), Ok(doc()));
        assert_eq!(decode_file(&file, &trusted, None), Err(LicenseFileError::NeedsKey));
        assert_eq!(decode_file(&file, &trusted, Some(&new_key())), Err(LicenseFileError::WrongKey));
    }

    #[test]
    fn derived_keys_are_valid_keys() {
        let k = key_from_bytes(&[200u8; 32]);
        assert_eq!(normalize_key(&k), Some(k.clone()));
        assert_ne!(key_from_bytes(&[1u8; 32]), k);
    }

    #[test]
    fn keys_carry_a_check_character() {
        let k = new_key();
        assert_eq!(k.len(), "SF-XXXXX-XXXXX-XXXXX-XXXXX".len());
        assert_eq!(normalize_key(&k.to_lowercase()), Some(k.clone()));
        let mut typo = k.clone().into_bytes();
        let last = typo.len() - 2;
        typo[last] = if typo[last] == b'2' { b'3' } else { b'2' };
        assert_eq!(normalize_key(&String::from_utf8(typo).expect("ascii")), None, "one wrong character is caught");
        assert_eq!(normalize_key("SF-nope"), None);
    }

    #[test]
    fn answers_verify_only_with_their_exact_bytes() {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let body = br#"{"valid":true,"nonce":"n1"}"#;
        let header = sign_answer(&key, body);
        assert!(verify_answer(&header, body, &[key.verifying_key()]));
        assert!(!verify_answer(&header, br#"{"valid":true,"nonce":"n2"}"#, &[key.verifying_key()]));
        assert!(!verify_answer("kid=x, alg=ed25519, sig=AAAA", body, &[key.verifying_key()]));
    }
}
