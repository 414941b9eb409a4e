//! Usage metering through the real server: relayed bytes, sessions started, machines that
//! connected and API calls are counted per org and UTC month (`GET /orgs/{org}/usage`), and
//! API calls past the plan's monthly limit are refused with 402 `PLAN_LIMIT` while the
//! dashboard's own requests (browser sign-ins) keep working.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use sessionforge_shared::ids::SessionId;

use crate::agents::{TestAgent, admin_org};
use crate::common::{TestServer, wait_for};
use crate::raw_agent::{RawAgent, session_info};

#[tokio::test]
async fn usage_counts_what_was_relayed_and_api_calls_stop_at_the_plan_limit() {
    let server = TestServer::start_with(&[
        ("SESSIONFORGE_PLANS__DEFAULT", "free"),
        ("SESSIONFORGE_PLANS__CATALOGUE__FREE__API_CALLS_PER_MONTH", "12"),
    ])
    .await;
    let org = admin_org(&server).await;
    let agent = TestAgent::enroll(&server, &org).await; // one API call (the enrollment token)
    let id = SessionId::new();
    let mut raw = RawAgent::connect(&server, &agent, "wrap", vec![session_info(id, "sh")]).await;
    for i in 0..3u64 {
        raw.output(id, i * 1000, &[b'x'; 1000]).await;
    }
    raw.wait_ack(id, 3000).await;

    let usage_path = format!("/api/v1/orgs/{}/usage?months=2", org.id);
    let now = wait_for("usage to show the relayed bytes", Duration::from_secs(20), || async {
        let u: Value = server.get(&usage_path, &org.admin).await.json().await.ok()?;
        let now = u["months"].as_array()?.last()?.clone();
        (now["bytes_relayed"] == 3000 && now["active_machines"] == 1).then_some(now)
    })
    .await;
    assert_eq!(now["sessions_started"], 1, "{now}");
    assert_eq!(now["api_calls"], 1, "the dashboard's own requests are not counted: {now}");

    // API-key calls until the limit of 12: the 12th passes, the 13th is refused.
    let machines = format!("/api/v1/orgs/{}/machines", org.id);
    for n in 2..=12 {
        let r = server.get(&machines, &org.key).await;
        assert_eq!(r.status(), StatusCode::OK, "call {n}");
    }
    let refused = server.get(&machines, &org.key).await;
    assert_eq!(refused.status(), StatusCode::PAYMENT_REQUIRED);
    let body: Value = refused.json().await.expect("json");
    assert_eq!((body["code"].as_str(), body["limit"].as_str()), (Some("PLAN_LIMIT"), Some("api_calls_per_month")));
    assert_eq!((body["max"].as_u64(), body["used"].as_u64()), (Some(12), Some(12)), "{body}");
    assert_eq!(server.get(&machines, &org.admin).await.status(), StatusCode::OK, "the dashboard still works");

    let u: Value = server.get(&usage_path, &org.admin).await.json().await.expect("json");
    assert_eq!(u["plan"], "free");
    assert_eq!(u["api_calls_per_month"], 12);
    let months = u["months"].as_array().expect("months");
    assert_eq!(months.len(), 2, "{u}");
    assert_eq!(months[1]["api_calls"], 12, "refused calls are not counted: {u}");
    let limits: Value =
        server.get(&format!("/api/v1/orgs/{}/entitlements", org.id), &org.admin).await.json().await.expect("json");
    let api = limits["limits"].as_array().expect("limits").iter().find(|l| l["name"] == "api_calls_per_month").cloned();
    assert_eq!(api.map(|l| (l["max"].clone(), l["used"].clone())), Some((12.into(), 12.into())));

    // Counted usage survives a restart (flushed at shutdown at the latest).
    let server = server.restart().await;
    let admin = server.login("admin@example.com", crate::common::ADMIN_PASSWORD).await;
    let u: Value = server.get(&usage_path, &admin).await.json().await.expect("json");
    assert_eq!(u["months"][1]["api_calls"], 12, "{u}");
    assert_eq!(u["months"][1]["bytes_relayed"], 3000, "{u}");
}
