//! The server and its OpenAPI spec agree on request bodies and parameters: wrong JSON types are
//! refused (not coerced), the spec's rules are the server's rules and keep the server's error
//! codes, and optional fields are left out of responses, not null. (scripts/api-fuzz.sh checks
//! the same with generated requests over the whole spec.)

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Auth, TestServer, error_code};

fn spec() -> Value {
    serde_json::from_str(&sessionforge_server::openapi_json()).expect("spec")
}

/// An admin API key and the admin's personal org.
async fn admin(server: &TestServer) -> (Auth, String) {
    let session = server.setup_admin().await;
    let key = server.api_key(&session, &["admin"]).await;
    let me: Value = server.get("/api/v1/auth/me", &key).await.json().await.expect("json");
    (key, me["orgs"][0]["id"].as_str().expect("org id").to_string())
}

#[tokio::test]
async fn wrong_json_types_are_refused_not_coerced() {
    let server = TestServer::start().await;
    let (key, org) = admin(&server).await;
    for name in [json!(false), json!(42), json!(2.220446049250313e-16), json!(null), json!(["x"])] {
        let resp = server.post("/api/v1/orgs", &key, json!({ "name": name })).await;
        assert_eq!(error_code(resp, StatusCode::BAD_REQUEST).await, "INVALID_BODY", "org name {name}");
        let resp =
            server.request(Method::PUT, &format!("/api/v1/orgs/{org}"), &key, Some(json!({ "name": name }))).await;
        assert_eq!(error_code(resp, StatusCode::BAD_REQUEST).await, "INVALID_BODY", "org rename {name}");
        if !name.is_boolean() {
            let prefs = json!({ "notifications": { "browser": { "crashed": name } } });
            let resp = server.request(Method::PUT, "/api/v1/auth/preferences", &key, Some(prefs)).await;
            assert_eq!(error_code(resp, StatusCode::BAD_REQUEST).await, "INVALID_BODY", "preference {name}");
        }
        let resp = server.post("/api/v1/api-keys", &key, json!({ "name": name, "scopes": ["read"] })).await;
        assert_eq!(error_code(resp, StatusCode::BAD_REQUEST).await, "INVALID_BODY", "key name {name}");
    }
    let orgs: Value = server.get("/api/v1/orgs", &key).await.json().await.expect("json");
    assert_eq!(orgs.as_array().map(Vec::len), Some(1), "no org was created: {orgs}");

    let commands = format!("/api/v1/orgs/{org}/allowed-commands");
    let put = |body: Value| server.request(Method::PUT, &commands, &key, Some(body));
    let resp = put(json!({ "commands": [false] })).await;
    assert_eq!(error_code(resp, StatusCode::BAD_REQUEST).await, "INVALID_BODY");
    let tokens = format!("/api/v1/orgs/{org}/enrollment-tokens");
    for body in [json!({ "expires_in_minutes": "60" }), json!({ "expires_in_minutes": 1.5 }), json!({ "note": null })] {
        let resp = server.post(&tokens, &key, body.clone()).await;
        assert_eq!(error_code(resp, StatusCode::BAD_REQUEST).await, "INVALID_BODY", "{body}");
    }

    // The same values as the right types are fine.
    assert_eq!(server.post("/api/v1/orgs", &key, json!({ "name": "42" })).await.status(), StatusCode::CREATED);
    assert_eq!(put(json!({ "commands": ["false"] })).await.status(), StatusCode::OK);
    assert_eq!(server.post(&tokens, &key, json!({ "expires_in_minutes": 60 })).await.status(), StatusCode::CREATED);
}

/// `schema` with `$ref`, `allOf` and `oneOf` followed to a concrete schema (the first form).
fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    if let Some(name) = schema.get("$ref").and_then(Value::as_str).and_then(|r| r.rsplit('/').next()) {
        return resolve(spec, &spec["components"]["schemas"][name]);
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        if let Some(first) = schema.get(key).and_then(|a| a.get(0)) {
            return resolve(spec, first);
        }
    }
    schema
}

/// A value of the schema's shape with every string (and enum) replaced by a number.
fn numbers_for_strings(spec: &Value, schema: &Value) -> Value {
    let s = resolve(spec, schema);
    match s["type"].as_str() {
        Some("object") => {
            let props = s["properties"].as_object().cloned().unwrap_or_default();
            Value::Object(props.iter().map(|(k, v)| (k.clone(), numbers_for_strings(spec, v))).collect())
        }
        Some("array") => json!([numbers_for_strings(spec, &s["items"])]),
        Some("integer") => json!(1),
        Some("boolean") => json!(true),
        _ => json!(42),
    }
}

#[tokio::test]
async fn every_json_body_refuses_a_number_where_the_spec_says_string() {
    let server = TestServer::start().await;
    let (key, org) = admin(&server).await;
    let spec = spec();
    let mut checked = 0;
    for (path, ops) in spec["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().expect("operations") {
            let Some(schema) = op["requestBody"]["content"].get("application/json; charset=utf-8") else { continue };
            let body = numbers_for_strings(&spec, &schema["schema"]);
            if !body.to_string().contains("42") {
                continue; // no string in this body (preferences are all booleans)
            }
            let url = path
                .replace("{org_id}", &org)
                .replace("{channel}", "stable")
                .replace("{user_id}", "0190a4c2-58e1-7c3e-8d7f-5b0e2f6c1a9d")
                .replace("{id}", "0190a4c2-58e1-7c3e-8d7f-5b0e2f6c1a9d");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let resp = server.request(method.clone(), &url, &key, Some(body.clone())).await;
            let status = resp.status();
            let err: Value = resp.json().await.expect("json error");
            assert_eq!(
                (status, err["code"].as_str()),
                (StatusCode::BAD_REQUEST, Some("INVALID_BODY")),
                "{method} {path} took {body}: {err}"
            );
            assert!(err["message"].as_str().is_some_and(|m| m.contains("must be")), "{method} {path}: {err}");
            checked += 1;
        }
    }
    assert!(checked >= 14, "only {checked} JSON bodies found in the spec");
}

#[tokio::test]
async fn the_specs_rules_are_the_servers_with_its_error_codes() {
    let server = TestServer::start().await;
    let (key, org) = admin(&server).await;
    let cases = [
        ("/api/v1/orgs", json!({ "name": "" }), "INVALID_NAME"),
        ("/api/v1/orgs", json!({ "name": "x".repeat(101) }), "INVALID_NAME"),
        ("/api/v1/orgs", json!({ "name": "Team\n" }), "INVALID_NAME"),
        ("/api/v1/orgs", json!({ "name": "evil\u{202E}gnp.exe" }), "INVALID_NAME"),
        ("/api/v1/api-keys", json!({ "name": "k", "scopes": ["read"], "expires_in_days": 0 }), "INVALID_EXPIRY"),
        ("/api/v1/api-keys", json!({ "name": "k", "scopes": ["read"], "expires_in_days": 3651 }), "INVALID_EXPIRY"),
        ("/api/v1/admin/users", json!({ "email": "a\u{202E}@b.co", "password": "long enough pw" }), "INVALID_EMAIL"),
        ("/api/v1/admin/users", json!({ "email": "a@b.co", "password": "too short" }), "WEAK_PASSWORD"),
        (
            "/api/v1/admin/users",
            json!({ "email": "a@b.co", "password": "long enough pw", "display_name": "\t" }),
            "INVALID_NAME",
        ),
    ];
    for (path, body, code) in cases {
        let resp = server.post(path, &key, body.clone()).await;
        assert_eq!(error_code(resp, StatusCode::BAD_REQUEST).await, code, "{path} {body}");
    }
    let tokens = format!("/api/v1/orgs/{org}/enrollment-tokens");
    let resp = server.post(&tokens, &key, json!({ "expires_in_minutes": 10081 })).await;
    assert_eq!(error_code(resp, StatusCode::BAD_REQUEST).await, "INVALID_EXPIRY");
    let sessions = format!("/api/v1/orgs/{org}/sessions");
    let start = json!({ "machine_id": "0190a4c2-58e1-7c3e-8d7f-5b0e2f6c1a9d", "command": "claude", "cols": 0 });
    assert_eq!(error_code(server.post(&sessions, &key, start).await, StatusCode::BAD_REQUEST).await, "INVALID_SIZE");
    let templates = format!("/api/v1/orgs/{org}/templates");
    let bad_templates = [
        (json!({ "name": "", "command": "claude" }), "INVALID_NAME"),
        (json!({ "name": "n", "command": "" }), "INVALID_COMMAND"),
        (json!({ "name": "n", "command": "claude", "env_names": [""] }), "INVALID_ENV_NAMES"),
        (json!({ "name": "n", "command": "claude", "cwd": "\t/tmp" }), "INVALID_CWD"),
        (json!({ "name": "n", "command": "claude", "args": ["a\u{0}b"] }), "INVALID_ARGS"),
    ];
    for (body, code) in bad_templates {
        let resp = server.post(&templates, &key, body.clone()).await;
        assert_eq!(error_code(resp, StatusCode::BAD_REQUEST).await, code, "{templates} {body}");
    }
    let start = json!({ "machine_id": "0190a4c2-58e1-7c3e-8d7f-5b0e2f6c1a9d", "rows": 1001 });
    let start_template = format!("{templates}/0190a4c2-58e1-7c3e-8d7f-5b0e2f6c1a9d/start");
    assert_eq!(
        error_code(server.post(&start_template, &key, start).await, StatusCode::BAD_REQUEST).await,
        "INVALID_SIZE"
    );

    let params = [
        ("/api/v1/releases/manifest/nightly".to_string(), "UNKNOWN_CHANNEL"),
        ("/api/v1/releases/targets?channel=".to_string(), "UNKNOWN_CHANNEL"),
        ("/api/v1/releases/latest?target=sparc-sun-solaris".to_string(), "UNKNOWN_TARGET"),
        (format!("{sessions}?state=bogus"), "INVALID_FILTER"),
        (format!("{sessions}?source=bogus"), "INVALID_FILTER"),
    ];
    for (path, code) in params {
        assert_eq!(error_code(server.get(&path, &key).await, StatusCode::BAD_REQUEST).await, code, "{path}");
    }
    // What the rules allow still works: surrounding spaces are trimmed, limits are inclusive.
    let ok = server.post("/api/v1/orgs", &key, json!({ "name": format!(" {} ", "x".repeat(98)) })).await;
    assert_eq!(ok.status(), StatusCode::CREATED);
    let ok = server
        .post("/api/v1/api-keys", &key, json!({ "name": "k", "scopes": ["read"], "expires_in_days": 3650 }))
        .await;
    assert_eq!(ok.status(), StatusCode::CREATED);
    assert_eq!(server.get(&format!("{sessions}?state=running&source=relayed"), &key).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_allow_list_is_given_in_exactly_one_form() {
    let server = TestServer::start().await;
    let (key, org) = admin(&server).await;
    let path = format!("/api/v1/orgs/{org}/allowed-commands");
    let put = |body: Value| server.request(Method::PUT, &path, &key, Some(body));
    for body in [json!({}), json!({ "commands": ["a"], "entries": [{ "command": "b" }] })] {
        assert_eq!(error_code(put(body.clone()).await, StatusCode::BAD_REQUEST).await, "INVALID_BODY", "{body}");
    }
    assert_eq!(error_code(put(json!({ "commands": [" "] })).await, StatusCode::BAD_REQUEST).await, "INVALID_COMMAND");
    let by_names: Value = put(json!({ "commands": ["claude"] })).await.json().await.expect("json");
    assert_eq!(by_names["commands"], json!(["claude"]));
    let entries = json!({ "entries": [{ "command": "aider", "args": ["--model=*"] }] });
    let with_args: Value = put(entries).await.json().await.expect("json");
    assert_eq!(with_args["entries"], json!([{ "command": "aider", "args": ["--model=*"] }]));
}

fn assert_no_nulls(what: &str, v: &Value) {
    match v {
        Value::Null => panic!("{what} has a null"),
        Value::Array(items) => items.iter().for_each(|i| assert_no_nulls(what, i)),
        Value::Object(map) => map.iter().for_each(|(k, v)| assert_no_nulls(&format!("{what}.{k}"), v)),
        _ => {}
    }
}

#[tokio::test]
async fn optional_fields_are_left_out_not_null() {
    let server = TestServer::start().await;
    let (key, org) = admin(&server).await;
    let created: Value = server
        .post(&format!("/api/v1/orgs/{org}/enrollment-tokens"), &key, json!({}))
        .await
        .json()
        .await
        .expect("json");
    let machine = json!({ "hostname": "box", "os": "linux", "os_version": "6", "arch": "x86_64", "cpus": 1, "memory_bytes": 1, "agent_version": "1" });
    let enrolled = server
        .post("/api/v1/agent/enroll", &Auth::None, json!({ "token": created["token"], "machine": machine }))
        .await;
    assert_eq!(enrolled.status(), StatusCode::CREATED);
    for path in [
        "/api/v1/auth/me".to_string(),
        "/api/v1/api-keys".to_string(),
        format!("/api/v1/orgs/{org}/enrollment-tokens"),
        format!("/api/v1/orgs/{org}/machines"),
        format!("/api/v1/orgs/{org}/allowed-commands"),
        "/api/v1/releases".to_string(),
        "/api/v1/releases/targets".to_string(),
    ] {
        let body: Value = server.get(&path, &key).await.json().await.expect("json");
        assert_no_nulls(&path, &body);
    }
    let me: Value = server.get("/api/v1/auth/me", &key).await.json().await.expect("json");
    assert!(me.get("csrf_token").is_none(), "no CSRF token for an API key: {me}");
}
