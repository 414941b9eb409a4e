//! Artifact files, content-addressed: `data_dir/artifacts/sha256/<first two hex>/<sha256>`.
//! Uploads stream to a temporary file while being hashed and are renamed into place, so a
//! half-written artifact never has a name, and the same bytes are stored once.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

/// Directory under the data dir.
const DIR: &str = "artifacts";

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("the artifact is larger than the limit of {0} bytes")]
    TooLarge(u64),
    #[error("the artifact is empty")]
    Empty,
    #[error("cannot store the artifact: {0}")]
    Io(#[from] std::io::Error),
}

/// A stored artifact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredArtifact {
    /// Lower-case hex SHA-256.
    pub sha256: String,
    pub size: u64,
}

/// What a stored artifact's bytes say about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    Intact,
    Missing,
    /// The file hashes to `found` instead of its name.
    Mismatch {
        found: String,
    },
}

#[derive(Clone, Debug)]
pub struct Artifacts {
    root: PathBuf,
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Artifacts {
    pub fn new(data_dir: &Path) -> Self {
        Self { root: data_dir.join(DIR) }
    }

    /// Where the artifact with this hash lives (whether or not it exists).
    pub fn path(&self, sha256: &str) -> Option<PathBuf> {
        is_sha256_hex(sha256).then(|| self.root.join("sha256").join(&sha256[..2]).join(sha256))
    }

    /// Streams `body` into the store, at most `limit` bytes.
    pub async fn put<S>(&self, mut body: S, limit: u64) -> Result<StoredArtifact, ArtifactError>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Unpin,
    {
        let tmp_dir = self.root.join("tmp");
        tokio::fs::create_dir_all(&tmp_dir).await?;
        let tmp = tmp_dir.join(uuid::Uuid::new_v4().to_string());
        let result = async {
            let mut file = tokio::fs::File::create(&tmp).await?;
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                size += chunk.len() as u64;
                if size > limit {
                    return Err(ArtifactError::TooLarge(limit));
                }
                hasher.update(&chunk);
                file.write_all(&chunk).await?;
            }
            if size == 0 {
                return Err(ArtifactError::Empty);
            }
            file.sync_all().await?;
            Ok(StoredArtifact { sha256: hex::encode(hasher.finalize()), size })
        }
        .await;
        let stored = match result {
            Ok(s) => s,
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(e);
            }
        };
        let dest = self.path(&stored.sha256).ok_or_else(|| std::io::Error::other("bad hash"))?;
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        tokio::fs::rename(&tmp, &dest).await?;
        // Read back what is on disk now: a faulty disk (or a same-named file that was already
        // there and damaged) must not be published.
        match self.check(&stored.sha256).await? {
            Check::Intact => Ok(stored),
            Check::Missing => Err(ArtifactError::Io(std::io::Error::other("the stored artifact vanished"))),
            Check::Mismatch { found } => {
                let _ = tokio::fs::remove_file(&dest).await;
                Err(ArtifactError::Io(std::io::Error::other(format!(
                    "the stored artifact reads back with SHA-256 {found}, not {}",
                    stored.sha256
                ))))
            }
        }
    }

    /// Hashes the stored file of `sha256` and says whether it still matches.
    pub async fn check(&self, sha256: &str) -> std::io::Result<Check> {
        let Some(path) = self.path(sha256) else { return Ok(Check::Missing) };
        let expected = sha256.to_string();
        tokio::task::spawn_blocking(move || {
            let mut file = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Check::Missing),
                Err(e) => return Err(e),
            };
            let mut hasher = Sha256::new();
            std::io::copy(&mut file, &mut hasher)?;
            let found = hex::encode(hasher.finalize());
            Ok(if found == expected { Check::Intact } else { Check::Mismatch { found } })
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// Stores the file at `path` (for the `release publish` command).
    pub async fn put_file(&self, path: &Path, limit: u64) -> Result<StoredArtifact, ArtifactError> {
        let file = tokio::fs::File::open(path).await?;
        self.put(tokio_util::io::ReaderStream::new(file), limit).await
    }

    /// Deletes an artifact no release uses any more. Missing files are fine.
    pub async fn remove(&self, sha256: &str) -> std::io::Result<()> {
        match self.path(sha256) {
            Some(p) => match tokio::fs::remove_file(p).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(parts: &[&'static [u8]]) -> impl Stream<Item = std::io::Result<Bytes>> + Unpin {
        futures_util::stream::iter(parts.iter().map(|p| Ok(Bytes::from_static(p))).collect::<Vec<_>>())
    }

    #[tokio::test]
    async fn stores_by_hash_once_and_refuses_oversized_or_empty_uploads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = Artifacts::new(dir.path());
        let stored = a.put(body(&[b"hello ", b"world"]), 100).await.expect("put");
        assert_eq!(stored.sha256, "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9");
        assert_eq!(stored.size, 11);
        let path = a.path(&stored.sha256).expect("path");
        assert_eq!(std::fs::read(&path).expect("read"), b"hello world");
        assert_eq!(a.put(body(&[b"hello world"]), 100).await.expect("again"), stored);

        assert!(matches!(a.put(body(&[b"0123456789", b"x"]), 10).await, Err(ArtifactError::TooLarge(10))));
        assert!(matches!(a.put(body(&[]), 10).await, Err(ArtifactError::Empty)));
        let leftovers = std::fs::read_dir(dir.path().join("artifacts/tmp")).expect("tmp").count();
        assert_eq!(leftovers, 0, "failed uploads leave nothing behind");
        assert!(a.path("../../etc/passwd").is_none());

        assert_eq!(a.check(&stored.sha256).await.expect("check"), Check::Intact);
        std::fs::write(&path, b"hello w0rld").expect("corrupt it");
        assert!(matches!(a.check(&stored.sha256).await.expect("check"), Check::Mismatch { .. }));
        std::fs::remove_file(&path).expect("remove");
        assert_eq!(a.check(&stored.sha256).await.expect("check"), Check::Missing);
    }
}
