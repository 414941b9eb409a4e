//! The seeds of the fuzz targets (`fuzz/corpus/<target>/seed-*`) are genuine inputs: frames that
//! decode, every example message of docs/protocol.md, manifests signed with the fuzz key, real
//! `Range` headers and download links signed with the fuzz link key. The fuzzer starts from
//! them, so one that rotted would quietly cost coverage. `SESSIONFORGE_WRITE_FUZZ_SEEDS=1`
//! rewrites them from the code below.

#[path = "../../fuzz/src/fixtures.rs"]
mod fixtures;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sessionforge_shared::frame;
use sessionforge_shared::ids::SessionId;
use sessionforge_shared::license;
use sessionforge_shared::links::{self, LinkError};
use sessionforge_shared::protocol::{AgentMessage, ServerMessage, ViewerEvent, ViewerMessage};
use sessionforge_shared::releases::{Manifest, ManifestEntry, ManifestResponse};
use sessionforge_shared::signing::{self, PublicKey, Signed};
use uuid::Uuid;

use fixtures::{LINK_KEY, LINK_KEY_ID, MAX_LINK_TTL, NOW};

const TARGETS: &[&str] = &["frame", "protocol", "manifest", "http_range", "download_link", "license_file"];

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target)
}

/// The committed seeds of `target`, by file name.
fn committed(target: &str) -> BTreeMap<String, Vec<u8>> {
    let dir = corpus_dir(target);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    entries
        .map(|e| e.expect("dir entry").path())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_string();
            name.starts_with("seed-").then(|| (name, std::fs::read(&p).expect("read seed")))
        })
        .collect()
}

fn artifact(n: u128) -> Uuid {
    Uuid::from_u128(0x01a2_0d16_65c4_75fc_9371_c7fa_0e05_a900 + n)
}

fn link(artifact: Uuid, exp: i64) -> String {
    let p = links::sign(LINK_KEY_ID, &LINK_KEY, artifact, exp);
    format!("{}{artifact}?{}", fixtures::DOWNLOADS_PATH, p.query())
}

fn frames() -> Vec<(String, Vec<u8>)> {
    let id = SessionId(artifact(1));
    let frames: [(&str, u64, &[u8]); 5] = [
        ("hello", 0, b"hello\r\n"),
        ("ansi", 1 << 40, b"\x1b[31mred\x1b[0m \x1b]0;title\x07"),
        ("utf8", 18_230, "π ✓ 日本\r\n".as_bytes()),
        ("empty", 42, b""),
        ("last-offset", u64::MAX - 3, b"end"),
    ];
    frames.iter().map(|(name, offset, data)| (name.to_string(), frame::encode_output(id, *offset, data))).collect()
}

/// Every example of docs/protocol.md, compacted, named by its direction and kind.
fn protocol_examples() -> Vec<(String, Vec<u8>)> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md")).expect("doc");
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        let Some(tag) = line.strip_prefix("```json ") else { continue };
        let body: String = lines.by_ref().take_while(|l| !l.starts_with("```")).collect::<Vec<_>>().join("\n");
        let value: Value = serde_json::from_str(&body).expect("example JSON");
        let base = format!("{}-{}", tag.trim(), value["type"].as_str().expect("type"));
        let n = out.iter().filter(|(name, _)| name == &base || name.starts_with(&format!("{base}-"))).count();
        let name = if n == 0 { base } else { format!("{base}-{}", n + 1) };
        out.push((name, serde_json::to_vec(&value).expect("json")));
    }
    // Inputs that once broke the round trip (see the regression tests in protocol.rs).
    let mut hello: Value =
        serde_json::from_slice(&out.iter().find(|(n, _)| n == "agent-hello").expect("hello").1).expect("json");
    hello["sessions"][0]["cpu_percent"] = serde_json::from_str("1e39").expect("number");
    out.push(("regression-agent-hello-cpu-1e39".into(), serde_json::to_vec(&hello).expect("json")));
    out
}

fn manifests() -> Vec<(String, Vec<u8>)> {
    let key = fixtures::manifest_key();
    let entry = |n: u128, target: &str, url: bool| ManifestEntry {
        target: target.into(),
        version: "1.4.2".into(),
        url: if url { format!("https://sf.example:8443{}", link(artifact(n), NOW + 3600)) } else { String::new() },
        size: 7_340_032,
        sha256: format!("{:064x}", n * 0x9e37_79b9),
        notes: "Faster reconnects.".into(),
    };
    let manifest = |url: bool| Manifest {
        channel: "stable".into(),
        generated_at: NOW - 60,
        expires_at: NOW + 7 * 86_400,
        releases: vec![entry(2, "x86_64-unknown-linux-musl", url), entry(3, "aarch64-apple-darwin", url)],
    };
    let response = |m: &Manifest, links: bool| {
        let signed = signing::sign(serde_json::to_string(m).expect("json"), &key);
        let links = if links {
            m.releases.iter().enumerate().map(|(i, r)| (r.target.clone(), link(artifact(i as u128 + 2), NOW))).collect()
        } else {
            BTreeMap::new()
        };
        ManifestResponse { payload: signed.payload, signature: signed.signature, key_id: signed.key_id, links }
    };
    // As a server that predates expiry signed it, and older agents read it: no links, no expiry.
    let beta = Manifest {
        channel: "beta".into(),
        expires_at: 0,
        releases: vec![entry(5, "x86_64-pc-windows-msvc", true)],
        ..manifest(true)
    };
    let json_text = |m: &Manifest| serde_json::to_string(m).expect("json");
    vec![
        ("response-server-signed".into(), json(&response(&manifest(true), false))),
        ("response-offline-signed".into(), json(&response(&manifest(false), true))),
        ("manifest".into(), json(&manifest(true))),
        ("signed-beta".into(), json(&signing::sign(json_text(&beta), &key))),
        ("public-key".into(), json(&signing::public_key(&key))),
    ]
}

fn json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("json")
}

fn ranges() -> Vec<(String, Vec<u8>)> {
    let headers = [
        ("first-ten", "bytes=0-9"),
        ("from", "bytes=1048576-"),
        ("suffix", "bytes=-500"),
        ("past-end", "bytes=95-200"),
        ("one-byte", "bytes=0-0"),
        ("several", "bytes=0-1,5-6"),
        ("backwards", "bytes=9-2"),
        ("other-unit", "items=1-2"),
    ];
    headers.iter().map(|(name, h)| (name.to_string(), h.as_bytes().to_vec())).collect()
}

fn download_links() -> Vec<(String, Vec<u8>)> {
    let a = artifact(4);
    let reordered = links::sign(LINK_KEY_ID, &LINK_KEY, a, NOW + 60);
    [
        ("hour", link(a, NOW + 3600)),
        ("at-cap", link(a, NOW + MAX_LINK_TTL as i64)),
        ("expired", link(a, NOW - 1)),
        (
            "reordered",
            format!("{}{a}?sig={}&kid={}&exp={}", fixtures::DOWNLOADS_PATH, reordered.sig, LINK_KEY_ID, NOW + 60),
        ),
    ]
    .into_iter()
    .map(|(name, l)| (name.to_string(), l.into_bytes()))
    .collect()
}

fn license_files() -> Vec<(String, Vec<u8>)> {
    let key = fixtures::license_signing_key();
    let doc = |fingerprint: Option<&str>, expires_at: Option<i64>| license::LicenseDoc {
        id: artifact(7).to_string(),
        plan: "team".into(),
        licensee: "Acme Ltd".into(),
        issued_at: NOW,
        expires_at,
        grace_days: 14,
        max_activations: 3,
        fingerprint: fingerprint.map(str::to_string),
    };
    let answer =
        br#"{"valid":true,"code":"VALID","detail":"the license is valid","nonce":"n-1","issued_at":1800000000}"#;
    let header = license::sign_answer(&key, answer);
    vec![
        ("plain".into(), license::encode_file(&doc(None, Some(NOW + 86_400)), &key).into_bytes()),
        ("perpetual-bound".into(), license::encode_file(&doc(Some("0123abcd"), None), &key).into_bytes()),
        (
            "encrypted".into(),
            license::encode_encrypted_file(&doc(None, None), &key, fixtures::LICENSE_KEY).into_bytes(),
        ),
        ("answer".into(), [header.as_bytes(), b"\n", answer].concat()),
        ("key".into(), fixtures::LICENSE_KEY.to_lowercase().into_bytes()),
    ]
}

fn generated(target: &str) -> Vec<(String, Vec<u8>)> {
    match target {
        "frame" => frames(),
        "protocol" => protocol_examples(),
        "manifest" => manifests(),
        "http_range" => ranges(),
        "download_link" => download_links(),
        "license_file" => license_files(),
        other => panic!("no seeds for {other}"),
    }
}

/// What is wrong with a seed of `target`, if anything.
fn problem(target: &str, seed: &[u8]) -> Option<String> {
    if target == "frame" {
        return frame::decode(seed).err().map(|e| e.to_string());
    }
    let Ok(text) = std::str::from_utf8(seed) else { return Some("not UTF-8".into()) };
    match target {
        "protocol" => {
            let known = serde_json::from_str::<AgentMessage>(text).is_ok_and(|m| m != AgentMessage::Unknown)
                || serde_json::from_str::<ServerMessage>(text).is_ok_and(|m| m != ServerMessage::Unknown)
                || serde_json::from_str::<ViewerMessage>(text).is_ok_and(|m| m != ViewerMessage::Unknown)
                || serde_json::from_str::<ViewerEvent>(text).is_ok_and(|m| m != ViewerEvent::Unknown);
            (!known).then(|| "not a known message of any direction".into())
        }
        "manifest" => {
            let pinned = fixtures::manifest_key().verifying_key();
            if let Ok(r) = serde_json::from_str::<ManifestResponse>(text) {
                let signed = r.signed();
                let payload = signing::verify(&signed, &pinned).map_err(|e| e.to_string());
                return payload.and_then(|p| serde_json::from_str::<Manifest>(p).map_err(|e| e.to_string())).err();
            }
            let ok = serde_json::from_str::<Manifest>(text).is_ok()
                || serde_json::from_str::<Signed>(text).is_ok_and(|s| signing::verify(&s, &pinned).is_ok())
                || serde_json::from_str::<PublicKey>(text).is_ok_and(|k| k.verifying_key() == Ok(pinned));
            (!ok).then(|| "neither a manifest, nor signed by the fuzz key, nor its public key".into())
        }
        // A header value is visible ASCII; the parser must see ones it accepts and ones it ignores.
        "http_range" => (!seed.iter().all(|b| (0x20..0x7f).contains(b))).then(|| "not a header value".into()),
        "download_link" => {
            let Some((artifact, params)) = fixtures::parse_link(text) else {
                return Some("not a link the download route matches".into());
            };
            let verdict = links::verify(fixtures::link_key, "GET", artifact, &params, NOW, MAX_LINK_TTL);
            matches!(verdict, Err(LinkError::Invalid)).then(|| "not signed by the fuzz link key".into())
        }
        "license_file" => {
            let trusted = [fixtures::license_signing_key().verifying_key()];
            let file = license::decode_file(text, &trusted, Some(fixtures::LICENSE_KEY)).is_ok();
            let answer = text.split_once('\n').is_some_and(|(h, b)| license::verify_answer(h, b.as_bytes(), &trusted));
            let key = license::normalize_key(text).is_some();
            (!(file || answer || key)).then(|| "neither a license file, a signed answer nor a key".into())
        }
        other => Some(format!("unknown target {other}")),
    }
}

#[test]
fn committed_seeds_are_genuine_inputs() {
    let write = std::env::var_os("SESSIONFORGE_WRITE_FUZZ_SEEDS").is_some();
    for target in TARGETS {
        if write {
            for (name, bytes) in generated(target) {
                std::fs::create_dir_all(corpus_dir(target)).expect("mkdir");
                std::fs::write(corpus_dir(target).join(format!("seed-{name}")), bytes).expect("write seed");
            }
        }
        let seeds = committed(target);
        assert!(
            seeds.len() >= 4,
            "fuzz/corpus/{target} has {} seeds; write them with SESSIONFORGE_WRITE_FUZZ_SEEDS=1 cargo test -p sessionforge-shared --test fuzz_seeds",
            seeds.len()
        );
        for (name, bytes) in &seeds {
            if let Some(problem) = problem(target, bytes) {
                panic!("fuzz/corpus/{target}/{name}: {problem}");
            }
        }
    }
}

/// The targets `fuzz/Cargo.toml` declares (its `[[bin]]` names), in order.
fn declared_targets() -> Vec<String> {
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/Cargo.toml")).expect("manifest");
    let mut names = Vec::new();
    let mut in_bin = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin && let Some(name) = line.strip_prefix("name = ") {
            names.push(name.trim_matches('"').to_string());
        }
    }
    names
}

#[test]
fn every_fuzz_target_has_checked_seeds() {
    // A target added to fuzz/Cargo.toml without seeds here would start from nothing, unchecked.
    let mut declared = declared_targets();
    declared.sort();
    let mut checked: Vec<String> = TARGETS.iter().map(|t| t.to_string()).collect();
    checked.sort();
    assert_eq!(declared, checked, "fuzz/Cargo.toml's targets and this test's TARGETS differ");
}

#[test]
fn the_checks_refuse_what_is_not_genuine() {
    assert!(problem("frame", b"\x01short").is_some());
    assert!(problem("protocol", br#"{"type":"from_the_future"}"#).is_some());
    let forged = signing::sign(r#"{"channel":"stable"}"#.into(), &ed25519_dalek::SigningKey::from_bytes(&[1; 32]));
    assert!(problem("manifest", &serde_json::to_vec(&forged).expect("json")).is_some());
    let a = artifact(9);
    let other_key = links::sign("k1", &[0; 32], a, NOW + 60);
    let link = format!("{}{a}?{}", fixtures::DOWNLOADS_PATH, other_key.query());
    assert!(problem("download_link", link.as_bytes()).is_some());
    assert!(problem("download_link", b"/api/v1/downloads/not-a-uuid?exp=1&kid=k1&sig=00").is_some());
    assert!(problem("http_range", b"bytes=0-\n").is_some());
    // And the generated seeds pass them.
    for target in TARGETS {
        for (name, bytes) in generated(target) {
            assert_eq!(problem(target, &bytes), None, "{target}/{name}");
        }
    }
}
