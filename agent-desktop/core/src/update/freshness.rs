//! The newest manifest this agent accepted, per channel (`manifests.json` in the state dir):
//! a manifest generated before it is refused, so that nobody can freeze the agent on an old,
//! perhaps vulnerable, build by replaying an old signed manifest.

use std::collections::BTreeMap;
use std::path::Path;

const FILE: &str = "manifests.json";

fn read(state_dir: &Path) -> BTreeMap<String, i64> {
    std::fs::read_to_string(state_dir.join(FILE)).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default()
}

/// The `generated_at` of the newest manifest of `channel` accepted so far.
pub fn newest(state_dir: &Path, channel: &str) -> Option<i64> {
    read(state_dir).get(channel).copied()
}

/// Remembers an accepted manifest's `generated_at` (keeping the newest). Best effort: a state
/// dir that cannot be written only weakens replay protection, and is logged.
pub fn record(state_dir: &Path, channel: &str, generated_at: i64) {
    let mut all = read(state_dir);
    let entry = all.entry(channel.to_string()).or_insert(generated_at);
    *entry = (*entry).max(generated_at);
    let written = serde_json::to_vec(&all).map_err(std::io::Error::other).and_then(|bytes| {
        sessionforge_shared::files::create_private_dir(state_dir)?;
        sessionforge_shared::files::write_private_atomic(&state_dir.join(FILE), &bytes)
    });
    if let Err(e) = written {
        tracing::warn!(error = %e, "cannot remember the newest release manifest");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_per_channel() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(newest(dir.path(), "stable"), None);
        record(dir.path(), "stable", 100);
        record(dir.path(), "stable", 50);
        record(dir.path(), "beta", 7);
        assert_eq!(newest(dir.path(), "stable"), Some(100));
        assert_eq!(newest(dir.path(), "beta"), Some(7));
    }
}
