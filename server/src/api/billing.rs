//! Billing through Stripe: an org's subscription (read), Checkout for a plan and the Customer
//! Portal (org admins), a guest's one-time license purchase, and Stripe's webhook (outside the
//! OpenAPI document: it must read the exact body bytes Stripe signed). The administrators'
//! console is in [`super::billing_admin`]. With no `billing.stripe.secret_key`, every billing endpoint
//! answers 404 `BILLING_DISABLED`.

use poem::web::Data;
use poem::{Body, IntoResponse, Request, Response, handler};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use sessionforge_shared::roles::Role;
use time::OffsetDateTime;
use uuid::Uuid;

use super::ApiTags;
use super::billing_admin::outcome_dto;
use super::body::JsonBody;
use super::dto::ts;
use super::fields::Email;
use super::orgs::{require_role, scope};
use crate::auth::principal::Auth;
use crate::auth::tokens::token_hash;
use crate::billing::events::{self, Action};
use crate::billing::stripe::{Stripe, StripeError};
use crate::billing::{purchase_key, signature};
use crate::error::ApiError;
use crate::http::middleware::client_ip;
use crate::licensing::PURPOSE_LICENSE_KEY;
use crate::state::AppState;
use crate::store::api_keys::Scope;
use crate::store::billing::{Outcome, PurchaseKey, Rules};
use crate::store::now;

pub struct BillingApi;

/// Largest webhook body read (Stripe's events are far smaller).
const MAX_EVENT_BYTES: usize = 512 * 1024;

pub(super) fn enabled(state: &AppState) -> Result<(), ApiError> {
    if state.settings.billing.enabled() {
        Ok(())
    } else {
        Err(ApiError::not_found_code(
            "BILLING_DISABLED",
            "billing is not set up on this server (billing.stripe.secret_key)",
        ))
    }
}

fn stripe(state: &AppState) -> Result<Stripe, ApiError> {
    Stripe::new(&state.settings.billing.stripe).map_err(stripe_error)
}

fn stripe_error(e: StripeError) -> ApiError {
    tracing::warn!(error = %e, "a Stripe request failed");
    ApiError::unavailable_code("STRIPE_UNAVAILABLE", e.to_string())
}

fn rules(state: &AppState) -> Rules {
    crate::billing::rules(&state.settings.billing)
}

#[derive(Object)]
pub struct PriceDto {
    pub plan: String,
    /// `monthly` or `yearly`.
    pub interval: String,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct BillingDto {
    /// The subscription's plan, if the org has one.
    pub plan: Option<String>,
    /// trialing, active, past_due, unpaid, canceled, incomplete or paused.
    pub status: Option<String>,
    /// Seats paid for (the subscription's quantity).
    pub seats: Option<u32>,
    pub period_end: Option<OffsetDateTime>,
    pub trial_end: Option<OffsetDateTime>,
    /// Whole days of trial left (0 on its last day).
    pub trial_days_left: Option<i64>,
    /// Payment failing since then; the plan applies until `grace_until`.
    pub past_due_since: Option<OffsetDateTime>,
    pub grace_until: Option<OffsetDateTime>,
    /// Whether a checkout now would start a trial.
    pub trial_available: bool,
    /// Trial days a checkout starts with.
    pub trial_days: u32,
    /// Whether the Customer Portal is available (the org is a Stripe customer).
    pub portal: bool,
    /// What can be bought.
    pub prices: Vec<PriceDto>,
}

#[derive(Object)]
pub struct Checkout {
    pub plan: String,
    /// `monthly` or `yearly`.
    pub interval: String,
    #[oai(validator(minimum(value = "1"), maximum(value = "10000")))]
    pub seats: u32,
}

#[derive(Object)]
pub struct Purchase {
    /// A one-time price of `billing.license_products`.
    pub price: String,
    pub email: Email,
}

#[derive(Object)]
pub struct RedirectDto {
    /// Where to send the customer (Stripe's page).
    pub url: String,
}

#[derive(Object)]
pub struct ProductDto {
    /// The one-time price to buy it with (`POST /api/v1/billing/purchase`).
    pub price: String,
    pub plan: String,
    pub max_activations: u32,
    /// Days it is valid; 0: perpetual.
    pub days: u32,
}

/// Parses and applies a verified event body.
pub(super) async fn apply(state: &AppState, body: &[u8]) -> Result<Outcome, ApiError> {
    let ev = events::parse(body).map_err(|e| ApiError::bad_request("INVALID_EVENT", e))?;
    let key = match &ev.action {
        Action::Purchase(p) => {
            let key = purchase_key(&state.keys, &p.session);
            let hint = key.rsplit('-').next().unwrap_or_default().to_string();
            Some(PurchaseKey { hash: token_hash(&state.keys, PURPOSE_LICENSE_KEY, &key), hint })
        }
        _ => None,
    };
    let outcome =
        state.store.apply_billing_event(ev, String::from_utf8_lossy(body).into_owned(), rules(state), key).await?;
    if matches!(outcome, Outcome::Processed) {
        state.outbox.wake();
    }
    Ok(outcome)
}

/// `POST /api/v1/billing/stripe/webhook`: Stripe's events. Verified (`Stripe-Signature`),
/// stored and acted on once; 200 after commit (also for a duplicate), 400 for anything not
/// signed by a configured secret within the tolerance, 500 when acting failed (Stripe retries).
#[handler]
pub async fn stripe_webhook(req: &Request, body: Body, state: Data<&AppState>) -> Response {
    let result = async {
        enabled(&state)?;
        let bytes = body
            .into_bytes_limit(MAX_EVENT_BYTES)
            .await
            .map_err(|_| ApiError::bad_request("INVALID_EVENT", "the event body is unreadable or too large"))?;
        let header = req.headers().get("stripe-signature").and_then(|v| v.to_str().ok());
        let s = &state.settings.billing.stripe;
        signature::verify(header, &bytes, &s.webhook_secrets, now(), s.tolerance_secs)
            .map_err(|e| ApiError::bad_request("INVALID_SIGNATURE", e.to_string()))?;
        apply(&state, &bytes).await
    }
    .await;
    match result {
        Ok(Outcome::Failed(why)) => {
            tracing::warn!(error = %why, "a billing event failed; kept for a retry");
            ApiError::internal(format!("acting on the event failed: {why}")).into_response()
        }
        Ok(o) => poem::web::Json(serde_json::json!({"outcome": outcome_dto(o).outcome})).into_response(),
        Err(e) => e.into_response(),
    }
}

#[OpenApi(tag = "ApiTags::Orgs")]
impl BillingApi {
    /// The org's subscription: plan, status, seats, trial and what can be bought.
    #[oai(path = "/api/v1/orgs/:org_id/billing", method = "get")]
    async fn billing(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
    ) -> Result<Json<BillingDto>, ApiError> {
        enabled(&state)?;
        let scope = scope(&state, &auth, org_id.0).await?;
        let b = state.store.org_billing(&scope).await?;
        let at = now();
        let trial_days_left =
            b.trial_end.filter(|_| b.status.as_deref() == Some("trialing")).map(|end| ((end - at) / 86_400).max(0));
        let grace = i64::from(state.settings.billing.past_due_grace_days) * 86_400;
        let prices = state
            .settings
            .billing
            .prices
            .iter()
            .flat_map(|(plan, p)| {
                [("monthly", &p.monthly), ("yearly", &p.yearly)]
                    .into_iter()
                    .filter(|(_, price)| !price.is_empty())
                    .map(|(interval, _)| PriceDto { plan: plan.clone(), interval: interval.into() })
            })
            .collect();
        Ok(Json(BillingDto {
            plan: b.plan,
            status: b.status,
            seats: b.seats,
            period_end: b.period_end.map(ts),
            trial_end: b.trial_end.map(ts),
            trial_days_left,
            past_due_since: b.past_due_since.map(ts),
            grace_until: b.past_due_since.map(|s| ts(s + grace)),
            trial_available: b.trialed_at.is_none() && state.settings.billing.trial_days > 0,
            trial_days: state.settings.billing.trial_days,
            portal: b.customer_id.is_some(),
            prices,
        }))
    }

    /// Start Stripe Checkout for a plan (org admins): a subscription for `seats`, with a trial
    /// when the org never had one. Returns Stripe's URL.
    #[oai(path = "/api/v1/orgs/:org_id/billing/checkout", method = "post")]
    async fn checkout(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        body: JsonBody<Checkout>,
    ) -> Result<Json<RedirectDto>, ApiError> {
        enabled(&state)?;
        auth.require(Scope::Admin)?;
        let scope = scope(&state, &auth, org_id.0).await?;
        require_role(&scope, Role::Admin)?;
        let prices = state.settings.billing.prices.get(&body.plan);
        let price = match (prices, body.interval.as_str()) {
            (Some(p), "monthly") if !p.monthly.is_empty() => p.monthly.clone(),
            (Some(p), "yearly") if !p.yearly.is_empty() => p.yearly.clone(),
            _ => {
                return Err(ApiError::conflict(
                    "NO_SUCH_PRICE",
                    format!("the {} plan has no {} price here (billing.prices)", body.plan, body.interval),
                ));
            }
        };
        let b = state.store.org_billing(&scope).await?;
        if matches!(b.status.as_deref(), Some("trialing" | "active" | "past_due" | "unpaid" | "incomplete" | "paused"))
        {
            return Err(ApiError::conflict(
                "ALREADY_SUBSCRIBED",
                "the org already has a subscription: change its plan or seats under Manage billing (the Customer Portal)",
            ));
        }
        let org = scope.org_id().to_string();
        let base = format!("{}/orgs/{org}/billing", state.public_url.trim_end_matches('/'));
        let mut form: Vec<(String, String)> = vec![
            ("mode".into(), "subscription".into()),
            ("line_items[0][price]".into(), price),
            ("line_items[0][quantity]".into(), body.seats.to_string()),
            ("client_reference_id".into(), org.clone()),
            ("subscription_data[metadata][org_id]".into(), org.clone()),
            ("success_url".into(), format!("{base}?checkout=success")),
            ("cancel_url".into(), format!("{base}?checkout=canceled")),
        ];
        match &b.customer_id {
            Some(c) => form.push(("customer".into(), c.clone())),
            None => form.push(("customer_email".into(), auth.user.email.clone())),
        }
        let trial = state.settings.billing.trial_days;
        if b.trialed_at.is_none() && trial > 0 {
            form.push(("subscription_data[trial_period_days]".into(), trial.to_string()));
            // No card needed to start the trial; without one by its end, the subscription ends.
            form.push(("payment_method_collection".into(), "if_required".into()));
            form.push((
                "subscription_data[trial_settings][end_behavior][missing_payment_method]".into(),
                "cancel".into(),
            ));
        }
        // The same request within a minute (a double click, two admins) is one session at Stripe.
        let key = format!("checkout-{org}-{}-{}-{}-{}", body.plan, body.interval, body.seats, now() / 60);
        let session = stripe(&state)?.checkout_session(&form, &key).await.map_err(stripe_error)?;
        Ok(Json(RedirectDto { url: session.url }))
    }

    /// A Customer Portal session (org admins): plan changes, seats, cards and invoices.
    #[oai(path = "/api/v1/orgs/:org_id/billing/portal", method = "post")]
    async fn portal(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
    ) -> Result<Json<RedirectDto>, ApiError> {
        enabled(&state)?;
        auth.require(Scope::Admin)?;
        let scope = scope(&state, &auth, org_id.0).await?;
        require_role(&scope, Role::Admin)?;
        let b = state.store.org_billing(&scope).await?;
        let Some(customer) = b.customer_id else {
            return Err(ApiError::conflict(
                "NO_CUSTOMER",
                "the org has not subscribed yet: start with a plan's checkout",
            ));
        };
        let back = format!("{}/orgs/{}/billing", state.public_url.trim_end_matches('/'), scope.org_id());
        let session = stripe(&state)?
            .portal_session(&customer, &back, &Uuid::new_v4().to_string())
            .await
            .map_err(stripe_error)?;
        Ok(Json(RedirectDto { url: session.url }))
    }

    /// Buy a license without an account (Checkout in payment mode); the key is emailed once the
    /// payment completes. Rate-limited per address.
    #[oai(path = "/api/v1/billing/purchase", method = "post")]
    async fn purchase(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<Purchase>,
    ) -> Result<Json<RedirectDto>, ApiError> {
        enabled(&state)?;
        state.limits.tokens(client_ip(req, state.settings.proxy_hops()), None)?;
        if !state.settings.billing.license_products.contains_key(&body.price) {
            return Err(ApiError::conflict(
                "NO_SUCH_PRICE",
                "that price is not a license product here (billing.license_products)",
            ));
        }
        let base = state.public_url.trim_end_matches('/');
        let form: Vec<(String, String)> = vec![
            ("mode".into(), "payment".into()),
            ("line_items[0][price]".into(), body.price.clone()),
            ("line_items[0][quantity]".into(), "1".into()),
            ("customer_email".into(), body.email.trim().to_string()),
            ("metadata[price]".into(), body.price.clone()),
            ("success_url".into(), format!("{base}/purchase/complete")),
            ("cancel_url".into(), format!("{base}/purchase")),
        ];
        let session =
            stripe(&state)?.checkout_session(&form, &Uuid::new_v4().to_string()).await.map_err(stripe_error)?;
        Ok(Json(RedirectDto { url: session.url }))
    }

    /// The licenses anyone may buy here (public; the purchase page lists them).
    #[oai(path = "/api/v1/billing/products", method = "get")]
    async fn products(&self, state: Data<&AppState>) -> Result<Json<Vec<ProductDto>>, ApiError> {
        enabled(&state)?;
        let products = state.settings.billing.license_products.iter().map(|(price, p)| ProductDto {
            price: price.clone(),
            plan: p.plan.clone(),
            max_activations: p.max_activations,
            days: p.days,
        });
        Ok(Json(products.collect()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn purchase_keys_are_valid_and_differ_per_purchase() {
        let keys = crate::keys::Keys::generate();
        let a = super::purchase_key(&keys, "cs_1");
        assert_eq!(sessionforge_shared::license::normalize_key(&a), Some(a.clone()));
        assert_eq!(super::purchase_key(&keys, "cs_1"), a, "derived again the same");
        assert_ne!(super::purchase_key(&keys, "cs_2"), a);
    }
}
