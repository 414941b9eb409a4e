//! The agent's spool: each relayed session's unacknowledged output, appended to files on disk as
//! it is read from the PTY, so that killing the agent (or a crash) loses nothing the PTY
//! produced: the next agent to start adopts the spool and resends it.
//!
//! A session's spool is a directory `spool/<session id>/` holding `meta.json` (what the server
//! must be told about the session), `lock` (held by the process that owns the session) and
//! segment files named by the offset of their first byte (`00000000000000000000.seg`), so that
//! every file says where its bytes belong and a crash at any moment leaves a consistent spool.
//! Segments whose bytes the server has stored are deleted.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sessionforge_shared::files;
use sessionforge_shared::ids::SessionId;
use sessionforge_shared::protocol::SessionInfo;

/// A new segment starts once the current one holds this many bytes.
const SEGMENT_BYTES: u64 = 16 * 1024 * 1024;
/// Directory under the state dir.
pub const DIR: &str = "spool";
const META: &str = "meta.json";
const LOCK: &str = "lock";
const SEGMENT_EXT: &str = "seg";

/// What a spooled session must tell the server, kept beside its output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub session: SessionInfo,
    #[serde(default)]
    pub request_id: Option<String>,
    /// Exit code (`None` for a signal) and end time, once the process ended.
    #[serde(default)]
    pub exit: Option<(Option<i32>, i64)>,
}

#[derive(Debug)]
struct Segment {
    start: u64,
    len: u64,
    path: PathBuf,
    file: File,
}

/// One session's spool, owned (locked) by this process.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    segments: VecDeque<Segment>,
    /// Where the next byte goes (the end of the last segment, or where the spool starts).
    end: u64,
    _lock: File,
}

fn segment_path(dir: &Path, start: u64) -> PathBuf {
    dir.join(format!("{start:020}.{SEGMENT_EXT}"))
}

fn lock(dir: &Path) -> io::Result<Option<File>> {
    files::try_lock_file(&dir.join(LOCK))
}

impl Spool {
    /// Creates the spool of a new session whose output starts at offset `start`.
    pub fn create(root: &Path, meta: &Meta, start: u64) -> io::Result<Spool> {
        let dir = root.join(meta.session.session_id.to_string());
        files::create_private_dir(&dir)?;
        let lock = lock(&dir)?.ok_or_else(|| io::Error::other("the session's spool is in use by another agent"))?;
        let spool = Spool { dir, segments: VecDeque::new(), end: start, _lock: lock };
        spool.write_meta(meta)?;
        Ok(spool)
    }

    /// Rewrites `meta.json` (atomically).
    pub fn write_meta(&self, meta: &Meta) -> io::Result<()> {
        let text = serde_json::to_vec(meta).map_err(io::Error::other)?;
        files::write_private_atomic(&self.dir.join(META), &text)
    }

    /// Offset just past the last spooled byte.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// The first offset still spooled (everything before it was stored by the server).
    pub fn start(&self) -> u64 {
        self.segments.front().map_or(self.end, |s| s.start)
    }

    /// Appends `data` at the end. On failure (disk full) nothing of `data` counts as spooled.
    pub fn append(&mut self, data: &[u8]) -> io::Result<()> {
        if self.segments.back().is_none_or(|s| s.len >= SEGMENT_BYTES) {
            let path = segment_path(&self.dir, self.end);
            let file = OpenOptions::new().create(true).append(true).read(true).open(&path)?;
            self.segments.push_back(Segment { start: self.end, len: 0, path, file });
        }
        let Some(seg) = self.segments.back_mut() else { return Err(io::Error::other("no segment")) };
        if let Err(e) = seg.file.write_all(data) {
            // A partial write leaves bytes past `len` that no one will read; the next append
            // (or adoption) works from `len`, so truncate back to it.
            let _ = seg.file.set_len(seg.len);
            return Err(e);
        }
        seg.len += data.len() as u64;
        self.end += data.len() as u64;
        Ok(())
    }

    /// Up to `max` bytes from `offset` (which must lie in `[start, end)`).
    pub fn read(&self, offset: u64, max: usize) -> io::Result<Vec<u8>> {
        let seg = self
            .segments
            .iter()
            .find(|s| s.start <= offset && offset < s.start + s.len)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "offset not spooled"))?;
        let n = usize::try_from((seg.start + seg.len - offset).min(max as u64)).unwrap_or(max);
        let mut buf = vec![0u8; n];
        read_exact_at(&seg.file, &mut buf, offset - seg.start)?;
        Ok(buf)
    }

    /// The server stored everything before `offset`: deletes the segments that lie wholly
    /// before it.
    pub fn release_before(&mut self, offset: u64) {
        while self.segments.front().is_some_and(|s| s.start + s.len <= offset) {
            if let Some(seg) = self.segments.pop_front() {
                drop(seg.file);
                if let Err(e) = std::fs::remove_file(&seg.path) {
                    tracing::debug!(error = %e, "cannot remove a spool segment");
                }
            }
        }
    }

    /// Deletes the whole spool (the session is over and stored).
    pub fn remove(self) {
        let dir = self.dir.clone();
        drop(self);
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            tracing::debug!(error = %e, dir = %dir.display(), "cannot remove a spool");
        }
    }
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match std::os::windows::fs::FileExt::seek_read(file, buf, offset) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "spool segment too short")),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A spool whose owner is gone (its agent was killed or crashed), taken over by this process.
#[derive(Debug)]
pub struct Orphan {
    pub meta: Meta,
    pub spool: Spool,
}

/// The spools under `root` that no living process owns, locked for this one. Unreadable ones
/// are skipped (and logged).
pub fn orphans(root: &Path) -> Vec<Orphan> {
    let Ok(entries) = std::fs::read_dir(root) else { return Vec::new() };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let dir = entry.path();
        if dir.file_name().and_then(|n| n.to_str()).and_then(|n| n.parse::<SessionId>().ok()).is_none() {
            continue;
        }
        match adopt(&dir) {
            Ok(Some(orphan)) => found.push(orphan),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, dir = %dir.display(), "cannot adopt a spooled session"),
        }
    }
    found
}

fn adopt(dir: &Path) -> io::Result<Option<Orphan>> {
    let Some(lock) = lock(dir)? else { return Ok(None) };
    let meta: Meta = match std::fs::read(dir.join(META)) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(io::Error::other)?,
        // Created, then killed before its meta was written: nothing was spooled.
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            drop(lock);
            std::fs::remove_dir_all(dir)?;
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let mut starts: Vec<u64> = std::fs::read_dir(dir)?
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(&format!(".{SEGMENT_EXT}"))?.parse().ok()))
        .collect();
    starts.sort_unstable();
    let mut segments = VecDeque::new();
    let mut end = 0;
    for start in starts {
        let path = segment_path(dir, start);
        let file = OpenOptions::new().append(true).read(true).open(&path)?;
        let len = file.metadata()?.len();
        // Segments follow each other; one that does not continue the previous is a hole the
        // resend reports as a gap.
        end = start + len;
        segments.push_back(Segment { start, len, path, file });
    }
    Ok(Some(Orphan { meta, spool: Spool { dir: dir.to_path_buf(), segments, end, _lock: lock } }))
}

/// A relayed session's meta for tests (here and in the output buffer's).
#[cfg(test)]
pub(crate) fn test_meta() -> Meta {
    use sessionforge_shared::protocol::SessionSource;
    Meta {
        session: SessionInfo {
            session_id: SessionId::new(),
            source: SessionSource::Relayed,
            kind: "other".into(),
            command: "sh".into(),
            args: vec![],
            cwd: String::new(),
            pid: None,
            started_at: 0,
            cols: 80,
            rows: 24,
            cpu_percent: 0.0,
            memory_bytes: 0,
            local_terminal: false,
        },
        request_id: None,
        exit: None,
    }
}

#[cfg(test)]
mod tests {
    use super::test_meta as meta;
    use super::*;

    #[test]
    fn appends_reads_back_and_releases_stored_segments() {
        let root = tempfile::tempdir().expect("tempdir");
        let mut s = Spool::create(root.path(), &meta(), 100).expect("create");
        s.append(b"hello ").expect("append");
        s.append(b"world").expect("append");
        assert_eq!((s.start(), s.end()), (100, 111));
        assert_eq!(s.read(106, 100).expect("read"), b"world");
        assert_eq!(s.read(100, 3).expect("read"), b"hel");
        assert!(s.read(111, 1).is_err(), "nothing past the end");
        s.release_before(111);
        assert_eq!(s.start(), 111, "the stored segment is gone");
        s.append(b"!").expect("append after release");
        assert_eq!(s.read(111, 10).expect("read"), b"!");
    }

    #[test]
    fn a_spool_whose_owner_died_is_adopted_with_its_bytes_and_meta() {
        let root = tempfile::tempdir().expect("tempdir");
        let m = meta();
        let mut s = Spool::create(root.path(), &m, 0).expect("create");
        s.append(&vec![b'x'; 1000]).expect("append");
        assert!(orphans(root.path()).is_empty(), "a spool locked by a living owner is not an orphan");
        drop(s); // the owner dies: its lock is released
        let found = orphans(root.path());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].meta, m);
        assert_eq!((found[0].spool.start(), found[0].spool.end()), (0, 1000));
        assert_eq!(found[0].spool.read(990, 100).expect("read"), vec![b'x'; 10]);
        assert!(orphans(root.path()).is_empty(), "adopted: locked again");
        let adopted = found.into_iter().next().expect("one");
        adopted.spool.remove();
        assert_eq!(std::fs::read_dir(root.path()).expect("root").count(), 0);
    }
}
