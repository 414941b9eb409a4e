//! Tenant isolation: a user of org A gets 404 for anything of org B, however they authenticate.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Auth, TestServer, error_code};

#[tokio::test]
async fn another_orgs_resources_are_404_for_non_members() {
    let server = TestServer::start().await;
    let admin = server.setup_admin().await;
    let bob = server.create_user(&admin, "bob@example.com").await;
    let bob_key = server.api_key(&bob, &["admin"]).await;

    let team: Value = server.post("/api/v1/orgs", &admin, json!({"name": "Team A"})).await.json().await.expect("json");
    let team_id = team["id"].as_str().expect("id").to_string();
    let me: Value = server.get("/api/v1/auth/me", &admin).await.json().await.expect("json");
    let personal_id = me["orgs"][0]["id"].as_str().expect("id").to_string();
    let bob_me: Value = server.get("/api/v1/auth/me", &bob).await.json().await.expect("json");
    let bob_id = bob_me["user"]["id"].as_str().expect("id").to_string();

    // Bob sees only his own personal org.
    let bob_orgs: Value = server.get("/api/v1/orgs", &bob).await.json().await.expect("json");
    let ids: Vec<&str> = bob_orgs.as_array().expect("array").iter().filter_map(|o| o["id"].as_str()).collect();
    assert_eq!(ids.len(), 1);
    assert!(!ids.contains(&team_id.as_str()) && !ids.contains(&personal_id.as_str()));

    let never_existed = "0190c3f4-0000-7000-8000-000000000000";
    for who in [&bob, &bob_key] {
        for org in [team_id.as_str(), personal_id.as_str(), never_existed] {
            let get = server.get(&format!("/api/v1/orgs/{org}"), who).await;
            assert_eq!(error_code(get, StatusCode::NOT_FOUND).await, "NOT_FOUND");
            let members = server.get(&format!("/api/v1/orgs/{org}/members"), who).await;
            assert_eq!(error_code(members, StatusCode::NOT_FOUND).await, "NOT_FOUND");
            let add = server
                .post(
                    &format!("/api/v1/orgs/{org}/invitations"),
                    who,
                    json!({"email": "bob@example.com", "role": "admin"}),
                )
                .await;
            assert_eq!(error_code(add, StatusCode::NOT_FOUND).await, "NOT_FOUND");
            let role = server
                .request(
                    Method::PUT,
                    &format!("/api/v1/orgs/{org}/members/{bob_id}"),
                    who,
                    Some(json!({"role": "owner"})),
                )
                .await;
            assert_eq!(error_code(role, StatusCode::NOT_FOUND).await, "NOT_FOUND");
        }
    }

    // Once added as a viewer, Bob can read the org but not manage it.
    server.add_member(&admin, &team_id, &bob, "bob@example.com", "viewer").await;
    let org: Value = server.get(&format!("/api/v1/orgs/{team_id}"), &bob).await.json().await.expect("json");
    assert_eq!(org["role"], "viewer");
    let escalate = server
        .request(Method::PUT, &format!("/api/v1/orgs/{team_id}/members/{bob_id}"), &bob, Some(json!({"role": "owner"})))
        .await;
    assert_eq!(error_code(escalate, StatusCode::FORBIDDEN).await, "ROLE_REQUIRED");

    // The owner changes roles; the last owner cannot step down.
    let promote = server
        .request(
            Method::PUT,
            &format!("/api/v1/orgs/{team_id}/members/{bob_id}"),
            &admin,
            Some(json!({"role": "member"})),
        )
        .await;
    assert_eq!(promote.status(), StatusCode::OK);
    let members: Value = promote.json().await.expect("json");
    assert!(
        members.as_array().expect("array").iter().any(|m| m["email"] == "bob@example.com" && m["role"] == "member")
    );
    let admin_id = me["user"]["id"].as_str().expect("id");
    let demote = server
        .request(
            Method::PUT,
            &format!("/api/v1/orgs/{team_id}/members/{admin_id}"),
            &admin,
            Some(json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(error_code(demote, StatusCode::CONFLICT).await, "LAST_OWNER");
}

#[tokio::test]
async fn only_server_admins_create_accounts() {
    let server = TestServer::start().await;
    let admin = server.setup_admin().await;
    let bob = server.create_user(&admin, "bob@example.com").await;
    let attempt = server
        .post("/api/v1/admin/users", &bob, json!({"email": "eve@example.com", "password": "long enough password"}))
        .await;
    assert_eq!(error_code(attempt, StatusCode::FORBIDDEN).await, "FORBIDDEN");
    let dup = server
        .post("/api/v1/admin/users", &admin, json!({"email": "BOB@example.com", "password": "long enough password"}))
        .await;
    assert_eq!(error_code(dup, StatusCode::CONFLICT).await, "CONFLICT");
    let bad = server
        .post("/api/v1/admin/users", &admin, json!({"email": "not-an-email", "password": "long enough password"}))
        .await;
    assert_eq!(error_code(bad, StatusCode::BAD_REQUEST).await, "INVALID_EMAIL");
    let anon =
        server.post("/api/v1/admin/users", &Auth::None, json!({"email": "x@example.com", "password": "pw"})).await;
    assert_eq!(error_code(anon, StatusCode::UNAUTHORIZED).await, "UNAUTHORIZED");
}
