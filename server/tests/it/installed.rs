//! An installed agent for the update tests: a copy of the agent binary (so that the workspace's
//! binary is never replaced) enrolled with a TestServer, the "version 99" build it updates to,
//! and helpers to publish builds and set the org's update policy.
//!
//! The version 99 build is `sessionforge-agent-next` next to the agent binary (scripts/test.sh
//! builds it); when it is missing the first test builds it into a nested target dir.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tempfile::TempDir;

use crate::agents::{Org, TestAgent, admin_org, agent_bin};
use crate::common::{Auth, TestServer};

/// The version the "next" build is stamped with.
pub const NEXT: &str = "99.0.0";
/// How long one agent command may take (an update downloads and runs two self-checks).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a server-side change may take to show.
pub const SHOWS_WITHIN: Duration = Duration::from_secs(60);

/// The version 99 agent: `sessionforge-agent-next` next to the agent binary, built (into a
/// nested target dir, so that it never waits on the main one's lock) when missing.
pub fn next_agent_bin() -> PathBuf {
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
pub fn reported_version(exe: &Path) -> Option<String> {
    let out = Command::new(exe).arg("--version").output().ok()?;
    String::from_utf8_lossy(&out.stdout).split_whitespace().nth(1).map(str::to_string)
}

/// An agent installed from a copy of the agent binary, using an enrolled agent's config dir.
pub struct Installed {
    _bin_dir: TempDir,
    exe: PathBuf,
    config: Arc<TempDir>,
    machine_id: String,
    /// Kept for its config dir (and stops nothing: it runs no daemon).
    _enrolled: TestAgent,
}

impl Installed {
    pub async fn enroll(server: &TestServer, org: &Org) -> Installed {
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

    /// Its config and state dir.
    pub fn config_dir(&self) -> &Path {
        self.config.path()
    }

    pub fn command(&self, args: &[&str]) -> Command {
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
    pub async fn run(&self, args: &[&str]) -> (Output, String) {
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

    pub fn bytes(&self) -> Vec<u8> {
        std::fs::read(&self.exe).expect("read the installed agent")
    }

    pub fn version(&self) -> String {
        reported_version(&self.exe).expect("--version")
    }

    /// The target this build is for, from its self-check.
    pub async fn target(&self) -> String {
        let (out, text) = self.run(&["self-check"]).await;
        assert!(out.status.success(), "{text}");
        String::from_utf8_lossy(&out.stdout).split_whitespace().nth(2).expect("target").to_string()
    }

    /// Files next to the executable other than itself (leftover downloads or backups).
    pub fn leftovers(&self) -> Vec<String> {
        let dir = self.exe.parent().expect("bin dir");
        std::fs::read_dir(dir)
            .expect("read_dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| Some(n.as_str()) != self.exe.file_name().and_then(|f| f.to_str()))
            .collect()
    }

    pub fn config_text(&self) -> String {
        std::fs::read_to_string(self.config.path().join("agent.toml")).expect("agent.toml")
    }

    pub fn set_config(&self, text: &str) {
        std::fs::write(self.config.path().join("agent.toml"), text).expect("write agent.toml")
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawn the installed agent")
    }

    pub async fn machine(&self, server: &TestServer, org: &Org) -> Value {
        let path = format!("/api/v1/orgs/{}/machines/{}", org.id, self.machine_id);
        server.get(&path, &org.key).await.json().await.expect("machine json")
    }
}

/// Publishes `body` as `version` for `target` on the stable channel.
pub async fn publish(server: &TestServer, key: &Auth, version: &str, target: &str, body: Vec<u8>) {
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

/// Sets the org's agent update policy (`off`, `notify`, `automatic`).
pub async fn set_policy(server: &TestServer, org: &Org, policy: &str) {
    let path = format!("/api/v1/orgs/{}/update-policy", org.id);
    let resp = server.request(reqwest::Method::PUT, &path, &org.key, Some(serde_json::json!({"policy": policy}))).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

/// A server with an admin org, an installed v1 agent enrolled with it, and v99 published.
pub async fn setup() -> (TestServer, Org, Installed, Vec<u8>) {
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
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
