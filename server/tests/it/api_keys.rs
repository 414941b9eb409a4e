//! Personal API keys: shown once, hashed at rest, scoped, usage recorded, revocable at once.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Auth, TestServer, error_code};

#[tokio::test]
async fn scopes_limit_what_a_key_can_do_and_revocation_is_immediate() {
    let server = TestServer::start().await;
    let admin = server.setup_admin().await;

    let resp = server.post("/api/v1/api-keys", &admin, json!({"name": "ci reader", "scopes": ["read"]})).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let created: Value = resp.json().await.expect("json");
    let secret = created["key"].as_str().expect("key").to_string();
    let prefix = created["api_key"]["prefix"].as_str().expect("prefix").to_string();
    let key_id = created["api_key"]["id"].as_str().expect("id").to_string();
    assert!(secret.starts_with(&prefix) && prefix.starts_with("sfk_"));
    let reader = Auth::Key(secret.clone());

    // Read scope: reads work, writes are refused with 403.
    let orgs = server.get("/api/v1/orgs", &reader).await;
    assert_eq!(orgs.status(), StatusCode::OK);
    let denied = server.post("/api/v1/orgs", &reader, json!({"name": "nope"})).await;
    assert_eq!(error_code(denied, StatusCode::FORBIDDEN).await, "INSUFFICIENT_SCOPE");

    // Write scope can create orgs, but cannot mint keys (that needs admin).
    let writer = server.api_key(&admin, &["write"]).await;
    assert_eq!(server.post("/api/v1/orgs", &writer, json!({"name": "Team"})).await.status(), StatusCode::CREATED);
    let mint = server.post("/api/v1/api-keys", &writer, json!({"name": "x", "scopes": ["admin"]})).await;
    assert_eq!(error_code(mint, StatusCode::FORBIDDEN).await, "INSUFFICIENT_SCOPE");
    let admin_key = server.api_key(&admin, &["admin"]).await;
    assert_eq!(
        server.post("/api/v1/api-keys", &admin_key, json!({"name": "y", "scopes": ["read"]})).await.status(),
        StatusCode::CREATED
    );

    // The list shows prefixes and last use, never secrets.
    let list = server.get("/api/v1/api-keys", &admin).await.text().await.expect("text");
    assert!(list.contains(&prefix));
    assert!(!list.contains(&secret), "secret must never be listed");
    let keys: Value = serde_json::from_str(&list).expect("json");
    let entry = keys.as_array().expect("array").iter().find(|k| k["id"] == key_id.as_str()).expect("listed");
    assert!(entry["last_used_at"].is_string(), "last_used_at recorded: {entry}");
    assert_eq!(entry["scopes"], json!(["read"]));

    // Only a hash is stored.
    let db = rusqlite::Connection::open(server.data_dir().join("sessionforge.db")).expect("db");
    let stored: Vec<u8> =
        db.query_row("SELECT secret_hash FROM api_keys WHERE id = ?1", [&key_id], |r| r.get(0)).expect("row");
    assert_eq!(stored.len(), 32);
    assert!(!String::from_utf8_lossy(&stored).contains(&secret));

    let revoke = server.request(Method::DELETE, &format!("/api/v1/api-keys/{key_id}"), &admin, None).await;
    assert_eq!(revoke.status(), StatusCode::NO_CONTENT);
    let after = server.get("/api/v1/orgs", &reader).await;
    assert_eq!(error_code(after, StatusCode::UNAUTHORIZED).await, "UNAUTHORIZED");
    let keys: Value = server.get("/api/v1/api-keys", &admin).await.json().await.expect("json");
    let entry = keys.as_array().expect("array").iter().find(|k| k["id"] == key_id.as_str()).expect("listed");
    assert!(entry["revoked_at"].is_string());

    let garbage = server.get("/api/v1/orgs", &Auth::Key("sfk_nothing_here".into())).await;
    assert_eq!(error_code(garbage, StatusCode::UNAUTHORIZED).await, "UNAUTHORIZED");
}

#[tokio::test]
async fn invalid_key_requests_are_rejected() {
    let server = TestServer::start().await;
    let admin = server.setup_admin().await;
    let no_scopes = server.post("/api/v1/api-keys", &admin, json!({"name": "k", "scopes": []})).await;
    assert_eq!(error_code(no_scopes, StatusCode::BAD_REQUEST).await, "INVALID_SCOPES");
    let bad_scope = server.post("/api/v1/api-keys", &admin, json!({"name": "k", "scopes": ["root"]})).await;
    assert_eq!(error_code(bad_scope, StatusCode::BAD_REQUEST).await, "INVALID_BODY");
    let no_name = server.post("/api/v1/api-keys", &admin, json!({"name": " ", "scopes": ["read"]})).await;
    assert_eq!(error_code(no_name, StatusCode::BAD_REQUEST).await, "INVALID_NAME");
    let other = server.request(Method::DELETE, &format!("/api/v1/api-keys/{}", uuid_v4()), &admin, None).await;
    assert_eq!(error_code(other, StatusCode::NOT_FOUND).await, "NOT_FOUND");
}

fn uuid_v4() -> String {
    "5f0c5b8e-3c1a-4b7e-9a52-0d7c2b1e4f6a".into()
}
