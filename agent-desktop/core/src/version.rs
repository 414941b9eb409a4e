//! This build's version and target, and how versions compare. Release builds stamp the tag
//! into `SESSIONFORGE_VERSION` at compile time; other builds report the crate's version.

use std::cmp::Ordering;

/// The agent's version, as reported in `--version`, at enrollment and in every `hello`.
pub const VERSION: &str = strip_v(match option_env!("SESSIONFORGE_VERSION") {
    Some(v) => v,
    None => env!("CARGO_PKG_VERSION"),
});

/// The Rust target triple this binary was built for (from `build.rs`).
pub const TARGET: &str = env!("SESSIONFORGE_TARGET");

/// Tags are written `v1.2.3`; versions are `1.2.3`.
const fn strip_v(s: &str) -> &str {
    match s.as_bytes() {
        [b'v', rest @ ..] => match std::str::from_utf8(rest) {
            Ok(r) => r,
            Err(_) => s,
        },
        _ => s,
    }
}

/// Parses a semantic version, allowing a leading `v`.
pub fn parse(v: &str) -> Option<semver::Version> {
    semver::Version::parse(v.trim().trim_start_matches('v')).ok()
}

/// How `offered` compares with `current` by semver precedence; `None` when either is not a
/// semantic version.
pub fn compare(offered: &str, current: &str) -> Option<Ordering> {
    Some(parse(offered)?.cmp_precedence(&parse(current)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_by_semver_precedence() {
        assert_eq!(compare("1.10.0", "1.9.0"), Some(Ordering::Greater));
        assert_eq!(compare("v1.2.0", "1.2.0"), Some(Ordering::Equal));
        assert_eq!(compare("1.2.0-beta.1", "1.2.0"), Some(Ordering::Less));
        assert_eq!(compare("1.2.0+build.5", "1.2.0"), Some(Ordering::Equal), "build metadata is ignored");
        assert_eq!(compare("2.0.0-rc.1", "2.0.0-beta.3"), Some(Ordering::Greater));
        assert_eq!(compare("latest", "1.0.0"), None);
    }

    #[test]
    fn this_build_has_a_version_and_a_target() {
        assert!(parse(VERSION).is_some(), "{VERSION}");
        assert!(!VERSION.starts_with('v'));
        assert_eq!(strip_v("v9.0.0"), "9.0.0");
        assert!(TARGET.contains('-'), "{TARGET}");
        assert!(TARGET.starts_with(std::env::consts::ARCH), "{TARGET}");
    }
}
