//! First-admin setup, sign-in and sign-out, CSRF protection, password changes, rate limits.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{ADMIN_EMAIL, ADMIN_PASSWORD, Auth, TestServer, error_code, session_cookie};

#[tokio::test]
async fn setup_creates_the_first_admin_once_then_login_and_logout_work() {
    let server = TestServer::start().await;
    let status: Value = server.get("/api/v1/setup", &Auth::None).await.json().await.expect("json");
    assert_eq!(status["required"], true);

    let token = server.wait_setup_token().await;
    let wrong = server
        .post("/api/v1/setup", &Auth::None, json!({"token": "nope", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .await;
    assert_eq!(error_code(wrong, StatusCode::FORBIDDEN).await, "INVALID_SETUP_TOKEN");
    let weak = server
        .post("/api/v1/setup", &Auth::None, json!({"token": token, "email": ADMIN_EMAIL, "password": "short"}))
        .await;
    assert_eq!(error_code(weak, StatusCode::BAD_REQUEST).await, "WEAK_PASSWORD");

    let resp = server
        .post("/api/v1/setup", &Auth::None, json!({"token": token, "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let set_cookie = resp.headers().get("set-cookie").and_then(|v| v.to_str().ok()).expect("cookie").to_string();
    for attr in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(set_cookie.contains(attr), "cookie lacks {attr}: {set_cookie}");
    }
    let admin = Auth::from_sign_in(resp).await;

    let again = server
        .post(
            "/api/v1/setup",
            &Auth::None,
            json!({"token": token, "email": "x@example.com", "password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(error_code(again, StatusCode::CONFLICT).await, "SETUP_DONE");
    let status: Value = server.get("/api/v1/setup", &Auth::None).await.json().await.expect("json");
    assert_eq!(status["required"], false);

    let me: Value = server.get("/api/v1/auth/me", &admin).await.json().await.expect("json");
    assert_eq!(me["user"]["email"], ADMIN_EMAIL);
    assert_eq!(me["user"]["is_admin"], true);
    assert_eq!(me["auth"], "session");
    assert_eq!(me["orgs"][0]["personal"], true);
    assert_eq!(me["orgs"][0]["role"], "owner");

    // Wrong password, unknown account: the same 401.
    let bad = server
        .post("/api/v1/auth/login", &Auth::None, json!({"email": ADMIN_EMAIL, "password": "wrong password!"}))
        .await;
    assert_eq!(error_code(bad, StatusCode::UNAUTHORIZED).await, "UNAUTHORIZED");
    let unknown = server
        .post("/api/v1/auth/login", &Auth::None, json!({"email": "nobody@example.com", "password": "whatever123"}))
        .await;
    assert_eq!(error_code(unknown, StatusCode::UNAUTHORIZED).await, "UNAUTHORIZED");

    let second = server.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let out = server.request(Method::POST, "/api/v1/auth/logout", &second, None).await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert_eq!(session_cookie(out.headers()).as_deref(), Some(""), "cookie cleared");
    let after = server.get("/api/v1/auth/me", &second).await;
    assert_eq!(error_code(after, StatusCode::UNAUTHORIZED).await, "UNAUTHORIZED");
    // The other sign-in is unaffected.
    assert_eq!(server.get("/api/v1/auth/me", &admin).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn cookie_requests_that_change_state_need_the_csrf_token() {
    let server = TestServer::start().await;
    let admin = server.setup_admin().await;

    let no_csrf = server.post("/api/v1/orgs", &admin.without_csrf(), json!({"name": "Team"})).await;
    assert_eq!(error_code(no_csrf, StatusCode::FORBIDDEN).await, "CSRF_FAILED");
    let Auth::Session { cookie, .. } = &admin else { unreachable!() };
    let wrong = Auth::Session { cookie: cookie.clone(), csrf: "forged".into() };
    let forged = server.post("/api/v1/orgs", &wrong, json!({"name": "Team"})).await;
    assert_eq!(error_code(forged, StatusCode::FORBIDDEN).await, "CSRF_FAILED");
    let orgs: Value = server.get("/api/v1/orgs", &admin.without_csrf()).await.json().await.expect("json");
    assert_eq!(orgs.as_array().map(Vec::len), Some(1), "nothing was created; reads need no token");

    let ok = server.post("/api/v1/orgs", &admin, json!({"name": "Team"})).await;
    assert_eq!(ok.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn changing_the_password_ends_other_sign_ins() {
    let server = TestServer::start().await;
    let admin = server.setup_admin().await;
    let other = server.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let body = json!({"current_password": "not it at all", "new_password": "a brand new passphrase"});
    let wrong = server.request(Method::PUT, "/api/v1/auth/password", &admin, Some(body)).await;
    assert_eq!(error_code(wrong, StatusCode::FORBIDDEN).await, "WRONG_PASSWORD");

    let body = json!({"current_password": ADMIN_PASSWORD, "new_password": "a brand new passphrase"});
    let resp = server.request(Method::PUT, "/api/v1/auth/password", &admin, Some(body)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let fresh = Auth::from_sign_in(resp).await;
    assert_eq!(server.get("/api/v1/auth/me", &fresh).await.status(), StatusCode::OK);
    assert_eq!(server.get("/api/v1/auth/me", &other).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(server.get("/api/v1/auth/me", &admin).await.status(), StatusCode::UNAUTHORIZED);
    server.login(ADMIN_EMAIL, "a brand new passphrase").await;
}

#[tokio::test]
async fn failed_logins_get_429_per_account_address_and_pair_and_successes_never_count() {
    let server = TestServer::start_with(&[
        ("SESSIONFORGE_RATE_LIMIT__LOGIN_PER_IP_PER_MINUTE", "5"),
        ("SESSIONFORGE_RATE_LIMIT__LOGIN_PER_ACCOUNT_PER_MINUTE", "4"),
        ("SESSIONFORGE_RATE_LIMIT__LOGIN_PER_ACCOUNT_AND_IP_PER_MINUTE", "2"),
        ("SESSIONFORGE_BEHIND_PROXY", "true"),
    ])
    .await;
    server.setup_admin().await;
    let attempt = |email: &'static str, password: &'static str, ip: &'static str| {
        let server = &server;
        async move {
            server
                .client
                .post(server.url("/api/v1/auth/login"))
                .header("x-forwarded-for", ip)
                .json(&json!({"email": email, "password": password}))
                .send()
                .await
                .expect("request")
        }
    };
    // Signing in successfully, however often, never counts.
    for _ in 0..6 {
        assert_eq!(attempt(ADMIN_EMAIL, ADMIN_PASSWORD, "10.0.0.1").await.status(), StatusCode::OK);
    }
    // A stranger guessing the admin's password runs out of guesses from their address…
    assert_eq!(attempt(ADMIN_EMAIL, "wrong password", "10.6.6.6").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(attempt(ADMIN_EMAIL, "wrong password", "10.6.6.6").await.status(), StatusCode::UNAUTHORIZED);
    let limited = attempt(ADMIN_EMAIL, ADMIN_PASSWORD, "10.6.6.6").await;
    let retry: u64 = limited
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("numeric Retry-After");
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(error_code(limited, StatusCode::TOO_MANY_REQUESTS).await, "RATE_LIMITED");
    // …while the admin, from their own address, still signs in.
    assert_eq!(attempt(ADMIN_EMAIL, ADMIN_PASSWORD, "10.0.0.1").await.status(), StatusCode::OK);
    // Spread over addresses, the account's own (higher) ceiling holds: 4 failures in all.
    assert_eq!(attempt(ADMIN_EMAIL, "wrong password", "10.6.6.7").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(attempt(ADMIN_EMAIL, "wrong password", "10.6.6.8").await.status(), StatusCode::UNAUTHORIZED);
    let by_account = attempt(ADMIN_EMAIL, ADMIN_PASSWORD, "10.6.6.9").await;
    assert_eq!(error_code(by_account, StatusCode::TOO_MANY_REQUESTS).await, "RATE_LIMITED");

    // One address spraying accounts: 5 failures in all from it.
    for email in ["b@example.com", "c@example.com", "d@example.com", "e@example.com", "f@example.com"] {
        assert_eq!(attempt(email, "wrong password", "10.7.7.7").await.status(), StatusCode::UNAUTHORIZED);
    }
    let by_ip = attempt("g@example.com", "wrong password", "10.7.7.7").await;
    assert_eq!(error_code(by_ip, StatusCode::TOO_MANY_REQUESTS).await, "RATE_LIMITED");
    // What the client writes left of the proxy's entry proves nothing: the proxy's hop counts.
    let spoofed = server
        .client
        .post(server.url("/api/v1/auth/login"))
        .header("x-forwarded-for", "10.0.0.99, 10.7.7.7")
        .json(&json!({"email": "h@example.com", "password": "wrong password"}))
        .send()
        .await
        .expect("request");
    assert_eq!(error_code(spoofed, StatusCode::TOO_MANY_REQUESTS).await, "RATE_LIMITED");
}

#[tokio::test]
async fn over_plain_http_the_sign_in_cookie_is_not_marked_secure() {
    // A server reached over http:// (loopback here) must not set a cookie that clients would
    // only send over HTTPS: scripts and CLIs with ordinary cookie jars could never sign in.
    let server = TestServer::start_with(&[("SESSIONFORGE_TLS__ENABLED", "false")]).await;
    assert!(server.base.starts_with("http://"), "{}", server.base);
    let admin = server.setup_admin().await;
    let resp =
        server.post("/api/v1/auth/login", &Auth::None, json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let set_cookie = resp.headers().get("set-cookie").and_then(|v| v.to_str().ok()).expect("cookie").to_string();
    assert!(!set_cookie.contains("Secure"), "{set_cookie}");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set_cookie.contains(attr), "cookie lacks {attr}: {set_cookie}");
    }
    let me = server.get("/api/v1/auth/me", &admin).await;
    assert_eq!(me.status(), StatusCode::OK, "the cookie works over plain HTTP");
}
