//! The HTTP surface: JSON errors for every failure, body limit, health, metrics, security
//! headers, request ids, CORS, graceful shutdown, 415 documented where it can happen and `Allow`
//! on 405.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Auth, TestServer, error_code, wait_for};

#[tokio::test]
async fn every_error_is_json_with_the_right_status() {
    let server = TestServer::start().await;
    let c = &server.client;

    let malformed = c
        .post(server.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .expect("send");
    assert_eq!(error_code(malformed, StatusCode::BAD_REQUEST).await, "INVALID_BODY");

    let wrong_shape = server.post("/api/v1/auth/login", &Auth::None, json!({"email": 5})).await;
    assert_eq!(error_code(wrong_shape, StatusCode::BAD_REQUEST).await, "INVALID_BODY");

    let wrong_type = c
        .post(server.url("/api/v1/auth/login"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_eq!(error_code(wrong_type, StatusCode::UNSUPPORTED_MEDIA_TYPE).await, "UNSUPPORTED_MEDIA_TYPE");

    let unknown = c.get(server.url("/api/v1/no/such/route")).send().await.expect("send");
    assert_eq!(error_code(unknown, StatusCode::NOT_FOUND).await, "NOT_FOUND");
    let outside = c.get(server.url("/definitely-not-here")).send().await.expect("send");
    assert_eq!(error_code(outside, StatusCode::NOT_FOUND).await, "NOT_FOUND");
    let asset = c.get(server.url("/assets/no-such.js")).send().await.expect("send");
    assert_eq!(error_code(asset, StatusCode::NOT_FOUND).await, "NOT_FOUND");

    let method = c.delete(server.url("/api/v1/health")).send().await.expect("send");
    assert_eq!(error_code(method, StatusCode::METHOD_NOT_ALLOWED).await, "METHOD_NOT_ALLOWED");

    let bad_id = server.get("/api/v1/orgs/not-a-uuid", &Auth::Key("sfk_x".into())).await;
    assert_eq!(bad_id.status().as_u16() / 100, 4);
    let unauth = server.get("/api/v1/orgs", &Auth::None).await;
    assert_eq!(error_code(unauth, StatusCode::UNAUTHORIZED).await, "UNAUTHORIZED");
}

#[tokio::test]
async fn oversized_bodies_get_413_with_or_without_a_length() {
    let server = TestServer::start().await;
    let big = format!("{{\"email\":\"{}\",\"password\":\"x\"}}", "a".repeat(2 * 1024 * 1024));
    let resp = server
        .client
        .post(server.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .expect("send");
    assert_eq!(error_code(resp, StatusCode::PAYLOAD_TOO_LARGE).await, "PAYLOAD_TOO_LARGE");

    // Chunked, with no Content-Length.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        big.into_bytes().chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    let stream = futures_util::stream::iter(chunks);
    let resp = server
        .client
        .post(server.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .expect("send");
    assert_eq!(error_code(resp, StatusCode::PAYLOAD_TOO_LARGE).await, "PAYLOAD_TOO_LARGE");

    // Just under the limit is parsed normally.
    let ok =
        server.post("/api/v1/auth/login", &Auth::None, json!({"email": "a@b.co", "password": "x".repeat(1000)})).await;
    assert_eq!(ok.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn health_metrics_headers_and_request_ids() {
    let server = TestServer::start().await;
    let resp = server
        .client
        .get(server.url("/api/v1/health"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    let h = resp.headers().clone();
    assert_eq!(h["x-request-id"], "trace-me-123");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(h["strict-transport-security"].to_str().expect("hsts").starts_with("max-age="));
    assert!(h["content-security-policy"].to_str().expect("csp").contains("frame-ancestors 'none'"));
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"], "ok");

    let generated = server.client.get(server.url("/api/v1/health")).send().await.expect("send");
    let id = generated.headers()["x-request-id"].to_str().expect("id").to_string();
    assert_eq!(id.len(), 36, "a fresh UUID when the client sends none: {id}");

    let metrics = server.client.get(server.url("/metrics")).send().await.expect("send").text().await.expect("text");
    assert!(
        metrics.contains(r#"sessionforge_http_requests_total{method="GET",route="/api/v1/health",status="200"} 2"#),
        "{metrics}"
    );
    assert!(metrics.contains("sessionforge_http_request_duration_seconds_bucket"));
    assert!(metrics.contains("sessionforge_open_connections 1"), "this client's one connection: {metrics}");
    assert!(metrics.contains(r#"sessionforge_db_pool_connections{role="reader",state="open"}"#));
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let server = TestServer::start_with(&[("SESSIONFORGE_CORS_ORIGINS", "[\"https://dash.example\"]")]).await;
    let preflight = |origin: &'static str| {
        server
            .client
            .request(Method::OPTIONS, server.url("/api/v1/orgs"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let ok = preflight("https://dash.example").await.expect("send");
    assert_eq!(
        ok.headers().get("access-control-allow-origin").map(|v| v.to_str().ok()),
        Some(Some("https://dash.example"))
    );
    let other = preflight("https://evil.example").await.expect("send");
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish() {
    let mut server = TestServer::start().await;
    // A request whose body is still arriving when the signal comes.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let request = server
        .client
        .post(server.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(body)
        .send();
    let in_flight = tokio::spawn(request);
    tx.send(Ok(b"{\"email\":\"a@example.com\",".to_vec())).await.expect("first chunk");

    // Wait until the server is handling it (the metrics request itself is the other one).
    let metrics_client = server.client.clone();
    let metrics_url = server.url("/metrics");
    wait_for("the slow request to be in flight", Duration::from_secs(10), || {
        let c = metrics_client.clone();
        let url = metrics_url.clone();
        async move {
            let text = c.get(url).send().await.ok()?.text().await.ok()?;
            text.contains("sessionforge_http_requests_in_flight 2").then_some(())
        }
    })
    .await;

    server.sigterm();
    wait_for("the shutdown to start", Duration::from_secs(10), || {
        let started = server.stderr.text().contains("shutdown requested");
        async move { started.then_some(()) }
    })
    .await;
    tx.send(Ok(b"\"password\":\"not the password\"}".to_vec())).await.expect("second chunk");
    drop(tx);

    let resp = in_flight.await.expect("join").expect("in-flight request completed");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "answered normally after the signal");
    let status = server.wait_exit().await;
    assert!(status.success(), "clean exit, got {status}");
}

#[tokio::test]
async fn metrics_are_protected_and_their_labels_bounded() {
    let server = TestServer::start().await;
    for i in 0..50 {
        let _ = server.client.get(server.url(&format!("/api/v1/probe-{i}"))).send().await.expect("send");
        let _ = server
            .client
            .request(Method::from_bytes(b"BREW").expect("method"), server.url("/api/v1/health"))
            .send()
            .await;
    }
    let metrics = server.client.get(server.url("/metrics")).send().await.expect("send").text().await.expect("text");
    assert!(!metrics.contains("probe-"), "raw paths never become labels");
    assert!(metrics.contains(r#"route="unmatched""#), "{metrics}");
    assert!(!metrics.contains(r#"method="BREW""#) && metrics.contains(r#"method="other""#));
    // Through a proxy every client looks local: refused without a token.
    let proxied = server.client.get(server.url("/metrics")).header("x-forwarded-for", "203.0.113.9").send().await;
    assert_eq!(error_code(proxied.expect("send"), StatusCode::FORBIDDEN).await, "METRICS_FORBIDDEN");

    let server = TestServer::start_with(&[("SESSIONFORGE_METRICS__TOKEN", "scrape-me-please")]).await;
    let none = server.client.get(server.url("/metrics")).send().await.expect("send");
    assert_eq!(error_code(none, StatusCode::UNAUTHORIZED).await, "UNAUTHORIZED");
    let wrong = server.client.get(server.url("/metrics")).bearer_auth("scrape-me-pleasE").send().await.expect("send");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let right = server.client.get(server.url("/metrics")).bearer_auth("scrape-me-please").send().await.expect("send");
    assert_eq!(right.status(), StatusCode::OK);
    assert!(!format!("{:?}", server.stderr.text()).contains("scrape-me-please"), "the token is never logged");
}

#[tokio::test]
async fn method_not_allowed_names_the_allowed_methods() {
    let server = TestServer::start().await;
    let cases = [
        (Method::DELETE, "/api/v1/health", "GET, HEAD"),
        (Method::PATCH, "/api/v1/orgs", "GET, POST, HEAD"),
        (Method::TRACE, "/api/v1/releases/manifest/stable", "GET, PUT, HEAD"),
        (Method::GET, "/api/v1/releases/0190a4c2-58e1-7c3e-8d7f-5b0e2f6c1a9d/yank", "POST"),
        (Method::POST, "/install.sh", "GET, HEAD"),
    ];
    for (method, path, allow) in cases {
        let resp = server.client.request(method.clone(), server.url(path)).send().await.expect("send");
        let got = resp.headers().get("allow").and_then(|v| v.to_str().ok()).map(str::to_string);
        assert_eq!(got.as_deref(), Some(allow), "{method} {path}");
        assert_eq!(error_code(resp, StatusCode::METHOD_NOT_ALLOWED).await, "METHOD_NOT_ALLOWED");
    }
}

#[tokio::test]
async fn unsupported_media_types_are_documented_and_answered() {
    let spec: Value = serde_json::from_str(&sessionforge_server::openapi_json()).expect("spec");
    for (path, ops) in spec["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().expect("operations") {
            if op.get("requestBody").is_some() {
                assert!(op["responses"].get("415").is_some(), "{method} {path} takes a body but documents no 415");
            }
        }
    }
    let server = TestServer::start().await;
    let key = server.api_key(&server.setup_admin().await, &["admin"]).await;
    let me: Value = server.get("/api/v1/auth/me", &key).await.json().await.expect("json");
    let org = me["orgs"][0]["id"].as_str().expect("org id").to_string();
    let url = server.url(&format!("/api/v1/orgs/{org}/update-policy"));
    let none = server.client.put(&url).headers(key.headers()).body("{\"policy\":\"off\"}").send().await.expect("send");
    assert_eq!(error_code(none, StatusCode::UNSUPPORTED_MEDIA_TYPE).await, "UNSUPPORTED_MEDIA_TYPE");
    let text = server
        .client
        .put(&url)
        .headers(key.headers())
        .header("content-type", "text/plain")
        .body("{\"policy\":\"off\"}")
        .send()
        .await
        .expect("send");
    assert_eq!(error_code(text, StatusCode::UNSUPPORTED_MEDIA_TYPE).await, "UNSUPPORTED_MEDIA_TYPE");
}
