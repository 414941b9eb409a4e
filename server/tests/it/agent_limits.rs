//! One agent credential must not stall every tenant: hostile `hello`s are refused, bad frames
//! and bogus offsets are answered with an error (and a connection that keeps sending them is
//! closed), a machine has a cap on live sessions, output is paced to a per-connection byte
//! budget by reading more slowly (never by dropping), and heartbeats cost no database write.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sessionforge_shared::ids::SessionId;

use crate::agents::{TestAgent, admin_org};
use crate::common::{TestServer, error_code, wait_for};
use crate::raw_agent::{RawAgent, hello, session_info};

#[tokio::test]
async fn hellos_are_checked_like_enrollment() {
    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    let agent = TestAgent::enroll(&server, &org).await;
    let mut forged = hello("daemon", vec![]);
    forged["machine"]["hostname"] = json!("box\n2026-12-06T00:00:00Z INFO admin signed in");
    let refused = RawAgent::connect_with(&server, &agent, forged).await;
    assert_eq!(refused.welcome["accepted"], false, "{}", refused.welcome);
    assert!(refused.welcome["message"].as_str().is_some_and(|m| m.contains("hostname")), "{}", refused.welcome);

    let mut bidi = hello("daemon", vec![]);
    bidi["machine"]["os"] = json!("Linux\u{202E}xunil");
    assert_eq!(RawAgent::connect_with(&server, &agent, bidi).await.welcome["accepted"], false);

    // A session with a control character in its command is skipped, the rest is accepted.
    let bad = SessionId::new();
    let mut info = session_info(bad, "sh");
    info["command"] = json!("sh\u{1b}[2J");
    let ok = RawAgent::connect_with(&server, &agent, hello("wrap", vec![info])).await;
    assert_eq!(ok.welcome["accepted"], true);
    let s = server.get(&format!("/api/v1/orgs/{}/sessions/{bad}", org.id), &org.key).await;
    assert_eq!(s.status(), StatusCode::NOT_FOUND, "the bad session was not recorded");
}

#[tokio::test]
async fn bad_frames_and_bogus_offsets_are_answered_and_repeated_ones_close_the_connection() {
    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    let agent = TestAgent::enroll(&server, &org).await;
    let id = SessionId::new();
    let mut raw = RawAgent::connect(&server, &agent, "wrap", vec![session_info(id, "sh")]).await;

    raw.binary(vec![1, 2, 3]).await;
    let err = raw.next_of_type("error").await;
    assert_eq!(err["code"], "BAD_FRAME", "{err}");

    // Past what was received by more than the agent's declared buffer (8 MiB by default).
    raw.output(id, 1 << 40, b"far away").await;
    let err = raw.next_of_type("error").await;
    assert_eq!(err["code"], "BAD_OFFSET", "{err}");
    raw.send(json!({"type": "gap", "session_id": id, "offset": 0, "length": 1u64 << 45})).await;
    let err = raw.next_of_type("error").await;
    assert_eq!(err["code"], "REFUSED", "{err}");
    raw.output(id, 0, b"fine").await;
    raw.wait_ack(id, 4).await;
    let s: Value =
        server.get(&format!("/api/v1/orgs/{}/sessions/{id}", org.id), &org.key).await.json().await.expect("json");
    assert_eq!((s["output_end"].as_u64(), s["retained_from"].as_u64()), (Some(4), Some(0)), "no giant gap: {s}");

    for _ in 0..20 {
        raw.binary(vec![9]).await;
    }
    let closed =
        tokio::time::timeout(Duration::from_secs(10), async { while raw.next_text().await.is_some() {} }).await;
    assert!(closed.is_ok(), "the server closes a connection that keeps sending garbage");
}

#[tokio::test]
async fn a_machine_has_a_cap_on_live_sessions() {
    let server = TestServer::start_with(&[("SESSIONFORGE_RELAY__MAX_SESSIONS_PER_MACHINE", "2")]).await;
    let org = admin_org(&server).await;
    let agent = TestAgent::enroll(&server, &org).await;
    let (a, b, c) = (SessionId::new(), SessionId::new(), SessionId::new());
    let too_many = vec![session_info(a, "sh"), session_info(b, "sh"), session_info(c, "sh")];
    let refused = RawAgent::connect_with(&server, &agent, hello("daemon", too_many)).await;
    assert_eq!(refused.welcome["accepted"], false);

    let mut raw =
        RawAgent::connect(&server, &agent, "daemon", vec![session_info(a, "sh"), session_info(b, "sh")]).await;
    raw.send(json!({"type": "session_started", "session": session_info(c, "sh")})).await;
    let err = raw.next_of_type("error").await;
    assert!(err["message"].as_str().is_some_and(|m| m.contains("live sessions")), "{err}");
    let sessions = format!("/api/v1/orgs/{}/sessions", org.id);
    let allow = format!("/api/v1/orgs/{}/allowed-commands", org.id);
    let set = server.request(reqwest::Method::PUT, &allow, &org.key, Some(json!({"commands": ["sh"]}))).await;
    assert_eq!(set.status(), StatusCode::OK);
    let start = server.post(&sessions, &org.key, json!({"machine_id": agent.machine_id, "command": "sh"})).await;
    assert_eq!(error_code(start, StatusCode::CONFLICT).await, "TOO_MANY_SESSIONS");
}

#[tokio::test]
async fn output_is_paced_to_the_connection_budget_without_loss() {
    // 64 KiB/s (the least allowed) with a one-second burst: 256 KiB take at least three seconds.
    let server = TestServer::start_with(&[("SESSIONFORGE_RELAY__AGENT_BYTES_PER_SEC", "65536")]).await;
    let org = admin_org(&server).await;
    let agent = TestAgent::enroll(&server, &org).await;
    let id = SessionId::new();
    let mut raw = RawAgent::connect(&server, &agent, "wrap", vec![session_info(id, "sh")]).await;
    let started = Instant::now();
    let chunk = vec![b'z'; 16 * 1024];
    for i in 0..16u64 {
        raw.output(id, i * chunk.len() as u64, &chunk).await;
    }
    raw.wait_ack(id, 16 * chunk.len() as u64).await;
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(2900), "the budget was not applied: all stored after {took:?}");
    let page: Value = server
        .get(&format!("/api/v1/orgs/{}/sessions/{id}/output?from=0", org.id), &org.key)
        .await
        .json()
        .await
        .expect("json");
    let stored: u64 =
        page["chunks"].as_array().expect("chunks").iter().map(|c| c["length"].as_u64().unwrap_or(0)).sum();
    assert_eq!(stored, 256 * 1024, "nothing dropped");
}

#[tokio::test]
async fn heartbeats_show_at_once_and_reach_the_database_in_batches() {
    let server = TestServer::start_with(&[("SESSIONFORGE_RELAY__HEARTBEAT_FLUSH_SECS", "1")]).await;
    let org = admin_org(&server).await;
    let agent = TestAgent::enroll(&server, &org).await;
    let mut raw = RawAgent::connect(&server, &agent, "daemon", vec![]).await;
    raw.send(json!({"type": "heartbeat", "load": 1.25, "memory_used_bytes": 4096,
                    "memory_total_bytes": 8192, "sessions": 0}))
        .await;
    let path = format!("/api/v1/orgs/{}/machines/{}", org.id, agent.machine_id);
    wait_for("the heartbeat to show", Duration::from_secs(5), || async {
        let m: Value = server.get(&path, &org.key).await.json().await.ok()?;
        (m["load"] == 1.25 && m["memory_used_bytes"] == 4096 && m["online"] == true).then_some(())
    })
    .await;
    raw.close().await;
    // After a stop and a start only the database remembers: the figures were flushed there.
    let mut server = server;
    server.sigterm();
    assert!(server.wait_exit().await.success());
    let server = TestServer::launch(server.dir.clone(), std::mem::take(&mut server.env)).await;
    let m: Value = server.get(&path, &org.key).await.json().await.expect("json");
    assert_eq!(m["load"], 1.25, "{m}");
    assert_eq!(m["online"], false);
}
