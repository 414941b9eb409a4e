//! Starts a real `sessionforge-server` for a benchmark (plain HTTP on loopback, temp data dir),
//! signs in, and creates what the simulated agents need.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

pub struct Server {
    pub child: Child,
    pub base: String,
    pub key: String,
    pub org: String,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `sessionforge-server` next to this binary, unless given.
pub fn default_bin() -> PathBuf {
    std::env::current_exe()
        .ok()
        .map(|p| p.with_file_name(format!("sessionforge-server{}", std::env::consts::EXE_SUFFIX)))
        .unwrap_or_else(|| PathBuf::from("sessionforge-server"))
}

impl Server {
    pub async fn start(bin: &std::path::Path) -> Result<Server> {
        let dir = tempfile::tempdir()?;
        let mut child = Command::new(bin)
            .args(["--data-dir"])
            .arg(dir.path())
            .args(["--listen", "127.0.0.1:0", "--log-level", "warn"])
            .env("SESSIONFORGE_TLS__ENABLED", "false")
            .env("SESSIONFORGE_RATE_LIMIT__TOKENS_PER_MINUTE", "100000")
            .env("SESSIONFORGE_RELAY__RETENTION_BYTES_PER_SESSION", "16777216")
            // Every simulated client comes from loopback: the per-address cap (meant for the
            // internet) would refuse the 1,000-idle scenarios.
            .env("SESSIONFORGE_CONNECTIONS__MAX_PER_IP", "20000")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdout = child.stdout.take().context("stdout")?;
        let (mut base, mut token) = (None, None);
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            if let Some(url) = line.trim().strip_prefix("listening on ") {
                base = Some(url.to_string());
            }
            if let Some((_, t)) = line.split_once("setup?token=") {
                token = Some(t.trim().to_string());
                break;
            }
        }
        let (Some(base), Some(token)) = (base, token) else { bail!("the server did not print its banner") };
        let http = reqwest::Client::builder().build()?;
        let resp = http
            .post(format!("{base}/api/v1/setup"))
            .json(&json!({"token": token, "email": "bench@example.com", "password": "benchmark password"}))
            .send()
            .await?;
        let cookie = resp
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|c| c.split(';').next())
            .context("cookie")?
            .to_string();
        let body: Value = resp.json().await?;
        let csrf = body["csrf_token"].as_str().context("csrf")?.to_string();
        let key: Value = http
            .post(format!("{base}/api/v1/api-keys"))
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .json(&json!({"name": "bench", "scopes": ["admin"]}))
            .send()
            .await?
            .json()
            .await?;
        let key = key["key"].as_str().context("key")?.to_string();
        let orgs: Value = http.get(format!("{base}/api/v1/orgs")).bearer_auth(&key).send().await?.json().await?;
        let org = orgs[0]["id"].as_str().context("org")?.to_string();
        Ok(Server { child, base, key, org, http, _dir: dir })
    }

    /// The server's relay latency histogram (`le` bound in seconds → cumulative count), read
    /// from `/metrics` (loopback clients need no token).
    pub async fn relay_latency(&self) -> Result<Vec<(f64, u64)>> {
        let text = self.http.get(format!("{}/metrics", self.base)).send().await?.error_for_status()?.text().await?;
        let mut buckets = Vec::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("sessionforge_relay_output_latency_seconds_bucket{le=\"") else {
                continue;
            };
            let Some((le, count)) = rest.split_once("\"} ") else { continue };
            let le = if le == "+Inf" { f64::INFINITY } else { le.parse()? };
            buckets.push((le, count.trim().parse()?));
        }
        Ok(buckets)
    }

    /// Enrolls one machine and returns its credential.
    pub async fn enroll(&self) -> Result<String> {
        let token: Value = self
            .http
            .post(format!("{}/api/v1/orgs/{}/enrollment-tokens", self.base, self.org))
            .bearer_auth(&self.key)
            .json(&json!({}))
            .send()
            .await?
            .json()
            .await?;
        let token = token["token"].as_str().context("token")?;
        let machine = json!({"hostname": "loadgen", "os": "linux", "os_version": "", "arch": "x86_64",
                             "cpus": 1, "memory_bytes": 1, "agent_version": "loadgen"});
        let enrolled: Value = self
            .http
            .post(format!("{}/api/v1/agent/enroll", self.base))
            .json(&json!({"token": token, "machine": machine}))
            .send()
            .await?
            .json()
            .await?;
        Ok(enrolled["credential"].as_str().context("credential")?.to_string())
    }

    /// Resident set size of the server process, in bytes.
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    }
}

/// Raises this process's open-file limit as far as allowed (children inherit it).
pub fn raise_fd_limit() -> u64 {
    #[cfg(unix)]
    {
        use nix::sys::resource::{Resource, getrlimit, setrlimit};
        if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
            return hard;
        }
    }
    0
}

/// CPU seconds (user + system) a process has used so far.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of /proc/PID/stat, i.e. 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}
