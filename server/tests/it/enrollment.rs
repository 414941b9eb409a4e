//! Enrollment never trusts an unverified certificate silently: without `--fingerprint` a
//! self-signed server is refused (before the token is spent), unless a person at a terminal
//! confirms the fingerprint shown. The release key the install line names must be the
//! server's. The token can come from a 0600 file or standard input instead of the command line.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::agents::{admin_org, agent_bin, enrollment_token};
use crate::common::TestServer;

fn agent(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(agent_bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("SESSIONFORGE_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("SESSIONFORGE_CONFIG_DIR", dir).env("SESSIONFORGE_CREDENTIAL_STORE", "file");
    cmd
}

fn enrolled(dir: &std::path::Path) -> bool {
    std::fs::read_to_string(dir.join("agent.toml")).is_ok_and(|c| c.contains("machine_id"))
}

#[tokio::test]
async fn an_unverified_certificate_is_refused_unless_a_person_confirms_its_fingerprint() {
    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    let token = enrollment_token(&server, &org).await;
    let fingerprint = server.fingerprint();

    let dir = tempfile::tempdir().expect("dir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{token}\n")).expect("token file");
    let out = agent(dir.path())
        .args(["enroll", "--server", &server.base, "--token-file"])
        .arg(&token_file)
        .stdin(Stdio::null())
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "refused without a fingerprint");
    assert!(err.contains(&fingerprint) && err.contains("--fingerprint"), "{err}");
    assert!(!enrolled(dir.path()));

    // The same token still works: nothing was spent. At a terminal, a person confirms (`script`
    // gives the agent a terminal; what we write to script's input is typed there).
    let tty = tempfile::tempdir().expect("dir");
    let confirm =
        format!("{} enroll --server {} --token-file {}", agent_bin().display(), server.base, token_file.display());
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", &confirm, "/dev/null"])
        .env("SESSIONFORGE_CONFIG_DIR", tty.path())
        .env("SESSIONFORGE_CREDENTIAL_STORE", "file")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script");
    child.stdin.as_mut().expect("stdin").write_all(b"yes\n").expect("answer");
    let out = child.wait_with_output().expect("wait");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(said.contains(&fingerprint), "the person was shown the fingerprint: {said}");
    assert!(enrolled(tty.path()));
    let config = std::fs::read_to_string(tty.path().join("agent.toml")).expect("config");
    assert!(config.contains(&fingerprint), "and it is pinned: {config}");
}

#[tokio::test]
async fn the_named_release_key_must_be_the_servers_and_the_token_can_come_from_stdin() {
    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    let token = enrollment_token(&server, &org).await;
    let fingerprint = server.fingerprint();
    let keys: serde_json::Value =
        server.get("/api/v1/releases/signing-keys", &crate::common::Auth::None).await.json().await.expect("keys");
    let key_id = keys[0]["key_id"].as_str().expect("key id").to_string();

    let dir = tempfile::tempdir().expect("dir");
    let run = |key: &str| {
        let mut child = agent(dir.path())
            .args(["enroll", "--server", &server.base, "--token", "-", "--fingerprint", &fingerprint])
            .args(["--signing-key-id", key])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        child.stdin.as_mut().expect("stdin").write_all(token.as_bytes()).expect("token");
        child.wait_with_output().expect("wait")
    };
    let foreign = run("0123456789abcdef");
    assert!(!foreign.status.success());
    assert!(String::from_utf8_lossy(&foreign.stderr).contains("0123456789abcdef"));
    assert!(!enrolled(dir.path()), "the token was not spent on a server with the wrong key");

    let ok = run(&key_id);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let config = std::fs::read_to_string(dir.path().join("agent.toml")).expect("config");
    assert!(config.contains("signing_keys"), "{config}");
}
