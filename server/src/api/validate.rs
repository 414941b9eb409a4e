//! Input checks shared by the API handlers, each failing with a 400 that names the field.

use sessionforge_shared::text::is_display_safe;

use crate::auth::password;
use crate::error::ApiError;

/// Longest email address (RFC 5321 path limit).
const MAX_EMAIL_LEN: usize = 254;
/// Longest name for orgs, keys and people.
const MAX_NAME_LEN: usize = 100;

/// A plausible email address: one `@`, something on each side, a dot in the domain, no spaces.
pub fn email(raw: &str) -> Result<String, ApiError> {
    let e = raw.trim();
    let ok = e.len() <= MAX_EMAIL_LEN
        && !e.chars().any(char::is_whitespace)
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if ok {
        Ok(e.to_string())
    } else {
        Err(ApiError::bad_request("INVALID_EMAIL", format!("{e:?} is not a valid email address")))
    }
}

/// A display name or label: trimmed, 1–100 characters, no control or bidi-control characters.
pub fn name(field: &str, raw: &str) -> Result<String, ApiError> {
    let n = raw.trim();
    if n.is_empty() || !is_display_safe(n, MAX_NAME_LEN) {
        return Err(ApiError::bad_request(
            "INVALID_NAME",
            format!(
                "{field} must be 1 to {MAX_NAME_LEN} characters without control or bidirectional-override characters"
            ),
        ));
    }
    Ok(n.to_string())
}

/// An optional display name: empty is allowed.
pub fn display_name(raw: Option<&str>) -> Result<String, ApiError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(String::new()),
        Some(n) => name("display_name", n),
    }
}

pub fn password_policy(pw: &str) -> Result<(), ApiError> {
    password::check_policy(pw).map_err(|e| ApiError::bad_request("WEAK_PASSWORD", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(email(" a@example.com ").is_ok());
        for bad in ["", "a", "a@", "@b.c", "a@b", "a b@c.d", "a@@b.c", "a@b.c."] {
            assert!(email(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn names() {
        assert_eq!(name("name", "  Team  ").ok().as_deref(), Some("Team"));
        assert!(name("name", "").is_err());
        assert!(name("name", "a\u{7}b").is_err());
        assert!(name("name", "evil\u{202E}gnp.exe").is_err(), "bidi overrides make names lie");
        assert!(name("name", &"x".repeat(101)).is_err());
    }
}
