//! Billing test support: the local fake of Stripe's API (a real HTTP process recording every
//! request: the one stand-in the tests allow), webhook signatures computed as Stripe documents
//! them, a server configured to bill against the fake, and Stripe-shaped event bodies.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::common::TestServer;

/// The fake Stripe API process.
pub struct FakeStripe {
    child: Child,
    pub url: String,
}

impl FakeStripe {
    pub fn start() -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fake_stripe.py");
        let mut child = Command::new("python3")
            .arg(script)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the fake Stripe");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("banner");
        let url = line.trim().strip_prefix("listening on ").expect("banner").to_string();
        Self { child, url }
    }

    pub async fn requests(&self) -> Vec<Value> {
        reqwest::get(format!("{}/__requests", self.url)).await.expect("get").json().await.expect("json")
    }
}

impl Drop for FakeStripe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `Stripe-Signature` for `body` at `t` under `secret`, computed as Stripe documents it.
pub fn stripe_signature(body: &str, secret: &str, t: i64) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Server settings for billing against `stripe`.
pub fn billing_env(stripe: &FakeStripe, secrets: &str) -> Vec<(String, String)> {
    [
        ("SESSIONFORGE_BILLING__STRIPE__SECRET_KEY", "sk_test_fake"),
        ("SESSIONFORGE_BILLING__STRIPE__API_BASE", stripe.url.as_str()),
        ("SESSIONFORGE_BILLING__STRIPE__WEBHOOK_SECRETS", secrets),
        ("SESSIONFORGE_BILLING__PRICES__TEAM__MONTHLY", "price_team_m"),
        ("SESSIONFORGE_BILLING__PRICES__TEAM__YEARLY", "price_team_y"),
        ("SESSIONFORGE_BILLING__LICENSE_PRODUCTS__PRICE_LIC__PLAN", "pro"),
        ("SESSIONFORGE_BILLING__LICENSE_PRODUCTS__PRICE_LIC__MAX_ACTIVATIONS", "2"),
        ("SESSIONFORGE_BILLING__LICENSE_PRODUCTS__PRICE_LIC__DAYS", "365"),
        ("SESSIONFORGE_RATE_LIMIT__TOKENS_PER_MINUTE", "100000"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

pub async fn start(env: Vec<(String, String)>) -> TestServer {
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    TestServer::start_with(&pairs).await
}

pub async fn post_event(server: &TestServer, body: &str, signature: &str) -> StatusCode {
    server
        .client
        .post(server.url("/api/v1/billing/stripe/webhook"))
        .header("content-type", "application/json")
        .header("stripe-signature", signature)
        .body(body.to_string())
        .send()
        .await
        .expect("post")
        .status()
}

pub fn event(id: &str, kind: &str, created: i64, object: Value) -> String {
    json!({"id": id, "object": "event", "api_version": "2025-03-31.basil", "type": kind, "created": created,
           "livemode": false, "data": {"object": object}})
    .to_string()
}

pub fn subscription(org: &str, status: &str, quantity: u32, t: i64) -> Value {
    json!({
        "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": status,
        "metadata": {"org_id": org}, "cancel_at_period_end": false,
        "trial_end": if status == "trialing" { json!(t + 14 * 86_400) } else { Value::Null },
        "canceled_at": if status == "canceled" { json!(t) } else { Value::Null },
        "items": {"object": "list", "data": [{"id": "si_1", "object": "subscription_item", "quantity": quantity,
            "current_period_start": t, "current_period_end": t + 30 * 86_400,
            "price": {"id": "price_team_m", "object": "price", "recurring": {"interval": "month"}}}]}
    })
}

pub fn purchase(session: &str, email: &str, intent: &str) -> Value {
    json!({"id": session, "object": "checkout.session", "mode": "payment", "payment_status": "paid",
           "customer_details": {"email": email}, "metadata": {"price": "price_lic"}, "payment_intent": intent})
}
