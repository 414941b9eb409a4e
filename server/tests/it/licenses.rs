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

    let (id, license_key) =
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

    // An encrypted file: exported only with the license's own key, installed only with it.
    let file_path = format!("/api/v1/admin/licenses/{id}/file");
    let wrong = issuer.post(&file_path, &issuer_admin, json!({"encrypt_with_key": license::new_key()})).await;
    assert_eq!(wrong.status(), StatusCode::CONFLICT);
    let sealed = issuer.post(&file_path, &issuer_admin, json!({"encrypt_with_key": license_key})).await;
    let sealed = sealed.text().await.expect("file");
    assert!(!sealed.contains("Acme"));
    assert_eq!(code(install(sealed.clone()).await).await, (StatusCode::BAD_REQUEST, "LICENSE_KEY_NEEDED".into()));
    let with_key = licensed
        .client
        .put(licensed.url("/api/v1/admin/license"))
        .headers(admin.headers())
        .header("content-type", "text/plain")
        .header("x-license-key", license_key.as_str())
        .body(sealed)
        .send()
        .await
        .expect("install");
    assert_eq!(with_key.status(), StatusCode::OK);
    assert_eq!(json_of(with_key).await["licensee"], "Acme");
}

/// `sessionforge-server --data-dir DIR license …` with `env`; (success, stdout + stderr).
fn license_cli(dir: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(crate::common::server_bin())
        .arg("--data-dir")
        .arg(dir)
        .arg("license")
        .args(args)
        .env_remove("SESSIONFORGE_CONFIG")
        .envs(env.iter().copied())
        .output()
        .expect("run");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[tokio::test]
async fn a_licensed_server_activates_online_heartbeats_and_rides_out_an_issuer_outage() {
    // The issuer on plain HTTP (loopback): a real deployment uses its https URL.
    let issuer_env = [("SESSIONFORGE_TLS__ENABLED", "false"), ("SESSIONFORGE_RATE_LIMIT__TOKENS_PER_MINUTE", "100000")];
    let issuer = TestServer::start_with(&issuer_env).await;
    let issuer_admin = issuer.setup_admin().await;
    let kid = json_of(issuer.get("/api/v1/licenses/public-key", &Auth::None).await).await["key_id"]
        .as_str()
        .expect("kid")
        .to_string();
    let body = json!({"plan": "pro", "licensee": "Acme", "max_activations": 1, "heartbeat_secs": 3});
    let (id, key) = create(&issuer, &issuer_admin, body).await;
    let trusted = format!("[\"{kid}\"]");
    let licensed_env = [
        ("SESSIONFORGE_LICENSING__TRUSTED_KEYS", trusted.as_str()),
        ("SESSIONFORGE_PLANS__CATALOGUE__PRO__MACHINES", "1"),
    ];
    let mut licensed = TestServer::start_with(&licensed_env).await;
    let admin = licensed.setup_admin().await;
    let org = json_of(licensed.get("/api/v1/auth/me", &admin).await).await["orgs"][0]["id"]
        .as_str()
        .expect("org")
        .to_string();
    let issuer_url = issuer.url("");

    // An issuer whose key this server does not trust: its answers are refused.
    let stranger = TestServer::start_with(&[("SESSIONFORGE_TLS__ENABLED", "false")]).await;
    let stranger_admin = stranger.setup_admin().await;
    let (_, stranger_key) =
        create(&stranger, &stranger_admin, json!({"plan": "pro", "licensee": "X", "max_activations": 1})).await;
    let (ok, out) =
        license_cli(licensed.data_dir(), &licensed_env, &["activate", &stranger_key, "--issuer", &stranger.url("")]);
    assert!(!ok && out.contains("not signed by a trusted key"), "{out}");
    let (ok, out) =
        license_cli(licensed.data_dir(), &licensed_env, &["activate", "SF-NOT-A-KEY", "--issuer", &issuer_url]);
    assert!(!ok && out.contains("not a license key"), "{out}");

    let (ok, out) = license_cli(licensed.data_dir(), &licensed_env, &["activate", &key, "--issuer", &issuer_url]);
    assert!(ok, "{out}");
    assert!(out.contains("plan pro for Acme"), "{out}");
    // The running server applies it (it notices the change made by another process).
    let entitlements = format!("/api/v1/orgs/{org}/entitlements");
    wait_for("the licensed plan to apply", Duration::from_secs(20), || async {
        let e = json_of(licensed.get(&entitlements, &admin).await).await;
        (e["plan"] == "pro" && e["source"] == "license").then_some(())
    })
    .await;
    // Its limits are enforced here: one machine, the second refused.
    for expected in [StatusCode::CREATED, StatusCode::PAYMENT_REQUIRED] {
        let token =
            json_of(licensed.post(&format!("/api/v1/orgs/{org}/enrollment-tokens"), &admin, json!({})).await).await;
        let machine = json!({"hostname": "h", "os": "linux", "os_version": "6", "arch": "x86_64", "cpus": 1, "memory_bytes": 1, "agent_version": "0.0.0"});
        let resp = licensed
            .post("/api/v1/agent/enroll", &Auth::None, json!({"token": token["token"], "machine": machine}))
            .await;
        assert_eq!(resp.status(), expected);
    }

    // It heartbeats: well past the 3 s window the issuer still counts its activation.
    async fn status(licensed: &TestServer, admin: &Auth) -> Value {
        json_of(licensed.get("/api/v1/admin/license", admin).await).await
    }
    let first_check =
        status(&licensed, &admin).await["online"]["last_attempt_at"].as_str().expect("checked").to_string();
    let first =
        time::OffsetDateTime::parse(&first_check, &time::format_description::well_known::Rfc3339).expect("time");
    wait_for("checks well past the heartbeat window", Duration::from_secs(30), || async {
        let s = status(&licensed, &admin).await;
        let at = time::OffsetDateTime::parse(
            s["online"]["last_attempt_at"].as_str()?,
            &time::format_description::well_known::Rfc3339,
        )
        .ok()?;
        (at - first >= time::Duration::seconds(5) && s["online"]["last_code"] == "VALID").then_some(())
    })
    .await;
    let licenses = json_of(issuer.get("/api/v1/admin/licenses", &issuer_admin).await).await;
    let ours = licenses.as_array().and_then(|l| l.iter().find(|l| l["id"] == id.as_str()).cloned()).expect("listed");
    assert_eq!(ours["activations"], 1, "kept alive by heartbeats: {ours}");

    // The issuer goes away: the plan stays, with a warning that says until when.
    let issuer_port = issuer.port();
    let mut issuer = issuer;
    issuer.kill();
    let warned = wait_for("the grace warning", Duration::from_secs(30), || async {
        let e = json_of(licensed.get(&entitlements, &admin).await).await;
        e["warning"].as_str().map(str::to_string).filter(|_| e["plan"] == "pro")
    })
    .await;
    assert!(warned.contains("has not confirmed the license") && warned.contains("nothing is deleted"), "{warned}");
    let (ok, out) = license_cli(licensed.data_dir(), &licensed_env, &["status"]);
    assert!(ok && out.contains("warning: the license issuer has not confirmed"), "{out}");

    // Back again: the warning clears.
    let issuer =
        TestServer::launch_on(issuer.dir.clone(), issuer.env.clone(), &format!("127.0.0.1:{issuer_port}")).await;
    wait_for("the warning to clear", Duration::from_secs(90), || async {
        let e = json_of(licensed.get(&entitlements, &admin).await).await;
        (e.get("warning").is_none() && e["plan"] == "pro").then_some(())
    })
    .await;

    // The licensed server dies (no more heartbeats): its activation is released on the issuer,
    // so another instance can take the seat.
    licensed.kill();
    wait_for("the dead activation to be released", Duration::from_secs(30), || async {
        let resp = issuer
            .post("/api/v1/licenses/activate", &Auth::None, json!({"key": key, "fingerprint": "replacement"}))
            .await;
        (json_of(resp).await["code"] == "VALID").then_some(())
    })
    .await;
}
