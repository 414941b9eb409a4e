//! Agent self-update end to end, with real processes: an agent enrolled with a TestServer, run
//! from a copy of the agent binary (so that the workspace's binary is never replaced), updates
//! itself to a "version 99" build the server publishes; a tampered artifact, a manifest signed
//! by another key and a build that fails its self-check are all refused with the installed
//! binary left byte for byte as it was; a running relayed session holds the update back unless
//! forced; a running daemon installs the update by itself and restarts into it, and one held
//! back by a session adopts a build installed meanwhile once the session ends.
//!
//! The version 99 build is `sessionforge-agent-next` next to the agent binary (scripts/test.sh
//! builds it); when it is missing the first test builds it into a nested target dir.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use sessionforge_shared::signing::PublicKey;
use sha2::{Digest, Sha256};
use tempfile::TempDir;

use crate::agents::{Org, TestAgent, admin_org, agent_bin};
use crate::common::{self, Auth, TestServer, wait_for};

/// The version the "next" build is stamped with.
const NEXT: &str = "99.0.0";
/// How long one agent command may take (an update downloads and runs two self-checks).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a server-side change may take to show.
const SHOWS_WITHIN: Duration = Duration::from_secs(60);

/// The version 99 agent: `sessionforge-agent-next` next to the agent binary, built (into a
/// nested target dir, so that it never waits on the main one's lock) when missing.
fn next_agent_bin() -> PathBuf {
    let agent = agent_bin();
    let next = agent.with_file_name(format!("sessionforge-agent-next{}", std::env::consts::EXE_SUFFIX));
    if next.is_file() && reported_version(&next).as_deref() == Some(NEXT) {
        return next;
    }
    let profile_dir = agent.parent().expect("profile dir");
    let target_dir = profile_dir.parent().expect("target dir").join("next-version");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root)
        .args(["build", "-p", "sessionforge-agent", "--bin", "sessionforge-agent"])
        .env("SESSIONFORGE_VERSION", NEXT)
        .env("CARGO_TARGET_DIR", &target_dir);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("run cargo build for the version 99 agent");
    assert!(status.success(), "building the version 99 agent failed");
    let built = target_dir.join(profile_dir.file_name().expect("profile")).join(agent.file_name().expect("name"));
    // Copy then rename: tests running at the same time may all get here.
    let tmp = next.with_extension(format!("tmp{}", std::process::id()));
    std::fs::copy(&built, &tmp).expect("copy the version 99 agent");
    std::fs::rename(&tmp, &next).expect("rename the version 99 agent");
    assert_eq!(reported_version(&next).as_deref(), Some(NEXT));
    next
}

/// What `exe --version` reports.
fn reported_version(exe: &Path) -> Option<String> {
    let out = Command::new(exe).arg("--version").output().ok()?;
    String::from_utf8_lossy(&out.stdout).split_whitespace().nth(1).map(str::to_string)
}

/// An agent installed from a copy of the agent binary, using an enrolled agent's config dir.
struct Installed {
    _bin_dir: TempDir,
    exe: PathBuf,
    config: Arc<TempDir>,
    machine_id: String,
    /// Kept for its config dir (and stops nothing: it runs no daemon).
    _enrolled: TestAgent,
}

impl Installed {
    async fn enroll(server: &TestServer, org: &Org) -> Installed {
        let enrolled = TestAgent::enroll(server, org).await;
        let bin_dir = tempfile::tempdir().expect("tempdir");
        let exe = bin_dir.path().join(agent_bin().file_name().expect("name"));
        std::fs::copy(agent_bin(), &exe).expect("install a copy of the agent");
        Installed {
            _bin_dir: bin_dir,
            exe,
            config: enrolled.dir.clone(),
            machine_id: enrolled.machine_id.clone(),
            _enrolled: enrolled,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.exe);
        for (k, _) in std::env::vars() {
            if k.starts_with("SESSIONFORGE_") {
                cmd.env_remove(k);
            }
        }
        cmd.args(args)
            .env("SESSIONFORGE_CONFIG_DIR", self.config.path())
            .env("SESSIONFORGE_CREDENTIAL_STORE", "file")
            .env("SESSIONFORGE_LOG", "sessionforge_agent=debug,info")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs a command to completion (killed after `COMMAND_TIMEOUT`).
    async fn run(&self, args: &[&str]) -> (Output, String) {
        let mut cmd = tokio::process::Command::from(self.command(args));
        cmd.kill_on_drop(true);
        let out = tokio::time::timeout(COMMAND_TIMEOUT, cmd.output())
            .await
            .unwrap_or_else(|_| panic!("`{}` did not finish", args.join(" ")))
            .expect("run the installed agent");
        let text = format!(
            "$ sessionforge-agent {}\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out, text)
    }

    fn bytes(&self) -> Vec<u8> {
        std::fs::read(&self.exe).expect("read the installed agent")
    }

    fn version(&self) -> String {
        reported_version(&self.exe).expect("--version")
    }

    /// The target this build is for, from its self-check.
    async fn target(&self) -> String {
        let (out, text) = self.run(&["self-check"]).await;
        assert!(out.status.success(), "{text}");
        String::from_utf8_lossy(&out.stdout).split_whitespace().nth(2).expect("target").to_string()
    }

    /// Files next to the executable other than itself (leftover downloads or backups).
    fn leftovers(&self) -> Vec<String> {
        let dir = self.exe.parent().expect("bin dir");
        std::fs::read_dir(dir)
            .expect("read_dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| Some(n.as_str()) != self.exe.file_name().and_then(|f| f.to_str()))
            .collect()
    }

    fn config_text(&self) -> String {
        std::fs::read_to_string(self.config.path().join("agent.toml")).expect("agent.toml")
    }

    fn set_config(&self, text: &str) {
        std::fs::write(self.config.path().join("agent.toml"), text).expect("write agent.toml")
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.command(args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawn the installed agent")
    }

    async fn machine(&self, server: &TestServer, org: &Org) -> Value {
        let path = format!("/api/v1/orgs/{}/machines/{}", org.id, self.machine_id);
        server.get(&path, &org.key).await.json().await.expect("machine json")
    }
}

/// Publishes `body` as `version` for `target` on the stable channel.
async fn publish(server: &TestServer, key: &Auth, version: &str, target: &str, body: Vec<u8>) {
    let url = server.url(&format!("/api/v1/releases?version={version}&target={target}&channel=stable"));
    let resp = server
        .client
        .post(url)
        .headers(key.headers())
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .expect("publish");
    assert_eq!(resp.status(), StatusCode::CREATED, "publishing {version}");
}

/// A server with an admin org, an installed v1 agent enrolled with it, and v99 published.
/// Sets the org's agent update policy (`off`, `notify`, `automatic`).
async fn set_policy(server: &TestServer, org: &Org, policy: &str) {
    let path = format!("/api/v1/orgs/{}/update-policy", org.id);
    let resp = server.request(reqwest::Method::PUT, &path, &org.key, Some(serde_json::json!({"policy": policy}))).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

async fn setup() -> (TestServer, Org, Installed, Vec<u8>) {
    let next = next_agent_bin();
    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    let installed = Installed::enroll(&server, &org).await;
    let target = installed.target().await;
    let next_bytes = std::fs::read(&next).expect("read the version 99 agent");
    publish(&server, &org.key, NEXT, &target, next_bytes.clone()).await;
    (server, org, installed, next_bytes)
}

/// Kills a child process when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn an_installed_agent_updates_itself_to_a_newer_signed_build() {
    let (server, org, installed, next_bytes) = setup().await;
    // Enrollment pinned the server's release signing key.
    let key: PublicKey = server.get("/api/v1/releases/signing-key", &Auth::None).await.json().await.expect("key");
    assert!(installed.config_text().contains(&format!("signing_key = \"{}\"", key.public_key)));
    let v1 = installed.version();
    assert_ne!(v1, NEXT);
    let before = installed.bytes();

    // An agent enrolled before keys were pinned pins it at its first check, and says so.
    let pinned = installed.config_text();
    installed.set_config(&pinned.lines().filter(|l| !l.starts_with("signing_key")).collect::<Vec<_>>().join("\n"));
    let (out, text) = installed.run(&["update", "--check"]).await;
    assert!(out.status.success(), "{text}");
    assert!(text.contains("trust on first use"), "{text}");
    assert!(text.contains(&format!("Update available: {v1} → {NEXT}")), "{text}");
    assert!(installed.config_text().contains(&format!("signing_key = \"{}\"", key.public_key)));
    assert_eq!(installed.bytes(), before, "--check changes nothing");

    let (out, text) = installed.run(&["update", "--yes"]).await;
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&format!("from {v1} to {NEXT}")), "{text}");
    assert_eq!(installed.version(), NEXT, "the same path now runs version 99");
    assert!(installed.bytes() == next_bytes, "the installed file is exactly the published build");
    assert!(installed.leftovers().is_empty(), "{:?}", installed.leftovers());

    let (out, text) = installed.run(&["update", "--yes"]).await;
    assert!(out.status.success() && text.contains("Up to date"), "{text}");

    let _daemon = Running(installed.spawn(&["run"]));
    wait_for("the server to see agent 99.0.0 online", SHOWS_WITHIN, || async {
        let m = installed.machine(&server, &org).await;
        (m["online"] == true && m["agent_version"] == NEXT).then_some(())
    })
    .await;
}

#[tokio::test]
async fn tampered_builds_foreign_signatures_and_broken_builds_change_nothing() {
    let (server, org, installed, next_bytes) = setup().await;
    let before = installed.bytes();
    let refused = |text: &str, why: &str, out: &Output| {
        assert!(!out.status.success(), "{text}");
        assert!(text.contains(why), "expected {why:?}: {text}");
        assert!(installed.bytes() == before, "the installed agent changed: {text}");
        assert!(installed.leftovers().is_empty(), "{:?}", installed.leftovers());
    };

    // The stored artifact is altered after publishing (same size, one byte flipped), then cut short.
    let sha = hex::encode(Sha256::digest(&next_bytes));
    let stored = server.data_dir().join("artifacts/sha256").join(&sha[..2]).join(&sha);
    let mut flipped = next_bytes.clone();
    flipped[next_bytes.len() / 2] ^= 0xff;
    std::fs::write(&stored, &flipped).expect("tamper");
    let (out, text) = installed.run(&["update", "--yes"]).await;
    refused(&text, "SHA-256", &out);
    std::fs::write(&stored, &next_bytes[..next_bytes.len() - 1]).expect("truncate");
    let (out, text) = installed.run(&["update", "--yes"]).await;
    refused(&text, "the download is not the published build", &out);
    std::fs::write(&stored, &next_bytes).expect("restore");

    // The manifest is signed with the server's key, but the agent pinned another one.
    let genuine = installed.config_text();
    let other = sessionforge_shared::signing::public_key(&ed25519_dalek::SigningKey::from_bytes(&[7; 32]));
    let pinned = genuine.lines().find(|l| l.starts_with("signing_key = ")).expect("pinned key").to_string();
    installed.set_config(&genuine.replace(&pinned, &format!("signing_key = \"{}\"", other.public_key)));
    for args in [&["update", "--yes"][..], &["update", "--check"][..]] {
        let (out, text) = installed.run(args).await;
        refused(&text, "not the pinned key", &out);
        assert!(text.contains("refusing to update"), "{text}");
    }
    installed.set_config(&genuine);

    // A newer build that cannot run here fails its self-check before anything is replaced.
    let target = installed.target().await;
    publish(&server, &org.key, "100.0.0", &target, b"#!/bin/sh\necho 'broken build' >&2\nexit 1\n".to_vec()).await;
    let (out, text) = installed.run(&["update", "--yes"]).await;
    refused(&text, "failed its self-check", &out);
    assert!(text.contains("broken build") && text.contains("nothing was changed"), "{text}");
}

#[tokio::test]
async fn a_running_relayed_session_holds_the_update_back_unless_forced() {
    let (_server, _org, installed, next_bytes) = setup().await;
    let before = installed.bytes();
    let mut wrap = Running(
        installed
            .command(&["wrap", "--", "sh", "-c", "sleep 60"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn wrap"),
    );
    let pid = wrap.0.id();
    // Wait until the wrap process lists its running session.
    wait_for("the wrapped session in the status", SHOWS_WITHIN, || async {
        let (out, _) = installed.run(&["status", "--json"]).await;
        let all: Value = serde_json::from_slice(&out.stdout).ok()?;
        let found = all.as_array()?.iter().any(|s| {
            s["pid"] == pid && s["sessions"].as_array().is_some_and(|v| v.iter().any(|x| x["running"] == true))
        });
        found.then_some(())
    })
    .await;

    let (out, text) = installed.run(&["update", "--yes"]).await;
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("relayed sessions are running"), "{text}");
    assert!(text.contains(&format!(" sh (agent wrap pid {pid})")) && text.contains("--force"), "{text}");
    assert!(installed.bytes() == before, "nothing was replaced");

    let (out, text) = installed.run(&["update", "--yes", "--force"]).await;
    assert!(out.status.success(), "{text}");
    assert!(installed.bytes() == next_bytes);
    assert!(wrap.0.try_wait().expect("try_wait").is_none(), "the running session was left alone");
}

#[tokio::test]
async fn a_running_daemon_reports_then_installs_the_update_and_restarts_into_it() {
    let (server, org, installed, next_bytes) = setup().await;
    let before = installed.bytes();
    let enrolled = installed.config_text();
    // Check every 1.8 seconds. The org's policy is `notify` by default: only report.
    installed.set_config(&format!("{enrolled}\n[update]\ncheck_interval_hours = 0.0005\n"));
    let mut daemon = Running(installed.spawn(&["run"]));
    let err = common::Output::capture(daemon.0.stderr.take().expect("stderr"));
    wait_for("the status file to show the update", SHOWS_WITHIN, || async {
        let (out, _) = installed.run(&["status", "--json"]).await;
        let all: Value = serde_json::from_slice(&out.stdout).ok()?;
        all.as_array()?.iter().any(|s| s["update_available"] == NEXT).then_some(())
    })
    .await;
    assert!(installed.bytes() == before, "the notify policy only reports: {}", err.text());
    drop(daemon);

    set_policy(&server, &org, "automatic").await;
    let mut daemon = Running(installed.spawn(&["run"]));
    let pid = daemon.0.id();
    let err = common::Output::capture(daemon.0.stderr.take().expect("stderr"));
    wait_for("the daemon to come back as version 99", SHOWS_WITHIN, || async {
        let m = installed.machine(&server, &org).await;
        (m["online"] == true && m["agent_version"] == NEXT).then_some(())
    })
    .await;
    assert!(installed.bytes() == next_bytes, "{}", err.text());
    assert!(daemon.0.try_wait().expect("try_wait").is_none(), "it restarted in place: {}", err.text());
    assert_eq!(daemon.0.id(), pid);
    assert!(err.text().contains("restarting into the new agent"), "{}", err.text());
}

#[tokio::test]
async fn a_daemon_waits_for_running_sessions_and_adopts_an_update_installed_meanwhile() {
    use std::io::Write;

    let (server, org, installed, next_bytes) = setup().await;
    set_policy(&server, &org, "automatic").await;
    let enrolled = installed.config_text();
    installed.set_config(&format!("{enrolled}\n[update]\ncheck_interval_hours = 0.0005\n"));
    // A session that ends when it reads a line.
    let mut wrap = Running(
        installed
            .command(&["wrap", "--", "sh", "-c", "read line"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn wrap"),
    );
    wait_for("the wrap process in the status", SHOWS_WITHIN, || async {
        let (out, _) = installed.run(&["status", "--json"]).await;
        let all: Value = serde_json::from_slice(&out.stdout).ok()?;
        all.as_array()?.iter().any(|s| s["mode"] == "wrap").then_some(())
    })
    .await;

    let mut daemon = Running(installed.spawn(&["run"]));
    let err = common::Output::capture(daemon.0.stderr.take().expect("stderr"));
    wait_for("the daemon to wait for the session", SHOWS_WITHIN, || {
        let waiting = err.text().contains("the update waits until the running sessions end");
        async move { waiting.then_some(()) }
    })
    .await;
    let (out, text) = installed.run(&["update", "--yes", "--force"]).await;
    assert!(out.status.success(), "{text}");
    assert!(installed.bytes() == next_bytes);

    // The session ends; the daemon finds the new build already installed and restarts into it.
    let stdin = wrap.0.stdin.as_mut().expect("wrap stdin");
    stdin.write_all(b"done\n").expect("end the session");
    stdin.flush().expect("flush");
    wait_for("the daemon to come back as version 99", SHOWS_WITHIN, || async {
        let m = installed.machine(&server, &org).await;
        (m["online"] == true && m["agent_version"] == NEXT).then_some(())
    })
    .await;
    assert!(err.text().contains("already this version"), "{}", err.text());
    assert!(daemon.0.try_wait().expect("try_wait").is_none(), "{}", err.text());
    assert!(installed.bytes() == next_bytes, "nothing else replaced it");
}
