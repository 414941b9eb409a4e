//! Release trust: manifests signed with a key that never lives on the server (keygen and sign
//! run off the server; the server checks and stores what was signed), agents that pin keys and
//! refuse expired or replayed manifests, yanked and damaged releases that are gone even through
//! a live link, and `release verify` finding damage.

use std::process::Command;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Auth, TestServer, error_code, server_bin};
use crate::installed::{Installed, NEXT, next_agent_bin, publish};

/// Runs a `sessionforge-server` subcommand; returns (success, stdout + stderr).
fn cli(args: &[&str]) -> (bool, String) {
    cli_with(args, &[])
}

/// Like [`cli`], with settings in the environment (as the server has them).
fn cli_with(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let out = Command::new(server_bin())
        .args(args)
        .env_remove("SESSIONFORGE_CONFIG")
        .envs(env.iter().copied())
        .output()
        .expect("run");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[tokio::test]
async fn offline_signed_manifests_are_checked_stored_served_and_followed_by_agents() {
    let keys = tempfile::tempdir().expect("keys");
    let key_file = keys.path().join("release.key");
    let (ok, said) = cli(&["release", "keygen", "-o", key_file.to_str().expect("utf8")]);
    assert!(ok, "{said}");
    let public = said.lines().find_map(|l| l.strip_prefix("public key ")).expect("public key").trim().to_string();
    let key_id = said.lines().find_map(|l| l.strip_prefix("key id     ")).expect("key id").trim().to_string();
    let (ok, said) = cli(&["release", "keygen", "-o", key_file.to_str().expect("utf8")]);
    assert!(!ok && said.contains("refusing to overwrite"), "{said}");

    let trusted = format!("[\"{public}\"]");
    let offline =
        [("SESSIONFORGE_RELEASES__SIGNING", "offline"), ("SESSIONFORGE_RELEASES__TRUSTED_KEYS", trusted.as_str())];
    let server = TestServer::start_with(&offline).await;
    let org = crate::agents::admin_org(&server).await;
    let published: Vec<Value> =
        server.get("/api/v1/releases/signing-keys", &Auth::None).await.json().await.expect("keys");
    assert_eq!(published.len(), 1);
    assert_eq!(published[0]["key_id"], key_id.as_str(), "agents pin the offline key, not the server's");

    let installed = Installed::enroll(&server, &org).await;
    let target = installed.target().await;
    let next = std::fs::read(next_agent_bin()).expect("version 99");
    publish(&server, &org.key, NEXT, &target, next.clone()).await;
    let missing = server.get("/api/v1/releases/manifest/stable", &Auth::None).await;
    assert_eq!(error_code(missing, StatusCode::NOT_FOUND).await, "NOT_FOUND", "nothing signed yet");

    // The release manager: export on the server, sign off it, upload on the server.
    let d = server.data_dir().to_str().expect("utf8").to_string();
    let unsigned = keys.path().join("stable.json");
    let signed = keys.path().join("stable.signed.json");
    let (ok, said) =
        cli(&["release", "manifest", "--data-dir", &d, "--channel", "stable", "-o", unsigned.to_str().expect("utf8")]);
    assert!(ok, "{said}");
    let sign = |out: &std::path::Path| {
        cli(&[
            "release",
            "sign",
            "--key",
            key_file.to_str().expect("utf8"),
            unsigned.to_str().expect("utf8"),
            "-o",
            out.to_str().expect("utf8"),
        ])
    };
    let (ok, said) = sign(&signed);
    assert!(ok, "{said}");

    // Tampered, foreign-signed and wrong-channel uploads are refused.
    let mut tampered: Value = serde_json::from_str(&std::fs::read_to_string(&signed).expect("signed")).expect("json");
    tampered["payload"] = json!(tampered["payload"].as_str().expect("payload").replace(NEXT, "98.0.0"));
    let put = |body: Value| server.request(Method::PUT, "/api/v1/releases/manifest/stable", &org.admin, Some(body));
    assert_eq!(error_code(put(tampered).await, StatusCode::BAD_REQUEST).await, "INVALID_MANIFEST");
    let mut foreign: Value = serde_json::from_str(&std::fs::read_to_string(&signed).expect("signed")).expect("json");
    foreign["key_id"] = json!("0123456789abcdef");
    assert_eq!(error_code(put(foreign).await, StatusCode::BAD_REQUEST).await, "UNTRUSTED_KEY");
    let genuine: Value = serde_json::from_str(&std::fs::read_to_string(&signed).expect("signed")).expect("json");
    let beta = server.request(Method::PUT, "/api/v1/releases/manifest/beta", &org.admin, Some(genuine.clone())).await;
    assert_eq!(error_code(beta, StatusCode::BAD_REQUEST).await, "INVALID_MANIFEST");

    let (ok, said) =
        cli_with(&["release", "upload-manifest", "--data-dir", &d, signed.to_str().expect("utf8")], &offline);
    assert!(ok, "{said}");
    let served: Value = server.get("/api/v1/releases/manifest/stable", &Auth::None).await.json().await.expect("json");
    assert_eq!(served["payload"], genuine["payload"], "served exactly as signed");
    assert!(served["links"][&target].as_str().is_some_and(|u| u.contains("/api/v1/downloads/")), "{served}");
    // The same manifest again is not newer: refused (agents would refuse it too).
    let again = put(genuine).await;
    assert_eq!(error_code(again, StatusCode::BAD_REQUEST).await, "INVALID_MANIFEST");

    // The agent follows the offline-signed manifest…
    let (out, text) = installed.run(&["update", "--check"]).await;
    assert!(out.status.success(), "{text}");
    assert!(text.contains(NEXT), "{text}");
    // …and refuses one older than a manifest it already accepted (a replay).
    let state = std::fs::read_to_string(installed.config_dir().join("manifests.json")).expect("freshness state");
    let seen: Value = serde_json::from_str(&state).expect("json");
    let later = seen["stable"].as_i64().expect("seen") + 1000;
    std::fs::write(installed.config_dir().join("manifests.json"), json!({"stable": later}).to_string()).expect("write");
    let (out, text) = installed.run(&["update", "--check"]).await;
    assert!(!out.status.success() && text.contains("replayed"), "{text}");
}

#[tokio::test]
async fn yanked_and_damaged_releases_are_gone_even_through_live_links() {
    let server = TestServer::start().await;
    let org = crate::agents::admin_org(&server).await;
    publish(&server, &org.key, "1.0.0", "x86_64-unknown-linux-gnu", b"build one".to_vec()).await;
    publish(&server, &org.key, "1.0.0", "aarch64-unknown-linux-gnu", b"build two".to_vec()).await;
    let manifest: Value = server.get("/api/v1/releases/manifest/stable", &Auth::None).await.json().await.expect("json");
    let link = |target: &str| manifest["links"][target].as_str().expect("link").to_string();
    let (one, two) = (link("x86_64-unknown-linux-gnu"), link("aarch64-unknown-linux-gnu"));
    assert_eq!(server.client.get(&one).send().await.expect("get").status(), StatusCode::OK);

    let releases: Vec<Value> = server.get("/api/v1/releases", &org.key).await.json().await.expect("json");
    let id = releases.iter().find(|r| r["target"] == "x86_64-unknown-linux-gnu").expect("release")["id"].clone();
    let yanked = server.post(&format!("/api/v1/releases/{}/yank", id.as_str().expect("id")), &org.key, json!({})).await;
    assert_eq!(yanked.status(), StatusCode::OK);
    let gone = server.client.get(&one).send().await.expect("get");
    assert_eq!(
        error_code(gone, StatusCode::GONE).await,
        "RELEASE_YANKED",
        "the link is still valid, the release is not"
    );

    // A damaged file on disk: `release verify` finds it, and it is never served again.
    let sha = releases.iter().find(|r| r["target"] == "aarch64-unknown-linux-gnu").expect("release")["sha256"].clone();
    let sha = sha.as_str().expect("sha");
    std::fs::write(server.data_dir().join("artifacts/sha256").join(&sha[..2]).join(sha), b"build tw0").expect("damage");
    let d = server.data_dir().to_str().expect("utf8").to_string();
    let (ok, said) = cli(&["release", "verify", "--data-dir", &d]);
    assert!(!ok, "damage makes verify fail: {said}");
    assert!(said.contains("DAMAGED") && said.contains("1.0.0 aarch64-unknown-linux-gnu"), "{said}");
    let gone = server.client.get(&two).send().await.expect("get");
    assert_eq!(error_code(gone, StatusCode::GONE).await, "ARTIFACT_CORRUPT");
    let manifest: Value = server.get("/api/v1/releases/manifest/stable", &Auth::None).await.json().await.expect("json");
    assert!(manifest["links"].as_object().is_some_and(|l| l.is_empty()), "{manifest}");
}

#[tokio::test]
async fn slow_downloads_cannot_hold_every_slot() {
    // Over TLS (streamed from user space) and plain HTTP (sent with sendfile on Linux).
    for tls in ["true", "false"] {
        slow_downloads_cannot_hold_every_slot_with(tls).await;
    }
}

async fn slow_downloads_cannot_hold_every_slot_with(tls: &str) {
    let server = TestServer::start_with(&[
        ("SESSIONFORGE_RELEASES__MAX_DOWNLOADS_PER_IP", "1"),
        ("SESSIONFORGE_RELEASES__SEND_TIMEOUT_SECS", "2"),
        ("SESSIONFORGE_TLS__ENABLED", tls),
    ])
    .await;
    let org = crate::agents::admin_org(&server).await;
    // Large enough that a client reading nothing fills every buffer on the way.
    publish(&server, &org.key, "1.0.0", "x86_64-unknown-linux-gnu", vec![7u8; 64 * 1024 * 1024]).await;
    let manifest: Value = server.get("/api/v1/releases/manifest/stable", &Auth::None).await.json().await.expect("json");
    let url = manifest["links"]["x86_64-unknown-linux-gnu"].as_str().expect("link").to_string();

    // Connections that begin with the download, as download clients open them.
    let fresh =
        reqwest::Client::builder().danger_accept_invalid_certs(true).pool_max_idle_per_host(0).build().expect("client");
    let stalled = fresh.get(&url).send().await.expect("first download");
    assert_eq!(stalled.status(), StatusCode::OK);
    let second = fresh.get(&url).send().await.expect("second download");
    assert_eq!(error_code(second, StatusCode::TOO_MANY_REQUESTS).await, "RATE_LIMITED", "one at a time per address");

    // The stalled download is ended after the send timeout, which frees its slot.
    crate::common::wait_for("the stalled download's slot to free", std::time::Duration::from_secs(20), || async {
        let r = fresh.get(&url).header("range", "bytes=0-9").send().await.ok()?;
        (r.status() == StatusCode::PARTIAL_CONTENT).then_some(())
    })
    .await;
    let mut body = stalled.bytes_stream();
    let mut got = 0usize;
    let mut failed = false;
    while let Some(chunk) = futures_util::StreamExt::next(&mut body).await {
        match chunk {
            Ok(c) => got += c.len(),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed || got < 64 * 1024 * 1024, "the stalled download was cut off ({got} bytes, TLS {tls})");
    if tls == "false" && cfg!(target_os = "linux") {
        assert!(sendfile_bytes(&server).await > 0, "the plain downloads went out with sendfile");
    }
}

/// `sessionforge_download_sendfile_bytes_total` from `/metrics`.
async fn sendfile_bytes(server: &TestServer) -> u64 {
    let text = server.client.get(server.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
    text.lines()
        .find_map(|l| l.strip_prefix("sessionforge_download_sendfile_bytes_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sendfile counter in {text}"))
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn plain_http_downloads_go_out_with_sendfile_and_the_connection_serves_on() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server = TestServer::start_with(&[("SESSIONFORGE_TLS__ENABLED", "false")]).await;
    let org = crate::agents::admin_org(&server).await;
    let artifact: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
    publish(&server, &org.key, "1.0.0", "x86_64-unknown-linux-gnu", artifact.clone()).await;
    let manifest: Value = server.get("/api/v1/releases/manifest/stable", &Auth::None).await.json().await.expect("json");
    let url = manifest["links"]["x86_64-unknown-linux-gnu"].as_str().expect("link").to_string();
    let before = sendfile_bytes(&server).await;

    // Connections that begin with a download (as curl, install.sh and agents make them); one
    // that began with another request stays with hyper, which streams from user space.
    let fresh = reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("client");
    let full = fresh.get(&url).send().await.expect("download");
    assert_eq!(full.status(), StatusCode::OK);
    assert_eq!(full.headers()["content-length"], artifact.len().to_string().as_str());
    assert!(full.headers().contains_key("x-request-id"), "the middleware ran");
    assert_eq!(full.bytes().await.expect("body").as_ref(), &artifact[..], "every byte, in order");
    let part = fresh.get(&url).header("range", "bytes=1000-1999").send().await.expect("range");
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.bytes().await.expect("body").as_ref(), &artifact[1000..2000]);
    assert_eq!(sendfile_bytes(&server).await - before, artifact.len() as u64 + 1000, "sent by the kernel");

    // Refusals come from the same application, as JSON.
    let forged = url.replace("sig=", "sig=A");
    assert_eq!(
        error_code(fresh.get(&forged).send().await.expect("forged"), StatusCode::FORBIDDEN).await,
        "INVALID_SIGNATURE"
    );

    // One connection: a range download, then an ordinary request, which hyper answers.
    let path = &url[url.find("/api/v1/downloads/").expect("a download link")..];
    let mut tcp = tokio::net::TcpStream::connect(server.base.trim_start_matches("http://")).await.expect("connect");
    let requests = format!(
        "GET {path} HTTP/1.1\r\nHost: t\r\nRange: bytes=0-4\r\n\r\nGET /api/v1/health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    );
    tcp.write_all(requests.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(20), tcp.read_to_end(&mut answer))
        .await
        .expect("both answers before the server closes")
        .expect("read");
    let text = String::from_utf8_lossy(&answer);
    let (first, second) = text.split_once("\r\n\r\n").expect("a head");
    assert!(first.starts_with("HTTP/1.1 206"), "{first}");
    assert!(first.to_ascii_lowercase().contains("content-length: 5"), "{first}");
    assert_eq!(&answer[first.len() + 4..first.len() + 9], &artifact[..5]);
    assert!(second[5..].starts_with("HTTP/1.1 200"), "the next request on the connection: {second}");
}
