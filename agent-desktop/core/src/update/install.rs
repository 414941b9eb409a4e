//! Putting a verified build in place: the download goes to a hidden file next to the executable
//! (same file system, so the swap is a rename), the new binary must pass its `self-check`
//! before anything is replaced, a backup of the running binary is kept until the installed one
//! passes its `self-check` too, and is put back when it does not.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use sessionforge_shared::releases::ManifestEntry;
use tokio::io::AsyncWriteExt;

use super::verify::ArtifactCheck;
use super::{SELF_CHECK_COMMAND, UpdateError};
use crate::enroll::error_chain as chain;
use crate::tls::{self, Trust};
use crate::version::{self, TARGET, VERSION};

/// How long a binary's self-check may take.
pub const SELF_CHECK_TIMEOUT: Duration = Duration::from_secs(15);
/// How often starting a just-written binary is retried: a process another thread forks at that
/// moment briefly holds the file open, and Linux then refuses to run it (ETXTBSY).
const BUSY_RETRIES: u32 = 40;
/// Pause between those attempts.
const BUSY_PAUSE: Duration = Duration::from_millis(50);
/// Most of a failed self-check's error output that is reported.
const STDERR_SHOWN: usize = 400;

/// What `self-check` prints: proof that the binary starts on this machine (its TLS stack
/// included), its version and its target.
pub fn self_check_line() -> Result<String, String> {
    tls::client_config(&Trust::Pinned(tls::fingerprint(b"self-check"))).map_err(|e| e.to_string())?;
    Ok(format!("sessionforge-agent {VERSION} {TARGET}"))
}

/// The running executable, with symbolic links resolved.
pub fn current_exe() -> Result<PathBuf, UpdateError> {
    let exe = std::env::current_exe().map_err(|e| UpdateError::NoExecutable(e.to_string()))?;
    exe.canonicalize().map_err(|e| UpdateError::NoExecutable(format!("{}: {e}", exe.display())))
}

/// A hidden, unique file name next to `exe`.
fn sibling(exe: &Path, tag: &str) -> PathBuf {
    let stem = exe.file_stem().and_then(|s| s.to_str()).unwrap_or("sessionforge-agent");
    let ext = exe.extension().and_then(|s| s.to_str()).map(|e| format!(".{e}")).unwrap_or_default();
    exe.with_file_name(format!(".{stem}.{tag}-{}{ext}", uuid::Uuid::new_v4().simple()))
}

/// A file removed when dropped (unless kept).
#[derive(Debug)]
pub struct TempFile {
    path: Option<PathBuf>,
}

impl TempFile {
    fn new(path: PathBuf) -> Self {
        Self { path: Some(path) }
    }

    pub fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }

    /// Keeps the file and returns its path.
    fn keep(mut self) -> PathBuf {
        self.path.take().unwrap_or_default()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Downloads `entry` next to `exe`, checking size and SHA-256 as the bytes arrive.
pub async fn download(
    client: &reqwest::Client,
    entry: &ManifestEntry,
    exe: &Path,
    allow_http: bool,
) -> Result<TempFile, UpdateError> {
    if !(entry.url.starts_with("https://") || (allow_http && entry.url.starts_with("http://"))) {
        return Err(UpdateError::Download("the manifest's download link is not an https:// URL".into()));
    }
    let tmp = TempFile::new(sibling(exe, "download"));
    let mut resp = client.get(&entry.url).send().await.map_err(|e| UpdateError::Download(chain(&e)))?;
    if !resp.status().is_success() {
        return Err(UpdateError::Download(format!("the server answered {}", resp.status())));
    }
    let write_err = |e: std::io::Error| UpdateError::Download(format!("cannot write {}: {e}", tmp.path().display()));
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o700);
    let mut file = options.open(tmp.path()).await.map_err(write_err)?;
    let mut check = ArtifactCheck::new(entry);
    while let Some(chunk) = resp.chunk().await.map_err(|e| UpdateError::Download(chain(&e)))? {
        check.update(&chunk)?;
        file.write_all(&chunk).await.map_err(write_err)?;
    }
    file.sync_all().await.map_err(write_err)?;
    drop(file);
    check.finish()?;
    Ok(tmp)
}

/// Runs `exe self-check` and checks that it reports `expected` for this target.
pub async fn self_check(exe: &Path, expected: &str) -> Result<(), String> {
    self_check_within(exe, expected, SELF_CHECK_TIMEOUT).await
}

async fn self_check_within(exe: &Path, expected: &str, limit: Duration) -> Result<(), String> {
    let mut attempts = 0;
    let child = loop {
        let mut cmd = tokio::process::Command::new(exe);
        cmd.arg(SELF_CHECK_COMMAND)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        match cmd.spawn() {
            Ok(child) => break child,
            Err(e) if e.kind() == ErrorKind::ExecutableFileBusy && attempts < BUSY_RETRIES => {
                attempts += 1;
                tokio::time::sleep(BUSY_PAUSE).await;
            }
            Err(e) => return Err(format!("it cannot be started: {e}")),
        }
    };
    let out = match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => return Err(format!("cannot wait for it: {e}")),
        Err(_) => return Err(format!("it did not finish within {} seconds", limit.as_secs_f32())),
    };
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let shown: String = stderr.trim().chars().take(STDERR_SHOWN).collect();
        return Err(format!("it exited with {}: {shown}", out.status));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    check_line(stdout.lines().next().unwrap_or("").trim(), expected)
}

/// Checks a `self-check` line against the expected version and this build's target.
fn check_line(line: &str, expected: &str) -> Result<(), String> {
    let mut parts = line.split_whitespace();
    let (Some("sessionforge-agent"), Some(v), Some(target)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("it printed {line:?}, not its version"));
    };
    if version::compare(v, expected) != Some(std::cmp::Ordering::Equal) {
        return Err(format!("it reports version {v}, not {expected}"));
    }
    if target != TARGET {
        return Err(format!("it was built for {target}, not {TARGET}"));
    }
    Ok(())
}

/// How a binary is judged fit to run (tests substitute their own).
pub trait Check {
    fn check(&self, exe: &Path) -> impl Future<Output = Result<(), String>> + Send;
}

/// The real judgement: `self-check` must report this version.
pub struct SelfCheck<'a>(pub &'a str);

impl Check for SelfCheck<'_> {
    fn check(&self, exe: &Path) -> impl Future<Output = Result<(), String>> + Send {
        self_check(exe, self.0)
    }
}

/// Self-checks `new`, backs up `exe`, puts `new` in its place with `replace`, and self-checks
/// the result, restoring the backup if that fails.
pub async fn swap<R, C>(exe: &Path, new: &Path, replace: R, check: &C) -> Result<(), UpdateError>
where
    R: FnOnce(&Path) -> std::io::Result<()>,
    C: Check + Sync,
{
    check.check(new).await.map_err(UpdateError::SelfCheck)?;
    let replace_err = |reason: String| UpdateError::Replace { path: exe.display().to_string(), reason };
    let backup = TempFile::new(sibling(exe, "previous"));
    tokio::fs::copy(exe, backup.path()).await.map_err(|e| replace_err(format!("cannot back it up: {e}")))?;
    replace(new).map_err(|e| replace_err(e.to_string()))?;
    let Err(reason) = check.check(exe).await else { return Ok(()) };
    tracing::error!(%reason, "the installed agent failed its self-check; restoring the previous version");
    match restore(backup.path(), exe).await {
        Ok(()) => Err(UpdateError::RolledBack { reason }),
        Err(e) => Err(UpdateError::RollbackFailed {
            reason,
            restore: e.to_string(),
            backup: backup.keep().display().to_string(),
        }),
    }
}

/// Puts a copy of `backup` at `exe` in one rename. `exe` is no longer the running image (that
/// was replaced), so this works on Windows too.
async fn restore(backup: &Path, exe: &Path) -> std::io::Result<()> {
    let tmp = TempFile::new(sibling(exe, "restore"));
    tokio::fs::copy(backup, tmp.path()).await?;
    tokio::fs::rename(tmp.path(), exe).await
}

#[cfg(all(test, unix))]
mod tests;
