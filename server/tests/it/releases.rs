//! Releases end to end: publishing over the API and the CLI (and every way it can be refused),
//! the signed manifest and its public key, yanking, signed download links (expired, tampered,
//! rate-limited), `Range` requests, and the installers as served.

use reqwest::StatusCode;
use serde_json::Value;
use sessionforge_server::keys::{Keys, SECRETS_FILE};
use sessionforge_server::releases::links;
use sessionforge_shared::releases::Manifest;
use sessionforge_shared::signing::{PublicKey, Signed, verify};

use crate::common::{Auth, TestServer, error_code, spawn};

const TARGET: &str = "x86_64-unknown-linux-musl";

/// Publishes `body` as `version` of `target` with an admin API key; returns the response.
async fn publish(
    server: &TestServer,
    key: &Auth,
    version: &str,
    target: &str,
    channel: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    let url = server.url(&format!("/api/v1/releases?version={version}&target={target}&channel={channel}&notes=n"));
    server
        .client
        .post(url)
        .headers(key.headers())
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .expect("send")
}

async fn manifest(server: &TestServer, channel: &str) -> (Signed, Manifest) {
    let signed: Signed =
        server.get(&format!("/api/v1/releases/manifest/{channel}"), &Auth::None).await.json().await.expect("json");
    let key: PublicKey = server
        .client
        .get(server.url("/.well-known/sessionforge/signing-key"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("key");
    let payload =
        verify(&signed, &key.verifying_key().expect("key")).expect("the manifest is signed by the published key");
    let manifest = serde_json::from_str(payload).expect("manifest json");
    (signed, manifest)
}

#[tokio::test]
async fn publishing_is_for_admins_and_bad_input_is_refused_cleanly() {
    let server = TestServer::start_with(&[("SESSIONFORGE_RELEASES__MAX_UPLOAD_BYTES", "100000")]).await;
    let admin = server.setup_admin().await;
    let key = server.api_key(&admin, &["admin"]).await;
    let user = server.create_user(&admin, "user@example.com").await;

    let refused = publish(&server, &user, "1.0.0", TARGET, "stable", b"bin".to_vec()).await;
    assert_eq!(error_code(refused, StatusCode::FORBIDDEN).await, "FORBIDDEN");
    let bad = publish(&server, &key, "one", TARGET, "stable", b"bin".to_vec()).await;
    assert_eq!(error_code(bad, StatusCode::BAD_REQUEST).await, "INVALID_VERSION");
    let bad = publish(&server, &key, "1.0.0", "sparc-sun-solaris", "stable", b"bin".to_vec()).await;
    assert_eq!(error_code(bad, StatusCode::BAD_REQUEST).await, "UNKNOWN_TARGET");
    let bad = publish(&server, &key, "1.0.0", TARGET, "nightly", b"bin".to_vec()).await;
    assert_eq!(error_code(bad, StatusCode::BAD_REQUEST).await, "UNKNOWN_CHANNEL");
    let empty = publish(&server, &key, "1.0.0", TARGET, "stable", Vec::new()).await;
    assert_eq!(error_code(empty, StatusCode::BAD_REQUEST).await, "EMPTY_ARTIFACT");
    let big = publish(&server, &key, "1.0.0", TARGET, "stable", vec![7u8; 200_000]).await;
    assert_eq!(error_code(big, StatusCode::PAYLOAD_TOO_LARGE).await, "PAYLOAD_TOO_LARGE");

    let ok = publish(&server, &key, "v1.0.0", TARGET, "stable", b"version one".to_vec()).await;
    assert_eq!(ok.status(), StatusCode::CREATED);
    let r: Value = ok.json().await.expect("json");
    assert_eq!(r["version"], "1.0.0", "a leading v is dropped");
    assert_eq!(r["size"], 11);
    let dup = publish(&server, &key, "1.0.0", TARGET, "beta", b"other bytes".to_vec()).await;
    assert_eq!(error_code(dup, StatusCode::CONFLICT).await, "DUPLICATE_RELEASE");

    // Refused uploads left nothing behind: one release, one stored artifact, no temp files.
    let list: Vec<Value> = server.get("/api/v1/releases", &key).await.json().await.expect("json");
    assert_eq!(list.len(), 1);
    let artifacts = walk(&server.data_dir().join("artifacts"));
    assert_eq!(artifacts.len(), 1, "{artifacts:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

#[tokio::test]
async fn the_signed_manifest_offers_the_newest_live_build_of_each_target() {
    let server = TestServer::start().await;
    let admin = server.setup_admin().await;
    let key = server.api_key(&admin, &["admin"]).await;
    for (v, ch) in [("1.0.0", "stable"), ("1.2.0", "stable"), ("1.10.0-beta.1", "beta"), ("1.1.0", "stable")] {
        assert_eq!(
            publish(&server, &key, v, TARGET, ch, format!("build {v}").into_bytes()).await.status(),
            StatusCode::CREATED
        );
    }
    assert_eq!(
        publish(&server, &key, "0.9.0", "aarch64-apple-darwin", "stable", b"mac".to_vec()).await.status(),
        StatusCode::CREATED
    );

    let (signed, stable) = manifest(&server, "stable").await;
    assert_eq!(stable.channel, "stable");
    assert_eq!(stable.for_target(TARGET).expect("linux").version, "1.2.0", "semver order, not publish order");
    assert_eq!(stable.for_target("aarch64-apple-darwin").expect("mac").version, "0.9.0");
    let (_, beta) = manifest(&server, "beta").await;
    assert_eq!(beta.for_target(TARGET).expect("linux").version, "1.10.0-beta.1");

    // The entry's link downloads exactly what was published, and its hash checks out.
    let entry = stable.for_target(TARGET).expect("entry");
    let bytes = server.client.get(&entry.url).send().await.expect("send").bytes().await.expect("body");
    assert_eq!(&bytes[..], b"build 1.2.0");
    assert_eq!(entry.sha256, hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)));
    assert_eq!(entry.size, bytes.len() as u64);

    // A manifest changed in transit no longer verifies.
    let published: PublicKey = server.get("/api/v1/releases/signing-key", &Auth::None).await.json().await.expect("key");
    let mut forged = signed.clone();
    forged.payload = forged.payload.replace("1.2.0", "9.9.9");
    assert!(verify(&forged, &published.verifying_key().expect("key")).is_err());

    // Yanking 1.2.0 makes 1.1.0 the newest; the plain-text record follows.
    let list: Vec<Value> = server.get("/api/v1/releases", &key).await.json().await.expect("json");
    let id = list.iter().find(|r| r["version"] == "1.2.0").expect("1.2.0")["id"].as_str().expect("id").to_string();
    let yanked = server.post(&format!("/api/v1/releases/{id}/yank"), &key, serde_json::json!({})).await;
    assert_eq!(yanked.status(), StatusCode::OK);
    let (_, after) = manifest(&server, "stable").await;
    assert_eq!(after.for_target(TARGET).expect("linux").version, "1.1.0");
    let latest =
        server.get(&format!("/api/v1/releases/latest?target={TARGET}"), &Auth::None).await.text().await.expect("text");
    assert!(latest.starts_with("version=1.1.0\nsha256="), "{latest}");
    let none = server.get("/api/v1/releases/latest?target=x86_64-pc-windows-msvc", &Auth::None).await;
    assert_eq!(error_code(none, StatusCode::NOT_FOUND).await, "NOT_FOUND");
}

#[tokio::test]
async fn download_links_expire_resist_tampering_serve_ranges_and_are_rate_limited() {
    let server = TestServer::start_with(&[("SESSIONFORGE_RATE_LIMIT__DOWNLOADS_PER_IP_PER_MINUTE", "8")]).await;
    let admin = server.setup_admin().await;
    let key = server.api_key(&admin, &["admin"]).await;
    let content: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let r: Value = publish(&server, &key, "2.0.0", TARGET, "stable", content.clone()).await.json().await.expect("json");
    let id: uuid::Uuid = r["id"].as_str().expect("id").parse().expect("uuid");
    let keys = Keys::load(&server.data_dir().join(SECRETS_FILE)).expect("load").expect("keys").0;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let url = |p: &links::LinkParams| server.url(&format!("/api/v1/downloads/{id}?{}", p.query()));

    let good = links::sign(&keys, id, now + 600);
    let range = server.client.get(url(&good)).header("range", "bytes=1000-1999").send().await.expect("send");
    assert_eq!(range.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(range.headers()["content-range"], "bytes 1000-1999/100000");
    assert_eq!(&range.bytes().await.expect("body")[..], &content[1000..2000]);
    let tail = server.client.get(url(&good)).header("range", "bytes=-10").send().await.expect("send");
    assert_eq!(&tail.bytes().await.expect("body")[..], &content[99_990..]);
    let beyond = server.client.get(url(&good)).header("range", "bytes=200000-").send().await.expect("send");
    assert_eq!(error_code(beyond, StatusCode::RANGE_NOT_SATISFIABLE).await, "RANGE_NOT_SATISFIABLE");
    let whole = server.client.get(url(&good)).send().await.expect("send");
    assert_eq!(whole.headers()["accept-ranges"], "bytes");
    assert_eq!(whole.bytes().await.expect("body").to_vec(), content);

    let expired = links::sign(&keys, id, now - 5);
    let resp = server.client.get(url(&expired)).send().await.expect("send");
    assert_eq!(error_code(resp, StatusCode::FORBIDDEN).await, "LINK_EXPIRED");
    let stretched = links::LinkParams { exp: good.exp + 3600, ..good.clone() };
    let resp = server.client.get(url(&stretched)).send().await.expect("send");
    assert_eq!(error_code(resp, StatusCode::FORBIDDEN).await, "INVALID_SIGNATURE");
    let unsigned = server.client.get(server.url(&format!("/api/v1/downloads/{id}"))).send().await.expect("send");
    assert_eq!(error_code(unsigned, StatusCode::FORBIDDEN).await, "INVALID_SIGNATURE");

    // Eight downloads a minute from one address; the ninth waits.
    let mut last = StatusCode::OK;
    for _ in 0..4 {
        last = server.client.get(url(&good)).header("range", "bytes=0-0").send().await.expect("send").status();
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn the_release_command_publishes_into_a_running_servers_data_dir() {
    let server = TestServer::start().await;
    let file = server.data_dir().join("agent-build");
    std::fs::write(&file, b"cli build").expect("write");
    let run = |args: &[&str]| {
        let mut full = vec!["release"];
        full.extend_from_slice(args);
        let out = spawn(server.data_dir(), &[], &full).wait_with_output().expect("run");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let f = file.to_str().expect("path");
    let (ok, _, stderr) = run(&["publish", "--version", "3.1.4", "--target", TARGET]);
    assert!(!ok && stderr.contains("FILE"), "publishing needs a file: {stderr}");
    let (ok, stdout, stderr) = run(&["publish", "--version", "3.1.4", "--target", TARGET, f]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("published"), "{stdout}");
    let (ok, _, stderr) = run(&["publish", "--version", "3.1.4", "--target", TARGET, f]);
    assert!(!ok && stderr.contains("already published"), "{stderr}");
    let (ok, _, stderr) = run(&["publish", "--version", "3.x", "--target", TARGET, f]);
    assert!(!ok && stderr.contains("not a semantic version"), "{stderr}");
    let (_, m) = manifest(&server, "stable").await;
    assert_eq!(m.for_target(TARGET).expect("entry").version, "3.1.4");
    let (ok, stdout, _) = run(&["yank", "--version", "3.1.4", "--target", TARGET]);
    assert!(ok, "{stdout}");
    let (_, m) = manifest(&server, "stable").await;
    assert!(m.releases.is_empty());
}

#[tokio::test]
async fn installers_are_served_with_this_servers_address_and_pin() {
    let server = TestServer::start().await;
    let sh = server.get("/install.sh", &Auth::None).await;
    assert_eq!(sh.status(), StatusCode::OK);
    let sh = sh.text().await.expect("text");
    assert!(!sh.contains("__SESSIONFORGE_"), "every placeholder is filled in");
    assert!(sh.contains("SERVER=\"https://localhost:"), "the public URL is filled in");
    assert!(sh.contains("PIN=\"sha256//"), "a self-signed server pins its key");
    let ps = server.get("/install.ps1", &Auth::None).await.text().await.expect("text");
    assert!(!ps.contains("__SESSIONFORGE_") && ps.contains("$Server = 'https://localhost:"), "{}", &ps[..300]);
}
