//! Release parameters with rules, as path and query parameter types: a channel, a target
//! triple and a version. Each publishes its rule in the spec (an enum or a pattern). A target
//! or version that breaks it is refused while parsing; the error names the query parameter, and
//! `error::render` gives it the code the release checks use (`UNKNOWN_TARGET`,
//! `INVALID_VERSION`). A channel is also a path parameter, whose parse errors poem-openapi
//! names by position only, so a channel parses as any string and `Channel::check` refuses an
//! unknown one with `UNKNOWN_CHANNEL`; every handler taking one calls it.

use std::borrow::Cow;
use std::ops::Deref;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromParameter, ParseResult, Type};
use serde_json::Value;
use sessionforge_shared::releases::{CHANNELS, TARGETS};

use super::fields::{VERSION_PATTERN, keeps};
use crate::error::ApiError;
use crate::releases::ReleaseError;

/// Longest version string.
const MAX_VERSION_LEN: usize = 100;

macro_rules! param_type {
    ($(#[$doc:meta])* $ty:ident, $schema:expr, $ok:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $ty(pub String);

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
                MetaSchemaRef::Inline(Box::new($schema))
            }

            fn as_raw_value(&self) -> Option<&Self> {
                Some(self)
            }

            fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
                Box::new(std::iter::once(self))
            }
        }

        impl ParseFromParameter for $ty {
            fn parse_from_parameter(value: &str) -> ParseResult<Self> {
                let ok: fn(&str) -> bool = $ok;
                if ok(value) {
                    Ok(Self(value.to_string()))
                } else {
                    Err(ParseError::custom(format!(concat!("{:?} is not a valid ", stringify!($ty)), value)))
                }
            }
        }
    };
}

fn one_of(values: &[&str]) -> MetaSchema {
    MetaSchema {
        enum_items: values.iter().map(|v| Value::String((*v).to_string())).collect(),
        ..MetaSchema::new("string")
    }
}

param_type!(
    /// A release channel: `stable` or `beta` (checked by [`Channel::check`]).
    Channel,
    one_of(CHANNELS),
    |_| true
);
param_type!(
    /// A Rust target triple the server publishes agents for.
    Target,
    one_of(TARGETS),
    |v| TARGETS.contains(&v)
);
param_type!(
    /// A semantic version such as `1.4.2` or `2.0.0-beta.1` (a leading `v` is allowed).
    Version,
    MetaSchema {
        max_length: Some(MAX_VERSION_LEN),
        pattern: Some(VERSION_PATTERN.to_string()),
        ..MetaSchema::new("string")
    },
    |v| keeps(v, 1, MAX_VERSION_LEN, VERSION_PATTERN)
);

impl Channel {
    pub fn stable() -> Self {
        Self("stable".into())
    }

    /// The channel, if it is one; else 400 `UNKNOWN_CHANNEL`.
    pub fn check(&self) -> Result<&str, ApiError> {
        if CHANNELS.contains(&self.0.as_str()) {
            Ok(&self.0)
        } else {
            Err(ReleaseError::UnknownChannel(self.0.clone()).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::releases::Publish;

    fn publish(version: &str) -> Publish {
        Publish {
            version: version.into(),
            target: TARGETS[0].into(),
            channel: "stable".into(),
            notes: String::new(),
            file_name: None,
        }
    }

    #[test]
    fn versions_the_pattern_takes_are_the_versions_publish_takes() {
        let good = [
            "1.0.0",
            "v1.4.2",
            " 0.0.0 ",
            "10.20.30",
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-0.3.7",
            "1.0.0-x.7.z.92",
            "1.0.0-x-y-z.--",
            "1.0.0+20130313144700",
            "1.0.0-beta+exp.sha.5114f85",
            "1.0.0+21AF26D3----117B344092BD",
            "1.0.0+001",
            "9999999999999999999.0.0",
            "1.0.0-99999999999999999999999",
        ];
        for v in good {
            assert!(Version::parse_from_parameter(v).is_ok(), "the pattern refuses {v:?}");
            assert!(publish(v).validate().is_ok(), "publish refuses {v:?}, which the spec allows");
        }
        let bad = ["", "1", "1.0", "01.0.0", "1.0.0-", "1.0.0-01", "1.0.0+", "1.0.0.0", "one", "1.0.0 x", "1.0.0-a..b"];
        for v in bad {
            assert!(Version::parse_from_parameter(v).is_err(), "the pattern takes {v:?}");
            assert!(publish(v).validate().is_err(), "publish takes {v:?}");
        }
    }

    #[test]
    fn channels_and_targets_are_the_shared_lists() {
        let channel = |c: &str| Channel::parse_from_parameter(c).map(|c| c.check().is_ok()).ok();
        assert_eq!(channel("beta"), Some(true));
        assert_eq!(channel("nightly"), Some(false));
        assert!(Target::parse_from_parameter(TARGETS[0]).is_ok());
        assert!(Target::parse_from_parameter("sparc-sun-solaris").is_err());
    }
}
