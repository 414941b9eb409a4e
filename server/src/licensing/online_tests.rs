//! Tests of `online`: check scheduling and warnings, and the client against a one-request
//! fake issuer on loopback (forged, changed, replayed and other-instance answers).

use super::*;

fn online(last_error: Option<&str>, code: &str) -> Online {
    Online {
        issuer_url: "https://issuer.example".into(),
        key_sealed: vec![1, 2, 3],
        heartbeat_secs: 30,
        last_valid_at: 1_000,
        valid_until: 1_000 + 14 * 86_400,
        last_attempt_at: 2_000,
        last_code: code.into(),
        last_error: last_error.map(str::to_string),
    }
}

#[test]
fn checks_come_three_times_per_heartbeat_window_and_warnings_say_until_when() {
    assert_eq!(next_check(&online(None, "VALID")), 2_010);
    assert_eq!(warning(&online(None, "VALID")), None);
    let w = warning(&online(Some("connection refused"), "VALID")).expect("a warning");
    assert!(w.contains("has not confirmed") && w.contains("connection refused"), "{w}");
    let refused = warning(&online(None, "SUSPENDED")).expect("a warning");
    assert!(refused.contains("SUSPENDED") && refused.contains("default plan"), "{refused}");
    assert!(!format!("{:?}", online(None, "VALID")).contains("[1, 2, 3]"), "the sealed key stays out of Debug");
}

/// A one-request issuer on loopback answering as `case` says: signed by the trusted key
/// (`good`), by another key, with a byte changed after signing, with an old nonce, or about
/// another instance.
async fn fake_issuer(trusted: ed25519_dalek::SigningKey, case: &'static str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.expect("accept");
        let mut req = Vec::new();
        let mut buf = [0u8; 4096];
        let body = loop {
            let n = sock.read(&mut buf).await.expect("read");
            req.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&req).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len: usize = head
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                if body.len() >= len {
                    break body.to_string();
                }
            }
        };
        let sent: serde_json::Value = serde_json::from_str(&body).expect("json body");
        let nonce =
            if case == "replayed" { "an-old-nonce".to_string() } else { sent["nonce"].as_str().expect("nonce").into() };
        let fingerprint = if case == "other-instance" { "someone-else".into() } else { sent["fingerprint"].clone() };
        let answer = serde_json::json!({"valid": true, "code": "VALID", "detail": "ok", "nonce": nonce,
            "fingerprint": fingerprint, "issued_at": 1});
        let mut bytes = answer.to_string().into_bytes();
        let signer = if case == "other-key" { ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]) } else { trusted };
        let signature = license::sign_answer(&signer, &bytes);
        if case == "changed" {
            let at = bytes.iter().position(|b| *b == b'o').expect("an o");
            bytes[at] = b'0';
        }
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{}: {signature}\r\nconnection: close\r\n\r\n",
            bytes.len(),
            license::SIGNATURE_HEADER
        );
        sock.write_all(head.as_bytes()).await.expect("write");
        sock.write_all(&bytes).await.expect("write");
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn the_client_refuses_answers_signed_by_another_key_changed_or_replayed() {
    let key = ed25519_dalek::SigningKey::from_bytes(&[3u8; 32]);
    let trusted = vec![license::key_id(&key.verifying_key())];
    let ask = |url: String| {
        let trusted = trusted.clone();
        async move { Issuer::new(&url, &trusted).expect("issuer").validate("SF-KEY", "fp").await }
    };
    let good = ask(fake_issuer(key.clone(), "good").await).await.expect("a good answer");
    assert_eq!(good.answer.code, "VALID");
    assert!(good.document.contains("signature"), "the signed answer is kept: {}", good.document);
    for (case, code) in [
        ("other-key", "UNTRUSTED_ANSWER"),
        ("changed", "UNTRUSTED_ANSWER"),
        ("replayed", "REPLAYED_ANSWER"),
        ("other-instance", "MALFORMED_ANSWER"),
    ] {
        let err = ask(fake_issuer(key.clone(), case).await).await.err().expect(case);
        assert_eq!(err.code(), code, "{case}: {err}");
    }
    assert!(matches!(Issuer::new("http://x", &[]), Err(OnlineError::NoTrustedKeys)));
}
