//! `install.sh` run for real, exactly as the dashboard tells people to (`curl … |
//! SESSIONFORGE_TOKEN=… sh -s -- --signing-key-id …`), against a local server with a published
//! agent: under dash, bash and busybox sh, into a temp prefix with a temp HOME. The signed
//! manifest is verified with OpenSSL; the installed agent runs and enrolls; a second run
//! upgrades in place without re-enrolling; `--uninstall` removes it; a tampered artifact or a
//! foreign signing key is refused and leaves nothing behind; paths in the service unit are
//! quoted.

use std::path::Path;
use std::process::Command;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::agents::{Org, admin_org, agent_bin};
use crate::common::{Auth, TestServer, wait_for};

/// The build the installer should pick on this (glibc Linux) test machine.
fn host_target() -> String {
    format!("{}-unknown-linux-gnu", std::env::consts::ARCH)
}

/// The shells the installer must work in, as (name, program, args before `-c`).
const SHELLS: &[(&str, &str, &[&str])] =
    &[("dash", "dash", &[]), ("bash", "bash", &[]), ("busybox", "busybox", &["sh"])];

/// Publishes the agent binary under the version it reports, as a release build would be.
async fn publish_agent(server: &TestServer, key: &Auth) -> Value {
    let bytes = std::fs::read(agent_bin()).expect("agent binary");
    let out = Command::new(agent_bin()).arg("--version").output().expect("agent --version");
    let version = String::from_utf8_lossy(&out.stdout).trim().rsplit(' ').next().expect("version").to_string();
    let url = server.url(&format!("/api/v1/releases?version={version}&target={}&channel=stable", host_target()));
    let resp = server
        .client
        .post(url)
        .headers(key.headers())
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .expect("publish");
    assert_eq!(resp.status(), StatusCode::CREATED);
    resp.json().await.expect("json")
}

async fn install_command(server: &TestServer, org: &Org) -> String {
    let resp = server.post(&format!("/api/v1/orgs/{}/enrollment-tokens", org.id), &org.key, json!({})).await;
    let body: Value = resp.json().await.expect("json");
    body["install"]["sh"].as_str().expect("install line").to_string()
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs `line` (with `sh -s` replaced by the shell under test) plus `extra` installer flags, in a
/// clean environment whose HOME and TMPDIR are inside `root`.
fn run_line(shell: &(&str, &str, &[&str]), line: &str, extra: &str, root: &Path) -> Run {
    let (_, program, pre) = shell;
    let sh = if pre.is_empty() { program.to_string() } else { format!("{program} {}", pre.join(" ")) };
    let line = line.replacen(" sh -s --", &format!(" {sh} -s --"), 1);
    let home = root.join("home");
    let tmp = root.join("tmp");
    std::fs::create_dir_all(&home).expect("home");
    std::fs::create_dir_all(&tmp).expect("tmp");
    let mut cmd = Command::new(program);
    cmd.args(pre.iter()).arg("-c").arg(format!("{line} {extra}"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("TMPDIR", &tmp)
        // The agent keeps its credential in a file here rather than the user's real keyring.
        .env("SESSIONFORGE_CREDENTIAL_STORE", "file");
    let out = cmd.output().expect("run installer");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn require_shells() {
    for (name, program, _) in SHELLS {
        let found = Command::new("sh").arg("-c").arg(format!("command -v {program}")).output().expect("sh");
        assert!(found.status.success(), "{name} is needed for the installer tests: apt-get install dash busybox");
    }
}

#[tokio::test]
async fn install_sh_installs_enrolls_upgrades_and_uninstalls_in_every_shell() {
    require_shells();
    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    publish_agent(&server, &org.key).await;

    for shell in SHELLS {
        let root = tempfile::tempdir().expect("root");
        let prefix = root.path().join("prefix/bin");
        let line = install_command(&server, &org).await;
        let extra = format!("--dir {} --no-service", prefix.display());

        assert!(!line.contains("--token"), "the token is never on a command line: {line}");
        let first = run_line(shell, &line, &extra, root.path());
        assert!(first.ok, "{}: install failed:\n{}\n{}", shell.0, first.stdout, first.stderr);
        assert!(first.stdout.contains("verified the signed stable manifest"), "{}: {}", shell.0, first.stdout);
        let agent = prefix.join("sessionforge-agent");
        let version = Command::new(&agent).arg("--version").output().expect("installed agent runs");
        assert!(String::from_utf8_lossy(&version.stdout).starts_with("sessionforge-agent "), "{}", shell.0);

        // The machine is enrolled with the org.
        let config = std::fs::read_to_string(root.path().join("home/.config/sessionforge/agent.toml"))
            .unwrap_or_else(|e| panic!("{}: agent.toml: {e}\n{}\n{}", shell.0, first.stdout, first.stderr));
        let machine = config
            .lines()
            .find_map(|l| l.strip_prefix("machine_id = \"").map(|r| r.trim_end_matches('"').to_string()))
            .expect("machine_id");
        let path = format!("/api/v1/orgs/{}/machines/{machine}", org.id);
        wait_for("the enrolled machine", std::time::Duration::from_secs(10), || async {
            (server.get(&path, &org.key).await.status() == StatusCode::OK).then_some(())
        })
        .await;

        // The same line again (same, now used, token): upgrades in place, keeps the enrollment.
        let again = run_line(shell, &line, &extra, root.path());
        assert!(again.ok, "{}: re-run failed:\n{}\n{}", shell.0, again.stdout, again.stderr);
        assert!(again.stdout.contains("already installed"), "{}: {}", shell.0, again.stdout);
        let said = format!("{}{}", again.stdout, again.stderr).to_lowercase();
        assert!(said.contains("already enrolled"), "{}: {said}", shell.0);

        let gone = run_line(shell, &line, &format!("{extra} --uninstall"), root.path());
        assert!(gone.ok, "{}: uninstall failed: {}", shell.0, gone.stderr);
        assert!(!agent.exists(), "{}: the binary is removed", shell.0);
        assert_eq!(std::fs::read_dir(root.path().join("tmp")).expect("tmp").count(), 0, "{}: temp files left", shell.0);
    }
}

#[tokio::test]
async fn install_sh_refuses_a_tampered_artifact_and_leaves_nothing_behind() {
    require_shells();
    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    let release = publish_agent(&server, &org.key).await;
    let sha = release["sha256"].as_str().expect("sha256");
    let stored = server.data_dir().join("artifacts/sha256").join(&sha[..2]).join(sha);
    let mut bytes = std::fs::read(&stored).expect("artifact");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&stored, &bytes).expect("tamper");

    for shell in SHELLS {
        let root = tempfile::tempdir().expect("root");
        let prefix = root.path().join("prefix/bin");
        let line = install_command(&server, &org).await;
        let run = run_line(shell, &line, &format!("--dir {} --no-service", prefix.display()), root.path());
        assert!(!run.ok, "{}: a tampered artifact must be refused", shell.0);
        assert!(run.stderr.contains("checksum mismatch"), "{}: {}", shell.0, run.stderr);
        assert!(!prefix.join("sessionforge-agent").exists(), "{}: nothing installed", shell.0);
        assert!(!root.path().join("home/.config/sessionforge").exists(), "{}: not enrolled", shell.0);
        assert_eq!(std::fs::read_dir(root.path().join("tmp")).expect("tmp").count(), 0, "{}: temp files left", shell.0);
    }
}

#[tokio::test]
async fn install_sh_refuses_a_server_whose_release_key_is_not_the_named_one() {
    require_shells();
    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    publish_agent(&server, &org.key).await;
    let root = tempfile::tempdir().expect("root");
    let prefix = root.path().join("prefix/bin");
    let line = install_command(&server, &org).await;
    let forged = line.rsplit_once("--signing-key-id ").map(|(a, _)| format!("{a}--signing-key-id 0123456789abcdef"));
    let run = run_line(
        &SHELLS[0],
        &forged.expect("key id in the line"),
        &format!("--dir {} --no-service", prefix.display()),
        root.path(),
    );
    assert!(!run.ok, "a foreign key must be refused");
    assert!(run.stderr.contains("not 0123456789abcdef"), "{}", run.stderr);
    assert!(!prefix.join("sessionforge-agent").exists(), "nothing installed");
}

#[tokio::test]
async fn install_sh_quotes_the_service_unit_path() {
    require_shells();
    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    publish_agent(&server, &org.key).await;
    let root = tempfile::tempdir().expect("root");
    // A directory whose name systemd would otherwise split or expand.
    let prefix = root.path().join("my tools/100%/$HOME");
    // A systemctl that only records what it was asked, so that the unit is written here.
    let shim = root.path().join("shim");
    std::fs::create_dir_all(&shim).expect("shim dir");
    std::fs::write(shim.join("systemctl"), "#!/bin/sh\necho \"$@\" >>\"$HOME/systemctl.log\"\n").expect("shim");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(shim.join("systemctl"), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let line = install_command(&server, &org).await;
    let path = format!("{}:{}", shim.display(), std::env::var("PATH").unwrap_or_default());
    let (_, program, pre) = SHELLS[0];
    let home = root.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    let dir = prefix.display().to_string().replace('\'', "'\\''");
    let out = Command::new(program)
        .args(pre.iter())
        .arg("-c")
        .arg(format!("{} --dir '{dir}'", line.replacen(" sh -s --", &format!(" {program} -s --"), 1)))
        .env_clear()
        .env("PATH", path)
        .env("HOME", &home)
        .env("SESSIONFORGE_CREDENTIAL_STORE", "file")
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let unit = std::fs::read_to_string(home.join(".config/systemd/user/sessionforge-agent.service")).expect("unit");
    let exec = unit.lines().find(|l| l.starts_with("ExecStart=")).expect("ExecStart");
    let expected =
        format!("ExecStart=\"{}/sessionforge-agent\" run", prefix.display()).replace('%', "%%").replace('$', "$$");
    assert_eq!(exec, expected, "{unit}");
}
