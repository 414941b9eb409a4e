//! Tests of the connection: URLs, backoff bounds, and a fake server showing that sustained
//! output does not keep the link from reading or from stopping.

use std::sync::atomic::{AtomicBool, Ordering};

use sessionforge_shared::ids::{MachineId, SessionId};
use tokio::sync::oneshot;

use super::*;

#[test]
fn socket_urls() {
    assert_eq!(socket_url("https://h:8443/").as_deref(), Ok("wss://h:8443/api/v1/agent/connect"));
    assert_eq!(socket_url("http://127.0.0.1:9").as_deref(), Ok("ws://127.0.0.1:9/api/v1/agent/connect"));
    assert!(socket_url("ftp://x").is_err());
}

#[test]
fn start_requests_need_both_allow_lists_and_the_named_variables() {
    let org = vec![AllowedCommand::any_args("claude"), AllowedCommand::any_args("sh")];
    let local = vec![AllowedCommand { command: "claude".into(), args: Some(vec!["--print".into()]) }];
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(refusal(Some(&org), None, "claude", &args(&["-c"]), &[]), None);
    assert!(refusal(None, None, "claude", &[], &[]).is_some(), "no welcome yet: nothing is allowed");
    assert!(refusal(Some(&org), None, "bash", &[], &[]).is_some_and(|r| r.contains("org")));
    assert!(refusal(Some(&org), Some(&local), "claude", &args(&["-c"]), &[]).is_some_and(|r| r.contains("agent.toml")));
    assert!(refusal(Some(&org), Some(&local), "sh", &[], &[]).is_some(), "the server cannot widen the local list");
    assert_eq!(refusal(Some(&org), Some(&local), "claude", &args(&["--print"]), &[]), None);
    let missing = refusal(Some(&org), None, "sh", &[], &["SESSIONFORGE_SURELY_UNSET_VAR".into(), "PATH".into()]);
    assert!(missing.is_some_and(|r| r.contains("SESSIONFORGE_SURELY_UNSET_VAR") && !r.contains("PATH")));
}

#[test]
fn backoff_grows_to_a_minute_with_jitter_and_stays_within_bounds() {
    for attempt in 0..40 {
        let cap = BACKOFF_MIN.saturating_mul(1u32 << attempt.min(6)).min(BACKOFF_MAX);
        for _ in 0..500 {
            let d = backoff(attempt);
            assert!((BACKOFF_MIN..=BACKOFF_MAX).contains(&d), "attempt {attempt}: {d:?}");
            assert!(d <= cap && d >= (cap / 2).max(BACKOFF_MIN), "attempt {attempt}: {d:?}");
        }
    }
    assert!(backoff(u32::MAX) >= BACKOFF_MAX / 2);
}

/// A fake server: answers `hello`, then pings while the agent's output keeps coming and
/// reports the pong (with the number of frames seen before it); then reads until the agent
/// closes. It reads one message per millisecond at most, so that the agent always has more
/// output to send than the connection takes.
async fn fake_server(listener: tokio::net::TcpListener, pong: oneshot::Sender<usize>) {
    let mut pace = tokio::time::interval(Duration::from_millis(1));
    pace.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let (tcp, _) = listener.accept().await.expect("accept");
    let mut ws = tokio_tungstenite::accept_async(tcp).await.expect("handshake");
    match ws.next().await {
        Some(Ok(Message::Text(t))) => {
            assert!(matches!(serde_json::from_str(&t), Ok(AgentMessage::Hello { .. })), "{t}");
        }
        other => panic!("expected hello, got {other:?}"),
    }
    let welcome = ServerMessage::Welcome {
        accepted: true,
        protocol_version: PROTOCOL_VERSION,
        server_version: "test".into(),
        machine_id: MachineId::new(),
        resume: vec![],
        message: None,
        allowed_commands: vec![],
        allow_list: None,
        update_policy: None,
    };
    ws.send(text(&welcome)).await.expect("welcome");
    let mut frames = 0;
    while frames == 0 {
        pace.tick().await;
        match ws.next().await {
            Some(Ok(Message::Binary(_))) => frames += 1,
            Some(Ok(_)) => {}
            other => panic!("connection ended early: {other:?}"),
        }
    }
    ws.send(Message::Ping(b"there?".to_vec().into())).await.expect("ping");
    loop {
        pace.tick().await;
        match ws.next().await {
            Some(Ok(Message::Pong(_))) => break,
            Some(Ok(Message::Binary(_))) => frames += 1,
            Some(Ok(_)) => {}
            other => panic!("connection ended before the pong: {other:?}"),
        }
    }
    let _ = pong.send(frames);
    while let Some(Ok(m)) = ws.next().await {
        pace.tick().await;
        if matches!(m, Message::Close(_)) {
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sustained_output_does_not_keep_the_link_from_reading_or_stopping() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (pong_tx, pong_rx) = oneshot::channel();
    let server = tokio::spawn(fake_server(listener, pong_tx));

    let sessions = Sessions::new(8 << 20);
    let id = SessionId::new();
    sessions.insert_detached(id);
    // Output faster than the connection takes it, for as long as the test runs.
    let producing = Arc::new(AtomicBool::new(true));
    let producer = {
        let (sessions, producing) = (sessions.clone(), producing.clone());
        std::thread::spawn(move || {
            let chunk = vec![b'x'; crate::sessions::MAX_FRAME];
            while producing.load(Ordering::Relaxed) {
                sessions.output(id, &chunk);
                sessions.wait_for_room(id);
                std::thread::yield_now();
            }
        })
    };

    let cfg = LinkConfig {
        server_url: format!("http://{addr}"),
        credential: Secret::new("sfm_test".into()),
        trust: Trust::from_fingerprint(""),
        mode: AgentMode::Daemon,
        local_allow: None,
    };
    let (state_tx, _state_rx) = watch::channel(LinkState::Connecting);
    let (stop_tx, stop_rx) = watch::channel(false);
    let link = Link::new(cfg, sessions.clone(), Arc::new(Mutex::new(Vec::new())), None, state_tx);
    let running = tokio::spawn(link.run(stop_rx));

    let frames = tokio::time::timeout(Duration::from_secs(20), pong_rx)
        .await
        .expect("the link answered a ping while output kept coming")
        .expect("pong");
    assert!(frames > 0);
    stop_tx.send_replace(true);
    tokio::time::timeout(Duration::from_secs(20), running)
        .await
        .expect("the link stopped while output kept coming")
        .expect("link task");
    producing.store(false, Ordering::Relaxed);
    // Nothing acknowledges output any more: a producer waiting for room waits until the agent
    // shuts its sessions down, as it does when it exits.
    sessions.stop_all();
    producer.join().expect("producer");
    tokio::time::timeout(Duration::from_secs(20), server).await.expect("server done").expect("server task");
}
