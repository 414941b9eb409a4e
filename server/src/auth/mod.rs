//! Authentication: passwords, tokens, who is asking ([`principal`]), and rate limits.

pub mod password;
pub mod principal;
pub mod ratelimit;
pub mod tokens;

/// Cookie that carries a browser sign-in.
pub const SESSION_COOKIE: &str = "sf_session";
/// Header a browser must echo on state-changing requests authenticated by cookie.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Purpose labels for keyed token hashes.
pub const PURPOSE_LOGIN: &str = "login";
pub const PURPOSE_API_KEY: &str = "api_key";
pub const PURPOSE_MACHINE: &str = "machine";
pub const PURPOSE_ENROLL: &str = "enroll";
/// Single-use links mailed to people (account links and invitations).
pub const PURPOSE_LINK: &str = "mail_link";
