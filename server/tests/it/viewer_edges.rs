//! What outside testers found on the viewer socket: a paused viewer must still learn that the
//! session ended (state survives a resync), offsets the REST API refuses are refused here too,
//! and binary frames from a viewer get an error instead of silence (and, repeated, a close).

use std::time::Duration;

use serde_json::json;
use sessionforge_shared::ids::SessionId;
use sessionforge_shared::protocol::{SessionState, ViewerEvent};

use crate::agents::{TestAgent, Viewer, admin_org};
use crate::common::TestServer;
use crate::raw_agent::{RawAgent, session_info};

#[tokio::test]
async fn a_paused_viewer_is_told_the_session_ended_after_its_resync() {
    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    let agent = TestAgent::enroll(&server, &org).await;
    let id = SessionId::new();
    let mut raw = RawAgent::connect(&server, &agent, "wrap", vec![session_info(id, "stream")]).await;
    let sid = id.to_string();
    let mut viewer = Viewer::attach(&server, &org.id, &sid, 0, &org.key).await;
    viewer
        .read_until(Duration::from_secs(10), |v| v.events.iter().any(|e| matches!(e, ViewerEvent::Live { .. })))
        .await;
    viewer.send(json!({"type": "pause"})).await;

    // 5 MB while paused — far past the broadcast ring — then the session exits.
    let chunk = vec![b'q'; 16 * 1024];
    let frames = 5 * 1024 * 1024 / chunk.len();
    for i in 0..frames {
        raw.output(id, (i * chunk.len()) as u64, &chunk).await;
    }
    let total = (frames * chunk.len()) as u64;
    raw.wait_ack(id, total).await;
    raw.send(json!({"type": "session_exited", "session_id": id, "exit_code": 0, "ended_at": 1_700_000_000})).await;
    crate::agents::wait_session(&server, &org, &sid, |s| s["state"] == "exited").await;

    viewer.send(json!({"type": "resume"})).await;
    viewer.read_until(Duration::from_secs(20), |v| v.pos >= total && v.exited().is_some()).await;
    assert!(viewer.events.iter().any(|e| matches!(e, ViewerEvent::Resync { .. })), "{:?}", viewer.events);
    assert!(
        viewer
            .events
            .iter()
            .any(|e| matches!(e, ViewerEvent::State { state: SessionState::Exited, exit_code: Some(0) })),
        "the end survives the resync"
    );
}

#[tokio::test]
async fn offsets_past_the_output_are_refused_as_by_rest() {
    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    let agent = TestAgent::enroll(&server, &org).await;
    let id = SessionId::new();
    let mut raw = RawAgent::connect(&server, &agent, "wrap", vec![session_info(id, "sh")]).await;
    raw.output(id, 0, &[b'x'; 102]).await;
    raw.wait_ack(id, 102).await;
    let sid = id.to_string();
    for from in [1_000_000_000_000_000u64, u64::MAX] {
        let refused = Viewer::try_attach(&server, &org.id, &sid, from, &org.key).await;
        assert_eq!(refused.err(), Some(400), "attach from {from}");
        let rest = server.get(&format!("/api/v1/orgs/{}/sessions/{sid}/output?from={from}", org.id), &org.key).await;
        assert_eq!(rest.status(), 400);
    }
    // Just past the end is fine: the agent may still resend what a crashed server never stored.
    let mut ahead = Viewer::attach(&server, &org.id, &sid, 110, &org.key).await;
    ahead.read_until(Duration::from_secs(5), |v| !v.events.is_empty()).await;

    let mut viewer = Viewer::attach(&server, &org.id, &sid, 0, &org.key).await;
    viewer.send_binary(vec![1, 2, 3]).await;
    viewer
        .read_until(Duration::from_secs(5), |v| {
            v.events.iter().any(|e| matches!(e, ViewerEvent::Error { code, .. } if code == "BAD_MESSAGE"))
        })
        .await;
    // Repeated protocol errors close the socket, as for agents (16 in all).
    for _ in 0..15 {
        viewer.send_binary(vec![1, 2, 3]).await;
    }
    let open = viewer.read_until(Duration::from_secs(10), |_| false).await;
    assert!(!open, "the viewer socket is closed after 16 unparseable messages");
    let told = viewer.events.iter().filter(|e| matches!(e, ViewerEvent::Error { code, .. } if code == "BAD_MESSAGE"));
    assert_eq!(told.count(), 16, "each one was answered");
}
