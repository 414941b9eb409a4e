//! Endpoints that mint or exchange keys and tokens (and the password change, which checks a
//! password and mints a sign-in) answer 429 with the JSON error body and a `Retry-After` in
//! whole seconds once a client address or an account has used up its budget.
//!
//! The servers here run with `behind_proxy`, so that each request can claim its own client
//! address through `X-Forwarded-For` and per-account limits can be told apart from per-address ones.

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::common::{ADMIN_EMAIL, ADMIN_PASSWORD, Auth, TestServer, error_code};

/// Requests per minute on the key and token endpoints, per address and per account.
const TOKENS_PER_MINUTE: usize = 3;

async fn start(extra: &[(&str, &str)]) -> TestServer {
    let limit = TOKENS_PER_MINUTE.to_string();
    let mut env =
        vec![("SESSIONFORGE_RATE_LIMIT__TOKENS_PER_MINUTE", limit.as_str()), ("SESSIONFORGE_BEHIND_PROXY", "true")];
    env.extend_from_slice(extra);
    TestServer::start_with(&env).await
}

/// Sends a request that claims to come from `ip`.
async fn send_from(server: &TestServer, ip: &str, method: Method, path: &str, auth: &Auth, body: Value) -> Response {
    server
        .client
        .request(method, server.url(path))
        .headers(auth.headers())
        .header("x-forwarded-for", ip)
        .json(&body)
        .send()
        .await
        .expect("request")
}

/// Asserts a 429 with a positive whole-second `Retry-After` of at most a minute and the
/// `{code, message}` body.
async fn assert_limited(resp: Response) {
    let retry = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
    let secs: u64 = retry.as_deref().and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("Retry-After {retry:?}"));
    assert!((1..=60).contains(&secs), "Retry-After {secs}");
    assert_eq!(error_code(resp, StatusCode::TOO_MANY_REQUESTS).await, "RATE_LIMITED");
}

fn key_body() -> Value {
    json!({"name": "k", "scopes": ["read"]})
}

#[tokio::test]
async fn api_keys_are_limited_per_account_and_per_address() {
    let server = start(&[]).await;
    let admin = server.setup_admin().await;
    let b = server.create_user(&admin, "b@example.com").await;
    let c = server.create_user(&admin, "c@example.com").await;
    let mint = |ip: &'static str, auth: &Auth| {
        let auth = auth.clone();
        let server = &server;
        async move { send_from(server, ip, Method::POST, "/api/v1/api-keys", &auth, key_body()).await }
    };

    // Per account: a new address for every request does not help.
    for ip in ["10.0.0.1", "10.0.0.2", "10.0.0.3"] {
        assert_eq!(mint(ip, &admin).await.status(), StatusCode::CREATED);
    }
    assert_limited(mint("10.0.0.4", &admin).await).await;

    // Per address: accounts with budget left are refused once their shared address is spent.
    assert_eq!(mint("10.0.1.1", &b).await.status(), StatusCode::CREATED);
    assert_eq!(mint("10.0.1.1", &b).await.status(), StatusCode::CREATED);
    assert_eq!(mint("10.0.1.1", &c).await.status(), StatusCode::CREATED);
    assert_limited(mint("10.0.1.1", &c).await).await;
    assert_eq!(mint("10.0.1.2", &c).await.status(), StatusCode::CREATED, "c itself still has budget");
}

#[tokio::test]
async fn enrollment_tokens_are_limited_per_account() {
    let server = start(&[]).await;
    let admin = server.setup_admin().await;
    let me: Value = server.get("/api/v1/auth/me", &admin).await.json().await.expect("json");
    let path = format!("/api/v1/orgs/{}/enrollment-tokens", me["orgs"][0]["id"].as_str().expect("org id"));
    for ip in ["10.0.0.1", "10.0.0.2", "10.0.0.3"] {
        assert_eq!(send_from(&server, ip, Method::POST, &path, &admin, json!({})).await.status(), StatusCode::CREATED);
    }
    assert_limited(send_from(&server, "10.0.0.4", Method::POST, &path, &admin, json!({})).await).await;
}

#[tokio::test]
async fn enrollment_with_bad_tokens_is_limited_per_address() {
    let server = start(&[]).await;
    let enroll = |ip: &'static str| {
        let server = &server;
        let body = json!({
            "token": "sfe_not_a_real_token",
            "machine": {
                "hostname": "box", "os": "linux", "os_version": "6", "arch": "x86_64",
                "cpus": 2, "memory_bytes": 1_000_000, "agent_version": "0.0.0"
            }
        });
        async move { send_from(server, ip, Method::POST, "/api/v1/agent/enroll", &Auth::None, body).await }
    };
    for _ in 0..TOKENS_PER_MINUTE {
        assert_eq!(error_code(enroll("10.0.0.9").await, StatusCode::UNAUTHORIZED).await, "INVALID_TOKEN");
    }
    assert_limited(enroll("10.0.0.9").await).await;
    assert_eq!(error_code(enroll("10.0.0.10").await, StatusCode::UNAUTHORIZED).await, "INVALID_TOKEN");
}

#[tokio::test]
async fn setup_token_guesses_are_limited_per_address() {
    let server = start(&[]).await;
    let guess = json!({"token": "not-the-setup-token", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD});
    let setup = |ip: &'static str| send_from(&server, ip, Method::POST, "/api/v1/setup", &Auth::None, guess.clone());
    for _ in 0..TOKENS_PER_MINUTE {
        assert_eq!(error_code(setup("10.0.0.9").await, StatusCode::FORBIDDEN).await, "INVALID_SETUP_TOKEN");
    }
    assert_limited(setup("10.0.0.9").await).await;
    assert_eq!(error_code(setup("10.0.0.10").await, StatusCode::FORBIDDEN).await, "INVALID_SETUP_TOKEN");
}

#[tokio::test]
async fn password_changes_share_the_sign_in_limits() {
    let server = start(&[
        ("SESSIONFORGE_RATE_LIMIT__LOGIN_PER_IP_PER_MINUTE", "100"),
        ("SESSIONFORGE_RATE_LIMIT__LOGIN_PER_ACCOUNT_PER_MINUTE", "2"),
    ])
    .await;
    let admin = server.setup_admin().await;
    let guess = json!({"current_password": "a wrong guess at it", "new_password": "a brand new passphrase"});
    for ip in ["10.0.0.1", "10.0.0.2"] {
        let resp = send_from(&server, ip, Method::PUT, "/api/v1/auth/password", &admin, guess.clone()).await;
        assert_eq!(error_code(resp, StatusCode::FORBIDDEN).await, "WRONG_PASSWORD");
    }
    assert_limited(send_from(&server, "10.0.0.3", Method::PUT, "/api/v1/auth/password", &admin, guess).await).await;

    // The budget is the account's, so signing in is refused too until it recovers.
    let login = json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD});
    assert_limited(send_from(&server, "10.0.0.4", Method::POST, "/api/v1/auth/login", &Auth::None, login).await).await;
}
