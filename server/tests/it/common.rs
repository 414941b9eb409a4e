//! `TestServer`: the real `sessionforge-server` binary on 127.0.0.1:0 with a temp data dir,
//! reached over HTTPS with its own generated certificate as the only trusted root. Killed on Drop.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;

/// How long a server may take to print its banner.
const START_TIMEOUT: Duration = Duration::from_secs(30);

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

pub fn server_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sessionforge-server"))
}

/// Polls `cond` every 20 ms until it returns `Some`, or panics after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut cond: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = cond().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Lines a child process has written, collected by a reader thread.
#[derive(Clone, Default)]
pub struct Output(Arc<Mutex<Vec<String>>>);

impl Output {
    pub fn capture(stream: impl std::io::Read + Send + 'static) -> Self {
        let out = Output::default();
        let lines = out.0.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                lines.lock().expect("lock").push(line);
            }
        });
        out
    }

    pub fn text(&self) -> String {
        self.0.lock().expect("lock").join("\n")
    }

    pub fn find(&self, f: impl Fn(&str) -> Option<String>) -> Option<String> {
        self.0.lock().expect("lock").iter().find_map(|l| f(l))
    }
}

pub struct TestServer {
    pub dir: Arc<TempDir>,
    pub child: Option<Child>,
    pub stdout: Output,
    pub stderr: Output,
    pub base: String,
    pub env: Vec<(String, String)>,
    pub client: Client,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Starts with extra `SESSIONFORGE_*` environment variables.
    pub async fn start_with(env: &[(&str, &str)]) -> Self {
        let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Self::launch(dir, env).await
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Spawns the binary on `dir` and waits for its banner.
    pub async fn launch(dir: Arc<TempDir>, env: Vec<(String, String)>) -> Self {
        Self::launch_on(dir, env, "127.0.0.1:0").await
    }

    /// Like `launch`, listening on `listen`.
    pub async fn launch_on(dir: Arc<TempDir>, env: Vec<(String, String)>, listen: &str) -> Self {
        let mut child = spawn(dir.path(), &env, &["--listen", listen]);
        let stdout = Output::capture(child.stdout.take().expect("stdout"));
        let stderr = Output::capture(child.stderr.take().expect("stderr"));
        let base = wait_for("the server's banner", START_TIMEOUT, || {
            let found = stdout.find(|l| l.trim().strip_prefix("listening on ").map(str::to_string));
            if found.is_none()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("server exited with {status} before listening:\n{}", stderr.text());
            }
            async move { found }
        })
        .await;
        let client = https_client(dir.path());
        Self { dir, child: Some(child), stdout, stderr, base, env, client }
    }

    /// Stops the process (SIGKILL) and starts a new one on the same data dir.
    pub async fn restart(mut self) -> Self {
        self.kill();
        let dir = self.dir.clone();
        let env = std::mem::take(&mut self.env);
        Self::launch(dir, env).await
    }

    /// Kills the process with SIGKILL (no chance to clean up) and starts a new one on the same
    /// data dir and port, so that agents find it again.
    pub async fn crash_and_restart(mut self) -> Self {
        self.kill();
        let port = self.port();
        let dir = self.dir.clone();
        let env = std::mem::take(&mut self.env);
        Self::launch_on(dir, env, &format!("127.0.0.1:{port}")).await
    }

    pub fn port(&self) -> u16 {
        self.base.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port in base URL")
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends SIGTERM (the way service managers stop the server).
    #[cfg(unix)]
    pub fn sigterm(&self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.pid()).expect("pid"));
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    }

    /// Waits for the process to exit by itself.
    pub async fn wait_exit(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        wait_for("the server to exit", Duration::from_secs(20), || {
            let status = child.try_wait().expect("try_wait");
            async move { status }
        })
        .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The TLS certificate's SHA-256 fingerprint from the banner (what a person compares).
    pub fn fingerprint(&self) -> String {
        let text = self.stdout.text();
        let mut lines = text.lines();
        lines.find(|l| l.contains("TLS certificate SHA-256 fingerprint"));
        lines.next().map(|l| l.trim().to_string()).expect("fingerprint in the banner")
    }

    /// The setup token from the banner.
    pub fn setup_token(&self) -> Option<String> {
        self.stdout.find(|l| l.split_once("setup?token=").map(|(_, t)| t.trim().to_string()))
    }

    /// The setup token, waiting for it: the banner's lines are read by another thread, so
    /// "listening on" may be in before the setup link that follows it.
    pub async fn wait_setup_token(&self) -> String {
        wait_for("the setup token in the banner", Duration::from_secs(10), || async { self.setup_token() }).await
    }

    pub async fn request(&self, method: Method, path: &str, auth: &Auth, body: Option<Value>) -> Response {
        let mut req = self.client.request(method, self.url(path)).headers(auth.headers());
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request")
    }

    pub async fn get(&self, path: &str, auth: &Auth) -> Response {
        self.request(Method::GET, path, auth, None).await
    }

    pub async fn post(&self, path: &str, auth: &Auth, body: Value) -> Response {
        self.request(Method::POST, path, auth, Some(body)).await
    }

    /// Completes first-run setup as the admin and returns the signed-in browser session.
    pub async fn setup_admin(&self) -> Auth {
        let token = self.wait_setup_token().await;
        let resp = self
            .post(
                "/api/v1/setup",
                &Auth::None,
                json!({"token": token, "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::CREATED, "setup failed");
        Auth::from_sign_in(resp).await
    }

    /// Signs in through the API.
    pub async fn login(&self, email: &str, password: &str) -> Auth {
        let resp = self.post("/api/v1/auth/login", &Auth::None, json!({"email": email, "password": password})).await;
        assert_eq!(resp.status(), StatusCode::OK, "login as {email} failed");
        Auth::from_sign_in(resp).await
    }

    /// Creates an account through the admin API and signs it in.
    pub async fn create_user(&self, admin: &Auth, email: &str) -> Auth {
        let resp = self
            .post(
                "/api/v1/admin/users",
                admin,
                json!({"email": email, "password": ADMIN_PASSWORD, "display_name": email}),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::CREATED, "creating {email}");
        self.login(email, ADMIN_PASSWORD).await
    }

    /// Invites `email` into `org` with `role` (as `admin`) and accepts as `member` (that
    /// address's account), through the invitation link the API returns once.
    pub async fn add_member(&self, admin: &Auth, org: &str, member: &Auth, email: &str, role: &str) {
        let resp =
            self.post(&format!("/api/v1/orgs/{org}/invitations"), admin, json!({"email": email, "role": role})).await;
        assert_eq!(resp.status(), StatusCode::CREATED, "inviting {email}");
        let body: Value = resp.json().await.expect("json");
        let url = body["accept_url"].as_str().expect("accept_url");
        let token = url.split_once("#token=").expect("a token in the link").1;
        let accept = self.post("/api/v1/invitations/accept", member, json!({"token": token})).await;
        assert_eq!(accept.status(), StatusCode::OK, "{email} accepting");
    }

    /// Creates an API key with the given scopes and returns it.
    pub async fn api_key(&self, auth: &Auth, scopes: &[&str]) -> Auth {
        let resp = self.post("/api/v1/api-keys", auth, json!({"name": "test key", "scopes": scopes})).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let body: Value = resp.json().await.expect("json");
        Auth::Key(body["key"].as_str().expect("key").to_string())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn spawn(dir: &Path, env: &[(String, String)], extra_args: &[&str]) -> Child {
    let mut cmd = Command::new(server_bin());
    cmd.arg("--data-dir").arg(dir).args(extra_args);
    for (k, _) in std::env::vars() {
        if k.starts_with("SESSIONFORGE_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("SESSIONFORGE_LOG__LEVEL", "info");
    // The debug agent beside the test binary would be published at every start: only the tests
    // of that feature (bundled.rs) want it.
    cmd.env("SESSIONFORGE_RELEASES__PUBLISH_BUNDLED_AGENTS", "false");
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null());
    cmd.spawn().expect("spawn sessionforge-server")
}

/// A reqwest client that trusts only the server's generated certificate (a plain one when the
/// server runs without TLS and generated none).
pub fn https_client(data_dir: &Path) -> Client {
    let Ok(pem) = std::fs::read(data_dir.join("tls/cert.pem")) else {
        return Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
    };
    let cert = reqwest::Certificate::from_pem(&pem).expect("pem");
    Client::builder()
        .add_root_certificate(cert)
        .tls_built_in_root_certs(false)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// How a test request authenticates.
#[derive(Clone, Debug)]
pub enum Auth {
    None,
    /// A browser sign-in: the cookie value and the CSRF token.
    Session {
        cookie: String,
        csrf: String,
    },
    /// A browser sign-in that does not send its CSRF token.
    SessionNoCsrf {
        cookie: String,
    },
    Key(String),
}

impl Auth {
    pub async fn from_sign_in(resp: Response) -> Self {
        let cookie = session_cookie(resp.headers()).expect("Set-Cookie with sf_session");
        let body: Value = resp.json().await.expect("json");
        let csrf = body["csrf_token"].as_str().expect("csrf_token").to_string();
        Auth::Session { cookie, csrf }
    }

    pub fn without_csrf(&self) -> Self {
        match self {
            Auth::Session { cookie, .. } => Auth::SessionNoCsrf { cookie: cookie.clone() },
            other => other.clone(),
        }
    }

    pub fn headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        let val = |s: &str| HeaderValue::from_str(s).expect("header value");
        match self {
            Auth::None => {}
            Auth::Session { cookie, csrf } => {
                h.insert("cookie", val(&format!("sf_session={cookie}")));
                h.insert("x-csrf-token", val(csrf));
            }
            Auth::SessionNoCsrf { cookie } => {
                h.insert("cookie", val(&format!("sf_session={cookie}")));
            }
            Auth::Key(k) => {
                h.insert("authorization", val(&format!("Bearer {k}")));
            }
        }
        h
    }
}

/// The `sf_session` value from a `Set-Cookie` header, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("sf_session=").map(|rest| rest.split(';').next().unwrap_or("").to_string()))
}

/// Asserts a JSON error response and returns its code.
pub async fn error_code(resp: Response, status: StatusCode) -> String {
    assert_eq!(resp.status(), status, "unexpected status");
    let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert!(ct.starts_with("application/json"), "error content-type was {ct:?}");
    let body: Value = resp.json().await.expect("json error body");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "error without message: {body}");
    body["code"].as_str().expect("code").to_string()
}
