//! The binary's other subcommands: default-config, export-openapi, init, admin, and JSON logs
//! that never contain secrets.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::common::{ADMIN_PASSWORD, Auth, TestServer, server_bin};

fn run(args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(server_bin())
        .args(args)
        .env_remove("SESSIONFORGE_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write");
    child.wait_with_output().expect("output")
}

#[test]
fn default_config_and_openapi_export() {
    let out = run(&["default-config"], "");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf8");
    assert!(text.contains("listen = \"0.0.0.0:8443\""));
    let out = run(&["export-openapi"], "");
    assert!(out.status.success());
    let spec: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(spec["paths"]["/api/v1/health"].is_object());
}

#[test]
fn init_prepares_the_data_dir_and_bad_config_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf8");
    let out = run(&["init", "--data-dir", d], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf8");
    assert!(text.contains("TLS certificate SHA-256 fingerprint"));
    assert!(text.contains("setup token: "));
    assert!(dir.path().join("sessionforge.db").is_file());

    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "listen = 5\n").expect("write");
    let out = run(&["init", "--config", cfg.to_str().expect("utf8")], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid configuration"));
}

#[tokio::test]
async fn admin_commands_create_users_and_reset_passwords() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf8");
    let out = run(
        &["admin", "create-user", "--data-dir", d, "--email", "ops@example.com", "--admin", "--password-stdin"],
        "first long password\n",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let short =
        run(&["admin", "create-user", "--data-dir", d, "--email", "x@example.com", "--password-stdin"], "short\n");
    assert_eq!(short.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least"));

    let reset =
        run(&["admin", "reset-password", "--data-dir", d, "--email", "ops@example.com"], "second long password\n");
    assert!(reset.status.success(), "{}", String::from_utf8_lossy(&reset.stderr));
    let missing =
        run(&["admin", "reset-password", "--data-dir", d, "--email", "nobody@example.com"], "whatever long\n");
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no account with email"));

    // The server sees the CLI's work: the setup token is spent and the new password works.
    let dir = std::sync::Arc::new(dir);
    let server = TestServer::launch(dir, vec![]).await;
    assert!(server.setup_token().is_none());
    let old = server
        .post("/api/v1/auth/login", &Auth::None, json!({"email": "ops@example.com", "password": "first long password"}))
        .await;
    assert_eq!(old.status(), reqwest::StatusCode::UNAUTHORIZED);
    server.login("ops@example.com", "second long password").await;
}

#[tokio::test]
async fn json_logs_never_contain_secrets() {
    let server =
        TestServer::start_with(&[("SESSIONFORGE_LOG__FORMAT", "json"), ("SESSIONFORGE_LOG__LEVEL", "trace")]).await;
    let token = server.wait_setup_token().await;
    let admin = server.setup_admin().await;
    let key = server.api_key(&admin, &["read"]).await;
    assert_eq!(server.get("/api/v1/orgs", &key).await.status(), reqwest::StatusCode::OK);
    let _ = server
        .post("/api/v1/auth/login", &Auth::None, json!({"email": "a@example.com", "password": "hunter2hunter2"}))
        .await;

    let logs = server.stderr.text();
    let lines: Vec<&str> = logs.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() > 5, "expected logs, got {logs}");
    for line in &lines {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    }
    let Auth::Session { cookie, csrf } = &admin else { unreachable!() };
    let Auth::Key(key) = &key else { unreachable!() };
    for secret in [token.as_str(), ADMIN_PASSWORD, "hunter2hunter2", cookie, csrf, key] {
        assert!(!logs.contains(secret), "a secret leaked into the logs");
    }
}
