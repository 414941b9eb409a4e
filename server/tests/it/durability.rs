//! Acked means on disk: the server acknowledges output only after the sync that makes it
//! durable succeeded. A small `LD_PRELOAD` library (built here with the C compiler Rust already
//! needs) makes `fsync`/`fdatasync` fail with EIO while a flag file exists, and logs each
//! failure; while syncs fail, nothing is acked, and once they work again everything is, exactly
//! once.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sessionforge_shared::ids::SessionId;

use crate::agents::{TestAgent, Viewer, admin_org};
use crate::common::{TestServer, wait_for};
use crate::raw_agent::{RawAgent, session_info};

const SHIM: &str = r#"
#define _GNU_SOURCE
#include <errno.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failing(void) {
    const char *flag = getenv("SF_FAULT_FLAG");
    if (!flag || access(flag, F_OK) != 0) return 0;
    const char *log = getenv("SF_FAULT_LOG");
    if (log) {
        int fd = open(log, O_WRONLY | O_APPEND | O_CREAT, 0600);
        if (fd >= 0) { (void)!write(fd, "x", 1); close(fd); }
    }
    return 1;
}

int fsync(int fd) {
    static int (*real)(int);
    if (failing()) { errno = EIO; return -1; }
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (failing()) { errno = EIO; return -1; }
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    return real(fd);
}
"#;

/// Compiles the shim into `dir`.
fn build_shim(dir: &Path) -> PathBuf {
    let src = dir.join("failsync.c");
    let lib = dir.join("libfailsync.so");
    std::fs::write(&src, SHIM).expect("write shim");
    let out = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&lib)
        .arg(&src)
        .arg("-ldl")
        .output()
        .expect("run cc");
    assert!(out.status.success(), "cc failed: {}", String::from_utf8_lossy(&out.stderr));
    lib
}

fn failed_syncs(log: &Path) -> usize {
    std::fs::read(log).map(|b| b.len()).unwrap_or(0)
}

#[tokio::test]
async fn output_is_acked_only_after_its_sync_succeeded() {
    let tools = tempfile::tempdir().expect("tempdir");
    let lib = build_shim(tools.path());
    let flag = tools.path().join("fail-syncs");
    let log = tools.path().join("failed-syncs.log");
    let (lib, flag_s, log_s) =
        (lib.to_str().expect("utf-8"), flag.to_str().expect("utf-8"), log.to_str().expect("utf-8"));
    let server =
        TestServer::start_with(&[("LD_PRELOAD", lib), ("SF_FAULT_FLAG", flag_s), ("SF_FAULT_LOG", log_s)]).await;
    let org = admin_org(&server).await;
    let agent = TestAgent::enroll(&server, &org).await;
    let id = SessionId::new();
    let mut raw = RawAgent::connect(&server, &agent, "daemon", vec![session_info(id, "sh")]).await;
    raw.output(id, 0, b"durable-").await;
    raw.wait_ack(id, 8).await;
    let mut viewer = Viewer::attach(&server, &org.id, &id.to_string(), 0, &org.key).await;

    // Syncs fail from now on: the next output reaches viewers, but is not acked.
    std::fs::write(&flag, b"").expect("flag");
    raw.output(id, 8, b"pending").await;
    viewer.read_until(Duration::from_secs(20), |v| v.data == b"durable-pending").await;
    wait_for("two failed attempts to store it", Duration::from_secs(30), || {
        let n = failed_syncs(&log);
        async move { (n >= 2).then_some(()) }
    })
    .await;
    let early = tokio::time::timeout(Duration::from_millis(300), raw.wait_ack(id, 15)).await;
    assert!(early.is_err(), "output was acked although its sync failed");

    // Syncs work again: the retry stores it and the ack follows.
    std::fs::remove_file(&flag).expect("clear flag");
    raw.wait_ack(id, 15).await;
    raw.close().await;
    let mut again = Viewer::attach(&server, &org.id, &id.to_string(), 0, &org.key).await;
    again.read_until(Duration::from_secs(20), |v| v.pos >= 15).await;
    assert_eq!(again.data, b"durable-pending", "stored exactly once");
}
