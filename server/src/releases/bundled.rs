//! Agent builds shipped with the server, published at start so that a fresh server can install
//! agents at once: `sessionforge-agent` beside the server binary (what `cargo build --workspace`
//! leaves there) for the server's own target, and every `agents/sessionforge-agent-<target>[.exe]`
//! of a release bundle. Each is published as the server's own version, on `stable`, through the
//! same [`publish`] path as the API and CLI, unless that target already has that version. Nothing
//! here may stop the server from starting: failures are logged and skipped.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use sessionforge_shared::releases::TARGETS;

use super::artifacts::Artifacts;
use super::{Publish, publish};
use crate::store::Store;

/// The target triple this server was built for (from `build.rs`).
pub const BUILD_TARGET: &str = env!("SF_SERVER_BUILD_TARGET");
/// The version the bundled agents are published as: the one release builds stamp into both the
/// server and the agents (`SESSIONFORGE_VERSION`, as `v1.2.3` or `1.2.3`), else the crate's,
/// which the workspace shares with the agent.
pub const BUNDLE_VERSION: &str = match option_env!("SESSIONFORGE_VERSION") {
    Some(v) => v,
    None => env!("CARGO_PKG_VERSION"),
};
/// The directory of a release bundle holding the agent builds, beside the server binary.
const AGENTS_DIR: &str = "agents";
/// Base name of agent binaries.
const AGENT: &str = "sessionforge-agent";

/// One build found on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub target: String,
    pub path: PathBuf,
}

/// The agent builds in `dir` (the server binary's directory), own target first.
pub fn find(dir: &Path, own_target: &str) -> Vec<Found> {
    let mut found = Vec::new();
    let own = dir.join(format!("{AGENT}{}", std::env::consts::EXE_SUFFIX));
    if TARGETS.contains(&own_target) && own.is_file() {
        found.push(Found { target: own_target.to_string(), path: own });
    }
    let Ok(entries) = std::fs::read_dir(dir.join(AGENTS_DIR)) else { return found };
    let mut bundled: Vec<Found> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let target = name.strip_prefix(&format!("{AGENT}-"))?.trim_end_matches(".exe").to_string();
            TARGETS.contains(&target.as_str()).then(|| Found { target, path: e.path() })
        })
        .collect();
    bundled.sort_by(|a, b| a.target.cmp(&b.target));
    found.extend(bundled);
    found
}

/// Publishes what [`find`] finds beside the running binary. Returns what it published.
pub async fn publish_bundled(store: &Store, artifacts: &Artifacts, limit: u64) -> Vec<(String, String)> {
    let dir = match std::env::current_exe() {
        Ok(exe) => match exe.parent() {
            Some(d) => d.to_path_buf(),
            None => return vec![],
        },
        Err(e) => {
            tracing::warn!(error = %e, "cannot locate the server binary; bundled agent builds are not published");
            return vec![];
        }
    };
    let version = BUNDLE_VERSION.trim_start_matches('v');
    publish_from(store, artifacts, limit, &dir, BUILD_TARGET, version).await
}

/// Publishes the builds in `dir` as `version`, skipping targets that already have it.
pub async fn publish_from(
    store: &Store,
    artifacts: &Artifacts,
    limit: u64,
    dir: &Path,
    own_target: &str,
    version: &str,
) -> Vec<(String, String)> {
    let mut published = Vec::new();
    for f in find(dir, own_target) {
        let existing = match store.releases().await {
            Ok(list) => list,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list releases; bundled agent builds are not published");
                return published;
            }
        };
        if existing.iter().any(|r| r.target == f.target && r.version == version) {
            tracing::debug!(target = %f.target, version, "bundled agent build already published");
            continue;
        }
        let bytes = match tokio::fs::read(&f.path).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(path = %f.path.display(), error = %e, "cannot read a bundled agent build");
                continue;
            }
        };
        let req = Publish {
            version: version.to_string(),
            target: f.target.clone(),
            channel: "stable".into(),
            notes: "Published at start from the agent build beside the server.".into(),
            file_name: None,
        };
        let body = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from(bytes))]);
        match publish(store, artifacts, req, body, limit, None).await {
            Ok(r) => {
                tracing::info!(target = %r.target, version = %r.version, sha256 = %r.sha256,
                    path = %f.path.display(), "published a bundled agent build");
                published.push((r.target, r.version));
            }
            Err(e) => tracing::warn!(target = %f.target, path = %f.path.display(), error = %e,
                "could not publish a bundled agent build"),
        }
    }
    published
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_own_build_and_the_bundle() {
        let dir = tempfile::tempdir().expect("tempdir");
        let own = format!("{AGENT}{}", std::env::consts::EXE_SUFFIX);
        std::fs::write(dir.path().join(own), b"own").expect("write");
        std::fs::create_dir(dir.path().join(AGENTS_DIR)).expect("mkdir");
        for name in [
            "sessionforge-agent-x86_64-pc-windows-msvc.exe",
            "sessionforge-agent-aarch64-apple-darwin",
            "README",
            "sessionforge-agent-sparc-sun-solaris",
        ] {
            std::fs::write(dir.path().join(AGENTS_DIR).join(name), b"x").expect("write");
        }
        let targets: Vec<String> = find(dir.path(), "x86_64-unknown-linux-gnu").into_iter().map(|f| f.target).collect();
        assert_eq!(targets, ["x86_64-unknown-linux-gnu", "aarch64-apple-darwin", "x86_64-pc-windows-msvc"]);
        // An unknown own target publishes nothing from beside the binary.
        assert_eq!(find(dir.path(), "riscv64gc-unknown-linux-gnu").len(), 2);
    }
}
