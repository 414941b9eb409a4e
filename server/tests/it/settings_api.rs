//! The small settings endpoints behind the dashboard's account and org pages: per-user
//! preferences (defaults, partial updates, per user, scopes), renaming an org, and which targets
//! have an agent build to install.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{TestServer, error_code};

#[tokio::test]
async fn preferences_have_defaults_persist_per_user_and_need_write_scope() {
    let server = TestServer::start().await;
    let admin = server.setup_admin().await;
    let other = server.create_user(&admin, "other@example.com").await;
    let path = "/api/v1/auth/preferences";

    let defaults: Value = server.get(path, &admin).await.json().await.expect("json");
    assert_eq!(
        defaults,
        json!({"notifications": {
            "browser": {"waiting_for_input": true, "finished": true, "crashed": true},
            "email": {"waiting_for_input": false, "finished": false, "crashed": false, "all_org_sessions": false},
        }})
    );

    // Absent keys take their defaults; what was sent is kept.
    let put = json!({"notifications": {"browser": {"finished": false}}});
    let resp = server.request(Method::PUT, path, &admin, Some(put)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let saved: Value = server.get(path, &admin).await.json().await.expect("json");
    assert_eq!(
        saved["notifications"]["browser"],
        json!({"waiting_for_input": true, "finished": false, "crashed": true})
    );
    let theirs: Value = server.get(path, &other).await.json().await.expect("json");
    assert_eq!(theirs, defaults, "one user's preferences are not another's");

    let bad =
        server.request(Method::PUT, path, &admin, Some(json!({"notifications": {"browser": {"finished": 3}}}))).await;
    assert_eq!(error_code(bad, StatusCode::BAD_REQUEST).await, "INVALID_BODY");
    let read_key = server.api_key(&admin, &["read"]).await;
    assert_eq!(server.get(path, &read_key).await.status(), StatusCode::OK);
    let denied = server.request(Method::PUT, path, &read_key, Some(json!({}))).await;
    assert_eq!(error_code(denied, StatusCode::FORBIDDEN).await, "INSUFFICIENT_SCOPE");
    assert_eq!(
        error_code(server.get(path, &crate::common::Auth::None).await, StatusCode::UNAUTHORIZED).await,
        "UNAUTHORIZED"
    );
}

#[tokio::test]
async fn admins_rename_their_org_and_nobody_else_does() {
    let server = TestServer::start().await;
    let admin = server.setup_admin().await;
    let member = server.create_user(&admin, "member@example.com").await;
    let created: Value = server.post("/api/v1/orgs", &admin, json!({"name": "Team"})).await.json().await.expect("json");
    let org = created["id"].as_str().expect("id").to_string();
    server.add_member(&admin, &org, &member, "member@example.com", "member").await;
    let path = format!("/api/v1/orgs/{org}");

    let resp = server.request(Method::PUT, &path, &admin, Some(json!({"name": "  Platform team "}))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let renamed: Value = resp.json().await.expect("json");
    assert_eq!((renamed["name"].as_str(), renamed["role"].as_str()), (Some("Platform team"), Some("owner")));
    let seen: Value = server.get(&path, &member).await.json().await.expect("json");
    assert_eq!(seen["name"], "Platform team");

    let denied = server.request(Method::PUT, &path, &member, Some(json!({"name": "Mine now"}))).await;
    assert_eq!(error_code(denied, StatusCode::FORBIDDEN).await, "ROLE_REQUIRED");
    let bad = server.request(Method::PUT, &path, &admin, Some(json!({"name": ""}))).await;
    assert_eq!(error_code(bad, StatusCode::BAD_REQUEST).await, "INVALID_NAME");
    let outsider = server.create_user(&admin, "outsider@example.com").await;
    let hidden = server.request(Method::PUT, &path, &outsider, Some(json!({"name": "x"}))).await;
    assert_eq!(error_code(hidden, StatusCode::NOT_FOUND).await, "NOT_FOUND");
}

#[tokio::test]
async fn release_targets_say_which_platforms_have_a_build() {
    let server = TestServer::start().await;
    let admin = server.setup_admin().await;
    let key = server.api_key(&admin, &["admin"]).await;
    let targets: Value = server.get("/api/v1/releases/targets", &admin).await.json().await.expect("json");
    let list = targets.as_array().expect("array");
    assert_eq!(list.len(), sessionforge_shared::releases::TARGETS.len());
    assert!(
        list.iter().all(|t| t.get("version").is_none_or(Value::is_null)),
        "a fresh server has no builds: {targets}"
    );

    let url = server.url("/api/v1/releases?version=1.2.3&target=aarch64-apple-darwin");
    let resp = server
        .client
        .post(url)
        .headers(key.headers())
        .header("content-type", "application/octet-stream")
        .body(vec![7u8; 100])
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let targets: Value = server.get("/api/v1/releases/targets", &admin).await.json().await.expect("json");
    let mac = targets.as_array().expect("array").iter().find(|t| t["target"] == "aarch64-apple-darwin").cloned();
    assert_eq!(mac.map(|t| t["version"].clone()), Some(json!("1.2.3")));
    let beta: Value = server.get("/api/v1/releases/targets?channel=beta", &admin).await.json().await.expect("json");
    assert!(beta.as_array().expect("array").iter().any(|t| t["version"] == "1.2.3"), "beta offers stable builds");
    let bad = server.get("/api/v1/releases/targets?channel=nightly", &admin).await;
    assert_eq!(error_code(bad, StatusCode::BAD_REQUEST).await, "UNKNOWN_CHANNEL");
    let anon = server.get("/api/v1/releases/targets", &crate::common::Auth::None).await;
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
}
