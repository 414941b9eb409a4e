//! Append-only segment files holding stored output: the data dir's `output/NNNNNNNNNNNN.seg`.
//! The database keeps only an index row per chunk (session, offsets, segment, position), so
//! making a batch durable costs one `fdatasync` of data written once, plus a small commit,
//! instead of writing every byte to the WAL and again to the database (BENCHMARKS.md, "Durable
//! output storage").
//!
//! Rules that keep it correct:
//! - Only the persister appends, one batch at a time; a batch's data is synced before its index
//!   rows commit, so a committed row never points at bytes that could be lost.
//! - A failed write or sync abandons the segment (its page cache cannot be trusted after a
//!   failed sync); the batch is written again into a new one.
//! - Numbers only grow: a new server starts a new segment above every file and every indexed one.
//! - A segment no row refers to is deleted only if it was already unreferenced at a collection
//!   at least [`COLLECT_GRACE`] earlier (so a read that found its rows just before they went
//!   still finds the file), and never while a backup holds the shared lock on `output/.lock`.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{IoSlice, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A new segment is started once the current one holds this many bytes.
const MAX_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// How long a segment stays unreferenced before it is deleted.
pub const COLLECT_GRACE: Duration = Duration::from_secs(5);
/// Segment files kept open for reading (more are closed and reopened on demand).
const MAX_OPEN_READERS: usize = 64;
/// The file a backup locks (shared) while it copies segments, and collection locks (exclusive).
pub const LOCK_FILE: &str = ".lock";
/// Segment files' extension.
const EXT: &str = "seg";

/// Where a piece of data was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placed {
    pub segment: u64,
    pub pos: u64,
}

#[derive(Debug)]
pub(crate) struct Active {
    id: u64,
    file: File,
    len: u64,
}

#[derive(Debug)]
pub struct Segments {
    dir: PathBuf,
    /// The segment being appended to (none until the first write, and after a failure).
    active: Mutex<Option<Active>>,
    /// The next segment number to start.
    next_id: Mutex<u64>,
    readers: Mutex<HashMap<u64, Arc<File>>>,
    /// Unreferenced segments, with when a collection first saw them so.
    doomed: Mutex<HashMap<u64, Instant>>,
    /// How long a segment stays unreferenced before it goes ([`COLLECT_GRACE`]).
    grace: Mutex<Duration>,
}

/// Takes the shared lock that keeps a running server from deleting the segments in `dir` while
/// a backup copies them; `None` when there is no such directory.
pub fn hold_for_backup(dir: &Path) -> std::io::Result<Option<File>> {
    if !dir.is_dir() {
        return Ok(None);
    }
    sessionforge_shared::files::lock_file_shared(&dir.join(LOCK_FILE)).map(Some)
}

/// The file name of segment `id`.
pub fn file_name(id: u64) -> String {
    format!("{id:012}.{EXT}")
}

/// The number of a segment file's name, if it is one.
fn parse_name(name: &str) -> Option<u64> {
    name.strip_suffix(&format!(".{EXT}"))?.parse().ok()
}

/// Segment numbers of the files in `dir`, with their sizes.
fn list(dir: &Path) -> std::io::Result<Vec<(u64, u64)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(id) = entry.file_name().to_str().and_then(parse_name) {
            out.push((id, entry.metadata()?.len()));
        }
    }
    Ok(out)
}

impl Segments {
    /// Opens `dir` (created if needed, private); new segments are numbered above `floor` (the
    /// highest number the index refers to) and above every file already there.
    pub fn open(dir: &Path, floor: u64) -> std::io::Result<Self> {
        sessionforge_shared::files::create_private_dir(dir)?;
        let highest = list(dir)?.into_iter().map(|(id, _)| id).max().unwrap_or(0).max(floor);
        Ok(Self {
            dir: dir.to_path_buf(),
            active: Mutex::new(None),
            next_id: Mutex::new(highest + 1),
            readers: Mutex::default(),
            doomed: Mutex::default(),
            grace: Mutex::new(COLLECT_GRACE),
        })
    }

    pub fn path(&self, id: u64) -> PathBuf {
        self.dir.join(file_name(id))
    }

    /// Appends `pieces` in order and syncs them; returns where each begins. On error nothing
    /// written by this call may be referenced, and the next call starts a new segment.
    pub fn append(&self, pieces: &[&[u8]]) -> std::io::Result<Vec<Placed>> {
        let mut active = crate::lock(&self.active);
        let result = self.append_to(&mut active, pieces);
        if result.is_err() {
            *active = None;
        }
        result
    }

    fn append_to(&self, active: &mut Option<Active>, pieces: &[&[u8]]) -> std::io::Result<Vec<Placed>> {
        if active.as_ref().is_none_or(|a| a.len >= MAX_SEGMENT_BYTES) {
            *active = Some(self.start_segment()?);
        }
        let Some(a) = active.as_mut() else { return Err(std::io::Error::other("no active segment")) };
        let mut placed = Vec::with_capacity(pieces.len());
        let mut pos = a.len;
        for p in pieces {
            placed.push(Placed { segment: a.id, pos });
            pos += p.len() as u64;
        }
        let mut slices: Vec<IoSlice<'_>> = pieces.iter().filter(|p| !p.is_empty()).map(|p| IoSlice::new(p)).collect();
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            let n = a.file.write_vectored(rest)?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            IoSlice::advance_slices(&mut rest, n);
        }
        a.file.sync_data()?;
        a.len = pos;
        Ok(placed)
    }

    /// Creates the next segment file and makes its name durable.
    fn start_segment(&self) -> std::io::Result<Active> {
        let mut next = crate::lock(&self.next_id);
        let id = *next;
        *next += 1;
        let file = File::options().create_new(true).append(true).read(true).open(self.path(id))?;
        File::open(&self.dir)?.sync_all()?;
        Ok(Active { id, file, len: 0 })
    }

    /// Sets how long a segment stays unreferenced before it goes (tests use zero).
    #[cfg(test)]
    pub(crate) fn set_grace(&self, grace: Duration) {
        *crate::lock(&self.grace) = grace;
    }

    /// The writer's state, for tests that make it start a new segment.
    #[cfg(test)]
    pub(crate) fn active_for_tests(&self) -> &Mutex<Option<Active>> {
        &self.active
    }

    /// Reads `len` bytes of segment `id` from `pos`.
    pub fn read(&self, id: u64, pos: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let file = self.reader(id)?;
        let mut buf = vec![0u8; len];
        read_exact_at(&file, &mut buf, pos)?;
        Ok(buf)
    }

    fn reader(&self, id: u64) -> std::io::Result<Arc<File>> {
        let mut readers = crate::lock(&self.readers);
        if let Some(f) = readers.get(&id) {
            return Ok(f.clone());
        }
        let file = Arc::new(File::open(self.path(id))?);
        if readers.len() >= MAX_OPEN_READERS {
            readers.clear();
        }
        readers.insert(id, file.clone());
        Ok(file)
    }

    /// Bytes the segment files take on disk.
    pub fn disk_bytes(&self) -> std::io::Result<u64> {
        Ok(list(&self.dir)?.into_iter().map(|(_, len)| len).sum())
    }

    /// Deletes segments that no chunk refers to (`referenced`) and that were already
    /// unreferenced at a call at least the grace period earlier, except the one being written.
    /// Skips the deleting while a backup holds the lock. Returns the bytes freed.
    pub fn collect(&self, referenced: &HashSet<u64>) -> std::io::Result<u64> {
        let Some(_lock) = sessionforge_shared::files::try_lock_file(&self.dir.join(LOCK_FILE))? else {
            return Ok(0); // a backup is copying segments
        };
        // Anything at or above the next number to start may be written to (or just created).
        let writing = crate::lock(&self.active).as_ref().map(|a| a.id);
        let below = *crate::lock(&self.next_id);
        let grace = *crate::lock(&self.grace);
        let now = Instant::now();
        let mut doomed = crate::lock(&self.doomed);
        let mut still_doomed = HashMap::new();
        let mut freed = 0;
        for (id, len) in list(&self.dir)? {
            if referenced.contains(&id) || Some(id) == writing || id >= below {
                continue;
            }
            let since = doomed.get(&id).copied().unwrap_or(now);
            if now.duration_since(since) >= grace && doomed.contains_key(&id) {
                std::fs::remove_file(self.path(id))?;
                crate::lock(&self.readers).remove(&id);
                freed += len;
            } else {
                still_doomed.insert(id, since);
            }
        }
        *doomed = still_doomed;
        Ok(freed)
    }
}

/// Reads `buf.len()` bytes at `pos` without moving a shared cursor (`pread`).
#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], pos: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, pos)
}

/// Reads `buf.len()` bytes at `pos` (`ReadFile` at an offset).
#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut pos: u64) -> std::io::Result<()> {
    while !buf.is_empty() {
        match std::os::windows::fs::FileExt::seek_read(file, buf, pos)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                pos += n as u64;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_read_back_and_numbers_only_grow() {
        let dir = tempfile::tempdir().expect("tempdir");
        let segs = Segments::open(dir.path(), 0).expect("open");
        let placed = segs.append(&[b"hello ", b"", b"world"]).expect("append");
        assert_eq!(
            placed,
            vec![Placed { segment: 1, pos: 0 }, Placed { segment: 1, pos: 6 }, Placed { segment: 1, pos: 6 }]
        );
        let more = segs.append(&[b"!"]).expect("append");
        assert_eq!(more, vec![Placed { segment: 1, pos: 11 }]);
        assert_eq!(segs.read(1, 6, 6).expect("read"), b"world!");
        assert!(segs.read(1, 10, 5).is_err(), "reading past the end fails");
        drop(segs);
        // A restart starts above the files there and above what the index refers to.
        let again = Segments::open(dir.path(), 0).expect("reopen");
        assert_eq!(again.append(&[b"x"]).expect("append")[0].segment, 2);
        let above = Segments::open(dir.path(), 7).expect("reopen");
        assert_eq!(above.append(&[b"y"]).expect("append")[0].segment, 8);
    }

    #[test]
    fn unreferenced_segments_go_at_the_second_look_and_never_during_a_backup() {
        let dir = tempfile::tempdir().expect("tempdir");
        let segs = Segments::open(dir.path(), 0).expect("open");
        segs.set_grace(Duration::ZERO);
        segs.append(&[b"old"]).expect("append");
        *crate::lock(&segs.active) = None; // as after a failure: the next write starts segment 2
        segs.append(&[b"new"]).expect("append");
        let none = HashSet::new();
        assert_eq!(segs.collect(&none).expect("collect"), 0, "first look only marks");
        let backup = File::open(dir.path().join(LOCK_FILE)).expect("lock file");
        backup.lock_shared().expect("shared lock");
        assert_eq!(segs.collect(&none).expect("collect"), 0, "a backup holds the lock");
        drop(backup);
        assert_eq!(segs.collect(&none).expect("collect"), 3, "segment 1 deleted");
        assert!(!segs.path(1).exists());
        assert!(segs.path(2).exists(), "the segment being written stays");
        assert_eq!(segs.read(2, 0, 3).expect("read"), b"new");
    }
}
