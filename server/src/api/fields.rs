//! Request-body strings with rules: names, labels, emails, new passwords, commands. Each type
//! publishes its rules in its OpenAPI schema (length and pattern), so that the spec says
//! exactly what the server takes; reads only JSON strings; and refuses what breaks its rules.
//! (`conform` finds a broken rule first and answers with the field's error code; the handlers'
//! own checks in `validate` then trim and check again, and agree with these patterns, as the
//! tests below show.)
//!
//! Patterns are written for three regex engines at once (Rust's `regex` here, ECMA-262 for
//! spec readers, Python's `re` in Schemathesis): explicit code-point classes only, no `\s`,
//! `\d` or `\p{…}`, whose meanings differ between them.

use std::borrow::Cow;
use std::ops::Deref;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;

/// Pieces the patterns are built from (macros, so that `concat!` can join them).
macro_rules! safe {
    // Not a control character (Unicode Cc) and not a bidirectional formatting character.
    () => {
        r"[^\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
    };
}
macro_rules! safe_visible {
    // Also not white space (Unicode White_Space, what Rust's `str::trim` removes).
    () => {
        r"[^\x00-\x20\x7f-\xa0\u061c\u1680\u2000-\u200a\u200e\u200f\u2028\u2029\u202a-\u202f\u205f\u2066-\u2069\u3000]"
    };
}
macro_rules! not_control {
    () => {
        r"[^\x00-\x1f\x7f-\x9f]"
    };
}
macro_rules! not_control_visible {
    () => {
        r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    };
}
macro_rules! white_space {
    () => {
        r"[\x09-\x0d\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    };
}
macro_rules! email_char {
    // Visible and safe, and not `@`.
    () => {
        r"[^\x00-\x20\x7f-\xa0\u061c\u1680\u2000-\u200a\u200e\u200f\u2028\u2029\u202a-\u202f\u205f\u2066-\u2069\u3000@]"
    };
}
macro_rules! domain_edge {
    // An email character that is not `.` either.
    () => {
        r"[^\x00-\x20\x7f-\xa0\u061c\u1680\u2000-\u200a\u200e\u200f\u2028\u2029\u202a-\u202f\u205f\u2066-\u2069\u3000@.]"
    };
}

/// The patterns of the spec, each the exact rule of a server check.
pub mod patterns {
    /// Display text with at least one visible character: names of orgs, keys and machines.
    pub const NAME: &str = concat!("^", safe!(), "*", safe_visible!(), safe!(), "*$");
    /// Display text that may be empty or blank: notes, display names, version strings.
    pub const LABEL: &str = concat!("^", safe!(), "*$");
    /// A command: no control characters, at least one visible character.
    pub const COMMAND: &str = concat!("^", not_control!(), "*", not_control_visible!(), not_control!(), "*$");
    /// An argument pattern of an allow-list: not empty, no control characters.
    pub const TEXT: &str = concat!("^", not_control!(), "+$");
    /// Anything without a NUL byte (arguments and working directories).
    pub const NO_NUL: &str = r"^[^\x00]*$";
    /// Anything without control characters, possibly empty (a template's working directory).
    pub const NO_CONTROL: &str = concat!("^", not_control!(), "*$");
    /// A portable environment variable name.
    pub const ENV_NAME: &str = "^[A-Za-z_][A-Za-z0-9_]*$";
    /// `local@domain.tld`, optionally surrounded by white space (trimmed).
    pub const EMAIL: &str = concat!(
        "^",
        white_space!(),
        "*",
        email_char!(),
        "+@",
        domain_edge!(),
        email_char!(),
        r"*\.",
        email_char!(),
        "*",
        domain_edge!(),
        white_space!(),
        "*$"
    );
    /// Every pattern the spec may use; a test checks the spec against this list, so that a
    /// pattern copied into an attribute (`shared` cannot use these constants) stays exact.
    pub const ALL: &[&str] = &[NAME, LABEL, COMMAND, TEXT, NO_NUL, NO_CONTROL, ENV_NAME, EMAIL, super::VERSION_PATTERN];

    /// What a value failing `pattern` must be instead, in words for the person who typed it
    /// (the pattern itself is in the spec).
    pub fn explain(pattern: &str) -> Option<&'static str> {
        Some(match pattern {
            p if p == NAME => "must have a visible character and no control or text-direction characters",
            p if p == LABEL => "must not contain control or text-direction characters",
            p if p == COMMAND => "must have a visible character and no control characters",
            p if p == TEXT => "must not be empty or contain control characters",
            p if p == NO_NUL => "must not contain a NUL character",
            p if p == NO_CONTROL => "must not contain control characters",
            p if p == ENV_NAME => "must be letters, digits and _, not starting with a digit",
            p if p == EMAIL => "must be an email address, such as name@example.com",
            _ => return None,
        })
    }
}

/// Longest name, label or note.
pub const MAX_NAME_LEN: usize = 100;
/// Longest email address (RFC 5321's path limit).
pub const MAX_EMAIL_LEN: usize = 254;
/// Longest command, argument or working directory.
pub const MAX_ARG_LEN: usize = 4096;
/// A release version, as `publish` takes it (see `params::Version`).
pub const VERSION_PATTERN: &str = concat!(
    "^",
    white_space!(),
    "*v*(0|[1-9][0-9]{0,18})\\.(0|[1-9][0-9]{0,18})\\.(0|[1-9][0-9]{0,18})",
    r"(-(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)(\.(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*)?",
    r"(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?",
    white_space!(),
    "*$"
);

/// Whether `s` keeps a rule of `min..=max` characters and `pattern`.
pub fn keeps(s: &str, min: usize, max: usize, pattern: &str) -> bool {
    let n = s.chars().count();
    n >= min && n <= max && super::conform::matches(pattern, s)
}

macro_rules! text_field {
    ($(#[$doc:meta])* $ty:ident, $min:expr, $max:expr, $pattern:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $ty(pub String);

        impl $ty {
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl Deref for $ty {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl Type for $ty {
            const IS_REQUIRED: bool = true;
            type RawValueType = Self;
            type RawElementValueType = Self;

            fn name() -> Cow<'static, str> {
                concat!("string_", stringify!($ty)).into()
            }

            fn schema_ref() -> MetaSchemaRef {
                let min = ($min > 0).then_some($min);
                MetaSchemaRef::Inline(Box::new(MetaSchema {
                    min_length: min,
                    max_length: Some($max),
                    pattern: Some($pattern.to_string()),
                    ..MetaSchema::new("string")
                }))
            }

            fn as_raw_value(&self) -> Option<&Self> {
                Some(self)
            }

            fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
                Box::new(std::iter::once(self))
            }
        }

        impl ParseFromJSON for $ty {
            fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
                match value.unwrap_or_default() {
                    Value::String(s) if keeps(&s, $min, $max, $pattern) => Ok(Self(s)),
                    Value::String(_) => Err(ParseError::custom(concat!("not a valid ", stringify!($ty)))),
                    other => Err(ParseError::expected_type(other)),
                }
            }
        }

        impl ToJSON for $ty {
            fn to_json(&self) -> Option<Value> {
                Some(Value::String(self.0.clone()))
            }
        }
    };
}

text_field!(
    /// A name people see (orgs, API keys): 1 to 100 characters with at least one visible one,
    /// without control or bidirectional-formatting characters. Trimmed.
    Name,
    1,
    MAX_NAME_LEN,
    patterns::NAME
);
text_field!(
    /// Like a name, but may be empty or blank (meaning none): notes, display names.
    Label,
    0,
    MAX_NAME_LEN,
    patterns::LABEL
);
text_field!(
    /// An email address: `local@domain.tld`, no spaces, control or bidirectional characters.
    /// Surrounding white space is trimmed.
    Email,
    3,
    MAX_EMAIL_LEN,
    patterns::EMAIL
);
text_field!(
    /// A command as a start request or an allow-list names it: at least one visible character,
    /// no control characters. Trimmed.
    Command,
    1,
    MAX_ARG_LEN,
    patterns::COMMAND
);

/// A new password: 10 to 1024 characters, any characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPassword(pub String);

impl NewPassword {
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl Deref for NewPassword {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Type for NewPassword {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string_password".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            min_length: Some(crate::auth::password::MIN_PASSWORD_LEN),
            max_length: Some(crate::auth::password::MAX_PASSWORD_LEN),
            ..MetaSchema::new_with_format("string", "password")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ParseFromJSON for NewPassword {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(s) if crate::auth::password::check_policy(&s).is_ok() => Ok(Self(s)),
            Value::String(_) => Err(ParseError::custom("the password breaks the password policy")),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

// Request types derive `Object`, which wants both directions; nothing sends a password back.
impl ToJSON for NewPassword {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

#[cfg(test)]
#[path = "fields_tests.rs"]
mod tests;
