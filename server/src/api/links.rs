//! Mailed single-use links as handlers make and check them: a new link's row id, token hash and
//! expiry, the hash of a token someone brings back, and lifetimes in words for the mail.

use uuid::Uuid;

use crate::auth::PURPOSE_LINK;
use crate::auth::tokens::{link_token, token_hash};
use crate::state::AppState;
use crate::store::account_links::NewLink;
use crate::store::now;
use crate::store::outbox::LinkKind;

/// A new link of `kind` valid for `ttl_secs`. The token itself is not kept: the outbox derives
/// it again from the row id when the mail goes out.
pub fn new_link(state: &AppState, kind: LinkKind, ttl_secs: u64) -> NewLink {
    let id = Uuid::now_v7().to_string();
    let token = link_token(&state.keys, kind, &id);
    let ttl = i64::try_from(ttl_secs).unwrap_or(i64::MAX / 2);
    NewLink { hash: token_hash(&state.keys, PURPOSE_LINK, &token), id, expires_at: now().saturating_add(ttl) }
}

/// The stored hash of a token someone brought back (anything at all: an unknown one simply
/// matches no row).
pub fn hash_of(state: &AppState, token: &str) -> Vec<u8> {
    let token: String = token.trim().chars().take(200).collect();
    token_hash(&state.keys, PURPOSE_LINK, &token)
}

/// "1 hour", "24 hours", "7 days".
pub fn ttl_words(secs: u64) -> String {
    let plural = |n: u64, unit: &str| if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") };
    match secs {
        s if s >= 2 * 86_400 && s % 86_400 == 0 => plural(s / 86_400, "day"),
        s if s >= 3_600 && s % 3_600 == 0 => plural(s / 3_600, "hour"),
        s => plural((s / 60).max(1), "minute"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn lifetimes_read_naturally() {
        assert_eq!(super::ttl_words(3600), "1 hour");
        assert_eq!(super::ttl_words(86_400), "24 hours");
        assert_eq!(super::ttl_words(7 * 86_400), "7 days");
        assert_eq!(super::ttl_words(90), "1 minute");
    }
}
