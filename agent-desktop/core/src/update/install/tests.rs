//! The swap on stand-in binaries (shell scripts that answer `self-check`): a good build goes in,
//! a build that fails its self-check never does, a failure after the swap restores the exact
//! previous bytes, and nothing is left behind next to the executable.

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicU32, Ordering};

use super::*;

/// A script that answers `self-check` like an agent of `version` would (or runs `body`).
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

fn agent(dir: &Path, name: &str, version: &str) -> PathBuf {
    script(dir, name, &format!("echo 'sessionforge-agent {version} {TARGET}'"))
}

/// Replaces `exe` with `new` the way self-replace does on Unix (copy beside it, rename over it).
fn replacer(exe: &Path) -> impl FnOnce(&Path) -> std::io::Result<()> {
    let exe = exe.to_path_buf();
    move |new: &Path| {
        let tmp = exe.with_file_name(".replacing");
        std::fs::copy(new, &tmp)?;
        std::fs::rename(&tmp, &exe)
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn a_build_that_passes_its_self_check_replaces_the_executable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = agent(dir.path(), "sessionforge-agent", "1.0.0");
    let new = agent(dir.path(), "new", "2.0.0");
    swap(&exe, &new, replacer(&exe), &SelfCheck("2.0.0")).await.expect("swap");
    assert_eq!(std::fs::read(&exe).expect("read"), std::fs::read(&new).expect("read"));
    assert_eq!(names(dir.path()), ["new", "sessionforge-agent"], "the backup is gone");
}

#[tokio::test]
async fn a_build_that_fails_its_self_check_is_never_installed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = agent(dir.path(), "sessionforge-agent", "1.0.0");
    let before = std::fs::read(&exe).expect("read");
    let cases = [
        ("crashes", "echo 'cannot start' >&2; exit 3", "exited with"),
        ("wrong-version", &format!("echo 'sessionforge-agent 1.5.0 {TARGET}'"), "not 2.0.0"),
        ("wrong-target", "echo 'sessionforge-agent 2.0.0 sparc-sun-solaris'", "built for sparc"),
        ("silent", "true", "not its version"),
    ];
    for (name, body, why) in cases {
        let new = script(dir.path(), name, body);
        let err = swap(&exe, &new, replacer(&exe), &SelfCheck("2.0.0")).await.expect_err(name);
        assert!(matches!(&err, UpdateError::SelfCheck(r) if r.contains(why)), "{name}: {err}");
        assert!(err.to_string().contains("nothing was changed"), "{err}");
        assert_eq!(std::fs::read(&exe).expect("read"), before, "{name}");
    }
    let left: Vec<_> = names(dir.path()).into_iter().filter(|n| n.starts_with('.')).collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn a_self_check_that_hangs_is_stopped_at_the_time_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hangs = script(dir.path(), "hangs", "exec sleep 30");
    let started = std::time::Instant::now();
    let err = self_check_within(&hangs, "2.0.0", Duration::from_millis(300)).await.expect_err("times out");
    assert!(err.contains("did not finish"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// Passes its first check and fails the one after installing (as a binary that depends on
/// something missing from its final location would).
struct FailsOnceInstalled(AtomicU32);

impl Check for FailsOnceInstalled {
    async fn check(&self, exe: &Path) -> Result<(), String> {
        if self.0.fetch_add(1, Ordering::SeqCst) == 0 { self_check(exe, "2.0.0").await } else { Err("broken".into()) }
    }
}

#[tokio::test]
async fn a_failure_after_the_swap_restores_the_previous_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = agent(dir.path(), "sessionforge-agent", "1.0.0");
    let before = std::fs::read(&exe).expect("read");
    let new = agent(dir.path(), "new", "2.0.0");
    let check = FailsOnceInstalled(AtomicU32::new(0));
    let err = swap(&exe, &new, replacer(&exe), &check).await.expect_err("rolled back");
    assert!(matches!(&err, UpdateError::RolledBack { reason } if reason == "broken"), "{err}");
    assert_eq!(std::fs::read(&exe).expect("read"), before, "the previous binary is back, byte for byte");
    let mode = std::fs::metadata(&exe).expect("meta").permissions().mode();
    assert_eq!(mode & 0o111, 0o111, "still executable");
    assert_eq!(names(dir.path()), ["new", "sessionforge-agent"]);
    self_check(&exe, "1.0.0").await.expect("the restored binary runs");
}

#[test]
fn self_check_lines_name_version_and_target() {
    let line = self_check_line().expect("this build starts");
    assert_eq!(check_line(&line, VERSION), Ok(()));
    assert!(check_line(&format!("sessionforge-agent v{VERSION} {TARGET}"), VERSION).is_ok());
    assert!(check_line("sessionforge-agent", VERSION).is_err());
    let s = sibling(Path::new("/opt/sf/sessionforge-agent.exe"), "download");
    let name = s.file_name().and_then(|n| n.to_str()).expect("name");
    assert!(name.starts_with(".sessionforge-agent.download-") && name.ends_with(".exe"), "{name}");
    assert_eq!(s.parent(), Some(Path::new("/opt/sf")));
}
