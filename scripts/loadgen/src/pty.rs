//! The `pty` scenario: one session through a real agent and its PTY. Measures the PTY's own
//! rate (`script -qc 'cat FILE'`), then `sessionforge-agent wrap -- cat FILE` with a viewer
//! attached from the start, optionally while another process keeps a core busy; reports the
//! viewer's MB/s against the PTY's, lost bytes and gaps, and the server's RSS before, after the
//! stream and once the viewer is gone.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::StreamExt;
use serde_json::{Value, json};
use sessionforge_shared::frame;
use sessionforge_shared::ids::SessionId;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;

use crate::server::Server;
use crate::sim;

/// Bytes of one numbered line (with its newline).
const LINE: usize = 43;

/// The agent binary next to this one.
fn agent_bin() -> PathBuf {
    let me = std::env::current_exe().unwrap_or_default();
    me.with_file_name(format!("sessionforge-agent{}", std::env::consts::EXE_SUFFIX))
}

/// A process keeping one core busy, killed (with its process group) on drop.
struct CpuHog(Child);

impl CpuHog {
    fn start() -> Result<Self> {
        let mut cmd = Command::new("timeout");
        cmd.args(["900", "sh", "-c", "while :; do :; done"]).stdout(Stdio::null()).kill_on_drop(true);
        // Its own process group, so that the whole group (the shell too) is killed on drop.
        #[cfg(unix)]
        cmd.process_group(0);
        let child = cmd.spawn().context("starting the CPU hog")?;
        Ok(CpuHog(child))
    }
}

impl Drop for CpuHog {
    fn drop(&mut self) {
        if let Some(pid) = self.0.id() {
            let _ = std::process::Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).status();
        }
    }
}

pub async fn run(srv: &Server, mb: u64, hog: bool) -> Result<Value> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("numbered.txt");
    let lines = mb * 1_000_000 / LINE as u64;
    {
        use std::io::Write;
        let mut w = std::io::BufWriter::new(std::fs::File::create(&file)?);
        for i in 1..=lines {
            writeln!(w, "line-{i:09}-abcdefghijklmnopqrstuvwxyz")?;
        }
        w.flush()?;
    }
    // A PTY may show every `\n` as `\r\n`: count lines, not bytes.
    let expected = lines * LINE as u64;
    let _hog = if hog { Some(CpuHog::start()?) } else { None };

    let started = Instant::now();
    let status = Command::new("script")
        .args(["-qc", &format!("cat '{}'", file.display()), "/dev/null"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .await
        .context("running script(1)")?;
    let pty_secs = started.elapsed().as_secs_f64();
    if !status.success() {
        bail!("script -qc cat failed: {status}");
    }

    let agent_dir = dir.path().join("agent");
    enroll(srv, &agent_dir).await?;
    let rss_idle = srv.rss();
    let started = Instant::now();
    let mut wrap = agent(&agent_dir)
        .args(["wrap", "--", "cat"])
        .arg(&file)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting sessionforge-agent wrap")?;
    let session = find_session(srv).await?;
    let mut ws = sim::viewer(&srv.base, &srv.org, session, &srv.key).await?;
    let (mut received, mut newlines, mut gaps, mut exited) = (0u64, 0u64, 0u64, false);
    // Output and the exit arrive in order: once exited, everything has been seen.
    while !exited {
        let msg = match tokio::time::timeout(Duration::from_secs(120), ws.next()).await {
            Ok(Some(m)) => m?,
            Ok(None) => bail!("the viewer was disconnected after {received} bytes"),
            Err(_) => bail!("no output for 120 s after {received} bytes"),
        };
        match msg {
            Message::Binary(b) => {
                let data = frame::decode(&b)?.data;
                received += data.len() as u64;
                newlines += data.iter().filter(|c| **c == b'\n').count() as u64;
            }
            Message::Text(t) => {
                let ev: Value = serde_json::from_str(&t)?;
                match ev["type"].as_str() {
                    Some("gap") => gaps += 1,
                    Some("state") if ev["state"] == "exited" => exited = true,
                    _ => {}
                }
            }
            _ => {}
        }
    }
    let relay_secs = started.elapsed().as_secs_f64();
    let rss_after_stream = srv.rss();
    drop(ws);
    let _ = wrap.wait().await;
    // The server gives memory back lazily; read it again once things settled.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let rss_after_close = srv.rss();
    let mib = |b: u64| (b as f64 / 1_048_576.0 * 10.0).round() / 10.0;
    let pty_mbps = expected as f64 / pty_secs / 1e6;
    // Both rates count the file's bytes (what the program wrote), whatever the PTY turned them into.
    let viewer_mbps = expected as f64 / relay_secs / 1e6;
    Ok(json!({
        "bytes": expected,
        "lines": lines,
        "cpu_hog": hog,
        "pty_mb_per_sec": (pty_mbps * 10.0).round() / 10.0,
        "viewer_mb_per_sec": (viewer_mbps * 10.0).round() / 10.0,
        "viewer_share_of_pty": (viewer_mbps / pty_mbps * 1000.0).round() / 1000.0,
        "lost_lines": lines.saturating_sub(newlines),
        "gaps": gaps,
        "server_rss_mib_idle": mib(rss_idle),
        "server_rss_mib_after_stream": mib(rss_after_stream),
        "server_rss_mib_10s_after_close": mib(rss_after_close),
    }))
}

fn agent(config_dir: &Path) -> Command {
    let mut cmd = Command::new(agent_bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("SESSIONFORGE_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("SESSIONFORGE_CONFIG_DIR", config_dir).env("SESSIONFORGE_CREDENTIAL_STORE", "file");
    cmd
}

async fn enroll(srv: &Server, config_dir: &Path) -> Result<()> {
    let token: Value = srv
        .http
        .post(format!("{}/api/v1/orgs/{}/enrollment-tokens", srv.base, srv.org))
        .bearer_auth(&srv.key)
        .json(&json!({}))
        .send()
        .await?
        .json()
        .await?;
    let token = token["token"].as_str().context("enrollment token")?;
    let out = agent(config_dir)
        .args(["enroll", "--server", &srv.base, "--token", token])
        .output()
        .await
        .context("running sessionforge-agent enroll")?;
    if !out.status.success() {
        bail!("enroll failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

async fn find_session(srv: &Server) -> Result<SessionId> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let list: Value = srv
            .http
            .get(format!("{}/api/v1/orgs/{}/sessions", srv.base, srv.org))
            .bearer_auth(&srv.key)
            .send()
            .await?
            .json()
            .await?;
        if let Some(id) = list.as_array().and_then(|l| l.iter().find_map(|s| s["id"].as_str())) {
            return id.parse().context("session id");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("the wrapped session was not listed within 30 s")
}
