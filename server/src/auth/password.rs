//! Password hashing with argon2id (the crate's defaults follow OWASP's recommendation), always
//! on a blocking thread so that a sign-in never stalls the async runtime, and at most
//! [`max_concurrent`] at once: each hash takes ~19 MiB and a core's worth of work, so a burst of
//! sign-ins waits its turn instead of exhausting memory and CPU.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::rngs::OsRng;
use tokio::sync::Semaphore;

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

/// Checks the policy, then hashes with a fresh salt.
pub async fn hash(password: String) -> Result<String, PasswordError> {
    check_policy(&password)?;
    run(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| PasswordError::Hash(e.to_string()))
    })
    .await
}

/// Verifies a password. With `None` (unknown account) it still spends the time of a real
/// verification, so response times do not reveal which emails have accounts.
pub async fn verify(password: String, stored: Option<String>) -> bool {
    run(move || {
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_string());
        let Ok(parsed) = PasswordHash::new(&stored) else { return Ok(false) };
        Ok(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
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
}
