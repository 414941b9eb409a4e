//! People and mail, end to end against a real SMTP server process (aiosmtpd): sign-up and its
//! confirmation mail, password reset, invitations, mail surviving an SMTP outage exactly once,
//! race-safe seats, the owner guard, disabling users, and the audit log.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{ADMIN_PASSWORD, Auth, TestServer, error_code, wait_for};
use crate::smtp::SmtpServer;

const PASSWORD: &str = "a long and lovely passphrase";

async fn server_with(smtp: &SmtpServer, extra: &[(&str, &str)]) -> TestServer {
    let mut env = smtp.env();
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    TestServer::start_with(&pairs).await
}

async fn json_of(resp: reqwest::Response) -> Value {
    resp.json().await.expect("json")
}

async fn team(server: &TestServer, admin: &Auth) -> String {
    let created = json_of(server.post("/api/v1/orgs", admin, json!({"name": "Team"})).await).await;
    created["id"].as_str().expect("id").to_string()
}

#[tokio::test]
async fn sign_up_confirms_by_mail_and_a_reset_mail_sets_a_new_password_ending_old_sign_ins() {
    let smtp = SmtpServer::start().await;
    let server = server_with(&smtp, &[("SESSIONFORGE_ACCOUNTS__SIGNUP", "open")]).await;
    server.setup_admin().await;

    let body = json!({"email": "dana@example.com", "password": PASSWORD, "display_name": "Dana"});
    let resp = server.post("/api/v1/auth/signup", &Auth::None, body.clone()).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let dana = Auth::from_sign_in(resp).await;
    let me = json_of(server.get("/api/v1/auth/me", &dana).await).await;
    assert_eq!(me["user"]["email_verified"], false);
    let blocked = server.get("/api/v1/orgs", &dana).await;
    assert_eq!(error_code(blocked, StatusCode::FORBIDDEN).await, "EMAIL_NOT_VERIFIED");
    let again = server.post("/api/v1/auth/signup", &Auth::None, body).await;
    assert_eq!(error_code(again, StatusCode::CONFLICT).await, "EMAIL_TAKEN");

    let mail = smtp.wait_for_mail("dana@example.com", 1).await.remove(0);
    assert!(mail.subject.contains("Confirm"), "{}", mail.subject);
    assert!(mail.html.contains("Confirm my email") && mail.text.contains("signed up"), "{mail:?}");
    let token = mail.link_token("/verify-email");
    let verified = server.post("/api/v1/auth/verify-email", &Auth::None, json!({"token": token})).await;
    assert_eq!(verified.status(), StatusCode::OK);
    assert_eq!(json_of(verified).await["email_verified"], true);
    let reused = server.post("/api/v1/auth/verify-email", &Auth::None, json!({"token": token})).await;
    assert_eq!(error_code(reused, StatusCode::GONE).await, "LINK_USED");
    assert_eq!(server.get("/api/v1/orgs", &dana).await.status(), StatusCode::OK);

    // Forgot: the same answer for an account and for nobody; only the account gets mail.
    let known = server.post("/api/v1/auth/password/forgot", &Auth::None, json!({"email": "dana@example.com"})).await;
    let unknown =
        server.post("/api/v1/auth/password/forgot", &Auth::None, json!({"email": "nobody@example.com"})).await;
    assert_eq!((known.status(), unknown.status()), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
    assert_eq!(json_of(known).await, json_of(unknown).await);
    let reset = smtp.wait_for_mail("dana@example.com", 2).await.remove(1);
    let token = reset.link_token("/reset-password");
    let weak =
        server.post("/api/v1/auth/password/reset", &Auth::None, json!({"token": token, "new_password": "short"})).await;
    assert_eq!(error_code(weak, StatusCode::BAD_REQUEST).await, "WEAK_PASSWORD");
    let new_password = "an even longer passphrase";
    let done = server
        .post("/api/v1/auth/password/reset", &Auth::None, json!({"token": token, "new_password": new_password}))
        .await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
    assert_eq!(server.get("/api/v1/auth/me", &dana).await.status(), StatusCode::UNAUTHORIZED, "old sign-ins end");
    let old = server
        .post("/api/v1/auth/login", &Auth::None, json!({"email": "dana@example.com", "password": PASSWORD}))
        .await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    server.login("dana@example.com", new_password).await;
    assert!(smtp.messages().iter().all(|m| m.to != "nobody@example.com"), "no mail for an unknown address");
}

#[tokio::test]
async fn sign_up_follows_the_setting_and_needs_mail() {
    let smtp = SmtpServer::start().await;
    let invite_only = server_with(&smtp, &[]).await;
    let body = json!({"email": "eve@example.com", "password": PASSWORD});
    let resp = invite_only.post("/api/v1/auth/signup", &Auth::None, body.clone()).await;
    assert_eq!(error_code(resp, StatusCode::FORBIDDEN).await, "SIGNUP_INVITE_ONLY");
    let no_mail = TestServer::start_with(&[("SESSIONFORGE_ACCOUNTS__SIGNUP", "open")]).await;
    let resp = no_mail.post("/api/v1/auth/signup", &Auth::None, body).await;
    assert_eq!(error_code(resp, StatusCode::SERVICE_UNAVAILABLE).await, "UNAVAILABLE");
    let forgot = no_mail.post("/api/v1/auth/password/forgot", &Auth::None, json!({"email": "eve@example.com"})).await;
    assert_eq!(forgot.status(), StatusCode::SERVICE_UNAVAILABLE, "a reset that needs mail says so");
}

#[tokio::test]
async fn an_invitation_mail_brings_a_new_member_in_with_its_role_once() {
    let smtp = SmtpServer::start().await;
    let server = server_with(&smtp, &[]).await;
    let admin = server.setup_admin().await;
    let org = team(&server, &admin).await;
    let resp = server
        .post(&format!("/api/v1/orgs/{org}/invitations"), &admin, json!({"email": "bob@example.com", "role": "viewer"}))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(json_of(resp).await["mailed"], true);
    let mail = smtp.wait_for_mail("bob@example.com", 1).await.remove(0);
    assert!(mail.subject.contains("Team"), "{}", mail.subject);
    let token = mail.link_token("/invitations/accept");
    let seen = json_of(server.post("/api/v1/invitations/lookup", &Auth::None, json!({"token": token})).await).await;
    assert_eq!(
        (seen["org_name"].as_str(), seen["role"].as_str(), seen["state"].as_str()),
        (Some("Team"), Some("viewer"), Some("pending"))
    );

    let body = json!({"token": token, "password": PASSWORD, "display_name": "Bob"});
    let resp = server.post("/api/v1/invitations/accept-new", &Auth::None, body.clone()).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let bob = Auth::from_sign_in(resp).await;
    let members = json_of(server.get(&format!("/api/v1/orgs/{org}/members"), &bob).await).await;
    let bob_row = members.as_array().expect("list").iter().find(|m| m["email"] == "bob@example.com").cloned();
    assert_eq!(bob_row.expect("bob is a member")["role"], "viewer");
    let again = server.post("/api/v1/invitations/accept-new", &Auth::None, body).await;
    assert_eq!(error_code(again, StatusCode::GONE).await, "INVITATION_USED");

    // Revoked and unknown links say so.
    let resp = server
        .post(&format!("/api/v1/orgs/{org}/invitations"), &admin, json!({"email": "cy@example.com", "role": "member"}))
        .await;
    let inv = json_of(resp).await;
    let id = inv["invitation"]["id"].as_str().expect("id");
    let revoke = server.request(Method::DELETE, &format!("/api/v1/orgs/{org}/invitations/{id}"), &admin, None).await;
    assert_eq!(revoke.status(), StatusCode::NO_CONTENT);
    let token = inv["accept_url"].as_str().expect("url").split_once("#token=").expect("token").1.to_string();
    let late =
        server.post("/api/v1/invitations/accept-new", &Auth::None, json!({"token": token, "password": PASSWORD})).await;
    assert_eq!(error_code(late, StatusCode::GONE).await, "INVITATION_REVOKED");
    let bogus = server.post("/api/v1/invitations/lookup", &Auth::None, json!({"token": "sfm_nope"})).await;
    assert_eq!(error_code(bogus, StatusCode::GONE).await, "INVITATION_INVALID");
}

#[tokio::test]
async fn mail_queued_while_the_smtp_server_is_down_arrives_exactly_once_when_it_is_back() {
    let mut smtp = SmtpServer::start().await;
    let server = server_with(&smtp, &[]).await;
    let admin = server.setup_admin().await;
    let org = team(&server, &admin).await;
    smtp.stop();
    let people: Vec<String> = (0..5).map(|i| format!("p{i}@example.com")).collect();
    for p in &people {
        let body = json!({"email": p, "role": "member"});
        assert_eq!(
            server.post(&format!("/api/v1/orgs/{org}/invitations"), &admin, body).await.status(),
            StatusCode::CREATED
        );
    }
    // The outbox shows the failed attempts while the server is down.
    wait_for("a failed attempt in the outbox", Duration::from_secs(30), || async {
        let outbox = json_of(server.get("/api/v1/admin/outbox", &admin).await).await;
        let mail = outbox["mail"].as_array().cloned().unwrap_or_default();
        (mail.len() == 5 && mail.iter().all(|m| m["state"] == "queued" && m["last_error"].is_string())).then_some(())
    })
    .await;

    smtp.resume().await;
    wait_for("every mail sent", Duration::from_secs(60), || async {
        let outbox = json_of(server.get("/api/v1/admin/outbox", &admin).await).await;
        let mail = outbox["mail"].as_array().cloned().unwrap_or_default();
        mail.iter().all(|m| m["state"] == "sent").then_some(())
    })
    .await;
    let got = smtp.messages();
    assert_eq!(got.len(), 5, "each mail once: {:?}", got.iter().map(|m| &m.to).collect::<Vec<_>>());
    for p in &people {
        assert_eq!(got.iter().filter(|m| &m.to == p).count(), 1, "{p}");
    }
    let mut ids: Vec<&str> = got.iter().map(|m| m.message_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 5, "distinct Message-IDs");
}

#[tokio::test]
async fn two_people_racing_for_the_last_seat_get_one_seat() {
    let server = TestServer::start().await;
    let admin = server.setup_admin().await;
    let org = team(&server, &admin).await;
    let seats = |n: u32| json!({"seat_limit": n});
    let set = server.request(Method::PUT, &format!("/api/v1/admin/orgs/{org}/seats"), &admin, Some(seats(3))).await;
    assert_eq!(set.status(), StatusCode::NO_CONTENT);

    // Inviting: the admin holds one seat, so two concurrent invitations for the third seat
    // race; then the loser's address is invited again once there is room.
    let invite = |email: &'static str| {
        let (server, admin, org) = (&server, &admin, &org);
        async move {
            server
                .post(&format!("/api/v1/orgs/{org}/invitations"), admin, json!({"email": email, "role": "member"}))
                .await
        }
    };
    let token_of =
        |v: &Value| v["accept_url"].as_str().expect("url").split_once("#token=").expect("token").1.to_string();
    let token_a = token_of(&json_of(invite("a@example.com").await).await);
    let (x, y) = tokio::join!(invite("b@example.com"), invite("c@example.com"));
    let mut statuses = [x.status(), y.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT], "one invitation gets the last seat");
    let (winner, loser) = if x.status() == StatusCode::CREATED { (x, y) } else { (y, x) };
    assert_eq!(error_code(loser, StatusCode::CONFLICT).await, "SEAT_LIMIT");
    let token_b = token_of(&json_of(winner).await);

    // Accepting: both invitations pending, and the limit lowered to one free seat.
    let set = server.request(Method::PUT, &format!("/api/v1/admin/orgs/{org}/seats"), &admin, Some(seats(2))).await;
    assert_eq!(set.status(), StatusCode::NO_CONTENT);
    let accept = |token: String| {
        let server = &server;
        async move {
            server
                .post("/api/v1/invitations/accept-new", &Auth::None, json!({"token": token, "password": PASSWORD}))
                .await
        }
    };
    let (x, y) = tokio::join!(accept(token_a), accept(token_b));
    let mut statuses = [x.status(), y.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT], "one seat, one winner");
    let loser = if x.status() == StatusCode::CONFLICT { x } else { y };
    assert_eq!(error_code(loser, StatusCode::CONFLICT).await, "SEAT_LIMIT");
    let members = json_of(server.get(&format!("/api/v1/orgs/{org}/members"), &admin).await).await;
    assert_eq!(members.as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn an_org_keeps_an_owner_and_members_leave_or_are_removed_by_admins_only() {
    let server = TestServer::start().await;
    let admin = server.setup_admin().await;
    let admin_id =
        json_of(server.get("/api/v1/auth/me", &admin).await).await["user"]["id"].as_str().expect("id").to_string();
    let org = team(&server, &admin).await;
    let leave = server.request(Method::DELETE, &format!("/api/v1/orgs/{org}/members/{admin_id}"), &admin, None).await;
    assert_eq!(error_code(leave, StatusCode::CONFLICT).await, "LAST_OWNER");
    let demote = server
        .request(
            Method::PUT,
            &format!("/api/v1/orgs/{org}/members/{admin_id}"),
            &admin,
            Some(json!({"role": "member"})),
        )
        .await;
    assert_eq!(error_code(demote, StatusCode::CONFLICT).await, "LAST_OWNER");

    let carol = server.create_user(&admin, "carol@example.com").await;
    let dave = server.create_user(&admin, "dave@example.com").await;
    server.add_member(&admin, &org, &carol, "carol@example.com", "member").await;
    server.add_member(&admin, &org, &dave, "dave@example.com", "member").await;
    let id_of = |auth: &Auth| {
        let (server, auth) = (&server, auth.clone());
        async move {
            json_of(server.get("/api/v1/auth/me", &auth).await).await["user"]["id"].as_str().expect("id").to_string()
        }
    };
    let (carol_id, dave_id) = (id_of(&carol).await, id_of(&dave).await);
    let by_member =
        server.request(Method::DELETE, &format!("/api/v1/orgs/{org}/members/{dave_id}"), &carol, None).await;
    assert_eq!(error_code(by_member, StatusCode::FORBIDDEN).await, "ROLE_REQUIRED");
    let write_key = server.api_key(&admin, &["read", "write"]).await;
    let by_write_key =
        server.request(Method::DELETE, &format!("/api/v1/orgs/{org}/members/{dave_id}"), &write_key, None).await;
    assert_eq!(
        error_code(by_write_key, StatusCode::FORBIDDEN).await,
        "INSUFFICIENT_SCOPE",
        "membership needs the admin scope"
    );
    let left = server.request(Method::DELETE, &format!("/api/v1/orgs/{org}/members/{carol_id}"), &carol, None).await;
    assert_eq!(left.status(), StatusCode::NO_CONTENT);
    let removed = server.request(Method::DELETE, &format!("/api/v1/orgs/{org}/members/{dave_id}"), &admin, None).await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        error_code(server.get(&format!("/api/v1/orgs/{org}"), &dave).await, StatusCode::NOT_FOUND).await,
        "NOT_FOUND"
    );

    // All of it is in the org's audit log, newest first, and in its CSV export.
    let log = json_of(server.get(&format!("/api/v1/orgs/{org}/audit"), &admin).await).await;
    let actions: Vec<&str> =
        log["events"].as_array().expect("events").iter().filter_map(|e| e["action"].as_str()).collect();
    for a in ["member.removed", "member.left", "invitation.accepted", "invitation.created"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    assert_eq!(actions[0], "member.removed");
    let csv = server.get(&format!("/api/v1/orgs/{org}/audit.csv"), &admin).await;
    assert_eq!(csv.headers()["content-type"], "text/csv");
    let text = csv.text().await.expect("csv");
    assert!(text.starts_with("seq,at,org_id,actor_kind") && text.contains("member.left"), "{text}");
    let forbidden = server.get(&format!("/api/v1/orgs/{org}/audit"), &carol).await;
    assert_eq!(forbidden.status(), StatusCode::NOT_FOUND, "carol left the org");
}

#[tokio::test]
async fn a_disabled_user_is_refused_at_once_and_failed_sign_ins_are_audited() {
    let server = TestServer::start().await;
    let admin = server.setup_admin().await;
    let erin = server.create_user(&admin, "erin@example.com").await;
    let key = server.api_key(&erin, &["read"]).await;
    let erin_id =
        json_of(server.get("/api/v1/auth/me", &erin).await).await["user"]["id"].as_str().expect("id").to_string();
    let url = server.url("/api/v1/orgs");
    let open = server.client.get(&url).headers(key.headers()).send().await.expect("request");
    assert_eq!(open.status(), StatusCode::OK);
    let disabled = server.post(&format!("/api/v1/admin/users/{erin_id}/disable"), &admin, json!({})).await;
    assert_eq!(disabled.status(), StatusCode::OK);
    assert_eq!(server.get("/api/v1/orgs", &key).await.status(), StatusCode::UNAUTHORIZED, "the key is refused at once");
    assert_eq!(server.get("/api/v1/orgs", &erin).await.status(), StatusCode::UNAUTHORIZED, "the sign-in ended");
    let login = server
        .post("/api/v1/auth/login", &Auth::None, json!({"email": "erin@example.com", "password": ADMIN_PASSWORD}))
        .await;
    assert_eq!(login.status(), StatusCode::UNAUTHORIZED);

    let log = json_of(server.get("/api/v1/admin/audit", &admin).await).await;
    let events = log["events"].as_array().expect("events");
    let failed = events.iter().find(|e| e["action"] == "auth.sign_in_failed").expect("a failed sign-in");
    assert_eq!(failed["actor"], "erin@example.com");
    assert!(failed["ip"].is_string());
    assert!(events.iter().any(|e| e["action"] == "user.disabled" && e["target_id"] == erin_id.as_str()));
    assert!(!log.to_string().contains(ADMIN_PASSWORD), "no secret in the audit log");
}

/// Reads server-sent events until `pred` holds for one, or the stream ends (`None`).
async fn next_event(
    stream: &mut (impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    pred: impl Fn(&str) -> bool,
) -> Option<String> {
    let mut buf = String::new();
    loop {
        let chunk =
            tokio::time::timeout(Duration::from_secs(10), stream.next()).await.expect("an event within 10 s")?;
        buf.push_str(&String::from_utf8_lossy(&chunk.ok()?));
        while let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            if pred(&event) {
                return Some(event);
            }
        }
    }
}

#[tokio::test]
async fn removing_a_member_ends_their_open_event_stream() {
    let server = TestServer::start().await;
    let admin = server.setup_admin().await;
    let org = team(&server, &admin).await;
    let fay = server.create_user(&admin, "fay@example.com").await;
    server.add_member(&admin, &org, &fay, "fay@example.com", "member").await;
    let fay_id =
        json_of(server.get("/api/v1/auth/me", &fay).await).await["user"]["id"].as_str().expect("id").to_string();
    let resp = server
        .client
        .get(server.url(&format!("/api/v1/orgs/{org}/events")))
        .headers(fay.headers())
        .send()
        .await
        .expect("open");
    assert_eq!(resp.status(), StatusCode::OK);
    let mut stream = resp.bytes_stream();
    assert!(next_event(&mut stream, |e| e.contains("hello")).await.is_some());

    let removed = server.request(Method::DELETE, &format!("/api/v1/orgs/{org}/members/{fay_id}"), &admin, None).await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    assert!(next_event(&mut stream, |e| e.contains("access_revoked")).await.is_some(), "told why");
    let ended =
        tokio::time::timeout(Duration::from_secs(10), async { while let Some(Ok(_)) = stream.next().await {} }).await;
    assert!(ended.is_ok(), "the stream ends");
}
