//! Helpers for end-to-end tests with real `sessionforge-agent` processes and a viewer socket.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sessionforge_shared::frame;
use sessionforge_shared::protocol::ViewerEvent;
use tempfile::TempDir;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::{Auth, Output, TestServer, wait_for};

/// The agent binary, built next to the server (scripts/test.sh builds every binary first).
pub fn agent_bin() -> PathBuf {
    let server = PathBuf::from(env!("CARGO_BIN_EXE_sessionforge-server"));
    let agent = server.with_file_name(format!("sessionforge-agent{}", std::env::consts::EXE_SUFFIX));
    assert!(agent.is_file(), "{} is missing: run `cargo build --workspace --bins` first", agent.display());
    agent
}

/// An org with an admin session and an admin API key.
pub struct Org {
    pub id: String,
    pub admin: Auth,
    pub key: Auth,
}

pub async fn admin_org(server: &TestServer) -> Org {
    let admin = server.setup_admin().await;
    let key = server.api_key(&admin, &["admin"]).await;
    let me: Value = server.get("/api/v1/auth/me", &admin).await.json().await.expect("json");
    Org { id: me["orgs"][0]["id"].as_str().expect("org").to_string(), admin, key }
}

/// A fresh one-time enrollment token for the org.
pub async fn enrollment_token(server: &TestServer, org: &Org) -> String {
    let resp = server.post(&format!("/api/v1/orgs/{}/enrollment-tokens", org.id), &org.key, json!({})).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let body: Value = resp.json().await.expect("json");
    body["token"].as_str().expect("token").to_string()
}

/// One agent installation: its own config dir, enrolled with a server.
pub struct TestAgent {
    pub dir: Arc<TempDir>,
    pub machine_id: String,
    pub daemon: Option<Child>,
    pub daemon_err: Option<Output>,
    /// Extra environment for the agent's `run` and `wrap` processes (settings).
    pub env: Vec<(String, String)>,
}

impl TestAgent {
    fn command(dir: &std::path::Path) -> Command {
        let mut cmd = Command::new(agent_bin());
        for (k, _) in std::env::vars() {
            if k.starts_with("SESSIONFORGE_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("SESSIONFORGE_CONFIG_DIR", dir)
            .env("SESSIONFORGE_CREDENTIAL_STORE", "file")
            .env("SESSIONFORGE_DISCOVERY_INTERVAL_SECS", "1")
            .env("SESSIONFORGE_LOG", "sessionforge_agent=debug,info");
        cmd
    }

    /// Enrolls a new agent with the org (through the real `enroll` command).
    pub async fn enroll(server: &TestServer, org: &Org) -> TestAgent {
        let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
        let token = enrollment_token(server, org).await;
        let out = Self::command(dir.path())
            .args(["enroll", "--server", &server.base, "--token", &token, "--fingerprint", &server.fingerprint()])
            .output()
            .expect("run enroll");
        assert!(out.status.success(), "enroll failed: {}", String::from_utf8_lossy(&out.stderr));
        let config = std::fs::read_to_string(dir.path().join("agent.toml")).expect("agent.toml");
        let machine_id = config
            .lines()
            .find_map(|l| l.strip_prefix("machine_id = \"").map(|r| r.trim_end_matches('"').to_string()))
            .expect("machine_id in agent.toml");
        TestAgent { dir, machine_id, daemon: None, daemon_err: None, env: Vec::new() }
    }

    /// Starts `sessionforge-agent run` and waits until the server lists the machine online.
    pub async fn run(&mut self, server: &TestServer, org: &Org) {
        let mut child = Self::command(self.dir.path())
            .envs(self.env.iter().cloned())
            .arg("run")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn agent run");
        self.daemon_err = Some(Output::capture(child.stderr.take().expect("stderr")));
        self.daemon = Some(child);
        self.wait_online(server, org, true).await;
    }

    pub async fn wait_online(&self, server: &TestServer, org: &Org, online: bool) {
        let path = format!("/api/v1/orgs/{}/machines/{}", org.id, self.machine_id);
        wait_for("the machine's online state", Duration::from_secs(30), || async {
            let m: Value = server.get(&path, &org.key).await.json().await.ok()?;
            (m["online"] == online).then_some(())
        })
        .await;
    }

    /// Starts `sessionforge-agent wrap -- <cmd>`. Its stdin stays open (a pipe nobody writes
    /// to); its stdout (the "local terminal") is collected as raw bytes.
    pub fn wrap(&self, cmd: &[&str]) -> Wrapped {
        let mut child = Self::command(self.dir.path())
            .envs(self.env.iter().cloned())
            .arg("wrap")
            .arg("--")
            .args(cmd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn agent wrap");
        let stdout = RawOutput::capture(child.stdout.take().expect("stdout"));
        let stderr = Output::capture(child.stderr.take().expect("stderr"));
        Wrapped { child, stdout, stderr }
    }

    pub fn stop_daemon(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for TestAgent {
    fn drop(&mut self) {
        self.stop_daemon();
    }
}

/// A running `wrap` process.
pub struct Wrapped {
    pub child: Child,
    pub stdout: RawOutput,
    pub stderr: Output,
}

impl Wrapped {
    pub async fn wait(&mut self) -> std::process::ExitStatus {
        let child = &mut self.child;
        wait_for("the wrapped command to exit", Duration::from_secs(60), || {
            let s = child.try_wait().expect("try_wait");
            async move { s }
        })
        .await
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Wrapped {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Bytes a child process wrote, collected by a reader thread.
#[derive(Clone, Default)]
pub struct RawOutput {
    buf: Arc<std::sync::Mutex<Vec<u8>>>,
    closed: Arc<std::sync::atomic::AtomicBool>,
}

impl RawOutput {
    pub fn capture(mut stream: impl std::io::Read + Send + 'static) -> Self {
        let out = RawOutput::default();
        let (buf, closed) = (out.buf.clone(), out.closed.clone());
        std::thread::spawn(move || {
            let mut chunk = [0u8; 65536];
            while let Ok(n) = stream.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                buf.lock().expect("lock").extend_from_slice(&chunk[..n]);
            }
            closed.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        out
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.buf.lock().expect("lock").clone()
    }

    /// Whether the stream ended (every byte is in).
    pub fn closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The first session of the machine matching `pred`, once the server lists it.
pub async fn find_session(server: &TestServer, org: &Org, machine: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let path = format!("/api/v1/orgs/{}/sessions?machine_id={machine}", org.id);
    wait_for("the session to be listed", Duration::from_secs(30), || async {
        let list: Value = server.get(&path, &org.key).await.json().await.ok()?;
        list.as_array()?.iter().find(|s| pred(s)).cloned()
    })
    .await
}

/// Waits until the session satisfies `pred` and returns it.
pub async fn wait_session(server: &TestServer, org: &Org, id: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let path = format!("/api/v1/orgs/{}/sessions/{id}", org.id);
    wait_for("the session state", Duration::from_secs(30), || async {
        let s: Value = server.get(&path, &org.key).await.json().await.ok()?;
        pred(&s).then_some(s)
    })
    .await
}

/// A TLS client configuration that trusts only the server's generated certificate.
pub fn server_tls(server: &TestServer) -> Arc<rustls::ClientConfig> {
    use rustls_pki_types::pem::PemObject;
    let pem = std::fs::read(server.data_dir().join("tls/cert.pem")).expect("cert");
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.expect("pem")).expect("root");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// A viewer on a session's attach socket.
pub struct Viewer {
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    /// Output bytes received, in offset order; `pos` is the offset after the last one.
    pub data: Vec<u8>,
    pub pos: u64,
    pub events: Vec<ViewerEvent>,
}

impl Viewer {
    /// Attaches from `from`; fails the test if the upgrade is refused.
    pub async fn attach(server: &TestServer, org: &str, session: &str, from: u64, auth: &Auth) -> Viewer {
        Self::try_attach(server, org, session, from, auth)
            .await
            .unwrap_or_else(|status| panic!("attach refused: {status}"))
    }

    /// Attaches, or returns the HTTP status the server refused the upgrade with.
    pub async fn try_attach(
        server: &TestServer,
        org: &str,
        session: &str,
        from: u64,
        auth: &Auth,
    ) -> Result<Viewer, u16> {
        let url = format!(
            "{}/api/v1/orgs/{org}/sessions/{session}/attach?from={from}",
            server.base.replacen("https://", "wss://", 1)
        );
        let mut req = url.into_client_request().expect("request");
        for (k, v) in auth.headers().iter() {
            req.headers_mut().insert(k, v.clone());
        }
        let connector = tokio_tungstenite::Connector::Rustls(server_tls(server));
        match tokio_tungstenite::connect_async_tls_with_config(req, None, false, Some(connector)).await {
            Ok((ws, _)) => Ok(Viewer { ws, data: Vec::new(), pos: from, events: Vec::new() }),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
            Err(e) => panic!("attach failed: {e}"),
        }
    }

    /// Reads one message; output frames must continue exactly where the last one ended.
    async fn read_one(&mut self) -> Option<()> {
        match self.ws.next().await? {
            Ok(Message::Binary(b)) => {
                let f = frame::decode(&b).expect("valid frame");
                assert_eq!(f.offset, self.pos, "output must arrive in order, without duplicates or holes");
                self.data.extend_from_slice(f.data);
                self.pos = f.end();
            }
            Ok(Message::Text(t)) => {
                let ev: ViewerEvent = serde_json::from_str(&t).expect("viewer event");
                match &ev {
                    ViewerEvent::Attached { from, .. } => self.pos = *from,
                    ViewerEvent::Gap { offset, length } => {
                        assert_eq!(*offset, self.pos, "a gap must start where output stopped");
                        self.pos = offset + length;
                    }
                    _ => {}
                }
                self.events.push(ev);
            }
            Ok(_) => {}
            Err(_) => return None,
        }
        Some(())
    }

    /// Reads until `pred` holds, or panics after `timeout`. Returns false if the socket closed.
    pub async fn read_until(&mut self, timeout: Duration, pred: impl Fn(&Viewer) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while !pred(self) {
            match tokio::time::timeout_at(deadline, self.read_one()).await {
                Ok(Some(())) => {}
                Ok(None) => return false,
                Err(_) => panic!(
                    "viewer timed out; got {} bytes: {:?}; events {:?}",
                    self.data.len(),
                    String::from_utf8_lossy(&self.data[self.data.len().saturating_sub(200)..]),
                    self.events
                ),
            }
        }
        true
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }

    pub fn exited(&self) -> Option<Option<i32>> {
        self.events.iter().find_map(|e| match e {
            ViewerEvent::State { state, exit_code } if !state.is_live() => Some(*exit_code),
            _ => None,
        })
    }

    pub async fn send(&mut self, msg: Value) {
        self.ws.send(Message::Text(msg.to_string().into())).await.expect("send");
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.ws.send(Message::Binary(bytes.into())).await.expect("send");
    }
}
