//! Storage cannot grow without bound: all stored output together stays within
//! `relay.max_stored_bytes` (oldest dropped first, the newest kept whole), output of sessions
//! that went stale is purged by age like that of ended ones, and accounts have caps on
//! machines, API keys and orgs, refused with a clear error.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sessionforge_shared::ids::SessionId;

use crate::agents::{TestAgent, admin_org, enrollment_token, wait_session};
use crate::common::{TestServer, error_code, wait_for};
use crate::raw_agent::{RawAgent, session_info};

#[tokio::test]
async fn stored_output_stays_within_the_global_budget_oldest_first() {
    let server = TestServer::start_with(&[
        ("SESSIONFORGE_RELAY__RETENTION_BYTES_PER_SESSION", "4194304"),
        ("SESSIONFORGE_RELAY__MAX_STORED_BYTES", "4194304"),
    ])
    .await;
    let org = admin_org(&server).await;
    let agent = TestAgent::enroll(&server, &org).await;
    let ids: Vec<SessionId> = (0..4).map(|_| SessionId::new()).collect();
    let mut raw =
        RawAgent::connect(&server, &agent, "wrap", ids.iter().map(|id| session_info(*id, "sh")).collect()).await;
    let chunk = vec![b'o'; 16 * 1024];
    for id in &ids {
        for i in 0..128u64 {
            raw.output(*id, i * chunk.len() as u64, &chunk).await;
        }
        raw.wait_ack(*id, 128 * chunk.len() as u64).await;
    }
    let (server, key) = (&server, &org.key);
    let session = |id: SessionId| {
        let path = format!("/api/v1/orgs/{}/sessions/{id}", org.id);
        async move { server.get(&path, key).await.json::<Value>().await.expect("json") }
    };
    let kept = wait_for("the oldest output to be dropped", Duration::from_secs(30), || async {
        let mut total = 0;
        for id in &ids {
            let s = session(*id).await;
            total += s["output_end"].as_u64()? - s["retained_from"].as_u64()?;
        }
        (total <= 4 * 1024 * 1024).then_some(total)
    })
    .await;
    assert!(kept > 0);
    let oldest = session(ids[0]).await;
    let newest = session(ids[3]).await;
    assert_eq!(oldest["output_end"], 2 * 1024 * 1024, "where output ends is kept");
    assert!(oldest["retained_from"].as_u64() > Some(0), "the oldest lost its start: {oldest}");
    assert_eq!(newest["retained_from"], 0, "the newest is whole: {newest}");
}

#[tokio::test]
async fn output_of_stale_sessions_is_purged_by_age() {
    let server = TestServer::start_with(&[
        ("SESSIONFORGE_RELAY__STALE_AFTER_SECS", "1"),
        ("SESSIONFORGE_RELAY__RETENTION_DAYS", "0"),
    ])
    .await;
    let org = admin_org(&server).await;
    let agent = TestAgent::enroll(&server, &org).await;
    let id = SessionId::new();
    let mut raw = RawAgent::connect(&server, &agent, "wrap", vec![session_info(id, "sh")]).await;
    raw.output(id, 0, b"soon forgotten").await;
    raw.wait_ack(id, 14).await;
    raw.close().await;
    wait_session(&server, &org, &id.to_string(), |s| s["state"] == "stale").await;
    tokio::time::sleep(Duration::from_millis(1100)).await; // past the second it went stale
    // Old output is purged when the server starts and then hourly.
    let server = server.restart().await;
    let s = wait_session(&server, &org, &id.to_string(), |s| s["retained_from"] == 14).await;
    assert_eq!(s["output_end"], 14);
}

#[tokio::test]
async fn accounts_have_caps_on_machines_keys_and_orgs() {
    let server = TestServer::start_with(&[
        ("SESSIONFORGE_LIMITS__MACHINES_PER_ORG", "1"),
        ("SESSIONFORGE_LIMITS__API_KEYS_PER_USER", "2"),
        ("SESSIONFORGE_LIMITS__ORGS_PER_USER", "1"),
    ])
    .await;
    let org = admin_org(&server).await; // its one API key
    let _first = TestAgent::enroll(&server, &org).await;
    let token = enrollment_token(&server, &org).await;
    let second = server
        .post(
            "/api/v1/agent/enroll",
            &crate::common::Auth::None,
            json!({"token": token,
        "machine": {"hostname": "b", "os": "linux", "os_version": "", "arch": "x86_64", "cpus": 1,
                    "memory_bytes": 1, "agent_version": "t"}}),
        )
        .await;
    let code = error_code(second, StatusCode::CONFLICT).await;
    assert_eq!(code, "LIMIT_REACHED");
    let tokens: Vec<Value> =
        server.get(&format!("/api/v1/orgs/{}/enrollment-tokens", org.id), &org.key).await.json().await.expect("json");
    assert!(
        tokens.iter().any(|t| t["used_at"].is_null() && t["revoked_at"].is_null()),
        "the refused token stays unused"
    );

    let key = |n: &str| server.post("/api/v1/api-keys", &org.admin, json!({"name": n, "scopes": ["read"]}));
    assert_eq!(key("second").await.status(), StatusCode::CREATED);
    let third = key("third").await;
    let body: Value = third.json().await.expect("json");
    assert_eq!(body["code"], "LIMIT_REACHED", "{body}");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("limits.api_keys_per_user")), "{body}");

    assert_eq!(server.post("/api/v1/orgs", &org.admin, json!({"name": "Team"})).await.status(), StatusCode::CREATED);
    let another = server.post("/api/v1/orgs", &org.admin, json!({"name": "Team 2"})).await;
    assert_eq!(error_code(another, StatusCode::CONFLICT).await, "LIMIT_REACHED");
}
