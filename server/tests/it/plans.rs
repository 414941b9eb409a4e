//! Plans and entitlements: limits are taken race-safely at the point of use (N parallel
//! enrollments against a limit of L give exactly L machines), refusals are 402 `PLAN_LIMIT`
//! with the numbers, and a downgrade deletes nothing.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Auth, TestServer};

const MACHINE: &str = r#"{"hostname":"h","os":"linux","os_version":"6","arch":"x86_64","cpus":1,"memory_bytes":1,"agent_version":"0.0.0"}"#;

async fn json_of(resp: reqwest::Response) -> Value {
    resp.json().await.expect("json")
}

async fn personal_org(server: &TestServer, admin: &Auth) -> String {
    let me = json_of(server.get("/api/v1/auth/me", admin).await).await;
    me["orgs"][0]["id"].as_str().expect("org").to_string()
}

async fn enroll(server: &TestServer, admin: &Auth, org: &str) -> reqwest::Response {
    let token = json_of(server.post(&format!("/api/v1/orgs/{org}/enrollment-tokens"), admin, json!({})).await).await;
    let machine: Value = serde_json::from_str(MACHINE).expect("machine");
    let body = json!({"token": token["token"], "machine": machine});
    server.post("/api/v1/agent/enroll", &Auth::None, body).await
}

async fn limit(server: &TestServer, auth: &Auth, org: &str, name: &str) -> Value {
    let e = json_of(server.get(&format!("/api/v1/orgs/{org}/entitlements"), auth).await).await;
    e["limits"].as_array().expect("limits").iter().find(|l| l["name"] == name).cloned().expect(name)
}

#[tokio::test]
async fn parallel_enrollments_against_a_machine_limit_give_exactly_that_many_machines() {
    let server = TestServer::start_with(&[("SESSIONFORGE_PLANS__UPGRADE_URL", "https://example.com/upgrade")]).await;
    let admin = server.setup_admin().await;
    let org = personal_org(&server, &admin).await;
    let e = json_of(server.get(&format!("/api/v1/orgs/{org}/entitlements"), &admin).await).await;
    assert_eq!((e["plan"].as_str(), e["source"].as_str()), (Some("self-hosted"), Some("default")));
    assert!(limit(&server, &admin, &org, "machines").await.get("max").is_none(), "self-hosted is unlimited");

    let body = json!({"plan": "free", "reason": "trial ended"});
    let set = server.request(Method::PUT, &format!("/api/v1/admin/orgs/{org}/plan"), &admin, Some(body)).await;
    assert_eq!(set.status(), StatusCode::NO_CONTENT);
    let e = json_of(server.get(&format!("/api/v1/orgs/{org}/entitlements"), &admin).await).await;
    assert_eq!((e["plan"].as_str(), e["source"].as_str()), (Some("free"), Some("override")));

    // Tokens first, so that the enrollments themselves race.
    let mut tokens = Vec::new();
    for _ in 0..6 {
        let t = json_of(server.post(&format!("/api/v1/orgs/{org}/enrollment-tokens"), &admin, json!({})).await).await;
        tokens.push(t["token"].as_str().expect("token").to_string());
    }
    let machine: Value = serde_json::from_str(MACHINE).expect("machine");
    let attempts = tokens
        .iter()
        .map(|t| server.post("/api/v1/agent/enroll", &Auth::None, json!({"token": t, "machine": machine})));
    let results = futures_util::future::join_all(attempts).await;
    let created = results.iter().filter(|r| r.status() == StatusCode::CREATED).count();
    assert_eq!(created, 2, "the free plan's two machines, whatever the order");
    let refused: Vec<_> = results.into_iter().filter(|r| r.status() != StatusCode::CREATED).collect();
    assert_eq!(refused.len(), 4);
    for r in refused {
        assert_eq!(r.status(), StatusCode::PAYMENT_REQUIRED);
        let body = json_of(r).await;
        assert_eq!((body["code"].as_str(), body["limit"].as_str()), (Some("PLAN_LIMIT"), Some("machines")));
        assert_eq!(
            (body["max"].as_u64(), body["used"].as_u64(), body["plan"].as_str()),
            (Some(2), Some(2), Some("free"))
        );
        assert!(body["message"].as_str().is_some_and(|m| m.contains("https://example.com/upgrade")), "{body}");
    }
    let used = limit(&server, &admin, &org, "machines").await;
    assert_eq!((used["max"].as_u64(), used["used"].as_u64()), (Some(2), Some(2)));
}

#[tokio::test]
async fn a_downgrade_keeps_everything_and_refuses_only_what_is_new() {
    let server = TestServer::start().await;
    let admin = server.setup_admin().await;
    let org = personal_org(&server, &admin).await;
    for _ in 0..3 {
        assert_eq!(enroll(&server, &admin, &org).await.status(), StatusCode::CREATED);
    }
    let body = json!({"plan": "free", "reason": "downgrade", "until": "2999-01-01T00:00:00Z"});
    let set = server.request(Method::PUT, &format!("/api/v1/admin/orgs/{org}/plan"), &admin, Some(body)).await;
    assert_eq!(set.status(), StatusCode::NO_CONTENT);
    let machines = json_of(server.get(&format!("/api/v1/orgs/{org}/machines"), &admin).await).await;
    assert_eq!(machines.as_array().map(Vec::len), Some(3), "over the limit, still listed");
    let used = limit(&server, &admin, &org, "machines").await;
    assert_eq!((used["max"].as_u64(), used["used"].as_u64()), (Some(2), Some(3)));
    assert_eq!(enroll(&server, &admin, &org).await.status(), StatusCode::PAYMENT_REQUIRED);

    // Seats: the free plan has one, the admin's.
    let invite = json!({"email": "x@example.com", "role": "member"});
    let resp = server.post(&format!("/api/v1/orgs/{org}/invitations"), &admin, invite).await;
    assert_eq!(resp.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(json_of(resp).await["limit"], "seats");

    // An unknown plan is refused; removing the override restores the default.
    let bad = json!({"plan": "platinum", "reason": "typo"});
    let resp = server.request(Method::PUT, &format!("/api/v1/admin/orgs/{org}/plan"), &admin, Some(bad)).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let clear = server.request(Method::DELETE, &format!("/api/v1/admin/orgs/{org}/plan"), &admin, None).await;
    assert_eq!(clear.status(), StatusCode::NO_CONTENT);
    assert_eq!(enroll(&server, &admin, &org).await.status(), StatusCode::CREATED);
    let log = json_of(server.get(&format!("/api/v1/orgs/{org}/audit"), &admin).await).await;
    let actions: Vec<&str> =
        log["events"].as_array().expect("events").iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"org.plan_overridden") && actions.contains(&"org.plan_override_removed"), "{actions:?}");
}

#[tokio::test]
async fn a_sign_in_past_the_plans_cap_ends_the_oldest_which_is_told_why() {
    // The free plan allows 2 browser sign-ins per user.
    let server = TestServer::start_with(&[("SESSIONFORGE_PLANS__DEFAULT", "free")]).await;
    let first = server.setup_admin().await;
    let org = personal_org(&server, &first).await;
    let resp = server
        .client
        .get(server.url(&format!("/api/v1/orgs/{org}/events")))
        .headers(first.headers())
        .send()
        .await
        .expect("open");
    assert_eq!(resp.status(), StatusCode::OK);
    let mut stream = resp.bytes_stream();

    let second = server.login(crate::common::ADMIN_EMAIL, crate::common::ADMIN_PASSWORD).await;
    assert_eq!(server.get("/api/v1/auth/me", &first).await.status(), StatusCode::OK, "two fit");
    let third = server.login(crate::common::ADMIN_EMAIL, crate::common::ADMIN_PASSWORD).await;
    let refused = server.get("/api/v1/auth/me", &first).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let body = json_of(refused).await;
    assert_eq!(body["code"], "SIGNED_IN_ELSEWHERE", "{body}");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("signed in somewhere else")), "{body}");
    for auth in [&second, &third] {
        assert_eq!(server.get("/api/v1/auth/me", auth).await.status(), StatusCode::OK);
    }
    // The ended sign-in's open event stream is closed too.
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        use futures_util::StreamExt;
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await;
    assert!(ended.is_ok(), "the oldest sign-in's stream ends");

    // Without a cap (the self-hosted plan) nobody is signed out.
    let unlimited = TestServer::start().await;
    let a = unlimited.setup_admin().await;
    for _ in 0..3 {
        unlimited.login(crate::common::ADMIN_EMAIL, crate::common::ADMIN_PASSWORD).await;
    }
    assert_eq!(unlimited.get("/api/v1/auth/me", &a).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn sessions_an_agent_starts_count_against_the_plan_and_the_agent_is_told_why() {
    use sessionforge_shared::ids::SessionId;

    use crate::raw_agent::{RawAgent, session_info};
    // The free plan allows 2 sessions running at once per org.
    let server = TestServer::start_with(&[("SESSIONFORGE_PLANS__DEFAULT", "free")]).await;
    let org = crate::agents::admin_org(&server).await;
    let agent = crate::agents::TestAgent::enroll(&server, &org).await;
    let (a, b, c) = (SessionId::new(), SessionId::new(), SessionId::new());
    let mut raw = RawAgent::connect(&server, &agent, "wrap", vec![session_info(a, "sh"), session_info(b, "sh")]).await;
    raw.send(json!({"type": "session_started", "session": session_info(c, "sh")})).await;
    let err = raw.next_of_type("error").await;
    let message = err["message"].as_str().unwrap_or_default();
    assert!(message.contains("free plan allows 2 concurrent_sessions"), "told in words: {err}");
    let listed = json_of(server.get(&format!("/api/v1/orgs/{}/sessions", org.id), &org.key).await).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "the third is not relayed: {listed}");
    // The sessions it already had survive a reconnect (nothing is taken away).
    raw.close().await;
    let again = RawAgent::connect(&server, &agent, "wrap", vec![session_info(a, "sh"), session_info(b, "sh")]).await;
    assert_eq!(again.welcome["accepted"], true);
}
