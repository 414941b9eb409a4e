//! Live sessions end to end: a real server, real `sessionforge-agent` processes, real PTYs, and
//! a viewer on the attach socket.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sessionforge_shared::protocol::ViewerEvent;

use crate::agents::{TestAgent, Viewer, admin_org, find_session, server_tls, wait_session};
use crate::common::{Auth, TestServer, error_code, wait_for};

/// What `printf '%s\n'` of these lines looks like through a PTY (which turns \n into \r\n).
fn pty_lines(lines: impl IntoIterator<Item = String>) -> String {
    lines.into_iter().map(|l| format!("{l}\r\n")).collect()
}

#[tokio::test]
async fn wrapped_output_reaches_a_viewer_exactly_and_the_recording_matches() {
    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    let agent = TestAgent::enroll(&server, &org).await;
    let gate = agent.dir.path().join("gate");
    let script = format!(
        "i=1; while [ $i -le 300 ]; do echo \"first-$i ☃ ok\"; i=$((i+1)); done; \
         while [ ! -f '{}' ]; do sleep 0.02; done; \
         i=1; while [ $i -le 300 ]; do echo \"second-$i\"; i=$((i+1)); done; exit 3",
        gate.display()
    );
    let mut wrap = agent.wrap(&["sh", "-c", &script]);
    let first = pty_lines((1..=300).map(|i| format!("first-{i} ☃ ok")));
    let expected = first.clone() + &pty_lines((1..=300).map(|i| format!("second-{i}")));

    let session = find_session(&server, &org, &agent.machine_id, |s| s["source"] == "relayed").await;
    let id = session["id"].as_str().expect("id").to_string();
    let mut viewer = Viewer::attach(&server, &org.id, &id, 0, &org.key).await;
    // The first half is replayed (stored or in flight), the second arrives live.
    viewer.read_until(Duration::from_secs(30), |v| v.data.len() >= first.len()).await;
    assert_eq!(viewer.text(), first);
    std::fs::write(&gate, b"go").expect("open the gate");
    viewer.read_until(Duration::from_secs(30), |v| v.exited().is_some() && v.data.len() >= expected.len()).await;
    assert_eq!(viewer.text(), expected, "the viewer holds exactly the bytes the command printed");
    assert_eq!(viewer.exited(), Some(Some(3)));
    // The second half went out live: the server timed it, received to written.
    let metrics = server.client.get(server.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
    let timed = metrics
        .lines()
        .find_map(|l| l.strip_prefix("sessionforge_relay_output_latency_seconds_count "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .expect("relay latency histogram");
    assert!(timed > 0, "{metrics}");

    let status = wrap.wait().await;
    assert_eq!(status.code(), Some(3), "wrap passes the exit code through");
    let local = wrap.stdout.bytes();
    assert_eq!(String::from_utf8_lossy(&local), expected, "the local terminal saw the same bytes");

    let done = wait_session(&server, &org, &id, |s| s["state"] == "exited").await;
    assert_eq!(done["exit_code"], 3);
    assert_eq!(done["output_end"], expected.len());

    // The asciinema recording replays the same text.
    let resp = server.get(&format!("/api/v1/orgs/{}/sessions/{id}/cast", org.id), &org.key).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-disposition"].to_str().expect("header").contains(".cast"));
    let cast = resp.text().await.expect("text");
    let mut lines = cast.lines();
    let header: Value = serde_json::from_str(lines.next().expect("header")).expect("json");
    assert_eq!(header["version"], 2);
    let mut replayed = String::new();
    let mut last_t = 0.0;
    for line in lines {
        let ev: Value = serde_json::from_str(line).expect("event");
        let t = ev[0].as_f64().expect("time");
        assert!(t >= last_t, "event times never go backwards");
        last_t = t;
        if ev[1] == "o" {
            replayed.push_str(ev[2].as_str().expect("data"));
        }
    }
    assert_eq!(replayed, expected);

    // The output endpoint returns any range.
    let page: Value = server
        .get(&format!("/api/v1/orgs/{}/sessions/{id}/output?from=6&to=20", org.id), &org.key)
        .await
        .json()
        .await
        .expect("json");
    let mut bytes = Vec::new();
    for c in page["chunks"].as_array().expect("chunks") {
        use base64::Engine;
        bytes.extend(base64::engine::general_purpose::STANDARD.decode(c["data"].as_str().expect("data")).expect("b64"));
    }
    assert_eq!(bytes, &expected.as_bytes()[6..20]);
}

#[tokio::test]
async fn a_server_killed_mid_stream_loses_nothing_and_duplicates_nothing() {
    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    let agent = TestAgent::enroll(&server, &org).await;
    let script = "i=1; while [ $i -le 4000 ]; do echo \"tick-$i-0123456789\"; \
                  [ $((i % 200)) -eq 0 ] && sleep 0.1; i=$((i+1)); done";
    let mut wrap = agent.wrap(&["sh", "-c", script]);
    let expected = pty_lines((1..=4000).map(|i| format!("tick-{i}-0123456789")));

    let session = find_session(&server, &org, &agent.machine_id, |s| s["source"] == "relayed").await;
    let id = session["id"].as_str().expect("id").to_string();
    let mut before = Viewer::attach(&server, &org.id, &id, 0, &org.key).await;
    before.read_until(Duration::from_secs(30), |v| v.text().contains("tick-600-")).await;

    let server = server.crash_and_restart().await;
    // The old socket dies with the server.
    let closed = !before.read_until(Duration::from_secs(30), |_| false).await;
    assert!(closed);
    let mut after = Viewer::attach(&server, &org.id, &id, before.pos, &org.key).await;
    after
        .read_until(Duration::from_secs(60), |v| {
            v.exited().is_some() && before.data.len() + v.data.len() >= expected.len()
        })
        .await;

    let mut all = before.data.clone();
    all.extend_from_slice(&after.data);
    assert_eq!(String::from_utf8_lossy(&all), expected, "every byte exactly once across the crash");
    assert_eq!(wrap.wait().await.code(), Some(0));

    // Machines and sessions survived the restart.
    let machines: Value =
        server.get(&format!("/api/v1/orgs/{}/machines", org.id), &org.key).await.json().await.expect("json");
    assert!(machines.as_array().expect("array").iter().any(|m| m["id"] == agent.machine_id.as_str()));
    let done = wait_session(&server, &org, &id, |s| s["state"] == "exited").await;
    assert_eq!(done["output_end"], expected.len());
}

#[tokio::test]
async fn members_type_into_sessions_and_viewers_are_refused() {
    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    let agent = TestAgent::enroll(&server, &org).await;
    let mut wrap = agent.wrap(&["sh"]);
    let session = find_session(&server, &org, &agent.machine_id, |s| s["source"] == "relayed").await;
    let id = session["id"].as_str().expect("id").to_string();

    let mut member = Viewer::attach(&server, &org.id, &id, 0, &org.key).await;
    member
        .read_until(Duration::from_secs(30), |v| v.events.iter().any(|e| matches!(e, ViewerEvent::Live { .. })))
        .await;
    assert!(member.events.iter().any(|e| matches!(e, ViewerEvent::Attached { can_input: true, .. })));
    member.send(json!({"type": "input", "data": "echo hi-$((6*7))\n"})).await;
    member.read_until(Duration::from_secs(30), |v| v.text().contains("hi-42")).await;
    assert!(member.text().contains("echo hi-$((6*7))"), "the PTY echoed the typed command");

    // A viewer-role account watches but cannot type, even with a write-scoped key.
    let watcher = server.create_user(&org.admin, "watcher@example.com").await;
    server.add_member(&org.admin, &org.id, &watcher, "watcher@example.com", "viewer").await;
    let watcher_key = server.api_key(&watcher, &["write"]).await;
    let mut viewer = Viewer::attach(&server, &org.id, &id, 0, &watcher_key).await;
    viewer.read_until(Duration::from_secs(30), |v| v.text().contains("hi-42")).await;
    assert!(viewer.events.iter().any(|e| matches!(e, ViewerEvent::Attached { can_input: false, .. })));
    viewer.send(json!({"type": "input", "data": "echo should-not-run\n"})).await;
    viewer
        .read_until(Duration::from_secs(30), |v| {
            v.events.iter().any(|e| matches!(e, ViewerEvent::Error { code, .. } if code == "READ_ONLY"))
        })
        .await;

    member.send(json!({"type": "input", "data": "exit 4\n"})).await;
    assert_eq!(wrap.wait().await.code(), Some(4));
    member.read_until(Duration::from_secs(30), |v| v.exited().is_some()).await;
    assert!(!member.text().contains("should-not-run"), "the refused input never reached the PTY");
}

#[tokio::test]
async fn sessions_started_through_rest_run_on_the_agent_and_report_their_exit() {
    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    let mut agent = TestAgent::enroll(&server, &org).await;
    agent.run(&server, &org).await;
    let offline = TestAgent::enroll(&server, &org).await;

    let allow = server
        .request(
            Method::PUT,
            &format!("/api/v1/orgs/{}/allowed-commands", org.id),
            &org.key,
            Some(json!({"commands": ["sh"]})),
        )
        .await;
    assert_eq!(allow.status(), StatusCode::OK);
    let sessions_path = format!("/api/v1/orgs/{}/sessions", org.id);
    let start = |machine: &str, command: &str, args: Value| {
        let body = json!({"machine_id": machine, "command": command, "args": args, "cwd": ""});
        server.post(&sessions_path, &org.key, body)
    };

    let denied = start(&agent.machine_id, "bash", json!([])).await;
    assert_eq!(error_code(denied, StatusCode::FORBIDDEN).await, "COMMAND_NOT_ALLOWED");
    let away = start(&offline.machine_id, "sh", json!([])).await;
    assert_eq!(error_code(away, StatusCode::CONFLICT).await, "MACHINE_OFFLINE");

    let resp = start(&agent.machine_id, "sh", json!(["-c", "echo started-by-rest; exit 7"])).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let created: Value = resp.json().await.expect("json");
    assert_eq!(created["state"], "starting");
    let id = created["id"].as_str().expect("id").to_string();
    let done = wait_session(&server, &org, &id, |s| s["state"] == "exited").await;
    assert_eq!(done["exit_code"], 7);
    let mut viewer = Viewer::attach(&server, &org.id, &id, 0, &org.key).await;
    viewer.read_until(Duration::from_secs(30), |v| v.text().contains("started-by-rest")).await;

    // Stop a long-running one.
    let resp = start(&agent.machine_id, "sh", json!(["-c", "echo waiting; sleep 600"])).await;
    let id = resp.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string();
    wait_session(&server, &org, &id, |s| s["state"] == "running").await;
    let stop = server.post(&format!("/api/v1/orgs/{}/sessions/{id}/stop", org.id), &org.key, json!({})).await;
    assert_eq!(stop.status(), StatusCode::ACCEPTED);
    let stopped = wait_session(&server, &org, &id, |s| s["state"] == "exited").await;
    assert_ne!(stopped["exit_code"], 0);

    // A command that does not exist is reported as crashed, with the reason.
    let allow = server
        .request(
            Method::PUT,
            &format!("/api/v1/orgs/{}/allowed-commands", org.id),
            &org.key,
            Some(json!({"commands": ["sh", "/definitely/not/here"]})),
        )
        .await;
    assert_eq!(allow.status(), StatusCode::OK);
    let resp = start(&agent.machine_id, "/definitely/not/here", json!([])).await;
    let id = resp.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string();
    let crashed = wait_session(&server, &org, &id, |s| s["state"] == "crashed").await;
    assert!(crashed["reason"].as_str().is_some_and(|r| r.contains("/definitely/not/here")), "{crashed}");
}

#[cfg(unix)]
#[tokio::test]
async fn a_running_ai_cli_is_discovered_and_its_end_noticed() {
    use std::os::unix::fs::PermissionsExt;
    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    let mut agent = TestAgent::enroll(&server, &org).await;
    agent.run(&server, &org).await;

    let bin = tempfile::tempdir().expect("tempdir");
    let claude = bin.path().join("claude");
    std::fs::write(&claude, "#!/bin/sh\nwhile true; do sleep 1; done\n").expect("write");
    std::fs::set_permissions(&claude, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut fake = std::process::Command::new(&claude).current_dir(bin.path()).spawn().expect("start fake claude");
    let pid = fake.id();

    let found =
        find_session(&server, &org, &agent.machine_id, |s| s["source"] == "discovered" && s["pid"] == pid).await;
    assert_eq!(found["kind"], "claude");
    assert_eq!(found["state"], "running");
    assert!(
        found["cwd"]
            .as_str()
            .is_some_and(|c| c.ends_with(bin.path().file_name().and_then(|n| n.to_str()).unwrap_or("?")))
    );
    let filtered: Value = server
        .get(&format!("/api/v1/orgs/{}/sessions?kind=claude&source=discovered", org.id), &org.key)
        .await
        .json()
        .await
        .expect("json");
    assert!(filtered.as_array().expect("array").iter().all(|s| s["kind"] == "claude"));

    fake.kill().expect("kill");
    fake.wait().expect("wait");
    let id = found["id"].as_str().expect("id");
    wait_session(&server, &org, id, |s| s["state"] == "exited").await;
}

#[tokio::test]
async fn another_org_cannot_list_read_or_attach() {
    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    let agent = TestAgent::enroll(&server, &org).await;
    let mut wrap = agent.wrap(&["sh", "-c", "echo secret-output; exit 0"]);
    let session = find_session(&server, &org, &agent.machine_id, |s| s["source"] == "relayed").await;
    let id = session["id"].as_str().expect("id").to_string();
    wrap.wait().await;

    let outsider = server.create_user(&org.admin, "outsider@example.com").await;
    let key = server.api_key(&outsider, &["admin"]).await;
    let a = &org.id;
    for path in [
        format!("/api/v1/orgs/{a}/sessions"),
        format!("/api/v1/orgs/{a}/sessions/{id}"),
        format!("/api/v1/orgs/{a}/sessions/{id}/output"),
        format!("/api/v1/orgs/{a}/sessions/{id}/cast"),
        format!("/api/v1/orgs/{a}/machines"),
        format!("/api/v1/orgs/{a}/machines/{}", agent.machine_id),
    ] {
        let resp = server.get(&path, &key).await;
        assert_eq!(error_code(resp, StatusCode::NOT_FOUND).await, "NOT_FOUND", "{path}");
    }
    let stop = server.post(&format!("/api/v1/orgs/{a}/sessions/{id}/stop"), &key, json!({})).await;
    assert_eq!(error_code(stop, StatusCode::NOT_FOUND).await, "NOT_FOUND");
    assert_eq!(Viewer::try_attach(&server, a, &id, 0, &key).await.err(), Some(404));

    // Their own org's id with the other org's session id: still 404.
    let me: Value = server.get("/api/v1/auth/me", &outsider).await.json().await.expect("json");
    let own = me["orgs"][0]["id"].as_str().expect("org");
    let resp = server.get(&format!("/api/v1/orgs/{own}/sessions/{id}"), &key).await;
    assert_eq!(error_code(resp, StatusCode::NOT_FOUND).await, "NOT_FOUND");
    assert_eq!(Viewer::try_attach(&server, own, &id, 0, &key).await.err(), Some(404));
    let list: Value = server.get(&format!("/api/v1/orgs/{own}/sessions"), &key).await.json().await.expect("json");
    assert_eq!(list, json!([]));
    assert_eq!(Viewer::try_attach(&server, a, &id, 0, &Auth::None).await.err(), Some(401));
}

#[tokio::test]
async fn sessions_whose_agent_vanished_become_stale() {
    let server = TestServer::start_with(&[("SESSIONFORGE_RELAY__STALE_AFTER_SECS", "1")]).await;
    let org = admin_org(&server).await;
    let agent = TestAgent::enroll(&server, &org).await;
    let mut wrap = agent.wrap(&["sh", "-c", "echo up; sleep 600"]);
    let session = find_session(&server, &org, &agent.machine_id, |s| s["state"] == "running").await;
    wrap.kill();
    let id = session["id"].as_str().expect("id");
    let stale = wait_session(&server, &org, id, |s| s["state"] == "stale").await;
    assert!(stale["ended_at"].is_null(), "stale is not ended: the agent may still come back");
}

#[tokio::test]
async fn agents_speaking_an_unknown_protocol_are_refused_and_unknown_messages_ignored() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    let agent = TestAgent::enroll(&server, &org).await;
    let credential = std::fs::read_to_string(agent.dir.path().join("credential")).expect("credential file");
    let connect = || async {
        let url = format!("{}/api/v1/agent/connect", server.base.replacen("https://", "wss://", 1));
        let mut req = url.into_client_request().expect("req");
        req.headers_mut().insert("authorization", format!("Bearer {}", credential.trim()).parse().expect("header"));
        let connector = tokio_tungstenite::Connector::Rustls(server_tls(&server));
        tokio_tungstenite::connect_async_tls_with_config(req, None, false, Some(connector)).await.expect("connect").0
    };
    let hello = |version: u32| {
        json!({"type": "hello", "protocol_version": version, "agent_version": "9.9.9", "mode": "wrap",
               "machine": {"hostname": "h", "os": "linux", "os_version": "", "arch": "x86_64", "cpus": 1,
                           "memory_bytes": 1, "agent_version": "9.9.9"},
               "sessions": []})
    };
    let mut ws = connect().await;
    ws.send(Message::Text(hello(999).to_string().into())).await.expect("send");
    let Some(Ok(Message::Text(t))) = ws.next().await else { panic!("expected welcome") };
    let welcome: Value = serde_json::from_str(&t).expect("json");
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(welcome["accepted"], false);
    assert!(welcome["message"].as_str().is_some_and(|m| m.contains("999")));

    let mut ws = connect().await;
    ws.send(Message::Text(hello(1).to_string().into())).await.expect("send");
    let Some(Ok(Message::Text(t))) = ws.next().await else { panic!("expected welcome") };
    assert_eq!(serde_json::from_str::<Value>(&t).expect("json")["accepted"], true);
    ws.send(Message::Text(json!({"type": "telemetry_from_the_future", "x": 1}).to_string().into()))
        .await
        .expect("send");
    ws.send(Message::Text(
        json!({"type": "heartbeat", "load": 4.25, "memory_used_bytes": 7, "memory_total_bytes": 9, "sessions": 0})
            .to_string()
            .into(),
    ))
    .await
    .expect("send");
    let path = format!("/api/v1/orgs/{}/machines/{}", org.id, agent.machine_id);
    wait_for("the heartbeat after an unknown message", Duration::from_secs(10), || async {
        let m: Value = server.get(&path, &org.key).await.json().await.ok()?;
        (m["load"] == 4.25 && m["online"] == true).then_some(())
    })
    .await;

    let bad = {
        let url = format!("{}/api/v1/agent/connect", server.base.replacen("https://", "wss://", 1));
        let mut req = url.into_client_request().expect("req");
        req.headers_mut().insert("authorization", "Bearer sfm_wrong".parse().expect("header"));
        let connector = tokio_tungstenite::Connector::Rustls(server_tls(&server));
        tokio_tungstenite::connect_async_tls_with_config(req, None, false, Some(connector)).await
    };
    match bad {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status().as_u16(), 401),
        other => panic!("a wrong credential must be refused, got {:?}", other.map(|_| ())),
    }
}
