//! Agents installable on a fresh server: a server binary with `sessionforge-agent` beside it (as
//! `cargo build --workspace` leaves them) and an `agents/` directory (as in the release bundle)
//! publishes those builds at start, so the install line's `latest` lookup answers at once, and
//! does not publish them twice.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use sessionforge_server::releases::bundled::BUILD_TARGET;
use sha2::{Digest, Sha256};

use crate::agents::agent_bin;
use crate::common::{Output, TestServer, https_client, server_bin, wait_for};

/// A target the host cannot be, to stand for a cross-built agent in the bundle.
const OTHER_TARGET: &str = "aarch64-pc-windows-msvc";

/// Starts the server binary at `bin` on `data`, publishing bundled builds (the default).
async fn launch(bin: &Path, data: Arc<tempfile::TempDir>) -> TestServer {
    let mut cmd = std::process::Command::new(bin);
    for (k, _) in std::env::vars() {
        if k.starts_with("SESSIONFORGE_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .arg("--data-dir")
        .arg(data.path())
        .args(["--listen", "127.0.0.1:0"])
        .env("SESSIONFORGE_LOG__LEVEL", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("spawn the copied server");
    let stdout = Output::capture(child.stdout.take().expect("stdout"));
    let stderr = Output::capture(child.stderr.take().expect("stderr"));
    let base = wait_for("the server's banner", Duration::from_secs(60), || {
        let found = stdout.find(|l| l.trim().strip_prefix("listening on ").map(str::to_string));
        async move { found }
    })
    .await;
    let client = https_client(data.path());
    TestServer { dir: data, child: Some(child), stdout, stderr, base, env: vec![], client }
}

#[tokio::test]
async fn agent_builds_beside_the_server_are_published_at_start() {
    let bin_dir = tempfile::tempdir().expect("tempdir");
    let server_copy = bin_dir.path().join(server_bin().file_name().expect("name"));
    std::fs::copy(server_bin(), &server_copy).expect("copy the server");
    let agent = agent_bin();
    std::fs::copy(&agent, bin_dir.path().join(agent.file_name().expect("name"))).expect("copy the agent");
    std::fs::create_dir(bin_dir.path().join("agents")).expect("mkdir agents");
    let other = b"a cross-built agent".to_vec();
    std::fs::write(bin_dir.path().join("agents").join(format!("sessionforge-agent-{OTHER_TARGET}.exe")), &other)
        .expect("write");
    std::fs::write(bin_dir.path().join("agents").join("notes.txt"), b"not an agent").expect("write");

    let data = Arc::new(tempfile::tempdir().expect("tempdir"));
    let server = launch(&server_copy, data.clone()).await;
    let version = sessionforge_server::releases::bundled::BUNDLE_VERSION.trim_start_matches('v');

    // The install scripts' lookup finds the host's build right away, with the right checksum.
    let latest =
        server.get(&format!("/api/v1/releases/latest?target={BUILD_TARGET}"), &crate::common::Auth::None).await;
    assert_eq!(latest.status(), StatusCode::OK, "{}", server.stderr.text());
    let text = latest.text().await.expect("text");
    let want_sha = hex::encode(Sha256::digest(std::fs::read(&agent).expect("read agent")));
    assert!(text.contains(&format!("version={version}\n")), "{text}");
    assert!(text.contains(&format!("sha256={want_sha}\n")), "{text}");
    let other_latest =
        server.get(&format!("/api/v1/releases/latest?target={OTHER_TARGET}"), &crate::common::Auth::None).await;
    assert!(
        other_latest.text().await.expect("text").contains(&format!("sha256={}\n", hex::encode(Sha256::digest(&other))))
    );
    assert!(server.stderr.text().contains("published a bundled agent build"), "it says what it published");

    // Listed as releases; a restart publishes nothing twice and still starts.
    let admin = server.setup_admin().await;
    let list = |s: &TestServer, a: &crate::common::Auth| {
        let (client, url, headers) = (s.client.clone(), s.url("/api/v1/releases"), a.headers());
        async move { client.get(url).headers(headers).send().await.expect("send").json::<Value>().await.expect("json") }
    };
    let releases = list(&server, &admin).await;
    let targets: Vec<&str> = releases.as_array().expect("array").iter().filter_map(|r| r["target"].as_str()).collect();
    assert_eq!(targets.len(), 2, "{releases}");
    assert!(targets.contains(&BUILD_TARGET) && targets.contains(&OTHER_TARGET), "{releases}");
    drop(server);
    let again = launch(&server_copy, data).await;
    let admin = again.login(crate::common::ADMIN_EMAIL, crate::common::ADMIN_PASSWORD).await;
    assert_eq!(list(&again, &admin).await.as_array().map(Vec::len), Some(2));
    assert!(!again.stderr.text().contains("could not publish"), "{}", again.stderr.text());
}
