//! Session templates: who may manage and start them, every way a template body is refused, and
//! starting one on a real agent through the same checks as a direct start (allow-list, machine
//! online, the environment variables it needs).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Auth, TestServer, error_code};

/// The admin, an org id and the templates path of a fresh server.
async fn setup(server: &TestServer) -> (Auth, String, String) {
    let admin = server.setup_admin().await;
    let me: Value = server.get("/api/v1/auth/me", &admin).await.json().await.expect("json");
    let org = me["orgs"][0]["id"].as_str().expect("org").to_string();
    let path = format!("/api/v1/orgs/{org}/templates");
    (admin, org, path)
}

#[tokio::test]
async fn admins_manage_templates_members_list_them_and_bad_input_is_refused() {
    let server = TestServer::start().await;
    let (admin, org, path) = setup(&server).await;
    let member = server.create_user(&admin, "member@example.com").await;
    let outsider = server.create_user(&admin, "outsider@example.com").await;
    server.add_member(&admin, &org, &member, "member@example.com", "member").await;

    let body = json!({"name": "Claude in app", "command": "claude", "args": ["--model", "opus"], "cwd": " ~/app ",
        "env_names": ["ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY", "HOME"]});
    let resp = server.post(&path, &admin, body).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let created: Value = resp.json().await.expect("json");
    assert_eq!(created["name"], "Claude in app");
    assert_eq!(created["args"], json!(["--model", "opus"]));
    assert_eq!(created["cwd"], "~/app", "the directory is trimmed");
    assert_eq!(created["env_names"], json!(["ANTHROPIC_API_KEY", "HOME"]), "duplicates are dropped");
    let id = created["id"].as_str().expect("id").to_string();

    // Members list and read them; they may not change them; outsiders see nothing.
    let list: Value = server.get(&path, &member).await.json().await.expect("json");
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(server.get(&format!("{path}/{id}"), &member).await.status(), StatusCode::OK);
    let denied = server.post(&path, &member, json!({"name": "x", "command": "claude"})).await;
    assert_eq!(error_code(denied, StatusCode::FORBIDDEN).await, "ROLE_REQUIRED");
    let denied = server.request(Method::DELETE, &format!("{path}/{id}"), &member, None).await;
    assert_eq!(error_code(denied, StatusCode::FORBIDDEN).await, "ROLE_REQUIRED");
    assert_eq!(error_code(server.get(&path, &outsider).await, StatusCode::NOT_FOUND).await, "NOT_FOUND");
    assert_eq!(
        error_code(server.get(&format!("{path}/{id}"), &outsider).await, StatusCode::NOT_FOUND).await,
        "NOT_FOUND"
    );
    // A read-only key of an admin cannot write.
    let read_key = server.api_key(&admin, &["read"]).await;
    let denied = server.post(&path, &read_key, json!({"name": "y", "command": "claude"})).await;
    assert_eq!(error_code(denied, StatusCode::FORBIDDEN).await, "INSUFFICIENT_SCOPE");

    // Every invalid body is a 400 naming what is wrong; a taken name is a 409.
    let cases = [
        (json!({"name": " ", "command": "claude"}), "INVALID_NAME"),
        (json!({"name": "n", "command": "  "}), "INVALID_COMMAND"),
        (json!({"name": "n", "command": "cl\u{7}aude"}), "INVALID_COMMAND"),
        (json!({"name": "n", "command": "claude", "env_names": ["1BAD"]}), "INVALID_ENV_NAMES"),
        (json!({"name": "n", "command": "claude", "env_names": ["A-B"]}), "INVALID_ENV_NAMES"),
        (json!({"name": "n", "command": "claude", "args": vec!["a"; 65]}), "INVALID_ARGS"),
        (json!({"name": "n", "command": "claude", "cwd": "a\nb"}), "INVALID_CWD"),
        (json!({"name": "n"}), "INVALID_BODY"),
    ];
    for (body, code) in cases {
        let resp = server.post(&path, &admin, body.clone()).await;
        assert_eq!(error_code(resp, StatusCode::BAD_REQUEST).await, code, "{body}");
    }
    let dup = server.post(&path, &admin, json!({"name": "Claude in app", "command": "codex"})).await;
    assert_eq!(error_code(dup, StatusCode::CONFLICT).await, "TEMPLATE_EXISTS");

    // Update replaces the template; delete removes it.
    let resp = server
        .request(Method::PUT, &format!("{path}/{id}"), &admin, Some(json!({"name": "Codex", "command": "codex"})))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let updated: Value = resp.json().await.expect("json");
    assert_eq!((updated["name"].as_str(), updated["args"].clone()), (Some("Codex"), json!([])));
    let missing = server
        .request(
            Method::PUT,
            &format!("{path}/{}", uuid::Uuid::now_v7()),
            &admin,
            Some(json!({"name": "x", "command": "codex"})),
        )
        .await;
    assert_eq!(error_code(missing, StatusCode::NOT_FOUND).await, "NOT_FOUND");
    let gone = server.request(Method::DELETE, &format!("{path}/{id}"), &admin, None).await;
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    assert_eq!(error_code(server.get(&format!("{path}/{id}"), &admin).await, StatusCode::NOT_FOUND).await, "NOT_FOUND");
}

#[cfg(unix)]
#[tokio::test]
async fn a_template_starts_on_a_machine_through_the_same_checks_as_a_direct_start() {
    use crate::agents::{TestAgent, Viewer, admin_org, wait_session};
    use std::time::Duration;

    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    let mut agent = TestAgent::enroll(&server, &org).await;
    agent.run(&server, &org).await;
    let offline = TestAgent::enroll(&server, &org).await;
    let path = format!("/api/v1/orgs/{}/templates", org.id);
    let allow = json!({"commands": ["sh"]});
    let resp =
        server.request(Method::PUT, &format!("/api/v1/orgs/{}/allowed-commands", org.id), &org.key, Some(allow)).await;
    assert_eq!(resp.status(), StatusCode::OK);

    let create = |body: Value| server.post(&path, &org.key, body);
    let ok: Value = create(json!({"name": "pwd", "command": "sh", "args": ["-c", "echo from-template; pwd"],
        "cwd": "/tmp"}))
    .await
    .json()
    .await
    .expect("json");
    let start = |id: &str, machine: &str| {
        let (url, body) = (format!("{path}/{id}/start"), json!({"machine_id": machine, "cols": 90, "rows": 30}));
        let (server, key) = (&server, &org.key);
        async move { server.post(&url, key, body).await }
    };

    let resp = start(ok["id"].as_str().expect("id"), &agent.machine_id).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let session: Value = resp.json().await.expect("json");
    assert_eq!((session["command"].as_str(), session["cols"].as_u64()), (Some("sh"), Some(90)));
    let id = session["id"].as_str().expect("id").to_string();
    let done = wait_session(&server, &org, &id, |s| s["state"] == "exited").await;
    assert_eq!(done["exit_code"], 0);
    let mut viewer = Viewer::attach(&server, &org.id, &id, 0, &org.key).await;
    viewer
        .read_until(Duration::from_secs(30), |v| v.text().contains("from-template") && v.text().contains("/tmp"))
        .await;

    // The allow-list applies to templates too, and so does the machine being online.
    let bash: Value = create(json!({"name": "bash", "command": "bash"})).await.json().await.expect("json");
    let denied = start(bash["id"].as_str().expect("id"), &agent.machine_id).await;
    assert_eq!(error_code(denied, StatusCode::FORBIDDEN).await, "COMMAND_NOT_ALLOWED");
    let away = start(ok["id"].as_str().expect("id"), &offline.machine_id).await;
    assert_eq!(error_code(away, StatusCode::CONFLICT).await, "MACHINE_OFFLINE");

    // A viewer of the org lists templates but may not start them.
    let viewer_user = server.create_user(&org.admin, "viewer@example.com").await;
    server.add_member(&org.admin, &org.id, &viewer_user, "viewer@example.com", "viewer").await;
    let resp = server
        .post(
            &format!("{path}/{}/start", ok["id"].as_str().expect("id")),
            &viewer_user,
            json!({"machine_id": agent.machine_id}),
        )
        .await;
    assert_eq!(error_code(resp, StatusCode::FORBIDDEN).await, "ROLE_REQUIRED");

    // The environment variables a template needs travel to the agent, which refuses to start
    // the command when one is missing on the machine, and says which.
    let env: Value = create(json!({"name": "needs env", "command": "sh", "args": ["-c", "echo should-not-run"],
            "env_names": ["SESSIONFORGE_TEST_SURELY_UNSET_VAR"]}))
    .await
    .json()
    .await
    .expect("json");
    let resp = start(env["id"].as_str().expect("id"), &agent.machine_id).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let id = resp.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string();
    let crashed = wait_session(&server, &org, &id, |s| s["state"] == "crashed").await;
    assert!(
        crashed["reason"].as_str().is_some_and(|r| r.contains("SESSIONFORGE_TEST_SURELY_UNSET_VAR")),
        "the reason names the missing variable: {crashed}"
    );
}
