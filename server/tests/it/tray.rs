//! Smoke test of the tray app (`sessionforge-tray`) on a virtual display (`xvfb-run`) with a
//! private D-Bus session (`dbus-run-session`), against a real server: it enrolls with a one-time
//! token, relays (the server lists the machine online), makes the headless agent refuse to run
//! for the same machine, opens its settings window (a screenshot is saved to
//! `test-artifacts/tray/settings.png`), and exits with 0 on SIGTERM, taking the machine offline.
//! `scripts/test.sh` installs Xvfb, D-Bus and ImageMagick and builds the tray first.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::agents::{admin_org, agent_bin, enrollment_token};
use crate::common::{Output, TestServer, wait_for};

fn tray_bin() -> PathBuf {
    let tray = agent_bin().with_file_name(format!("sessionforge-tray{}", std::env::consts::EXE_SUFFIX));
    assert!(
        tray.is_file(),
        "{} is missing: run `cargo build --workspace --bins` first (needs webkit2gtk)",
        tray.display()
    );
    tray
}

fn need(program: &str) {
    let found = Command::new("sh").arg("-c").arg(format!("command -v {program}")).output().expect("sh");
    assert!(found.status.success(), "{program} is needed for the tray test (scripts/test.sh installs it)");
}

/// Runs an X client against the test's display.
fn x_command(program: &str, display: &(String, String)) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("DISPLAY", &display.0).env("XAUTHORITY", &display.1);
    cmd
}

/// The pid in the status file the tray's agent writes.
fn tray_pid(dir: &Path) -> Option<u32> {
    std::fs::read_dir(dir.join("status")).ok()?.flatten().find_map(|e| {
        let status: Value = serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok()?;
        (status["mode"] == "tray").then(|| status["pid"].as_u64().and_then(|p| u32::try_from(p).ok())).flatten()
    })
}

#[tokio::test]
async fn the_tray_enrolls_relays_shows_its_settings_and_quits_cleanly() {
    for program in ["xvfb-run", "dbus-run-session", "xwininfo", "import"] {
        need(program);
    }
    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    let token = enrollment_token(&server, &org).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let display_file = dir.path().join("display");

    let mut cmd = Command::new("xvfb-run");
    for (k, _) in std::env::vars() {
        if k.starts_with("SESSIONFORGE_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .args(["-a", "-s", "-screen 0 1280x900x24", "dbus-run-session", "--", "sh", "-c"])
        .arg(r#"printf '%s\n%s\n' "$DISPLAY" "$XAUTHORITY" > "$SF_DISPLAY_FILE"; exec "$0" "$@""#)
        .arg(tray_bin())
        .args(["--settings", "--server", &server.base, "--token", &token, "--fingerprint", &server.fingerprint()])
        .env("SF_DISPLAY_FILE", &display_file)
        .env("SESSIONFORGE_CONFIG_DIR", dir.path())
        .env("SESSIONFORGE_CREDENTIAL_STORE", "file")
        .env("SESSIONFORGE_LOG", "sessionforge_tray=debug,sessionforge_agent=debug,info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the tray under xvfb-run");
    let log = Output::capture(child.stderr.take().expect("stderr"));

    // Enrolled through its --server/--token flags, then relaying.
    let machine_id = wait_for("the tray to enroll", Duration::from_secs(60), || async {
        let config = std::fs::read_to_string(dir.path().join("agent.toml")).ok()?;
        config.lines().find_map(|l| l.strip_prefix("machine_id = \"").map(|r| r.trim_end_matches('"').to_string()))
    })
    .await;
    let path = format!("/api/v1/orgs/{}/machines/{machine_id}", org.id);
    wait_for("the machine to be online", Duration::from_secs(60), || async {
        let m: Value = server.get(&path, &org.key).await.json().await.ok()?;
        (m["online"] == true).then_some(())
    })
    .await;
    assert!(!token.is_empty() && !log.text().contains(&token), "the token must never be logged:\n{}", log.text());

    // One agent per machine: the headless agent refuses while the tray relays.
    let second = Command::new(agent_bin())
        .arg("run")
        .env("SESSIONFORGE_CONFIG_DIR", dir.path())
        .env("SESSIONFORGE_CREDENTIAL_STORE", "file")
        .output()
        .expect("run a second agent");
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success() && said.contains("already running"), "{said}");

    // The settings window, rendered: find it by title and keep a screenshot.
    let display = wait_for("the virtual display", Duration::from_secs(30), || async {
        let text = std::fs::read_to_string(&display_file).ok()?;
        let mut lines = text.lines();
        Some((lines.next()?.to_string(), lines.next()?.to_string()))
    })
    .await;
    let window = wait_for("the settings window", Duration::from_secs(60), || async {
        let out = x_command("xwininfo", &display).args(["-root", "-tree"]).output().ok()?;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.contains("\"SessionForge settings\""))
            .and_then(|l| l.split_whitespace().next().map(String::from))
    })
    .await;
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-artifacts/tray");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let shot = artifacts.join("settings.png");
    // Rendered once the page's text is there: many distinct colours, not a blank window.
    wait_for("the settings page to render", Duration::from_secs(60), || async {
        let ok = x_command("import", &display).args(["-window", &window]).arg(&shot).status().ok()?.success();
        let colours = Command::new("identify").args(["-format", "%k"]).arg(&shot).output().ok()?;
        let n: u32 = String::from_utf8_lossy(&colours.stdout).trim().parse().ok()?;
        (ok && n > 64).then_some(())
    })
    .await;

    // A quit signal: the tray stops relaying and exits with 0.
    let pid = wait_for("the tray's status file", Duration::from_secs(30), || async { tray_pid(dir.path()) }).await;
    let killed = Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("kill");
    assert!(killed.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the tray") {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "the tray did not exit on SIGTERM:\n{}", log.text());
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "the tray exited with {status:?}:\n{}", log.text());
    wait_for("the machine to go offline", Duration::from_secs(60), || async {
        let m: Value = server.get(&path, &org.key).await.json().await.ok()?;
        (m["online"] == false).then_some(())
    })
    .await;
    assert!(tray_pid(dir.path()).is_none(), "the tray removes its status file on exit");
}
