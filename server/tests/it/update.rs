//! Agent self-update end to end, with real processes: an agent enrolled with a TestServer, run
//! from a copy of the agent binary (so that the workspace's binary is never replaced), updates
//! itself to a "version 99" build the server publishes; a tampered artifact, a manifest signed
//! by another key and a build that fails its self-check are all refused with the installed
//! binary left byte for byte as it was; a running relayed session holds the update back unless
//! forced; a running daemon installs the update by itself and restarts into it, and one held
//! back by a session adopts a build installed meanwhile once the session ends.
//! (The installed agent and the version 99 build are in `installed.rs`.)

use std::process::{Output, Stdio};

use serde_json::Value;
use sessionforge_shared::signing::PublicKey;
use sha2::{Digest, Sha256};

use crate::common::{self, Auth, wait_for};
use crate::installed::{NEXT, Running, SHOWS_WITHIN, publish, set_policy, setup};

#[tokio::test]
async fn an_installed_agent_updates_itself_to_a_newer_signed_build() {
    let (server, org, installed, next_bytes) = setup().await;
    // Enrollment pinned the server's release signing key.
    let key: PublicKey = server.get("/api/v1/releases/signing-key", &Auth::None).await.json().await.expect("key");
    let pinned_line = format!("signing_keys = [\"{}\"]", key.public_key);
    assert!(installed.config_text().contains(&pinned_line), "{}", installed.config_text());
    let v1 = installed.version();
    assert_ne!(v1, NEXT);
    let before = installed.bytes();

    // An agent enrolled before keys were pinned pins it at its first check, and says so.
    let pinned = installed.config_text();
    installed.set_config(&pinned.lines().filter(|l| !l.starts_with("signing_key")).collect::<Vec<_>>().join("\n"));
    let (out, text) = installed.run(&["update", "--check"]).await;
    assert!(out.status.success(), "{text}");
    assert!(text.contains("trust on first use"), "{text}");
    assert!(text.contains(&format!("Update available: {v1} → {NEXT}")), "{text}");
    assert!(installed.config_text().contains(&pinned_line));
    assert_eq!(installed.bytes(), before, "--check changes nothing");

    let (out, text) = installed.run(&["update", "--yes"]).await;
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&format!("from {v1} to {NEXT}")), "{text}");
    assert_eq!(installed.version(), NEXT, "the same path now runs version 99");
    assert!(installed.bytes() == next_bytes, "the installed file is exactly the published build");
    assert!(installed.leftovers().is_empty(), "{:?}", installed.leftovers());

    let (out, text) = installed.run(&["update", "--yes"]).await;
    assert!(out.status.success() && text.contains("Up to date"), "{text}");

    let _daemon = Running(installed.spawn(&["run"]));
    wait_for("the server to see agent 99.0.0 online", SHOWS_WITHIN, || async {
        let m = installed.machine(&server, &org).await;
        (m["online"] == true && m["agent_version"] == NEXT).then_some(())
    })
    .await;
}

#[tokio::test]
async fn tampered_builds_foreign_signatures_and_broken_builds_change_nothing() {
    let (server, org, installed, next_bytes) = setup().await;
    let before = installed.bytes();
    let refused = |text: &str, why: &str, out: &Output| {
        assert!(!out.status.success(), "{text}");
        assert!(text.contains(why), "expected {why:?}: {text}");
        assert!(installed.bytes() == before, "the installed agent changed: {text}");
        assert!(installed.leftovers().is_empty(), "{:?}", installed.leftovers());
    };

    // The stored artifact is altered after publishing (same size, one byte flipped), then cut short.
    let sha = hex::encode(Sha256::digest(&next_bytes));
    let stored = server.data_dir().join("artifacts/sha256").join(&sha[..2]).join(&sha);
    let mut flipped = next_bytes.clone();
    flipped[next_bytes.len() / 2] ^= 0xff;
    std::fs::write(&stored, &flipped).expect("tamper");
    let (out, text) = installed.run(&["update", "--yes"]).await;
    refused(&text, "SHA-256", &out);
    std::fs::write(&stored, &next_bytes[..next_bytes.len() - 1]).expect("truncate");
    let (out, text) = installed.run(&["update", "--yes"]).await;
    refused(&text, "the download is not the published build", &out);
    std::fs::write(&stored, &next_bytes).expect("restore");

    // The manifest is signed with the server's key, but the agent pinned another one.
    let genuine = installed.config_text();
    let other = sessionforge_shared::signing::public_key(&ed25519_dalek::SigningKey::from_bytes(&[7; 32]));
    let pinned = genuine.lines().find(|l| l.starts_with("signing_keys = ")).expect("pinned key").to_string();
    installed.set_config(&genuine.replace(&pinned, &format!("signing_keys = [\"{}\"]", other.public_key)));
    for args in [&["update", "--yes"][..], &["update", "--check"][..]] {
        let (out, text) = installed.run(args).await;
        refused(&text, "not the pinned key", &out);
        assert!(text.contains("refusing to update"), "{text}");
    }
    installed.set_config(&genuine);

    // A newer build that cannot run here fails its self-check before anything is replaced.
    let target = installed.target().await;
    publish(&server, &org.key, "100.0.0", &target, b"#!/bin/sh\necho 'broken build' >&2\nexit 1\n".to_vec()).await;
    let (out, text) = installed.run(&["update", "--yes"]).await;
    refused(&text, "failed its self-check", &out);
    assert!(text.contains("broken build") && text.contains("nothing was changed"), "{text}");
}

#[tokio::test]
async fn a_running_relayed_session_holds_the_update_back_unless_forced() {
    let (_server, _org, installed, next_bytes) = setup().await;
    let before = installed.bytes();
    let mut wrap = Running(
        installed
            .command(&["wrap", "--", "sh", "-c", "sleep 60"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn wrap"),
    );
    let pid = wrap.0.id();
    // Wait until the wrap process lists its running session.
    wait_for("the wrapped session in the status", SHOWS_WITHIN, || async {
        let (out, _) = installed.run(&["status", "--json"]).await;
        let all: Value = serde_json::from_slice(&out.stdout).ok()?;
        let found = all.as_array()?.iter().any(|s| {
            s["pid"] == pid && s["sessions"].as_array().is_some_and(|v| v.iter().any(|x| x["running"] == true))
        });
        found.then_some(())
    })
    .await;

    let (out, text) = installed.run(&["update", "--yes"]).await;
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("relayed sessions are running"), "{text}");
    assert!(text.contains(&format!(" sh (agent wrap pid {pid})")) && text.contains("--force"), "{text}");
    assert!(installed.bytes() == before, "nothing was replaced");

    let (out, text) = installed.run(&["update", "--yes", "--force"]).await;
    assert!(out.status.success(), "{text}");
    assert!(installed.bytes() == next_bytes);
    assert!(wrap.0.try_wait().expect("try_wait").is_none(), "the running session was left alone");
}

#[tokio::test]
async fn a_running_daemon_reports_then_installs_the_update_and_restarts_into_it() {
    let (server, org, installed, next_bytes) = setup().await;
    let before = installed.bytes();
    let enrolled = installed.config_text();
    // Check every 1.8 seconds. The org's policy is `notify` by default: only report.
    installed.set_config(&format!("{enrolled}\n[update]\ncheck_interval_hours = 0.0005\n"));
    let mut daemon = Running(installed.spawn(&["run"]));
    let err = common::Output::capture(daemon.0.stderr.take().expect("stderr"));
    wait_for("the status file to show the update", SHOWS_WITHIN, || async {
        let (out, _) = installed.run(&["status", "--json"]).await;
        let all: Value = serde_json::from_slice(&out.stdout).ok()?;
        all.as_array()?.iter().any(|s| s["update_available"] == NEXT).then_some(())
    })
    .await;
    assert!(installed.bytes() == before, "the notify policy only reports: {}", err.text());
    drop(daemon);

    set_policy(&server, &org, "automatic").await;
    let mut daemon = Running(installed.spawn(&["run"]));
    let pid = daemon.0.id();
    let err = common::Output::capture(daemon.0.stderr.take().expect("stderr"));
    wait_for("the daemon to come back as version 99", SHOWS_WITHIN, || async {
        let m = installed.machine(&server, &org).await;
        (m["online"] == true && m["agent_version"] == NEXT).then_some(())
    })
    .await;
    assert!(installed.bytes() == next_bytes, "{}", err.text());
    assert!(daemon.0.try_wait().expect("try_wait").is_none(), "it restarted in place: {}", err.text());
    assert_eq!(daemon.0.id(), pid);
    assert!(err.text().contains("restarting into the new agent"), "{}", err.text());
}

#[tokio::test]
async fn a_daemon_waits_for_running_sessions_and_adopts_an_update_installed_meanwhile() {
    use std::io::Write;

    let (server, org, installed, next_bytes) = setup().await;
    set_policy(&server, &org, "automatic").await;
    let enrolled = installed.config_text();
    installed.set_config(&format!("{enrolled}\n[update]\ncheck_interval_hours = 0.0005\n"));
    // A session that ends when it reads a line.
    let mut wrap = Running(
        installed
            .command(&["wrap", "--", "sh", "-c", "read line"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn wrap"),
    );
    wait_for("the wrap process in the status", SHOWS_WITHIN, || async {
        let (out, _) = installed.run(&["status", "--json"]).await;
        let all: Value = serde_json::from_slice(&out.stdout).ok()?;
        all.as_array()?.iter().any(|s| s["mode"] == "wrap").then_some(())
    })
    .await;

    let mut daemon = Running(installed.spawn(&["run"]));
    let err = common::Output::capture(daemon.0.stderr.take().expect("stderr"));
    wait_for("the daemon to wait for the session", SHOWS_WITHIN, || {
        let waiting = err.text().contains("the update waits until the running sessions end");
        async move { waiting.then_some(()) }
    })
    .await;
    let (out, text) = installed.run(&["update", "--yes", "--force"]).await;
    assert!(out.status.success(), "{text}");
    assert!(installed.bytes() == next_bytes);

    // The session ends; the daemon finds the new build already installed and restarts into it.
    let stdin = wrap.0.stdin.as_mut().expect("wrap stdin");
    stdin.write_all(b"done\n").expect("end the session");
    stdin.flush().expect("flush");
    wait_for("the daemon to come back as version 99", SHOWS_WITHIN, || async {
        let m = installed.machine(&server, &org).await;
        (m["online"] == true && m["agent_version"] == NEXT).then_some(())
    })
    .await;
    assert!(err.text().contains("already this version"), "{}", err.text());
    assert!(daemon.0.try_wait().expect("try_wait").is_none(), "{}", err.text());
    assert!(installed.bytes() == next_bytes, "nothing else replaced it");
}
