//! The relay's edges, driven by a raw agent (see `raw_agent.rs`): paused and lagging viewers,
//! retention, hostile offsets, resume points, sessions that end or never start, cookie attach
//! origins, and enrollment mistakes with the real agent binary.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sessionforge_shared::ids::SessionId;
use sessionforge_shared::protocol::ViewerEvent;

use crate::agents::{TestAgent, Viewer, admin_org, enrollment_token, wait_session};
use crate::common::{Auth, TestServer};
use crate::raw_agent::{RawAgent, session_info};

/// Distinct, checkable bytes: frame `i` is `size` copies of one letter, cycling.
fn frame_bytes(i: usize, size: usize) -> Vec<u8> {
    vec![b'a' + (i % 26) as u8; size]
}

#[tokio::test]
async fn a_paused_viewer_misses_nothing_and_holds_nobody_up() {
    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    let agent = TestAgent::enroll(&server, &org).await;
    let id = SessionId::new();
    let mut raw = RawAgent::connect(&server, &agent, "wrap", vec![session_info(id, "stream")]).await;
    let sid = id.to_string();

    let mut paused = Viewer::attach(&server, &org.id, &sid, 0, &org.key).await;
    paused
        .read_until(Duration::from_secs(10), |v| v.events.iter().any(|e| matches!(e, ViewerEvent::Live { .. })))
        .await;
    paused.send(json!({"type": "pause"})).await;
    let mut other = Viewer::attach(&server, &org.id, &sid, 0, &org.key).await;

    // Far more than the broadcast ring holds (64 frames), so the paused viewer must lag.
    let (frames, size) = (200, 16 * 1024);
    let mut expected = Vec::new();
    for i in 0..frames {
        let data = frame_bytes(i, size);
        raw.output(id, expected.len() as u64, &data).await;
        expected.extend_from_slice(&data);
    }
    let total = expected.len() as u64;
    raw.wait_ack(id, total).await;

    // The other viewer got everything while the first one was paused.
    other.read_until(Duration::from_secs(20), |v| v.pos >= total).await;
    assert_eq!(other.data, expected);

    paused.send(json!({"type": "resume"})).await;
    paused.read_until(Duration::from_secs(20), |v| v.pos >= total).await;
    assert_eq!(paused.data, expected, "every byte exactly once, in order");
    assert!(paused.events.iter().any(|e| matches!(e, ViewerEvent::Resync { .. })), "{:?}", paused.events);
}

#[tokio::test]
async fn pause_holds_a_replay_until_resume() {
    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    let agent = TestAgent::enroll(&server, &org).await;
    let id = SessionId::new();
    let mut raw = RawAgent::connect(&server, &agent, "wrap", vec![session_info(id, "replay")]).await;
    let (frames, size) = (128, 16 * 1024);
    let mut expected = Vec::new();
    for i in 0..frames {
        let data = frame_bytes(i, size);
        raw.output(id, expected.len() as u64, &data).await;
        expected.extend_from_slice(&data);
    }
    let total = expected.len() as u64;
    raw.wait_ack(id, total).await;

    // A read-only key: its input is refused, which tells us when the pause before it was read.
    let reader = server.api_key(&org.admin, &["read"]).await;
    let mut v = Viewer::attach(&server, &org.id, &id.to_string(), 0, &reader).await;
    v.send(json!({"type": "pause"})).await;
    v.send(json!({"type": "input", "data": "x"})).await;
    v.read_until(Duration::from_secs(10), |v| {
        v.events.iter().any(|e| matches!(e, ViewerEvent::Error { code, .. } if code == "READ_ONLY"))
    })
    .await;
    let at_pause = v.pos;
    assert!(at_pause < total, "the replay was held before the end ({at_pause} of {total})");
    // Held means held: nothing more than the page in flight arrives while paused.
    let _ = tokio::time::timeout(Duration::from_millis(500), v.read_until(Duration::from_secs(5), |v| v.pos >= total))
        .await;
    assert!(v.pos <= at_pause + 256 * 1024, "{} bytes arrived while paused", v.pos - at_pause);

    v.send(json!({"type": "resume"})).await;
    v.read_until(Duration::from_secs(20), |v| v.pos >= total).await;
    assert_eq!(v.data, expected);
}

#[tokio::test]
async fn retention_keeps_the_newest_output_and_viewers_are_told_what_is_gone() {
    let server = TestServer::start_with(&[("SESSIONFORGE_RELAY__RETENTION_BYTES_PER_SESSION", "65536")]).await;
    let org = admin_org(&server).await;
    let agent = TestAgent::enroll(&server, &org).await;
    let id = SessionId::new();
    let mut raw = RawAgent::connect(&server, &agent, "wrap", vec![session_info(id, "long")]).await;
    let mut expected = Vec::new();
    for i in 0..32 {
        let data = frame_bytes(i, 16 * 1024);
        raw.output(id, expected.len() as u64, &data).await;
        expected.extend_from_slice(&data);
    }
    let total = expected.len() as u64;
    raw.wait_ack(id, total).await;

    let s: Value =
        server.get(&format!("/api/v1/orgs/{}/sessions/{id}", org.id), &org.key).await.json().await.expect("json");
    assert_eq!(s["output_end"], total);
    let kept_from = s["retained_from"].as_u64().expect("retained_from");
    // Retention drops whole stored chunks (contiguous frames are merged into chunks of up to
    // 256 KiB), so it keeps at least the budget and at most about one chunk more.
    let kept = total - kept_from;
    assert!(kept_from > 0 && (65536..=65536 + 65536 / 8 + 256 * 1024).contains(&kept), "kept {kept} from {kept_from}");

    let mut v = Viewer::attach(&server, &org.id, &id.to_string(), 0, &org.key).await;
    v.read_until(Duration::from_secs(10), |v| v.pos >= total).await;
    let Some(ViewerEvent::Attached { from, .. }) = v.events.first() else { panic!("{:?}", v.events) };
    assert_eq!(*from, kept_from, "attached says where stored output now begins");
    assert_eq!(v.data, expected[usize::try_from(kept_from).expect("fits")..]);
}

#[tokio::test]
async fn hostile_offsets_are_refused_and_harm_nothing() {
    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    let agent = TestAgent::enroll(&server, &org).await;
    let id = SessionId::new();
    let mut raw = RawAgent::connect(&server, &agent, "wrap", vec![session_info(id, "hostile")]).await;
    raw.output(id, u64::MAX - 2, b"overflow!").await;
    raw.send(json!({"type": "gap", "session_id": id, "offset": 0, "length": u64::MAX})).await;
    raw.output(id, 0, b"sane").await;
    raw.wait_ack(id, 4).await;
    let s: Value =
        server.get(&format!("/api/v1/orgs/{}/sessions/{id}", org.id), &org.key).await.json().await.expect("json");
    assert_eq!(s["output_end"], 4);
    let health = server.get("/api/v1/health", &Auth::None).await;
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn resuming_starts_at_the_stored_end_and_ended_sessions_stay_ended() {
    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    let agent = TestAgent::enroll(&server, &org).await;
    let id = SessionId::new();
    let mut raw = RawAgent::connect(&server, &agent, "wrap", vec![session_info(id, "resume")]).await;
    raw.output(id, 0, &[b'x'; 100]).await;
    raw.wait_ack(id, 100).await;
    raw.send(json!({"type": "session_exited", "session_id": id, "exit_code": 3, "ended_at": 1_700_000_100})).await;
    let path = format!("/api/v1/orgs/{}/sessions/{id}", org.id);
    wait_session(&server, &org, &id.to_string(), |s| s["state"] == "exited").await;
    raw.close().await;

    // The agent still holds the session (say, unacked output) and announces it again.
    let again = RawAgent::connect(&server, &agent, "wrap", vec![session_info(id, "resume")]).await;
    assert_eq!(again.resume_offset(id), Some(100), "{}", again.welcome);
    let s: Value = server.get(&path, &org.key).await.json().await.expect("json");
    assert_eq!(s["state"], "exited", "hello never brings an ended session back");
    assert_eq!(s["exit_code"], 3);
}

/// Testers' spool runs saw a session reported ended while its last output was still being
/// stored: anything reading it at that moment (a replay, an export, a viewer attaching to read
/// the whole session) got it short. An end is recorded only after the output sent before it.
#[tokio::test]
async fn a_session_is_reported_ended_only_with_all_output_sent_before_the_end() {
    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    let agent = TestAgent::enroll(&server, &org).await;
    for round in 0..5 {
        let id = SessionId::new();
        let mut raw = RawAgent::connect(&server, &agent, "wrap", vec![session_info(id, "burst")]).await;
        let mut offset = 0;
        for _ in 0..64 {
            raw.output(id, offset, &[b'y'; 4095]).await;
            offset += 4095;
        }
        raw.send(json!({"type": "session_exited", "session_id": id, "exit_code": 0, "ended_at": 1_700_000_100})).await;
        let s = wait_session(&server, &org, &id.to_string(), |s| s["state"] == "exited").await;
        assert_eq!(s["output_end"], offset, "round {round}: the end is recorded with everything before it");
        raw.close().await;
    }
}

/// Access changes reach a viewer socket that is already open: a role change to viewer stops its
/// typing, removal from the org closes it.
#[tokio::test]
async fn a_members_open_viewer_socket_drops_to_read_only_and_closes_when_removed() {
    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    let agent = TestAgent::enroll(&server, &org).await;
    let id = SessionId::new();
    let mut raw = RawAgent::connect(&server, &agent, "wrap", vec![session_info(id, "watched")]).await;
    raw.output(id, 0, b"hello").await;
    let fay = server.create_user(&org.admin, "fay@example.com").await;
    server.add_member(&org.admin, &org.id, &fay, "fay@example.com", "member").await;
    let me: Value = server.get("/api/v1/auth/me", &fay).await.json().await.expect("json");
    let fay_id = me["user"]["id"].as_str().expect("id").to_string();
    let mut viewer = Viewer::attach(&server, &org.id, &id.to_string(), 0, &fay).await;
    viewer.read_until(Duration::from_secs(10), |v| v.text().contains("hello")).await;
    assert!(viewer.events.iter().any(|e| matches!(e, ViewerEvent::Attached { can_input: true, .. })));

    let member = format!("/api/v1/orgs/{}/members/{fay_id}", org.id);
    let resp = server.request(reqwest::Method::PUT, &member, &org.admin, Some(json!({"role": "viewer"}))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let read_only =
        |v: &Viewer| v.events.iter().any(|e| matches!(e, ViewerEvent::Error { code, .. } if code == "READ_ONLY"));
    viewer.read_until(Duration::from_secs(10), read_only).await;

    let resp = server.request(reqwest::Method::DELETE, &member, &org.admin, None).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let still_open = viewer.read_until(Duration::from_secs(10), |_| false).await;
    assert!(!still_open, "the socket closes");
    assert!(
        viewer.events.iter().any(|e| matches!(e, ViewerEvent::Error { code, .. } if code == "ACCESS_REVOKED")),
        "{:?}",
        viewer.events
    );
}

#[tokio::test]
async fn a_session_its_machine_never_starts_ends_as_crashed() {
    let server = TestServer::start_with(&[("SESSIONFORGE_RELAY__STALE_AFTER_SECS", "1")]).await;
    let org = admin_org(&server).await;
    let agent = TestAgent::enroll(&server, &org).await;
    // A daemon that takes start requests and does nothing with them.
    let mut raw = RawAgent::connect(&server, &agent, "daemon", vec![]).await;
    let set = server
        .request(
            reqwest::Method::PUT,
            &format!("/api/v1/orgs/{}/allowed-commands", org.id),
            &org.key,
            Some(json!({"commands": ["sh"]})),
        )
        .await;
    assert_eq!(set.status(), StatusCode::OK);
    let started = server
        .post(
            &format!("/api/v1/orgs/{}/sessions", org.id),
            &org.key,
            json!({"machine_id": agent.machine_id, "command": "sh", "args": [], "cwd": ""}),
        )
        .await;
    assert_eq!(started.status(), StatusCode::CREATED);
    let body: Value = started.json().await.expect("json");
    let id = body["id"].as_str().expect("id").to_string();
    let request = raw.next_of_type("start_session").await;
    assert_eq!(request["command"], "sh");
    let crashed = wait_session(&server, &org, &id, |s| s["state"] != "starting").await;
    assert_eq!(crashed["state"], "crashed");
    assert!(crashed["reason"].as_str().is_some_and(|r| r.contains("never started")), "{crashed}");
    assert!(!crashed["ended_at"].is_null());
}

#[tokio::test]
async fn cookie_viewers_must_come_from_this_origin() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    let agent = TestAgent::enroll(&server, &org).await;
    let id = SessionId::new();
    let _raw = RawAgent::connect(&server, &agent, "wrap", vec![session_info(id, "cookie")]).await;
    let attach = |origin: String| {
        let url = format!(
            "{}/api/v1/orgs/{}/sessions/{id}/attach?from=0",
            server.base.replacen("https://", "wss://", 1),
            org.id
        );
        let mut req = url.into_client_request().expect("request");
        for (k, v) in org.admin.headers().iter() {
            req.headers_mut().insert(k, v.clone());
        }
        req.headers_mut().insert("origin", origin.parse().expect("origin"));
        let connector = tokio_tungstenite::Connector::Rustls(crate::agents::server_tls(&server));
        async move { tokio_tungstenite::connect_async_tls_with_config(req, None, false, Some(connector)).await }
    };
    match attach("https://evil.example".into()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status().as_u16(), 403),
        other => panic!("a cross-site cookie attach must be refused, got {:?}", other.map(|_| ())),
    }
    let own = server.base.clone();
    assert!(attach(own).await.is_ok(), "the server's own origin may attach with its cookie");
}

#[tokio::test]
async fn enrolling_with_a_bad_used_or_revoked_token_fails_clearly() {
    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    let fingerprint = server.fingerprint();
    let enroll = |token: String| {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = std::process::Command::new(crate::agents::agent_bin())
            .env("SESSIONFORGE_CONFIG_DIR", dir.path())
            .env("SESSIONFORGE_CREDENTIAL_STORE", "file")
            .args(["enroll", "--server", &server.base, "--token", &token, "--fingerprint", &fingerprint])
            .output()
            .expect("run enroll");
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };

    let (code, err) = enroll("sfe_not_a_real_token".into());
    assert_ne!(code, Some(0));
    assert!(err.to_lowercase().contains("token"), "{err}");

    let token = enrollment_token(&server, &org).await;
    assert_eq!(enroll(token.clone()).0, Some(0));
    let (code, err) = enroll(token);
    assert_ne!(code, Some(0), "a token works once");
    assert!(err.to_lowercase().contains("token"), "{err}");

    let resp = server.post(&format!("/api/v1/orgs/{}/enrollment-tokens", org.id), &org.key, json!({})).await;
    let body: Value = resp.json().await.expect("json");
    let (token, token_id) =
        (body["token"].as_str().expect("token"), body["enrollment_token"]["id"].as_str().expect("id"));
    let revoked = server
        .request(
            reqwest::Method::DELETE,
            &format!("/api/v1/orgs/{}/enrollment-tokens/{token_id}", org.id),
            &org.key,
            None,
        )
        .await;
    assert!(revoked.status().is_success(), "{}", revoked.status());
    let (code, err) = enroll(token.to_string());
    assert_ne!(code, Some(0), "a revoked token does not work");
    assert!(err.to_lowercase().contains("token"), "{err}");
    let listed = server.get(&format!("/api/v1/orgs/{}/enrollment-tokens", org.id), &org.key).await;
    assert_eq!(listed.status(), StatusCode::OK);
}
