//! Agent releases: which artifact (by SHA-256) is which version of which target on which
//! channel. Publishing the same version of a target twice is a conflict; yanking hides a
//! release from manifests but keeps its row.

use rusqlite::params;
use sessionforge_shared::ids::UserId;
use uuid::Uuid;

use super::{Store, StoreError, now, optional};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release {
    pub id: Uuid,
    pub version: String,
    pub target: String,
    pub channel: String,
    pub sha256: String,
    pub size: u64,
    pub file_name: String,
    pub notes: String,
    pub created_at: i64,
    pub yanked_at: Option<i64>,
    /// Set once its stored artifact was found not to match its SHA-256: never served again.
    pub corrupt_at: Option<i64>,
}

/// A channel manifest signed off the server, stored exactly as signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredManifest {
    pub channel: String,
    pub payload: String,
    pub signature: String,
    pub key_id: String,
    pub generated_at: i64,
    pub expires_at: i64,
    pub uploaded_at: i64,
}

/// A release about to be recorded (its artifact is already stored).
#[derive(Clone, Debug)]
pub struct NewRelease {
    pub version: String,
    pub target: String,
    pub channel: String,
    pub sha256: String,
    pub size: u64,
    pub file_name: String,
    pub notes: String,
    pub created_by: Option<UserId>,
}

const COLUMNS: &str = "id, version, target, channel, sha256, size, file_name, notes, created_at, yanked_at, corrupt_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Release> {
    let id: String = r.get(0)?;
    Ok(Release {
        id: id
            .parse()
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))?,
        version: r.get(1)?,
        target: r.get(2)?,
        channel: r.get(3)?,
        sha256: r.get(4)?,
        size: u64::try_from(r.get::<_, i64>(5)?).unwrap_or(0),
        file_name: r.get(6)?,
        notes: r.get(7)?,
        created_at: r.get(8)?,
        yanked_at: r.get(9)?,
        corrupt_at: r.get(10)?,
    })
}

impl Store {
    /// Records a release. The same version of a target cannot be published twice.
    pub async fn insert_release(&self, new: NewRelease) -> Result<Release, StoreError> {
        self.db
            .write(move |tx| {
                let id = Uuid::now_v7();
                let inserted = tx.execute(
                    "INSERT INTO releases (id, version, target, channel, sha256, size, file_name, notes, created_by,
                        created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                     ON CONFLICT (target, version) DO NOTHING",
                    params![
                        id.to_string(),
                        new.version,
                        new.target,
                        new.channel,
                        new.sha256,
                        i64::try_from(new.size).unwrap_or(i64::MAX),
                        new.file_name,
                        new.notes,
                        new.created_by.map(|u| u.to_string()),
                        now()
                    ],
                )?;
                if inserted == 0 {
                    return Err(StoreError::Conflict(format!(
                        "version {} of {} is already published; publish a new version instead",
                        new.version, new.target
                    )));
                }
                let sql = format!("SELECT {COLUMNS} FROM releases WHERE id = ?1");
                Ok(tx.query_row(&sql, [id.to_string()], row)?)
            })
            .await
    }

    /// Every release, newest first (yanked ones included).
    pub async fn releases(&self) -> Result<Vec<Release>, StoreError> {
        self.db
            .read(|c| {
                let sql = format!("SELECT {COLUMNS} FROM releases ORDER BY created_at DESC, id DESC");
                let mut stmt = c.prepare(&sql)?;
                let rows = stmt.query_map([], row)?.collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(rows)
            })
            .await
    }

    /// Releases that are neither yanked nor corrupt, on any of `channels`.
    pub async fn live_releases(&self, channels: &[&str]) -> Result<Vec<Release>, StoreError> {
        let channels: Vec<String> = channels.iter().map(|c| c.to_string()).collect();
        self.db
            .read(move |c| {
                let sql = format!("SELECT {COLUMNS} FROM releases WHERE yanked_at IS NULL AND corrupt_at IS NULL");
                let mut stmt = c.prepare(&sql)?;
                let rows = stmt.query_map([], row)?.collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(rows.into_iter().filter(|r| channels.contains(&r.channel)).collect())
            })
            .await
    }

    pub async fn release(&self, id: Uuid) -> Result<Release, StoreError> {
        self.db
            .read(move |c| {
                let sql = format!("SELECT {COLUMNS} FROM releases WHERE id = ?1");
                optional(c.query_row(&sql, [id.to_string()], row))?.ok_or(StoreError::NotFound)
            })
            .await
    }

    /// Yanks the release of `version` for `target`; returns it. Yanking twice is harmless.
    pub async fn yank_release(&self, target: String, version: String) -> Result<Release, StoreError> {
        self.db
            .write(move |tx| {
                tx.execute(
                    "UPDATE releases SET yanked_at = COALESCE(yanked_at, ?1) WHERE target = ?2 AND version = ?3",
                    params![now(), target, version],
                )?;
                let sql = format!("SELECT {COLUMNS} FROM releases WHERE target = ?1 AND version = ?2");
                optional(tx.query_row(&sql, params![target, version], row))?.ok_or(StoreError::NotFound)
            })
            .await
    }

    /// Marks every release of the artifact with this hash corrupt (its stored bytes no longer
    /// match); returns how many were newly marked.
    pub async fn mark_artifact_corrupt(&self, sha256: String) -> Result<usize, StoreError> {
        self.db
            .write(move |tx| {
                Ok(tx.execute(
                    "UPDATE releases SET corrupt_at = ?1 WHERE sha256 = ?2 AND corrupt_at IS NULL",
                    params![now(), sha256],
                )?)
            })
            .await
    }

    /// Stores a manifest signed off the server, replacing the channel's previous one.
    pub async fn put_signed_manifest(&self, m: StoredManifest, by: Option<UserId>) -> Result<(), StoreError> {
        self.db
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO signed_manifests
                        (channel, payload, signature, key_id, generated_at, expires_at, uploaded_at, uploaded_by)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (channel) DO UPDATE SET payload = excluded.payload, signature = excluded.signature,
                        key_id = excluded.key_id, generated_at = excluded.generated_at,
                        expires_at = excluded.expires_at, uploaded_at = excluded.uploaded_at,
                        uploaded_by = excluded.uploaded_by",
                    params![
                        m.channel,
                        m.payload,
                        m.signature,
                        m.key_id,
                        m.generated_at,
                        m.expires_at,
                        m.uploaded_at,
                        by.map(|u| u.to_string())
                    ],
                )?;
                Ok(())
            })
            .await
    }

    /// The channel's manifest signed off the server, if one was uploaded.
    pub async fn signed_manifest(&self, channel: String) -> Result<Option<StoredManifest>, StoreError> {
        self.db
            .read(move |c| {
                optional(c.query_row(
                    "SELECT channel, payload, signature, key_id, generated_at, expires_at, uploaded_at
                     FROM signed_manifests WHERE channel = ?1",
                    [channel],
                    |r| {
                        Ok(StoredManifest {
                            channel: r.get(0)?,
                            payload: r.get(1)?,
                            signature: r.get(2)?,
                            key_id: r.get(3)?,
                            generated_at: r.get(4)?,
                            expires_at: r.get(5)?,
                            uploaded_at: r.get(6)?,
                        })
                    },
                ))
            })
            .await
    }

    /// Whether any release still uses the artifact with this hash.
    pub async fn artifact_in_use(&self, sha256: String) -> Result<bool, StoreError> {
        self.db
            .read(move |c| {
                Ok(c.query_row("SELECT EXISTS (SELECT 1 FROM releases WHERE sha256 = ?1)", [sha256], |r| r.get(0))?)
            })
            .await
    }
}
