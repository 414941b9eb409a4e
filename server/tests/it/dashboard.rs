//! The dashboard as the server delivers it: its pages, its embedded assets (cached by content
//! hash, gzip when accepted), and the org event stream that keeps its lists live. The browser
//! side is tested with Chromium in `server/web/tests`.

use std::io::Read;
#[cfg(unix)]
use std::time::Duration;

#[cfg(unix)]
use futures_util::StreamExt;
use reqwest::StatusCode;

#[cfg(unix)]
use crate::agents::{TestAgent, admin_org};
use crate::common::{TestServer, error_code};

#[tokio::test]
async fn pages_and_assets_are_served_from_the_binary() {
    let server = TestServer::start().await;
    let c = &server.client;

    for path in ["/", "/setup?token=x", "/login", "/orgs/0193/sessions", "/keys"] {
        let resp = c.get(server.url(path)).send().await.expect("send");
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let h = resp.headers().clone();
        assert!(h["content-type"].to_str().expect("ct").starts_with("text/html"), "{path}");
        assert_eq!(h["cache-control"], "no-cache");
        assert!(h["content-security-policy"].to_str().expect("csp").contains("frame-ancestors 'none'"));
        assert_eq!(h["x-content-type-options"], "nosniff");
    }

    let html = c.get(server.url("/")).send().await.expect("send").text().await.expect("text");
    let script = html.split("src=\"").nth(1).and_then(|r| r.split('"').next()).expect("a script tag").to_string();
    assert!(script.starts_with("/assets/app.js?v="), "{script}");

    let js = c.get(server.url(&script)).send().await.expect("send");
    assert_eq!(js.status(), StatusCode::OK);
    assert!(js.headers()["content-type"].to_str().expect("ct").starts_with("text/javascript"));
    assert_eq!(js.headers()["cache-control"], "public, max-age=31536000, immutable");
    let etag = js.headers()["etag"].clone();
    let plain = js.bytes().await.expect("body");
    assert!(plain.len() > 10_000, "the bundle is embedded");

    // Unversioned URLs must revalidate; a matching ETag gets 304.
    let unversioned = c.get(server.url("/assets/app.js")).send().await.expect("send");
    assert_eq!(unversioned.headers()["cache-control"], "no-cache");
    let cached = c.get(server.url("/assets/app.js")).header("if-none-match", etag).send().await.expect("send");
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);

    // gzip for clients that accept it, and it decodes to the same bytes.
    let gz = c.get(server.url(&script)).header("accept-encoding", "gzip, br").send().await.expect("send");
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    let compressed = gz.bytes().await.expect("body");
    assert!(compressed.len() < plain.len() / 2);
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&compressed[..]).read_to_end(&mut decoded).expect("gunzip");
    assert_eq!(decoded, plain);
}

#[cfg(unix)]
#[tokio::test]
async fn the_event_stream_announces_changes_to_members_only() {
    let server = TestServer::start().await;
    let org = admin_org(&server).await;

    // A stranger cannot listen to the org.
    let admin = org.admin.clone();
    let outsider = server.create_user(&admin, "outsider@example.com").await;
    let refused = server.get(&format!("/api/v1/orgs/{}/events", org.id), &outsider).await;
    assert_eq!(error_code(refused, StatusCode::NOT_FOUND).await, "NOT_FOUND");

    let resp = server.get(&format!("/api/v1/orgs/{}/events", org.id), &org.key).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"].to_str().expect("ct").starts_with("text/event-stream"));
    let mut stream = resp.bytes_stream();

    // An agent connecting changes the machine list; starting to wrap a command, the sessions.
    let mut agent = TestAgent::enroll(&server, &org).await;
    agent.run(&server, &org).await;
    let _wrapped = agent.wrap(&["sh", "-c", "echo hi; sleep 30"]);
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !(seen.contains(r#"{"kind":"machines"}"#) && seen.contains(r#"{"kind":"sessions"}"#)) {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .unwrap_or_else(|_| panic!("no machines and sessions notices; got {seen:?}"))
            .expect("stream open")
            .expect("chunk");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("data: "), "server-sent event framing: {seen:?}");

    // Anyone with read access may listen: an API key with only `read`.
    let reader = server.api_key(&admin, &["read"]).await;
    let ok = server.get(&format!("/api/v1/orgs/{}/events", org.id), &reader).await;
    assert_eq!(ok.status(), StatusCode::OK);
}
