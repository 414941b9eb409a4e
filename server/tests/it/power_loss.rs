//! A power loss, simulated: an `LD_PRELOAD` library (built here with the C compiler Rust already
//! needs) journals, before every write to the database, its WAL and the output segments, what
//! the write is about to replace, and marks each successful `fsync`/`fdatasync`. After the
//! server is killed, every write made since its file's last sync is undone, newest first: the
//! files are left as a machine that lost power would have them if none of the unsynced writes
//! had reached the disk. What it does not model: unsynced writes that partly survive (torn or
//! reordered), and directory entries, which count as durable. The shim serializes the tracked
//! writes and syncs, so it cannot show races between them either. The server started again on
//! those files must still hold every byte it acknowledged, and the crash comes while syncs of
//! the WAL, or of the segments, are failing, so that unsynced writes are certainly lost.

use std::collections::HashMap;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sessionforge_shared::ids::SessionId;

use crate::agents::{TestAgent, Viewer, admin_org};
use crate::common::{TestServer, wait_for};
use crate::raw_agent::{RawAgent, session_info};

const SHIM: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int journal = -1;

#define REAL(name, ret, args) static ret (*real_##name) args; if (!real_##name) real_##name = dlsym(RTLD_NEXT, #name)

/* The file behind fd, if it is one whose writes are journaled. */
static int tracked(int fd, char *path, size_t cap) {
    const char *match = getenv("SF_CRASH_MATCH");
    if (!match) return 0;
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, cap - 1);
    if (n <= 0) return 0;
    path[n] = 0;
    if (strstr(path, "-shm")) return 0; /* SQLite's shared memory: never synced, rebuilt */
    char list[512];
    strncpy(list, match, sizeof list - 1);
    list[sizeof list - 1] = 0;
    char *save = NULL;
    for (char *t = strtok_r(list, ":", &save); t; t = strtok_r(NULL, ":", &save))
        if (strstr(path, t)) return 1;
    return 0;
}

static void out(const void *p, size_t n) {
    REAL(write, ssize_t, (int, const void *, size_t));
    const char *c = p;
    while (n > 0) {
        ssize_t w = real_write(journal, c, n);
        if (w <= 0) abort();
        c += w;
        n -= (size_t)w;
    }
}

static void open_journal(void) {
    if (journal < 0) journal = open(getenv("SF_CRASH_JOURNAL"), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (journal < 0) abort();
}

/* 'W' path offset old_size old_len old_bytes: what writing len bytes at offset replaces. */
static void record(int fd, const char *path, uint64_t offset, uint64_t len) {
    struct stat st;
    if (fstat(fd, &st) != 0) abort();
    uint64_t size = (uint64_t)st.st_size;
    uint64_t old_len = offset < size ? (len < size - offset ? len : size - offset) : 0;
    char *old = malloc(old_len ? old_len : 1);
    if (old_len && pread(fd, old, old_len, (off_t)offset) != (ssize_t)old_len) abort();
    open_journal();
    uint32_t plen = (uint32_t)strlen(path);
    char tag = 'W';
    /* One buffer, one append: a record is whole or absent. */
    size_t total = 1 + 4 + plen + 8 * 3 + old_len;
    char *buf = malloc(total), *p = buf;
    *p++ = tag;
    memcpy(p, &plen, 4); p += 4;
    memcpy(p, path, plen); p += plen;
    memcpy(p, &offset, 8); p += 8;
    memcpy(p, &size, 8); p += 8;
    memcpy(p, &old_len, 8); p += 8;
    memcpy(p, old, old_len);
    out(buf, total);
    free(buf);
    free(old);
}

static uint64_t position(int fd, uint64_t *size) {
    struct stat st;
    fstat(fd, &st);
    *size = (uint64_t)st.st_size;
    if (fcntl(fd, F_GETFL) & O_APPEND) return *size;
    return (uint64_t)lseek(fd, 0, SEEK_CUR);
}

static int failing(const char *path) {
    const char *flag = getenv("SF_FAULT_FLAG");
    if (!flag) return 0;
    int fd = open(flag, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    char want[256] = {0};
    ssize_t n = read(fd, want, sizeof want - 1);
    close(fd);
    if (n > 0 && !strstr(path, want)) return 0;
    const char *log = getenv("SF_FAULT_LOG");
    if (log) {
        REAL(write, ssize_t, (int, const void *, size_t));
        int l = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (l >= 0) { (void)!real_write(l, "x", 1); close(l); }
    }
    return 1;
}

ssize_t write(int fd, const void *b, size_t n) {
    REAL(write, ssize_t, (int, const void *, size_t));
    char path[4096];
    if (!tracked(fd, path, sizeof path)) return real_write(fd, b, n);
    pthread_mutex_lock(&mu);
    uint64_t size, at = position(fd, &size);
    record(fd, path, at, n);
    ssize_t r = real_write(fd, b, n);
    pthread_mutex_unlock(&mu);
    return r;
}

ssize_t writev(int fd, const struct iovec *v, int cnt) {
    REAL(writev, ssize_t, (int, const struct iovec *, int));
    char path[4096];
    if (!tracked(fd, path, sizeof path)) return real_writev(fd, v, cnt);
    uint64_t n = 0;
    for (int i = 0; i < cnt; i++) n += v[i].iov_len;
    pthread_mutex_lock(&mu);
    uint64_t size, at = position(fd, &size);
    record(fd, path, at, n);
    ssize_t r = real_writev(fd, v, cnt);
    pthread_mutex_unlock(&mu);
    return r;
}

#define PWRITE(name)                                                          \
ssize_t name(int fd, const void *b, size_t n, off_t off) {                    \
    REAL(name, ssize_t, (int, const void *, size_t, off_t));                \
    char path[4096];                                                          \
    if (!tracked(fd, path, sizeof path)) return real_##name(fd, b, n, off);   \
    pthread_mutex_lock(&mu);                                                  \
    record(fd, path, (uint64_t)off, n);                                       \
    ssize_t r = real_##name(fd, b, n, off);                                   \
    pthread_mutex_unlock(&mu);                                                \
    return r;                                                                 \
}
PWRITE(pwrite)
PWRITE(pwrite64)

#define TRUNCATE(name)                                                        \
int name(int fd, off_t len) {                                                 \
    REAL(name, int, (int, off_t));                                          \
    char path[4096];                                                          \
    if (!tracked(fd, path, sizeof path)) return real_##name(fd, len);         \
    pthread_mutex_lock(&mu);                                                  \
    struct stat st;                                                           \
    fstat(fd, &st);                                                           \
    uint64_t size = (uint64_t)st.st_size, l = (uint64_t)len;                  \
    record(fd, path, l, l < size ? size - l : 0);                             \
    int r = real_##name(fd, len);                                             \
    pthread_mutex_unlock(&mu);                                                \
    return r;                                                                 \
}
TRUNCATE(ftruncate)
TRUNCATE(ftruncate64)

#define SYNC(name)                                                            \
int name(int fd) {                                                            \
    REAL(name, int, (int));                                                 \
    char path[4096];                                                          \
    if (!tracked(fd, path, sizeof path)) return real_##name(fd);              \
    if (failing(path)) { errno = EIO; return -1; }                            \
    pthread_mutex_lock(&mu);                                                  \
    int r = real_##name(fd);                                                  \
    if (r == 0) {                                                             \
        open_journal();                                                       \
        uint32_t plen = (uint32_t)strlen(path);                               \
        char buf[1 + 4 + 4096], *p = buf;                                     \
        *p++ = 'S';                                                           \
        memcpy(p, &plen, 4); p += 4;                                          \
        memcpy(p, path, plen); p += plen;                                     \
        out(buf, (size_t)(p - buf));                                          \
    }                                                                         \
    pthread_mutex_unlock(&mu);                                                \
    return r;                                                                 \
}
SYNC(fsync)
SYNC(fdatasync)
"#;

/// Compiles the shim into `dir`.
fn build_shim(dir: &Path) -> PathBuf {
    let src = dir.join("powerloss.c");
    let lib = dir.join("libpowerloss.so");
    std::fs::write(&src, SHIM).expect("write shim");
    let out = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-Wall", "-o"])
        .arg(&lib)
        .arg(&src)
        .args(["-ldl", "-lpthread"])
        .output()
        .expect("run cc");
    assert!(out.status.success(), "cc failed: {}", String::from_utf8_lossy(&out.stderr));
    lib
}

/// One journaled write: what `[offset, offset + old.len())` held and how long the file was.
struct Undo {
    path: String,
    offset: u64,
    old_size: u64,
    old: Vec<u8>,
}

/// Undoes every journaled write made after its file's last sync, newest first. Returns the
/// files touched and how many writes were undone in each.
fn lose_power(journal: &Path) -> HashMap<String, usize> {
    let bytes = std::fs::read(journal).expect("journal");
    let mut records: Vec<Option<Undo>> = Vec::new(); // None marks a sync of the path in `synced`
    let mut last_sync: HashMap<String, usize> = HashMap::new();
    let mut p = 0usize;
    let take = |p: &mut usize, n: usize| -> Option<&[u8]> {
        let s = bytes.get(*p..*p + n)?;
        *p += n;
        Some(s)
    };
    let u64_at = |s: &[u8]| u64::from_le_bytes(s.try_into().expect("8 bytes"));
    while p < bytes.len() {
        let Some(tag) = take(&mut p, 1) else { break };
        let tag = tag[0];
        let Some(plen) = take(&mut p, 4) else { break };
        let plen = u32::from_le_bytes(plen.try_into().expect("4 bytes")) as usize;
        let Some(path) = take(&mut p, plen) else { break };
        let path = String::from_utf8_lossy(path).into_owned();
        match tag {
            b'S' => {
                last_sync.insert(path, records.len());
                records.push(None);
            }
            b'W' => {
                let Some(head) = take(&mut p, 24) else { break };
                let (offset, old_size, old_len) = (u64_at(&head[..8]), u64_at(&head[8..16]), u64_at(&head[16..]));
                let Some(old) = take(&mut p, old_len as usize) else { break };
                records.push(Some(Undo { path, offset, old_size, old: old.to_vec() }));
            }
            other => panic!("bad journal tag {other}"),
        }
    }
    let mut undone: HashMap<String, usize> = HashMap::new();
    for (i, r) in records.iter().enumerate().rev() {
        let Some(u) = r else { continue };
        if last_sync.get(&u.path).is_some_and(|&s| s > i) {
            continue; // synced since
        }
        let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&u.path) else { continue };
        f.seek(SeekFrom::Start(u.offset)).expect("seek");
        f.write_all(&u.old).expect("restore");
        f.set_len(u.old_size).expect("size");
        *undone.entry(u.path.clone()).or_default() += 1;
    }
    undone
}

/// Numbered lines, `n` bytes in all.
fn stream(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 32);
    let mut i = 0u64;
    while out.len() < n {
        out.extend_from_slice(format!("line-{i:010}\n").as_bytes());
        i += 1;
    }
    out.truncate(n);
    out
}

#[tokio::test]
async fn a_power_loss_keeps_every_acknowledged_byte() {
    // Unsynced index commits (the WAL's syncs fail), then unsynced output (the segments' fail).
    for fault in ["-wal", "/output/"] {
        power_loss_while_syncs_of(fault).await;
    }
}

/// The highest ack for `id` among the messages already received (none is waited for).
async fn acks_received(raw: &mut RawAgent, id: SessionId) -> u64 {
    let want = id.to_string();
    let mut highest = 0;
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::ZERO, raw.next_text()).await {
        if msg["type"] == "ack" && msg["session_id"] == want.as_str() {
            highest = highest.max(msg["offset"].as_u64().unwrap_or(0));
        }
    }
    highest
}

async fn power_loss_while_syncs_of(fault: &str) {
    const FRAME: usize = 4096;
    let tools = tempfile::tempdir().expect("tempdir");
    let lib = build_shim(tools.path());
    let (journal, flag, log) =
        (tools.path().join("journal"), tools.path().join("fail-syncs"), tools.path().join("failed-syncs.log"));
    let s = |p: &Path| p.to_str().expect("utf-8").to_string();
    let env = [
        ("LD_PRELOAD", s(&lib)),
        ("SF_CRASH_MATCH", "sessionforge.db:/output/".into()),
        ("SF_CRASH_JOURNAL", s(&journal)),
        ("SF_FAULT_FLAG", s(&flag)),
        ("SF_FAULT_LOG", s(&log)),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut server = TestServer::start_with(&env).await;
    let org = admin_org(&server).await;
    let agent = TestAgent::enroll(&server, &org).await;
    let id = SessionId::new();
    let data = stream(6 * 1024 * 1024);
    let mut raw = RawAgent::connect(&server, &agent, "daemon", vec![session_info(id, "sh")]).await;

    // Half of it stored and acknowledged.
    let acked = 3 * 1024 * 1024;
    for (i, piece) in data[..acked].chunks(FRAME).enumerate() {
        raw.output(id, (i * FRAME) as u64, piece).await;
    }
    raw.wait_ack(id, acked as u64).await;

    // Then syncs of `fault` fail: more output is written but never made durable, so it must
    // never be acknowledged.
    std::fs::write(&flag, fault).expect("flag");
    for (i, piece) in data[acked..acked + 1024 * 1024].chunks(FRAME).enumerate() {
        raw.output(id, (acked + i * FRAME) as u64, piece).await;
    }
    wait_for("two failed attempts to commit it", Duration::from_secs(30), || {
        let n = std::fs::read(&log).map(|b| b.len()).unwrap_or(0);
        async move { (n >= 2).then_some(()) }
    })
    .await;

    let highest_ack = acks_received(&mut raw, id).await;
    assert_eq!(highest_ack.max(acked as u64), acked as u64, "output was acknowledged while its syncs failed ({fault})");

    // The power goes: the process dies, and so does every write not yet synced.
    server.kill();
    let undone = lose_power(&journal);
    assert!(
        undone.keys().any(|p| p.contains(fault)),
        "unsynced writes to {fault} were lost (else this proves little): {undone:?}"
    );
    drop(raw);

    let server = TestServer::launch(server.dir.clone(), Vec::new()).await;
    // Every acknowledged byte is there, and nothing but what was sent.
    let mut viewer = Viewer::attach(&server, &org.id, &id.to_string(), 0, &org.key).await;
    viewer.read_until(Duration::from_secs(30), |v| v.pos >= acked as u64).await;
    assert!(viewer.data.len() >= acked, "only {} of {acked} acknowledged bytes survived ({fault})", viewer.data.len());
    assert!(viewer.data[..] == data[..viewer.data.len()], "the stored output is exactly what was sent");

    // The agent resends from the stored end: all of it arrives, exactly once.
    let mut raw = RawAgent::connect(&server, &agent, "daemon", vec![session_info(id, "sh")]).await;
    let resume = raw.resume_offset(id).expect("resume offset") as usize;
    assert!(resume >= acked && resume <= data.len(), "resume at {resume}");
    for (i, piece) in data[resume..].chunks(FRAME).enumerate() {
        raw.output(id, (resume + i * FRAME) as u64, piece).await;
    }
    raw.wait_ack(id, data.len() as u64).await;
    let mut whole = Viewer::attach(&server, &org.id, &id.to_string(), 0, &org.key).await;
    whole.read_until(Duration::from_secs(30), |v| v.pos >= data.len() as u64).await;
    assert!(whole.data == data, "every byte once, in order ({} of {})", whole.data.len(), data.len());
}
