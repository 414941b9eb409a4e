//! Backup and restore of a data dir. A backup is one `.tar.gz`: a consistent copy of the
//! database taken while the server runs (see `store::snapshot`), the output segments it refers
//! to, the generated secrets, the TLS certificate and key, the release artifacts, and
//! `backup.json` saying what it is. Restore
//! refuses to run over a live server (which holds the data dir's lock), checks the archive
//! before anything is replaced, and keeps what was there before.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};

use crate::keys::SECRETS_FILE;
use crate::store::{OUTPUT_DIR, StoreError, segments, snapshot};

/// Held by a running server for as long as it runs.
pub const LOCK_FILE: &str = "server.lock";
/// The database's file name inside a data dir and a backup.
const DB_FILE: &str = "sessionforge.db";
/// What a backup says about itself.
const MANIFEST: &str = "backup.json";
/// Backups this server can read.
const FORMAT: u32 = 1;
/// Data dir entries a backup carries besides the database and secrets.
const DIRS: &[&str] = &["tls", "artifacts/sha256"];

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("a server is running on {0}: stop it before restoring over it")]
    Live(String),
    #[error("{0} already holds a data dir: restore into an empty directory, or pass --force to set it aside")]
    NotEmpty(String),
    #[error("not a SessionForge backup: {0}")]
    NotABackup(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
    let context = context.into();
    move |source| BackupError::Io { context, source }
}

/// `backup.json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct BackupInfo {
    pub format: u32,
    /// Unix seconds.
    pub created_at: i64,
    pub server_version: String,
    pub schema_version: i64,
}

/// Takes the data dir's lock; fails with [`BackupError::Live`] while a server holds it.
pub fn lock_data_dir(dir: &Path) -> Result<File, BackupError> {
    let path = dir.join(LOCK_FILE);
    sessionforge_shared::files::try_lock_file(&path)
        .map_err(io(format!("cannot lock {}", path.display())))?
        .ok_or_else(|| BackupError::Live(dir.display().to_string()))
}

/// Writes a backup of the data dir `dir` to `dest` (atomically: a partial backup never has
/// that name). Works while a server runs on `dir`.
pub fn backup(dir: &Path, dest: &Path, busy_timeout: Duration) -> Result<BackupInfo, BackupError> {
    let scratch = tempfile::Builder::new()
        .prefix(".sessionforge-backup-")
        .tempdir_in(dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")))
        .map_err(io("cannot create a scratch directory next to the backup"))?;
    let db_copy = scratch.path().join(DB_FILE);
    // Held until the segments are copied: the server deletes none meanwhile.
    let output = dir.join(OUTPUT_DIR);
    let _segments_kept = segments::hold_for_backup(&output).map_err(io("cannot lock the output segments"))?;
    let schema_version = snapshot::snapshot(&dir.join(DB_FILE), &db_copy, busy_timeout)?;
    let info = BackupInfo {
        format: FORMAT,
        created_at: crate::store::now(),
        server_version: env!("CARGO_PKG_VERSION").into(),
        schema_version,
    };
    let partial = scratch.path().join("backup.tar.gz");
    let out = File::create(&partial).map_err(io("cannot write the backup"))?;
    let mut tar = tar::Builder::new(GzEncoder::new(BufWriter::new(out), Compression::fast()));
    let manifest =
        serde_json::to_vec_pretty(&info).map_err(|e| io("cannot describe the backup")(std::io::Error::other(e)))?;
    let mut header = tar::Header::new_gnu();
    header.set_size(manifest.len() as u64);
    header.set_mode(0o600);
    header.set_mtime(u64::try_from(info.created_at).unwrap_or(0));
    tar.append_data(&mut header, MANIFEST, &manifest[..]).map_err(io("cannot write the backup"))?;
    tar.append_path_with_name(&db_copy, DB_FILE).map_err(io("cannot write the database into the backup"))?;
    let secrets = dir.join(SECRETS_FILE);
    if secrets.is_file() {
        tar.append_path_with_name(&secrets, SECRETS_FILE).map_err(io("cannot write the secrets into the backup"))?;
    }
    for (id, _) in snapshot::segments(&db_copy)? {
        let name = segments::file_name(id);
        let file = File::open(output.join(&name)).map_err(io(format!("cannot read output segment {name}")))?;
        // Only what is there now: the server may still be appending to it.
        let len = file.metadata().map_err(io(format!("cannot read output segment {name}")))?.len();
        let mut header = tar::Header::new_gnu();
        header.set_size(len);
        header.set_mode(0o600);
        header.set_mtime(u64::try_from(info.created_at).unwrap_or(0));
        tar.append_data(&mut header, format!("{OUTPUT_DIR}/{name}"), std::io::Read::take(file, len))
            .map_err(io(format!("cannot write output segment {name} into the backup")))?;
    }
    for sub in DIRS {
        let path = dir.join(sub);
        if path.is_dir() {
            tar.append_dir_all(sub, &path).map_err(io(format!("cannot write {sub} into the backup")))?;
        }
    }
    let gz = tar.into_inner().map_err(io("cannot finish the backup"))?;
    let buffered = gz.finish().map_err(io("cannot finish the backup"))?;
    let file = buffered.into_inner().map_err(|e| io("cannot finish the backup")(e.into_error()))?;
    file.sync_all().map_err(io("cannot sync the backup"))?;
    std::fs::rename(&partial, dest).map_err(io(format!("cannot move the backup to {}", dest.display())))?;
    Ok(info)
}

/// Whether a data dir has anything in it that a restore would replace.
fn holds_data(dir: &Path) -> bool {
    dir.join(DB_FILE).exists() || dir.join(SECRETS_FILE).exists()
}

/// Restores `archive` into the data dir `dir`. Refuses while a server runs on `dir`, and over an
/// existing data dir unless `force` (which moves it aside, never deletes it). Returns what the
/// backup says about itself and, with `force`, where the previous data dir went.
pub fn restore(archive: &Path, dir: &Path, force: bool) -> Result<(BackupInfo, Option<PathBuf>), BackupError> {
    sessionforge_shared::files::create_private_dir(dir).map_err(io(format!("cannot create {}", dir.display())))?;
    let _lock = lock_data_dir(dir)?;
    if holds_data(dir) && !force {
        return Err(BackupError::NotEmpty(dir.display().to_string()));
    }
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let staging = tempfile::Builder::new()
        .prefix(".sessionforge-restore-")
        .tempdir_in(parent)
        .map_err(io("cannot create a staging directory next to the data dir"))?;
    let file = File::open(archive).map_err(io(format!("cannot open {}", archive.display())))?;
    let mut tar = tar::Archive::new(GzDecoder::new(BufReader::new(file)));
    for entry in tar.entries().map_err(|e| BackupError::NotABackup(e.to_string()))? {
        let mut entry = entry.map_err(|e| BackupError::NotABackup(e.to_string()))?;
        let path = entry.path().map_err(|e| BackupError::NotABackup(e.to_string()))?.into_owned();
        if path.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(BackupError::NotABackup(format!("unsafe path {}", path.display())));
        }
        entry.unpack_in(staging.path()).map_err(|e| BackupError::NotABackup(e.to_string()))?;
    }
    let info: BackupInfo = std::fs::read(staging.path().join(MANIFEST))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| BackupError::NotABackup(format!("{MANIFEST} is missing or unreadable")))?;
    if info.format != FORMAT {
        return Err(BackupError::NotABackup(format!("backup format {} is not {FORMAT}", info.format)));
    }
    snapshot::check(&staging.path().join(DB_FILE))?;
    for (id, needed) in snapshot::segments(&staging.path().join(DB_FILE))? {
        let name = segments::file_name(id);
        let len = std::fs::metadata(staging.path().join(OUTPUT_DIR).join(&name)).map(|m| m.len()).unwrap_or(0);
        if len < needed {
            return Err(BackupError::NotABackup(format!("output segment {name} is missing or shorter than its index")));
        }
    }
    let mut moved_aside = None;
    if holds_data(dir) {
        let aside = parent.join(format!(
            "{}.before-restore-{}",
            dir.file_name().and_then(|n| n.to_str()).unwrap_or("data"),
            crate::store::now()
        ));
        std::fs::create_dir_all(&aside).map_err(io(format!("cannot create {}", aside.display())))?;
        for name in
            [DB_FILE, "sessionforge.db-wal", "sessionforge.db-shm", SECRETS_FILE, "tls", "artifacts", OUTPUT_DIR]
        {
            let from = dir.join(name);
            if from.exists() {
                std::fs::rename(&from, aside.join(name))
                    .map_err(io(format!("cannot move {} aside", from.display())))?;
            }
        }
        moved_aside = Some(aside);
    }
    for name in [DB_FILE, SECRETS_FILE, "tls", "artifacts", OUTPUT_DIR] {
        let from = staging.path().join(name);
        if from.exists() {
            std::fs::rename(&from, dir.join(name)).map_err(io(format!("cannot move {name} into place")))?;
        }
    }
    Ok((info, moved_aside))
}
