//! The few calls the server makes to Stripe's REST API: create a Checkout Session, create a
//! Customer Portal session, retrieve a subscription. Form-encoded, with an `Idempotency-Key` on
//! every POST and the pinned `Stripe-Version`; the secret key goes only into the
//! `Authorization` header, never into logs or errors.

use std::time::Duration;

use serde::Deserialize;

use crate::settings::StripeSettings;

#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    #[error("Stripe cannot be reached: {0}")]
    Unreachable(String),
    #[error("Stripe refused the request ({status}): {message}")]
    Refused { status: u16, message: String },
    #[error("Stripe's answer is not what was expected: {0}")]
    Malformed(String),
}

/// A session Stripe created: where to send the customer.
#[derive(Clone, Debug, Deserialize)]
pub struct Session {
    pub id: String,
    pub url: String,
}

pub struct Stripe {
    http: reqwest::Client,
    base: String,
    key: String,
    version: String,
}

impl Stripe {
    pub fn new(s: &StripeSettings) -> Result<Self, StripeError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| StripeError::Unreachable(e.to_string()))?;
        Ok(Self {
            http,
            base: s.api_base.trim_end_matches('/').to_string(),
            key: s.secret_key.clone(),
            version: s.api_version.clone(),
        })
    }

    async fn post(
        &self,
        path: &str,
        form: &[(String, String)],
        idempotency_key: &str,
    ) -> Result<serde_json::Value, StripeError> {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .header("Stripe-Version", &self.version)
            .header("Idempotency-Key", idempotency_key)
            .form(form)
            .send()
            .await
            .map_err(|e| StripeError::Unreachable(e.without_url().to_string()))?;
        Self::answer(resp).await
    }

    async fn answer(resp: reqwest::Response) -> Result<serde_json::Value, StripeError> {
        let status = resp.status();
        let body: serde_json::Value =
            resp.json().await.map_err(|e| StripeError::Malformed(e.without_url().to_string()))?;
        if !status.is_success() {
            let message = body["error"]["message"].as_str().unwrap_or("no message").chars().take(300).collect();
            return Err(StripeError::Refused { status: status.as_u16(), message });
        }
        Ok(body)
    }

    fn session(v: serde_json::Value) -> Result<Session, StripeError> {
        serde_json::from_value(v).map_err(|e| StripeError::Malformed(e.to_string()))
    }

    /// `POST /v1/checkout/sessions`.
    pub async fn checkout_session(
        &self,
        form: &[(String, String)],
        idempotency_key: &str,
    ) -> Result<Session, StripeError> {
        Self::session(self.post("/v1/checkout/sessions", form, idempotency_key).await?)
    }

    /// `POST /v1/billing_portal/sessions`.
    pub async fn portal_session(
        &self,
        customer: &str,
        return_url: &str,
        idempotency_key: &str,
    ) -> Result<Session, StripeError> {
        let form = [("customer".to_string(), customer.to_string()), ("return_url".to_string(), return_url.to_string())];
        Self::session(self.post("/v1/billing_portal/sessions", &form, idempotency_key).await?)
    }

    /// `GET /v1/subscriptions/{id}`.
    pub async fn subscription(&self, id: &str) -> Result<serde_json::Value, StripeError> {
        let resp = self
            .http
            .get(format!("{}/v1/subscriptions/{}", self.base, urlencode(id)))
            .bearer_auth(&self.key)
            .header("Stripe-Version", &self.version)
            .send()
            .await
            .map_err(|e| StripeError::Unreachable(e.without_url().to_string()))?;
        Self::answer(resp).await
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
