//! Session notices by email, against a real SMTP server: a flapping session sends one mail per
//! batch window, and the mail's one-click unsubscribe link turns notices off.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sessionforge_shared::ids::SessionId;

use crate::agents::{TestAgent, admin_org, wait_session};
use crate::common::{Auth, TestServer, wait_for};
use crate::raw_agent::{RawAgent, session_info};
use crate::smtp::SmtpServer;

#[tokio::test]
async fn a_flapping_session_sends_one_mail_per_window_and_its_link_unsubscribes() {
    let smtp = SmtpServer::start().await;
    let mut env = smtp.env();
    env.push(("SESSIONFORGE_EMAIL__NOTIFY_BATCH_SECS".into(), "3".into()));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = TestServer::start_with(&pairs).await;
    let org = admin_org(&server).await;
    let prefs =
        json!({"notifications": {"email": {"waiting_for_input": true, "finished": true, "all_org_sessions": true}}});
    let set = server.request(Method::PUT, "/api/v1/auth/preferences", &org.admin, Some(prefs)).await;
    assert_eq!(set.status(), StatusCode::OK);

    let agent = TestAgent::enroll(&server, &org).await;
    let id = SessionId::new();
    let mut raw = RawAgent::connect(&server, &agent, "wrap", vec![session_info(id, "claude")]).await;
    for waiting in [true, false, true, false, true] {
        raw.send(json!({"type": "session_attention", "session_id": id, "waiting_for_input": waiting})).await;
    }
    raw.send(json!({"type": "session_exited", "session_id": id, "exit_code": 0, "ended_at": 1_700_000_100})).await;
    wait_session(&server, &org, &id.to_string(), |s| s["state"] == "exited").await;

    let mail = smtp.wait_for_mail("admin@example.com", 1).await.remove(0);
    assert!(mail.subject.contains("claude") && mail.subject.contains("finished"), "{}", mail.subject);
    assert!(mail.text.contains("4 changes"), "three waits and the end, in one mail: {}", mail.text);
    wait_for("the notice to be marked sent", std::time::Duration::from_secs(30), || async {
        let outbox: Value = server.get("/api/v1/admin/outbox", &org.admin).await.json().await.ok()?;
        outbox["mail"].as_array()?.iter().all(|m| m["state"] == "sent").then_some(())
    })
    .await;
    assert_eq!(smtp.messages().len(), 1, "one mail for the whole window");

    let token = mail.link_token("/unsubscribe");
    let bad = server.post("/api/v1/auth/unsubscribe", &Auth::None, json!({"token": format!("{token}x")})).await;
    assert_eq!(bad.status(), StatusCode::GONE);
    let ok = server.post("/api/v1/auth/unsubscribe", &Auth::None, json!({"token": token})).await;
    assert_eq!(ok.status(), StatusCode::NO_CONTENT);
    let prefs: Value = server.get("/api/v1/auth/preferences", &org.admin).await.json().await.expect("json");
    assert_eq!(prefs["notifications"]["email"]["finished"], false);
    assert_eq!(prefs["notifications"]["browser"]["finished"], true, "other preferences stay");
}
