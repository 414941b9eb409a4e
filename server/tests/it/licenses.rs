//! Licensing across two real server processes: one issues licenses and answers validation and
//! activation (signed answers, Keygen's codes, exactly `max` concurrent activations, dead
//! heartbeats releasing their seat); the other installs an offline license file and runs its
//! orgs on the licensed plan, refusing tampered, untrusted and wrong-instance files.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sessionforge_shared::license;

use crate::common::{Auth, TestServer, wait_for};

async fn json_of(resp: reqwest::Response) -> Value {
    resp.json().await.expect("json")
}

async fn create(issuer: &TestServer, admin: &Auth, body: Value) -> (String, String) {
    let resp = issuer.post("/api/v1/admin/licenses", admin, body).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let v = json_of(resp).await;
    (v["license"]["id"].as_str().expect("id").to_string(), v["key"].as_str().expect("key").to_string())
}

/// Posts to a licensing endpoint and checks the answer's signature over its exact bytes.
async fn signed(issuer: &TestServer, path: &str, body: Value, trusted: &[ed25519_dalek::VerifyingKey]) -> Value {
    let resp = issuer.post(path, &Auth::None, body).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let header = resp.headers()["x-sessionforge-signature"].to_str().expect("header").to_string();
    let bytes = resp.bytes().await.expect("body");
    assert!(license::verify_answer(&header, &bytes, trusted), "the answer is signed: {header}");
    let mut tampered = bytes.to_vec();
    tampered.extend_from_slice(b" ");
    assert!(!license::verify_answer(&header, &tampered, trusted), "any other bytes fail");
    serde_json::from_slice(&bytes).expect("json")
}

#[tokio::test]
async fn an_issuer_validates_and_activates_with_signed_answers_and_exact_seat_counts() {
    let issuer = TestServer::start().await;
    let admin = issuer.setup_admin().await;
    let kid = json_of(issuer.get("/api/v1/licenses/public-key", &Auth::None).await).await["key_id"]
        .as_str()
        .expect("kid")
        .to_string();
    let trusted = [license::parse_key_id(&kid).expect("a key")];
    let (id, key) = create(&issuer, &admin, json!({"plan": "team", "licensee": "Acme", "max_activations": 2})).await;
    assert!(license::normalize_key(&key).is_some(), "{key}");

    let unknown =
        signed(&issuer, "/api/v1/licenses/validate", json!({"key": "SF-00000-00000-00000-00000"}), &trusted).await;
    assert_eq!((unknown["valid"].as_bool(), unknown["code"].as_str()), (Some(false), Some("NOT_FOUND")));
    let ok = signed(&issuer, "/api/v1/licenses/validate", json!({"key": key, "nonce": "n-1"}), &trusted).await;
    assert_eq!(
        (ok["valid"].as_bool(), ok["code"].as_str(), ok["nonce"].as_str()),
        (Some(true), Some("VALID"), Some("n-1"))
    );
    assert_eq!(ok["license"]["plan"], "team");
    let none =
        signed(&issuer, "/api/v1/licenses/validate", json!({"key": key, "fingerprint": "box-a"}), &trusted).await;
    assert_eq!(none["code"], "NO_MACHINE");

    // Five instances race for two activations.
    let attempts = (0..5).map(|i| {
        let (issuer, trusted, key) = (&issuer, &trusted, key.clone());
        async move {
            signed(issuer, "/api/v1/licenses/activate", json!({"key": key, "fingerprint": format!("box-{i}")}), trusted)
                .await
        }
    });
    let answers = futures_util::future::join_all(attempts).await;
    let won = answers.iter().filter(|a| a["code"] == "VALID").count();
    let lost = answers.iter().filter(|a| a["code"] == "TOO_MANY_MACHINES").count();
    assert_eq!((won, lost), (2, 3), "{answers:?}");
    let winner = (0..5).find(|i| answers[*i]["code"] == "VALID").expect("a winner");
    let loser = (0..5).find(|i| answers[*i]["code"] != "VALID").expect("a loser");
    let mismatch = signed(
        &issuer,
        "/api/v1/licenses/validate",
        json!({"key": key, "fingerprint": format!("box-{loser}")}),
        &trusted,
    )
    .await;
    assert_eq!(mismatch["code"], "FINGERPRINT_SCOPE_MISMATCH");
    let valid = signed(
        &issuer,
        "/api/v1/licenses/validate",
        json!({"key": key, "fingerprint": format!("box-{winner}")}),
        &trusted,
    )
    .await;
    assert_eq!(valid["code"], "VALID");

    // Suspension and reinstatement, audited.
    let s = issuer.post(&format!("/api/v1/admin/licenses/{id}/suspend"), &admin, json!({})).await;
    assert_eq!(json_of(s).await["status"], "suspended");
    assert_eq!(signed(&issuer, "/api/v1/licenses/validate", json!({"key": key}), &trusted).await["code"], "SUSPENDED");
    issuer.post(&format!("/api/v1/admin/licenses/{id}/reinstate"), &admin, json!({})).await;
    assert_eq!(signed(&issuer, "/api/v1/licenses/validate", json!({"key": key}), &trusted).await["code"], "VALID");
    let log = json_of(issuer.get("/api/v1/admin/audit?action=license.suspended", &admin).await).await;
    assert_eq!(log["events"].as_array().map(Vec::len), Some(1));
    assert!(!log.to_string().contains(&key), "the key is never in the audit log");
}

#[tokio::test]
async fn a_crashed_instance_frees_its_activation_when_its_heartbeats_stop() {
    // Polling for the release would otherwise run into the per-key rate limit.
    let issuer = TestServer::start_with(&[("SESSIONFORGE_RATE_LIMIT__TOKENS_PER_MINUTE", "100000")]).await;
    let admin = issuer.setup_admin().await;
    let body = json!({"plan": "pro", "licensee": "Solo", "max_activations": 1, "heartbeat_secs": 1});
    let (_, key) = create(&issuer, &admin, body).await;
    let activate = |fp: &'static str| {
        let (issuer, key) = (&issuer, key.clone());
        async move {
            let resp =
                issuer.post("/api/v1/licenses/activate", &Auth::None, json!({"key": key, "fingerprint": fp})).await;
            json_of(resp).await["code"].as_str().unwrap_or_default().to_string()
        }
    };
    assert_eq!(activate("first").await, "VALID");
    assert_eq!(activate("second").await, "TOO_MANY_MACHINES");
    // `first` crashed: no more heartbeats. Its seat is released once its window passes.
    wait_for("the dead activation to be released", Duration::from_secs(30), || async {
        (activate("second").await == "VALID").then_some(())
    })
    .await;
    let beat =
        issuer.post("/api/v1/licenses/heartbeat", &Auth::None, json!({"key": key, "fingerprint": "first"})).await;
    assert_eq!(beat.status(), StatusCode::NOT_FOUND, "the crashed instance must activate again");
}

#[tokio::test]
async fn a_licensed_server_installs_an_offline_file_and_refuses_bad_ones() {
    let issuer = TestServer::start().await;
    let issuer_admin = issuer.setup_admin().await;
    let kid = json_of(issuer.get("/api/v1/licenses/public-key", &Auth::None).await).await["key_id"]
        .as_str()
        .expect("kid")
        .to_string();
    let trusted = format!("[\"{kid}\"]");
    let licensed = TestServer::start_with(&[("SESSIONFORGE_LICENSING__TRUSTED_KEYS", trusted.as_str())]).await;
    let admin = licensed.setup_admin().await;
    let me = json_of(licensed.get("/api/v1/auth/me", &admin).await).await;
    let org = me["orgs"][0]["id"].as_str().expect("org").to_string();
    let instance = json_of(licensed.get("/api/v1/admin/license/instance", &admin).await).await["instance_id"]
        .as_str()
        .expect("instance")
        .to_string();
    assert_eq!(licensed.get("/api/v1/admin/license", &admin).await.status(), StatusCode::NOT_FOUND);

    let (id, _) =
        create(&issuer, &issuer_admin, json!({"plan": "team", "licensee": "Acme", "max_activations": 1})).await;
    let export = |fingerprint: Option<&str>| {
        let (issuer, admin, id) = (&issuer, &issuer_admin, id.clone());
        let body = json!({"fingerprint": fingerprint});
        async move {
            issuer.post(&format!("/api/v1/admin/licenses/{id}/file"), admin, body).await.text().await.expect("file")
        }
    };
    let install = |text: String| {
        let licensed = &licensed;
        let headers = admin.headers();
        async move {
            licensed
                .client
                .put(licensed.url("/api/v1/admin/license"))
                .headers(headers)
                .header("content-type", "text/plain")
                .body(text)
                .send()
                .await
                .expect("install")
        }
    };
    let code = |resp: reqwest::Response| async move {
        let status = resp.status();
        (status, json_of(resp).await["code"].as_str().unwrap_or_default().to_string())
    };

    let elsewhere = export(Some("another-instance")).await;
    assert_eq!(code(install(elsewhere).await).await, (StatusCode::BAD_REQUEST, "WRONG_INSTANCE".into()));
    let file = export(Some(&instance)).await;
    assert!(file.starts_with("-----BEGIN SESSIONFORGE LICENSE FILE-----"), "{file}");
    let mut lines: Vec<String> = file.lines().map(String::from).collect();
    let body_line = &mut lines[1];
    let flipped = if body_line.ends_with('A') { 'B' } else { 'A' };
    body_line.pop();
    body_line.push(flipped);
    let (status, c) = code(install(lines.join("\n")).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(["LICENSE_TAMPERED", "LICENSE_DAMAGED"].contains(&c.as_str()), "{c}");

    let other_issuer = TestServer::start().await;
    let other_admin = other_issuer.setup_admin().await;
    let (other_id, _) =
        create(&other_issuer, &other_admin, json!({"plan": "team", "licensee": "X", "max_activations": 1})).await;
    let foreign = other_issuer.post(&format!("/api/v1/admin/licenses/{other_id}/file"), &other_admin, json!({})).await;
    let foreign = foreign.text().await.expect("file");
    assert_eq!(code(install(foreign).await).await, (StatusCode::BAD_REQUEST, "UNTRUSTED_LICENSE_KEY".into()));

    let before = json_of(licensed.get(&format!("/api/v1/orgs/{org}/entitlements"), &admin).await).await;
    assert_eq!(before["source"], "default");
    let ok = install(file).await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(json_of(ok).await["plan"], "team");
    let after = json_of(licensed.get(&format!("/api/v1/orgs/{org}/entitlements"), &admin).await).await;
    assert_eq!((after["plan"].as_str(), after["source"].as_str()), (Some("team"), Some("license")));

    let removed = licensed.request(Method::DELETE, "/api/v1/admin/license", &admin, None).await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let back = json_of(licensed.get(&format!("/api/v1/orgs/{org}/entitlements"), &admin).await).await;
    assert_eq!(back["source"], "default");
}
