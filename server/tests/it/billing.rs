//! Billing through Stripe, against a local fake of Stripe's API (the one allowed stand-in: a
//! real HTTP process recording what it is asked) and webhook events signed exactly as Stripe
//! signs them (HMAC-SHA256 over "{t}.{body}" in `Stripe-Signature: t=…,v1=…`). A whole
//! subscription lifecycle plus two guest purchases and a refund, delivered shuffled, three
//! times each, with tampered and stale copies mixed in, ends in the same state as in order,
//! with exactly one license and one key mail per purchase.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{Auth, TestServer};
use crate::smtp::SmtpServer;
use crate::stripe::{FakeStripe, billing_env, event, now, post_event, purchase, start, stripe_signature, subscription};

const SECRET: &str = "whsec_test_current";
const OLD_SECRET: &str = "whsec_test_old";

/// A subscription's whole life and two guest purchases (one refunded), in order.
fn lifecycle(org: &str, t0: i64) -> Vec<String> {
    let t = |i: i64| t0 + i * 60;
    let invoice = json!({"id": "in_1", "object": "invoice", "customer": "cus_1", "subscription": "sub_1"});
    vec![
        event(
            "evt_01",
            "checkout.session.completed",
            t(1),
            json!({"id": "cs_sub", "object": "checkout.session",
            "mode": "subscription", "client_reference_id": org, "customer": "cus_1", "subscription": "sub_1"}),
        ),
        event("evt_02", "customer.subscription.created", t(2), subscription(org, "trialing", 3, t(2))),
        event(
            "evt_03",
            "customer.subscription.trial_will_end",
            t(3),
            json!({"id": "sub_1", "object": "subscription",
            "customer": "cus_1", "trial_end": t(2) + 14 * 86_400}),
        ),
        event("evt_04", "customer.subscription.updated", t(4), subscription(org, "active", 3, t(4))),
        event("evt_05", "customer.subscription.updated", t(5), subscription(org, "active", 5, t(5))),
        event("evt_06", "invoice.payment_failed", t(6), invoice.clone()),
        event("evt_07", "customer.subscription.updated", t(7), subscription(org, "past_due", 5, t(7))),
        event("evt_08", "invoice.paid", t(8), invoice),
        event("evt_09", "customer.subscription.updated", t(9), subscription(org, "active", 5, t(9))),
        event("evt_10", "customer.subscription.deleted", t(10), subscription(org, "canceled", 5, t(10))),
        event("evt_11", "checkout.session.completed", t(11), purchase("cs_guest_1", "buyer.one@example.com", "pi_1")),
        event("evt_12", "checkout.session.completed", t(12), purchase("cs_guest_2", "buyer.two@example.com", "pi_2")),
        event(
            "evt_13",
            "charge.refunded",
            t(13),
            json!({"id": "ch_1", "object": "charge", "payment_intent": "pi_1",
            "refunded": true}),
        ),
    ]
}

/// A deterministic shuffle (xorshift), so that a failure can be replayed.
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        items.swap(i, (seed % (i as u64 + 1)) as usize);
    }
}

async fn json_of(resp: reqwest::Response) -> Value {
    resp.json().await.expect("json")
}

#[tokio::test]
async fn checkout_portal_and_purchase_ask_stripe_for_exactly_the_right_sessions() {
    let stripe = FakeStripe::start();
    let server = start(billing_env(&stripe, &format!("[\"{SECRET}\"]"))).await;
    let admin = server.setup_admin().await;
    let me = json_of(server.get("/api/v1/auth/me", &admin).await).await;
    assert_eq!(me["billing"], true);
    let org = me["orgs"][0]["id"].as_str().expect("org").to_string();

    let billing = json_of(server.get(&format!("/api/v1/orgs/{org}/billing"), &admin).await).await;
    assert_eq!(
        (billing["trial_available"].as_bool(), billing["portal"].as_bool()),
        (Some(true), Some(false)),
        "{billing}"
    );
    let portal = server.post(&format!("/api/v1/orgs/{org}/billing/portal"), &admin, json!({})).await;
    assert_eq!(crate::common::error_code(portal, StatusCode::CONFLICT).await, "NO_CUSTOMER");
    let nope = server
        .post(
            &format!("/api/v1/orgs/{org}/billing/checkout"),
            &admin,
            json!({"plan": "gold", "interval": "monthly", "seats": 1}),
        )
        .await;
    assert_eq!(crate::common::error_code(nope, StatusCode::CONFLICT).await, "NO_SUCH_PRICE");

    let body = json!({"plan": "team", "interval": "monthly", "seats": 3});
    let checkout = json_of(server.post(&format!("/api/v1/orgs/{org}/billing/checkout"), &admin, body).await).await;
    assert!(checkout["url"].as_str().is_some_and(|u| u.starts_with(&stripe.url)), "{checkout}");
    let purchase = server
        .post("/api/v1/billing/purchase", &Auth::None, json!({"price": "price_lic", "email": "guest@example.com"}))
        .await;
    assert_eq!(purchase.status(), StatusCode::OK);

    let requests = stripe.requests().await;
    let sessions: Vec<&Value> = requests.iter().filter(|r| r["path"] == "/v1/checkout/sessions").collect();
    assert_eq!(sessions.len(), 2, "{requests:?}");
    let sub = &sessions[0]["form"];
    assert_eq!(sub["mode"], "subscription");
    assert_eq!(sub["client_reference_id"], org.as_str());
    assert_eq!(sub["subscription_data[metadata][org_id]"], org.as_str());
    assert_eq!(
        (sub["line_items[0][price]"].as_str(), sub["line_items[0][quantity]"].as_str()),
        (Some("price_team_m"), Some("3"))
    );
    assert_eq!(sub["subscription_data[trial_period_days]"], "14", "a first checkout starts a trial");
    assert_eq!(sub["payment_method_collection"], "if_required", "no card needed for the trial");
    let guest = &sessions[1]["form"];
    assert_eq!(
        (guest["mode"].as_str(), guest["customer_email"].as_str()),
        (Some("payment"), Some("guest@example.com"))
    );
    assert_eq!(guest["metadata[price]"], "price_lic");
    let keys: Vec<&str> = sessions.iter().filter_map(|r| r["headers"]["idempotency-key"].as_str()).collect();
    assert_eq!(keys.len(), 2, "every POST carries an Idempotency-Key");
    assert_ne!(keys[0], keys[1]);
    for r in &sessions {
        assert_eq!(r["headers"]["stripe-version"], "2025-03-31.basil", "the API version is pinned");
        assert_eq!(r["headers"]["authorization"], "Bearer sk_test_fake");
    }
    assert!(!server.stderr.text().contains("sk_test_fake"), "the secret key is never logged");

    // Once the org is a customer, the portal opens and a second checkout has no trial.
    let t = now();
    let linked = event("evt_link", "customer.subscription.created", t, subscription(&org, "trialing", 3, t));
    assert_eq!(post_event(&server, &linked, &stripe_signature(&linked, SECRET, t)).await, StatusCode::OK);
    let portal = json_of(server.post(&format!("/api/v1/orgs/{org}/billing/portal"), &admin, json!({})).await).await;
    assert!(portal["url"].as_str().is_some_and(|u| u.contains("/portal/")), "{portal}");
    let billing = json_of(server.get(&format!("/api/v1/orgs/{org}/billing"), &admin).await).await;
    assert_eq!(
        (billing["status"].as_str(), billing["trial_days_left"].as_i64()),
        (Some("trialing"), Some(14)),
        "{billing}"
    );
    let e = json_of(server.get(&format!("/api/v1/orgs/{org}/entitlements"), &admin).await).await;
    assert_eq!((e["plan"].as_str(), e["source"].as_str()), (Some("team"), Some("subscription")));
    let checkout_path = format!("/api/v1/orgs/{org}/billing/checkout");
    let yearly = json!({"plan": "team", "interval": "yearly", "seats": 3});
    let twice = server.post(&checkout_path, &admin, yearly.clone()).await;
    assert_eq!(
        crate::common::error_code(twice, StatusCode::CONFLICT).await,
        "ALREADY_SUBSCRIBED",
        "one subscription per org"
    );
    // A write-scoped key of an admin may not open billing (it needs the admin scope).
    let write_key = server.api_key(&admin, &["read", "write"]).await;
    let refused = server.post(&format!("/api/v1/orgs/{org}/billing/portal"), &write_key, json!({})).await;
    assert_eq!(crate::common::error_code(refused, StatusCode::FORBIDDEN).await, "INSUFFICIENT_SCOPE");
    // Canceled, it may subscribe again, without a second trial.
    let ended = event("evt_end", "customer.subscription.deleted", t + 1, subscription(&org, "canceled", 3, t + 1));
    assert_eq!(post_event(&server, &ended, &stripe_signature(&ended, SECRET, t + 1)).await, StatusCode::OK);
    assert_eq!(server.post(&checkout_path, &admin, yearly).await.status(), StatusCode::OK);
    let requests = stripe.requests().await;
    let last = requests.iter().rev().find(|r| r["path"] == "/v1/checkout/sessions").expect("a checkout");
    assert_eq!(last["form"]["customer"], "cus_1", "the customer is reused");
    assert!(last["form"].get("subscription_data[trial_period_days]").is_none(), "one trial per org: {last}");
}

#[tokio::test]
async fn a_shuffled_duplicated_lifecycle_with_forgeries_ends_as_in_order_with_one_license_per_purchase() {
    let stripe = FakeStripe::start();
    let smtp = SmtpServer::start().await;
    let mut env = billing_env(&stripe, &format!("[\"{SECRET}\"]"));
    env.extend(smtp.env());
    let server = start(env).await;
    let admin = server.setup_admin().await;
    let me = json_of(server.get("/api/v1/auth/me", &admin).await).await;
    let org = me["orgs"][0]["id"].as_str().expect("org").to_string();

    let t0 = now() - 20 * 60;
    let events = lifecycle(&org, t0);
    // Each event three times, plus a tampered and a stale copy of each.
    let mut deliveries: Vec<(String, String, bool)> = Vec::new();
    for body in &events {
        for _ in 0..3 {
            deliveries.push((body.clone(), stripe_signature(body, SECRET, now()), true));
        }
        // Any change of the signed bytes, even one JSON ignores, breaks the signature.
        let tampered = format!("{} ", body.replace("cus_1", "cus_evil"));
        deliveries.push((tampered, stripe_signature(body, SECRET, now()), false));
        deliveries.push((body.clone(), stripe_signature(body, SECRET, now() - 3600), false));
    }
    shuffle(&mut deliveries, 0x5eed_cafe);
    let mut failed = Vec::new();
    for (body, sig, genuine) in &deliveries {
        let status = post_event(&server, body, sig).await;
        if *genuine {
            assert!(status == StatusCode::OK || status == StatusCode::INTERNAL_SERVER_ERROR, "{status}: {body}");
            if status != StatusCode::OK {
                failed.push((body.clone(), sig.clone()));
            }
        } else {
            assert_eq!(status, StatusCode::BAD_REQUEST, "a tampered or stale copy is refused: {body}");
        }
    }
    // Stripe retries what failed (an event about an org not linked yet): all succeed now.
    for (body, _) in failed {
        let status = post_event(&server, &body, &stripe_signature(&body, SECRET, now())).await;
        if status != StatusCode::OK {
            let log = json_of(server.get("/api/v1/admin/billing/events", &admin).await).await;
            panic!("{status} for {body}\nevent log: {log:#}");
        }
    }

    let billing = json_of(server.get(&format!("/api/v1/orgs/{org}/billing"), &admin).await).await;
    assert_eq!(
        (billing["plan"].as_str(), billing["status"].as_str(), billing["seats"].as_u64()),
        (Some("team"), Some("canceled"), Some(5)),
        "the in-order final state: {billing}"
    );
    assert!(billing.get("past_due_since").is_none(), "{billing}");
    let e = json_of(server.get(&format!("/api/v1/orgs/{org}/entitlements"), &admin).await).await;
    assert_eq!(e["source"], "default", "a canceled subscription no longer applies");

    let licenses = json_of(server.get("/api/v1/admin/licenses", &admin).await).await;
    let licenses = licenses.as_array().expect("list");
    assert_eq!(licenses.len(), 2, "one license per purchase: {licenses:?}");
    let status_of = |email: &str| {
        licenses
            .iter()
            .find(|l| l["customer_email"] == email)
            .map(|l| l["status"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(status_of("buyer.one@example.com").as_deref(), Some("revoked"), "refunded");
    assert_eq!(status_of("buyer.two@example.com").as_deref(), Some("active"));

    // One key mail per purchase, and the mailed key is the license's.
    for (buyer, code) in [("buyer.one@example.com", "SUSPENDED"), ("buyer.two@example.com", "VALID")] {
        let mails = smtp.wait_for_mail(buyer, 1).await;
        let key = mails[0]
            .text
            .split_whitespace()
            .find(|w| w.starts_with("SF-") && w.len() == 26)
            .unwrap_or_else(|| panic!("no key in {}", mails[0].text))
            .to_string();
        let answer = json_of(server.post("/api/v1/licenses/validate", &Auth::None, json!({"key": key})).await).await;
        assert_eq!(answer["code"], code, "{buyer}: {answer}");
    }
    // Exactly one mail per purchase and per owner event was ever queued.
    let outbox = json_of(server.get("/api/v1/admin/outbox", &admin).await).await;
    let queued = |template: &str| {
        outbox["mail"].as_array().map_or(0, |m| m.iter().filter(|m| m["template"] == template).count())
    };
    assert_eq!(
        (queued("license_purchased"), queued("payment_failed"), queued("trial_ending"), queued("trial_ended")),
        (2, 1, 1, 1),
        "{outbox}"
    );
    let owners = smtp.wait_for_mail(crate::common::ADMIN_EMAIL, 3).await;
    let subjects: Vec<&str> = owners.iter().map(|m| m.subject.as_str()).collect();
    assert!(
        subjects.iter().any(|s| s.contains("payment")) && subjects.iter().any(|s| s.contains("trial")),
        "{subjects:?}"
    );

    let log = json_of(server.get("/api/v1/admin/billing/events", &admin).await).await;
    let log = log.as_array().expect("events");
    assert_eq!(log.len(), events.len(), "every event stored once");
    assert!(log.iter().all(|e| e["state"] != "failed"), "{log:?}");
}

#[tokio::test]
async fn events_signed_with_a_rotated_out_secret_stop_verifying() {
    let stripe = FakeStripe::start();
    let both = format!("[\"{OLD_SECRET}\", \"{SECRET}\"]");
    let server = start(billing_env(&stripe, &both)).await;
    let admin = server.setup_admin().await;
    let org =
        json_of(server.get("/api/v1/auth/me", &admin).await).await["orgs"][0]["id"].as_str().expect("org").to_string();
    let t = now();
    let a = event("evt_a", "customer.subscription.created", t, subscription(&org, "active", 1, t));
    let b = event("evt_b", "customer.subscription.updated", t + 1, subscription(&org, "active", 2, t + 1));
    assert_eq!(
        post_event(&server, &a, &stripe_signature(&a, OLD_SECRET, t)).await,
        StatusCode::OK,
        "old secret, still active"
    );
    assert_eq!(post_event(&server, &b, &stripe_signature(&b, SECRET, t)).await, StatusCode::OK, "new secret");

    let mut old = server;
    old.kill();
    let server = TestServer::launch(old.dir.clone(), billing_env(&stripe, &format!("[\"{SECRET}\"]"))).await;
    let c = event("evt_c", "customer.subscription.updated", t + 2, subscription(&org, "active", 3, t + 2));
    assert_eq!(
        post_event(&server, &c, &stripe_signature(&c, OLD_SECRET, now())).await,
        StatusCode::BAD_REQUEST,
        "old secret removed"
    );
    assert_eq!(post_event(&server, &c, &stripe_signature(&c, SECRET, now())).await, StatusCode::OK);
    let admin = server.login(crate::common::ADMIN_EMAIL, crate::common::ADMIN_PASSWORD).await;
    let billing = json_of(server.get(&format!("/api/v1/orgs/{org}/billing"), &admin).await).await;
    assert_eq!(billing["seats"], 3);
}

#[tokio::test]
async fn without_billing_settings_every_billing_endpoint_says_so() {
    let server = TestServer::start().await;
    let admin = server.setup_admin().await;
    let me = json_of(server.get("/api/v1/auth/me", &admin).await).await;
    assert_eq!(me["billing"], false);
    let org = me["orgs"][0]["id"].as_str().expect("org").to_string();
    let get = server.get(&format!("/api/v1/orgs/{org}/billing"), &admin).await;
    assert_eq!(crate::common::error_code(get, StatusCode::NOT_FOUND).await, "BILLING_DISABLED");
    let hook = post_event(&server, "{}", "t=1,v1=00").await;
    assert_eq!(hook, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn billing_sync_fixes_drift_from_what_stripe_says_now() {
    let stripe = FakeStripe::start();
    let env = billing_env(&stripe, &format!("[\"{SECRET}\"]"));
    let server = start(env.clone()).await;
    let admin = server.setup_admin().await;
    let org =
        json_of(server.get("/api/v1/auth/me", &admin).await).await["orgs"][0]["id"].as_str().expect("org").to_string();
    let t = now();
    let created = event("evt_s1", "customer.subscription.created", t, subscription(&org, "active", 2, t));
    assert_eq!(post_event(&server, &created, &stripe_signature(&created, SECRET, t)).await, StatusCode::OK);
    // A webhook went missing: Stripe now says 7 seats.
    let current = subscription(&org, "active", 7, t + 60);
    let put = reqwest::Client::new().put(format!("{}/__subscriptions/sub_1", stripe.url)).json(&current).send().await;
    assert!(put.is_ok_and(|r| r.status().is_success()));
    let out = Command::new(crate::common::server_bin())
        .arg("--data-dir")
        .arg(server.data_dir())
        .args(["billing", "sync"])
        .env_remove("SESSIONFORGE_CONFIG")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("run");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("team active (2 seats) -> team active (7 seats)") && text.contains("1 changed"), "{text}");
    let billing = json_of(server.get(&format!("/api/v1/orgs/{org}/billing"), &admin).await).await;
    assert_eq!(billing["seats"], 7);
    let fetched = stripe.requests().await;
    assert!(fetched.iter().any(|r| r["method"] == "GET" && r["path"] == "/v1/subscriptions/sub_1"), "{fetched:?}");
}

#[tokio::test]
async fn a_license_is_issued_only_once_paid_and_partial_refunds_keep_it() {
    let stripe = FakeStripe::start();
    let server = start(billing_env(&stripe, &format!("[\"{SECRET}\"]"))).await;
    let admin = server.setup_admin().await;
    let t = now();
    let send = |id: &str, kind: &str, object: Value| {
        let body = event(id, kind, t, object);
        let server = &server;
        async move { post_event(server, &body, &stripe_signature(&body, SECRET, t)).await }
    };
    let mut unpaid = purchase("cs_bank", "slow.payer@example.com", "pi_bank");
    unpaid["payment_status"] = "unpaid".into();
    assert_eq!(send("evt_u1", "checkout.session.completed", unpaid).await, StatusCode::OK);
    let count =
        || async { json_of(server.get("/api/v1/admin/licenses", &admin).await).await.as_array().map_or(0, Vec::len) };
    assert_eq!(count().await, 0, "a checkout completed unpaid (a bank debit) issues nothing yet");
    assert_eq!(
        send(
            "evt_u2",
            "checkout.session.async_payment_succeeded",
            purchase("cs_bank", "slow.payer@example.com", "pi_bank")
        )
        .await,
        StatusCode::OK
    );
    assert_eq!(count().await, 1, "issued once the payment succeeded");
    let partial = json!({"id": "ch_b", "object": "charge", "payment_intent": "pi_bank", "refunded": false});
    assert_eq!(send("evt_u3", "charge.refunded", partial).await, StatusCode::OK);
    let licenses = json_of(server.get("/api/v1/admin/licenses", &admin).await).await;
    assert_eq!(licenses[0]["status"], "active", "a partial refund keeps the license");
    // A refund of something this server never sold, long ago, is recorded and ignored (not retried for ever).
    let old = event(
        "evt_u4",
        "charge.refunded",
        t - 7200,
        json!({"id": "ch_x", "object": "charge", "payment_intent": "pi_other", "refunded": true}),
    );
    assert_eq!(post_event(&server, &old, &stripe_signature(&old, SECRET, t)).await, StatusCode::OK);
}
