//! The terminal's size (who holds it, forced resizes, recordings that replay resizes), sessions
//! waiting for their user, and the org policy agents enforce themselves (allow-list with
//! argument patterns, a machine's own allow-list, required environment variables, update
//! policy) — with real agent processes and the raw agent protocol.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sessionforge_shared::ids::SessionId;
use sessionforge_shared::protocol::ViewerEvent;

use crate::agents::{TestAgent, Viewer, admin_org, find_session, wait_session};
use crate::common::{TestServer, error_code};
use crate::raw_agent::{RawAgent, session_info};

fn size_events(v: &Viewer) -> Vec<(u16, u16, bool)> {
    v.events
        .iter()
        .filter_map(|e| match e {
            ViewerEvent::Size { cols, rows, size_locked } => Some((*cols, *rows, *size_locked)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_local_terminal_holds_the_size_until_a_member_forces_it_and_the_recording_replays_it() {
    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    let agent = TestAgent::enroll(&server, &org).await;
    // No terminal here (stdout is a pipe): the size falls back to 80×24, never 1×1.
    let mut wrapped = agent.wrap(&["sh", "-c", "echo before-resize; read x; stty size; read y"]);
    let session = find_session(&server, &org, &agent.machine_id, |s| s["command"] == "sh").await;
    let id = session["id"].as_str().expect("id").to_string();
    assert_eq!((session["cols"].as_u64(), session["rows"].as_u64()), (Some(80), Some(24)), "{session}");
    assert_eq!(session["size_locked"], true, "a wrapped session's size is its local terminal's");

    let mut viewer = Viewer::attach(&server, &org.id, &id, 0, &org.key).await;
    viewer.read_until(Duration::from_secs(30), |v| v.text().contains("before-resize")).await;
    match viewer.events.first() {
        Some(ViewerEvent::Attached { cols: 80, rows: 24, size_locked: true, .. }) => {}
        other => panic!("attached should carry the size and the lock: {other:?}"),
    }
    viewer.send(json!({"type": "resize", "cols": 100, "rows": 30})).await;
    viewer
        .read_until(Duration::from_secs(10), |v| {
            v.events.iter().any(|e| matches!(e, ViewerEvent::Error { code, .. } if code == "SIZE_LOCKED"))
        })
        .await;
    viewer.send(json!({"type": "resize", "cols": 5000, "rows": 30, "force": true})).await;
    viewer
        .read_until(Duration::from_secs(10), |v| {
            v.events.iter().any(|e| matches!(e, ViewerEvent::Error { code, .. } if code == "BAD_SIZE"))
        })
        .await;
    viewer.send(json!({"type": "resize", "cols": 100, "rows": 30, "force": true})).await;
    viewer.read_until(Duration::from_secs(10), |v| size_events(v).contains(&(100, 30, true))).await;
    viewer.send(json!({"type": "input", "data": "\r"})).await;
    viewer.read_until(Duration::from_secs(10), |v| v.text().contains("30 100")).await;
    let now = wait_session(&server, &org, &id, |s| s["cols"] == 100).await;
    assert_eq!(now["rows"], 30);
    viewer.send(json!({"type": "input", "data": "\r"})).await;
    wrapped.wait().await;
    wait_session(&server, &org, &id, |s| s["state"] == "exited").await;

    let cast = server.get(&format!("/api/v1/orgs/{}/sessions/{id}/cast", org.id), &org.key).await;
    assert_eq!(cast.status(), StatusCode::OK);
    let text = cast.text().await.expect("cast");
    let mut lines = text.lines();
    let header: Value = serde_json::from_str(lines.next().expect("header")).expect("header json");
    assert_eq!((header["width"].as_u64(), header["height"].as_u64()), (Some(80), Some(24)), "{header}");
    let events: Vec<Value> = lines.map(|l| serde_json::from_str(l).expect("event")).collect();
    let index = |pred: &dyn Fn(&Value) -> bool| events.iter().position(pred).unwrap_or_else(|| panic!("{text}"));
    let before = index(&|e| e[1] == "o" && e[2].as_str().is_some_and(|t| t.contains("before-resize")));
    let resize = index(&|e| e[1] == "r" && e[2] == "100x30");
    let after = index(&|e| e[1] == "o" && e[2].as_str().is_some_and(|t| t.contains("30 100")));
    assert!(before < resize && resize < after, "the resize is replayed between the output around it:\n{text}");
}

#[tokio::test]
async fn server_started_sessions_resize_freely_and_policy_is_enforced_on_both_sides() {
    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    let mut agent = TestAgent::enroll(&server, &org).await;
    // This machine allows only `sh -c …` and `true`, whatever the org says.
    let mut config = std::fs::read_to_string(agent.dir.path().join("agent.toml")).expect("agent.toml");
    config += "\n[[allow]]\ncommand = \"sh\"\nargs = [\"-c\", \"*\"]\n\n[[allow]]\ncommand = \"true\"\n";
    std::fs::write(agent.dir.path().join("agent.toml"), config).expect("write agent.toml");
    agent.run(&server, &org).await;

    let policy_path = format!("/api/v1/orgs/{}/allowed-commands", org.id);
    let entries = json!({"entries": [
        {"command": "sh", "args": ["-c", "echo *", "sleep *", "printf *"]},
        {"command": "printenv"},
        {"command": "true"},
    ]});
    let resp = server.request(Method::PUT, &policy_path, &org.key, Some(entries)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let list: Value = server.get(&policy_path, &org.key).await.json().await.expect("json");
    assert_eq!(list["commands"], json!(["printenv", "sh", "true"]));
    assert_eq!(list["entries"][1]["args"], json!(["-c", "echo *", "sleep *", "printf *"]));
    assert_eq!(list["default"], false);

    let sessions = format!("/api/v1/orgs/{}/sessions", org.id);
    let start = |command: &str, args: Value, extra: Value| {
        let mut body = json!({"machine_id": agent.machine_id, "command": command, "args": args});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        server.post(&sessions, &org.key, body)
    };
    // The server refuses arguments outside the patterns.
    let refused = start("sh", json!(["-c", "rm -rf /tmp/x"]), json!({})).await;
    assert_eq!(error_code(refused, StatusCode::FORBIDDEN).await, "COMMAND_NOT_ALLOWED");
    // The org allows printenv; this machine does not: the agent itself refuses it.
    let resp = start("printenv", json!([]), json!({})).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let id = resp.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string();
    let crashed = wait_session(&server, &org, &id, |s| s["state"] == "crashed").await;
    assert!(crashed["reason"].as_str().is_some_and(|r| r.contains("agent.toml")), "{crashed}");
    // A required variable that is not set on the machine.
    let resp = start("true", json!([]), json!({"env_names": ["SESSIONFORGE_SURELY_UNSET_VARIABLE"]})).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let id = resp.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string();
    let crashed = wait_session(&server, &org, &id, |s| s["state"] == "crashed").await;
    assert!(crashed["reason"].as_str().is_some_and(|r| r.contains("SESSIONFORGE_SURELY_UNSET_VARIABLE")), "{crashed}");
    let bad = start("true", json!([]), json!({"env_names": ["NOT-A-NAME"]})).await;
    assert_eq!(error_code(bad, StatusCode::BAD_REQUEST).await, "INVALID_ENV_NAMES");

    // A session the server started is not held by a local terminal: a plain resize applies.
    let resp = start("sh", json!(["-c", "sleep 30"]), json!({"cols": 90, "rows": 20})).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let id = resp.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string();
    let running = wait_session(&server, &org, &id, |s| s["state"] == "running").await;
    assert_eq!((running["cols"].as_u64(), running["size_locked"].as_bool()), (Some(90), Some(false)));
    let mut viewer = Viewer::attach(&server, &org.id, &id, 0, &org.key).await;
    viewer.send(json!({"type": "resize", "cols": 132, "rows": 40})).await;
    viewer.read_until(Duration::from_secs(10), |v| size_events(v).contains(&(132, 40, false))).await;
    wait_session(&server, &org, &id, |s| s["cols"] == 132 && s["rows"] == 40).await;
}

#[tokio::test]
async fn sessions_waiting_for_input_are_announced_on_the_event_stream() {
    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    let mut agent = TestAgent::enroll(&server, &org).await;
    agent.run(&server, &org).await;
    let resp = server
        .request(
            Method::PUT,
            &format!("/api/v1/orgs/{}/allowed-commands", org.id),
            &org.key,
            Some(json!({"commands": ["sh"]})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let events = server.get(&format!("/api/v1/orgs/{}/events", org.id), &org.key).await;
    assert_eq!(events.status(), StatusCode::OK);
    let mut stream = events.bytes_stream();

    // A bell asks for attention at once; input clears it; the end is announced too.
    let body = json!({"machine_id": agent.machine_id, "command": "sh",
        "args": ["-c", "printf 'question? \\a'; read answer; echo got-$answer"]});
    let resp = server.post(&format!("/api/v1/orgs/{}/sessions", org.id), &org.key, body).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let id = resp.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string();
    wait_session(&server, &org, &id, |s| s["waiting_for_input"] == true).await;

    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let waiting = format!(r#""session_id":"{id}""#);
    while !(seen.contains(&waiting) && seen.contains(r#""waiting_for_input":true"#)) {
        let chunk = tokio::time::timeout_at(deadline, stream.next()).await.expect("an event in time");
        seen.push_str(&String::from_utf8_lossy(&chunk.expect("stream open").expect("chunk")));
    }
    assert!(seen.contains(r#""kind":"session""#), "{seen}");

    let mut viewer = Viewer::attach(&server, &org.id, &id, 0, &org.key).await;
    viewer.send(json!({"type": "input", "data": "yes\r"})).await;
    viewer.read_until(Duration::from_secs(20), |v| v.text().contains("got-yes")).await;
    let ended = wait_session(&server, &org, &id, |s| s["state"] == "exited").await;
    assert_eq!(ended["waiting_for_input"], false);
    while !seen.contains(r#""state":"exited""#) {
        let chunk = tokio::time::timeout_at(deadline, stream.next()).await.expect("the end in time");
        seen.push_str(&String::from_utf8_lossy(&chunk.expect("stream open").expect("chunk")));
    }
}

/// A start the agent refuses or cannot run is only ever reported as `session_crashed` (never
/// `session_started`), so nothing held the session in memory when it ended: dashboards must
/// still hear that it crashed (the browser's "crashed or failed to start" notification).
#[tokio::test]
async fn a_start_that_fails_is_announced_on_the_event_stream() {
    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    let agent = TestAgent::enroll(&server, &org).await;
    let mut raw = RawAgent::connect(&server, &agent, "daemon", vec![]).await;
    let body = json!({"commands": ["/definitely/not/here"]});
    let set =
        server.request(Method::PUT, &format!("/api/v1/orgs/{}/allowed-commands", org.id), &org.key, Some(body)).await;
    assert_eq!(set.status(), StatusCode::OK);
    let events = server.get(&format!("/api/v1/orgs/{}/events", org.id), &org.key).await;
    assert_eq!(events.status(), StatusCode::OK);
    let mut stream = events.bytes_stream();

    let body = json!({"machine_id": agent.machine_id, "command": "/definitely/not/here", "args": []});
    let resp = server.post(&format!("/api/v1/orgs/{}/sessions", org.id), &org.key, body).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let id = resp.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string();
    let request = raw.next_of_type("start_session").await;
    raw.send(json!({"type": "session_crashed", "session_id": id, "reason": "no such file",
                    "request_id": request["request_id"]}))
        .await;
    let crashed = wait_session(&server, &org, &id, |s| s["state"] == "crashed").await;
    assert_eq!(crashed["reason"], "no such file");

    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let notice = format!(r#""session_id":"{id}","state":"crashed""#);
    while !seen.contains(&notice) {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .unwrap_or_else(|_| panic!("no crashed notice; got {seen}"));
        seen.push_str(&String::from_utf8_lossy(&chunk.expect("stream open").expect("chunk")));
    }
}

#[tokio::test]
async fn connected_agents_hear_policy_changes_at_once() {
    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    let agent = TestAgent::enroll(&server, &org).await;
    let mut raw = RawAgent::connect(&server, &agent, "daemon", vec![session_info(SessionId::new(), "sh")]).await;
    assert_eq!(raw.welcome["update_policy"], "notify", "{}", raw.welcome);
    assert!(raw.welcome["allow_list"].as_array().is_some_and(|l| l.iter().any(|e| e["command"] == "claude")));

    let policy = format!("/api/v1/orgs/{}/update-policy", org.id);
    let current: Value = server.get(&policy, &org.key).await.json().await.expect("json");
    assert_eq!(current["policy"], "notify");
    let bad = server.request(Method::PUT, &policy, &org.key, Some(json!({"policy": "sometimes"}))).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let set = server.request(Method::PUT, &policy, &org.key, Some(json!({"policy": "automatic"}))).await;
    assert_eq!(set.status(), StatusCode::OK);
    let msg = raw.next_of_type("policy").await;
    assert_eq!(msg["update_policy"], "automatic");

    let allow = format!("/api/v1/orgs/{}/allowed-commands", org.id);
    let set = server.request(Method::PUT, &allow, &org.key, Some(json!({"commands": ["aider"]}))).await;
    assert_eq!(set.status(), StatusCode::OK);
    let msg = raw.next_of_type("policy").await;
    assert_eq!(msg["allow_list"], json!([{"command": "aider"}]));
}
