//! Backup and restore with real processes: a session streams while `backup` runs against the
//! live server; the backup restored into a new data dir starts as a working server holding every
//! byte acknowledged before the backup began. Restore refuses to run over a live server.

use std::process::Command;
use std::sync::Arc;

use base64::Engine;
use serde_json::Value;
use sessionforge_shared::ids::SessionId;

use crate::agents::{TestAgent, admin_org};
use crate::common::{TestServer, server_bin};
use crate::raw_agent::{RawAgent, session_info};

fn cli(args: &[&str]) -> (bool, String) {
    let out = Command::new(server_bin()).args(args).env_remove("SESSIONFORGE_CONFIG").output().expect("run");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Frame `i` of the stream: its number and filler, so that every byte is checkable.
fn frame(i: u64) -> Vec<u8> {
    let mut f = format!("frame {i:08}\n").into_bytes();
    f.resize(4096, b'.');
    f
}

#[tokio::test]
async fn a_backup_taken_mid_stream_restores_every_acknowledged_byte() {
    let server = TestServer::start().await;
    let org = admin_org(&server).await;
    let agent = TestAgent::enroll(&server, &org).await;
    let id = SessionId::new();
    let mut raw = RawAgent::connect(&server, &agent, "wrap", vec![session_info(id, "stream")]).await;
    let mut sent = 0u64;
    for i in 0..500 {
        raw.output(id, sent, &frame(i)).await;
        sent += 4096;
    }
    raw.wait_ack(id, sent).await;
    let acked_before = sent;

    // The stream goes on while the backup runs.
    let d = server.data_dir().to_str().expect("utf8").to_string();
    let backups = tempfile::tempdir().expect("backups");
    let file = backups.path().join("sf.tar.gz");
    let f = file.to_str().expect("utf8").to_string();
    let running = std::thread::spawn(move || cli(&["backup", "--data-dir", &d, &f]));
    let mut i = 500;
    while !running.is_finished() {
        raw.output(id, sent, &frame(i)).await;
        sent += 4096;
        i += 1;
    }
    let (ok, said) = running.join().expect("backup thread");
    assert!(ok, "{said}");
    raw.wait_ack(id, sent).await;

    // Restoring over the live server's data dir is refused.
    let (ok, said) =
        cli(&["restore", "--data-dir", server.data_dir().to_str().expect("utf8"), file.to_str().expect("utf8")]);
    assert!(!ok && said.contains("running"), "{said}");

    let restored = Arc::new(tempfile::tempdir().expect("restored"));
    let (ok, said) =
        cli(&["restore", "--data-dir", restored.path().to_str().expect("utf8"), file.to_str().expect("utf8")]);
    assert!(ok, "{said}");
    let (ok, said) =
        cli(&["restore", "--data-dir", restored.path().to_str().expect("utf8"), file.to_str().expect("utf8")]);
    assert!(!ok && said.contains("--force"), "an existing data dir is not overwritten: {said}");

    let copy = TestServer::launch(restored, vec![]).await;
    let mut got = Vec::new();
    let mut from = 0u64;
    loop {
        let page: Value = copy
            .get(&format!("/api/v1/orgs/{}/sessions/{id}/output?from={from}", org.id), &org.key)
            .await
            .json()
            .await
            .expect("output page");
        for c in page["chunks"].as_array().expect("chunks") {
            let data =
                base64::engine::general_purpose::STANDARD.decode(c["data"].as_str().expect("data")).expect("b64");
            got.extend_from_slice(&data);
        }
        let to = page["to"].as_u64().expect("to");
        if to == from || to >= page["end"].as_u64().expect("end") {
            break;
        }
        from = to;
    }
    assert!(got.len() as u64 >= acked_before, "{} bytes restored, {acked_before} were acknowledged before", got.len());
    let expected: Vec<u8> = (0..got.len() as u64 / 4096).flat_map(frame).collect();
    assert_eq!(&got[..expected.len()], &expected[..], "exactly the bytes sent, in order");

    // The same backup without its output segments is refused before anything is put in place.
    let broken = backups.path().join("no-segments.tar.gz");
    assert!(without_segments(&file, &broken) > 0, "the backup carried output segments");
    let fresh = tempfile::tempdir().expect("fresh");
    let (ok, said) =
        cli(&["restore", "--data-dir", fresh.path().to_str().expect("utf8"), broken.to_str().expect("utf8")]);
    assert!(!ok && said.contains("output segment"), "{said}");
    assert!(!fresh.path().join("sessionforge.db").exists(), "nothing was put in place");
}

/// Copies the backup `from` to `to` leaving out its output segments; returns how many it left out.
fn without_segments(from: &std::path::Path, to: &std::path::Path) -> usize {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(std::fs::File::open(from).expect("backup")));
    let out = flate2::write::GzEncoder::new(std::fs::File::create(to).expect("create"), flate2::Compression::fast());
    let mut copy = tar::Builder::new(out);
    let mut left_out = 0;
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let path = entry.path().expect("path").into_owned();
        if path.starts_with("output") && path.extension().is_some_and(|e| e == "seg") {
            left_out += 1;
            continue;
        }
        let mut header = entry.header().clone();
        copy.append_data(&mut header, &path, &mut entry).expect("copy entry");
    }
    copy.into_inner().expect("tar").finish().expect("gzip");
    left_out
}
