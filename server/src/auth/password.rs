//! Password hashing with argon2id (the crate's defaults follow OWASP's recommendation), always
//! on a blocking thread so that a sign-in never stalls the async runtime, and at most
//! [`max_concurrent`] at once: each hash takes ~19 MiB and a core's worth of work, so a burst of
//! sign-ins waits its turn instead of exhausting memory and CPU.
//!
//! The hash's working memory is given back to the operating system as soon as it is done: it is
//! allocated with room for [`MAPPED_BLOCKS`], which is above the size the system allocator
//! (glibc) always maps and unmaps on its own. Left to glibc's adaptive threshold, a burst of
//! failed sign-ins kept gigabytes resident long after the server went idle (BENCHMARKS.md).

use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::rngs::OsRng;
use tokio::sync::Semaphore;

/// Capacity of a hash's working memory, in 1 KiB blocks: 33 MiB, above glibc's largest mmap
/// threshold (32 MiB), so the allocation is always its own mapping and is unmapped when freed.
/// Only the blocks the parameters need are touched.
const MAPPED_BLOCKS: usize = 33 * 1024;

/// Shortest password we accept. Length matters more than character classes (NIST SP 800-63B).
pub const MIN_PASSWORD_LEN: usize = 10;
/// Longest password we accept, so that hashing cost stays bounded.
pub const MAX_PASSWORD_LEN: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password must be at least {MIN_PASSWORD_LEN} characters")]
    TooShort,
    #[error("password must be at most {MAX_PASSWORD_LEN} characters")]
    TooLong,
    #[error("password hashing failed: {0}")]
    Hash(String),
}

pub fn check_policy(password: &str) -> Result<(), PasswordError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(PasswordError::TooShort);
    }
    if n > MAX_PASSWORD_LEN {
        return Err(PasswordError::TooLong);
    }
    Ok(())
}

fn hash_error(e: impl std::fmt::Display) -> PasswordError {
    PasswordError::Hash(e.to_string())
}

/// The raw hash of `password` with `salt`, `len` bytes, in working memory that is unmapped
/// when it is freed.
fn compute(argon: &Argon2<'_>, password: &[u8], salt: Salt<'_>, len: usize) -> Result<Output, PasswordError> {
    let mut salt_bytes = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_bytes).map_err(hash_error)?;
    let count = argon.params().block_count();
    let mut blocks: Vec<Block> = Vec::with_capacity(count.max(MAPPED_BLOCKS));
    blocks.resize(count, Block::default());
    Output::init_with(len, |out| {
        argon
            .hash_password_into_with_memory(password, salt, out, &mut blocks[..])
            .map_err(|_| argon2::password_hash::Error::Crypto)
    })
    .map_err(hash_error)
}

/// Checks the policy, then hashes with a fresh salt (argon2id, default parameters, PHC string).
pub async fn hash(password: String) -> Result<String, PasswordError> {
    check_policy(&password)?;
    run(move || {
        let salt = SaltString::generate(&mut OsRng);
        let argon = Argon2::default();
        let out = compute(&argon, password.as_bytes(), salt.as_salt(), Params::DEFAULT_OUTPUT_LEN)?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(argon.params()).map_err(hash_error)?,
            salt: Some(salt.as_salt()),
            hash: Some(out),
        };
        Ok(phc.to_string())
    })
    .await
}

/// Whether `password` matches the PHC string `stored`, with its own parameters.
fn matches(password: &[u8], stored: &str) -> Result<bool, PasswordError> {
    let parsed = PasswordHash::new(stored).map_err(hash_error)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else { return Ok(false) };
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(hash_error)?;
    let version = parsed.version.map(Version::try_from).transpose().map_err(hash_error)?.unwrap_or_default();
    let params = Params::try_from(&parsed).map_err(hash_error)?;
    let argon = Argon2::new(algorithm, version, params);
    // `Output`'s equality is constant-time.
    Ok(compute(&argon, password, salt, expected.len())? == expected)
}

/// Verifies a password. With `None` (unknown account) it still spends the time of a real
/// verification, so response times do not reveal which emails have accounts.
pub async fn verify(password: String, stored: Option<String>) -> bool {
    run(move || {
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_string());
        Ok(matches(password.as_bytes(), &stored).unwrap_or(false))
    })
    .await
    .unwrap_or(false)
}

/// An argon2id hash (default parameters) of a random string nobody knows.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2Vzc2lvbmZvcmdlLWR1bW15$4q3tXkqX0D8E3k5Kq4Yw6QnRkz1w4m5c2rjzQ0m8m1A";

/// Hashes that may run at once: one per core, at least two.
pub fn max_concurrent() -> usize {
    std::thread::available_parallelism().map(usize::from).unwrap_or(2).max(2)
}

fn hashing() -> &'static Semaphore {
    static HASHING: std::sync::OnceLock<Semaphore> = std::sync::OnceLock::new();
    HASHING.get_or_init(|| Semaphore::new(max_concurrent()))
}

async fn run<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, PasswordError> + Send + 'static,
) -> Result<T, PasswordError> {
    // The semaphore is never closed, so acquiring only waits.
    let _permit = hashing().acquire().await.map_err(|e| PasswordError::Hash(e.to_string()))?;
    tokio::task::spawn_blocking(f).await.map_err(|e| PasswordError::Hash(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_with_argon2id_and_verifies() {
        let h = hash("correct horse battery".into()).await.expect("hash");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify("correct horse battery".into(), Some(h.clone())).await);
        assert!(!verify("wrong horse battery".into(), Some(h)).await);
        assert!(!verify("anything at all".into(), None).await);
    }

    #[tokio::test]
    async fn policy_rejects_short_passwords() {
        assert!(matches!(hash("short".into()).await, Err(PasswordError::TooShort)));
    }

    #[test]
    fn dummy_hash_parses() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn hashes_made_by_the_argon2_crate_itself_still_verify() {
        use argon2::password_hash::PasswordHasher;
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default().hash_password(b"interoperable pass", &salt).expect("hash").to_string();
        assert_eq!(matches(b"interoperable pass", &theirs).ok(), Some(true));
        assert_eq!(matches(b"other pass phrase", &theirs).ok(), Some(false));
    }

    #[tokio::test]
    async fn our_hashes_verify_with_the_argon2_crate() {
        use argon2::password_hash::PasswordVerifier;
        let ours = hash("cross checked passphrase".into()).await.expect("hash");
        let parsed = PasswordHash::new(&ours).expect("phc");
        assert!(Argon2::default().verify_password(b"cross checked passphrase", &parsed).is_ok());
    }
}
