//! Input checks shared by the API handlers, each failing with a 400 that names the field.

use sessionforge_shared::text::{is_display_safe, is_display_safe_char};

use crate::auth::password;
use crate::error::ApiError;

use super::fields::{MAX_EMAIL_LEN, MAX_NAME_LEN};

/// The error code for a request field or parameter that breaks a rule the spec states: the
/// code the handlers' own checks give for it, so that one mistake has one code whichever check
/// catches it first. `None` for fields without a code of their own.
pub fn code_for_field(field: &str) -> Option<&'static str> {
    Some(match field {
        "name" | "note" | "display_name" => "INVALID_NAME",
        "email" => "INVALID_EMAIL",
        "password" | "new_password" => "WEAK_PASSWORD",
        "scopes" => "INVALID_SCOPES",
        "expires_in_days" | "expires_in_minutes" => "INVALID_EXPIRY",
        "cols" | "rows" => "INVALID_SIZE",
        "command" | "commands" | "entries" => "INVALID_COMMAND",
        "args" => "INVALID_ARGS",
        "cwd" => "INVALID_CWD",
        "env_names" => "INVALID_ENV_NAMES",
        "machine" => "INVALID_MACHINE_INFO",
        "version" => "INVALID_VERSION",
        "target" => "UNKNOWN_TARGET",
        "channel" => "UNKNOWN_CHANNEL",
        "state" | "source" => "INVALID_FILTER",
        _ => return None,
    })
}

/// A plausible email address: one `@`, something on each side, a dot in the domain, no spaces,
/// control or bidirectional-formatting characters (other members see it).
pub fn email(raw: &str) -> Result<String, ApiError> {
    let e = raw.trim();
    let ok = e.chars().count() <= MAX_EMAIL_LEN
        && !e.chars().any(char::is_whitespace)
        && e.chars().all(is_display_safe_char)
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

fn invalid_name(field: &str) -> ApiError {
    ApiError::bad_request(
        "INVALID_NAME",
        format!("{field} must be 1 to {MAX_NAME_LEN} characters without control or bidirectional-override characters"),
    )
}

/// A display name: trimmed, 1–100 characters, and no control or bidi-control characters
/// anywhere (not even in the white space trimmed off: a tab or newline is refused, not eaten).
pub fn name(field: &str, raw: &str) -> Result<String, ApiError> {
    let n = raw.trim();
    if n.is_empty() || !is_display_safe(n, MAX_NAME_LEN) || !raw.chars().all(is_display_safe_char) {
        return Err(invalid_name(field));
    }
    Ok(n.to_string())
}

/// An optional name, where absent, empty or blank means none (notes, display names).
pub fn label(field: &str, raw: Option<&str>) -> Result<String, ApiError> {
    match raw {
        Some(r) if !r.trim().is_empty() => name(field, r),
        Some(r) if !r.chars().all(is_display_safe_char) => Err(invalid_name(field)),
        _ => Ok(String::new()),
    }
}

/// An optional display name: empty is allowed.
pub fn display_name(raw: Option<&str>) -> Result<String, ApiError> {
    label("display_name", raw)
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
        for bad in ["", "a", "a@", "@b.c", "a@b", "a b@c.d", "a@@b.c", "a@b.c.", "a\u{202E}@b.c", "a\u{1}b@c.d"] {
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
        assert!(name("name", "Team\n").is_err(), "a newline is refused, not trimmed away");
        assert_eq!(label("note", Some("  ")).ok().as_deref(), Some(""));
        assert!(label("note", Some("\t")).is_err());
    }
}
