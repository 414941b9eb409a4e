//! Stripe events as the server acts on them: the JSON of a verified event read into one typed
//! [`Action`] (or ignored). Field paths follow Stripe's current API versions: a subscription's
//! period end is read from its items, where those versions put it.

use serde_json::Value;

/// A verified event's envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    pub kind: String,
    /// The event's `created` (Unix seconds).
    pub created: i64,
    pub action: Action,
}

/// A paid one-time license purchase (a Checkout session in payment mode).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Purchase {
    /// The Checkout session: one license per session, whatever Stripe redelivers.
    pub session: String,
    pub email: String,
    pub price: String,
    pub payment_intent: Option<String>,
}

/// A subscription's state as an event tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    pub customer: String,
    /// The org it is for (set in checkout as subscription metadata), when present.
    pub org: Option<String>,
    pub price: Option<String>,
    pub quantity: u32,
    /// trialing, active, past_due, unpaid, canceled, incomplete, incomplete_expired or paused.
    pub status: String,
    pub period_end: Option<i64>,
    pub trial_end: Option<i64>,
    pub canceled_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// `customer.subscription.created/updated/deleted`.
    Subscription(Subscription),
    /// `checkout.session.completed` in subscription mode: links customer and subscription to the org.
    SubscriptionCheckout { org: String, customer: String, subscription: String },
    /// `checkout.session.completed` in payment mode: a one-time license purchase.
    Purchase(Purchase),
    /// `invoice.paid`.
    InvoicePaid { customer: String, subscription: Option<String> },
    /// `invoice.payment_failed`.
    PaymentFailed { customer: String, subscription: Option<String> },
    /// `customer.subscription.trial_will_end`.
    TrialWillEnd { customer: String, trial_end: Option<i64> },
    /// `charge.refunded` (`full`: the whole charge was refunded).
    Refunded { payment_intent: String, full: bool },
    /// Anything else: stored, not acted on.
    Ignored,
}

fn s(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        // Expanded objects carry their id.
        Value::Object(o) => o.get("id").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

/// A subscription object (as in events, and as `GET /v1/subscriptions/{id}` answers).
pub fn subscription(o: &Value) -> Option<Subscription> {
    let item = &o["items"]["data"][0];
    Some(Subscription {
        id: s(&o["id"])?,
        customer: s(&o["customer"])?,
        org: s(&o["metadata"]["org_id"]),
        price: s(&item["price"]["id"]).or_else(|| s(&o["plan"]["id"])),
        quantity: item["quantity"]
            .as_u64()
            .or_else(|| o["quantity"].as_u64())
            .map_or(1, |q| u32::try_from(q).unwrap_or(u32::MAX)),
        status: s(&o["status"])?,
        period_end: item["current_period_end"].as_i64().or_else(|| o["current_period_end"].as_i64()),
        trial_end: o["trial_end"].as_i64(),
        canceled_at: o["canceled_at"].as_i64(),
    })
}

/// Reads a verified event. `Err` names what is missing from an event we act on.
pub fn parse(body: &[u8]) -> Result<Event, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let id = s(&v["id"]).ok_or("no event id")?;
    let kind = s(&v["type"]).ok_or("no event type")?;
    let created = v["created"].as_i64().ok_or("no created time")?;
    let o = &v["data"]["object"];
    let missing = |what: &str| format!("{kind} without {what}");
    let action = match kind.as_str() {
        "customer.subscription.created" | "customer.subscription.updated" | "customer.subscription.deleted" => {
            Action::Subscription(subscription(o).ok_or_else(|| missing("a subscription"))?)
        }
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => match o["mode"].as_str() {
            Some("subscription") if kind == "checkout.session.completed" => Action::SubscriptionCheckout {
                org: s(&o["client_reference_id"]).ok_or_else(|| missing("client_reference_id"))?,
                customer: s(&o["customer"]).ok_or_else(|| missing("customer"))?,
                subscription: s(&o["subscription"]).ok_or_else(|| missing("subscription"))?,
            },
            // A license only once it is paid for: delayed methods (bank debits) complete the
            // checkout unpaid and succeed later (`async_payment_succeeded`). A payment of
            // something else (no `metadata.price`, say a Payment Link) is not ours.
            Some("payment") if o["payment_status"].as_str() == Some("paid") && s(&o["metadata"]["price"]).is_some() => {
                Action::Purchase(Purchase {
                    session: s(&o["id"]).ok_or_else(|| missing("id"))?,
                    email: s(&o["customer_details"]["email"])
                        .or_else(|| s(&o["customer_email"]))
                        .ok_or_else(|| missing("an email"))?,
                    price: s(&o["metadata"]["price"]).ok_or_else(|| missing("metadata.price"))?,
                    payment_intent: s(&o["payment_intent"]),
                })
            }
            _ => Action::Ignored,
        },
        "invoice.paid" => Action::InvoicePaid {
            customer: s(&o["customer"]).ok_or_else(|| missing("customer"))?,
            subscription: s(&o["subscription"]).or_else(|| s(&o["parent"]["subscription_details"]["subscription"])),
        },
        "invoice.payment_failed" => Action::PaymentFailed {
            customer: s(&o["customer"]).ok_or_else(|| missing("customer"))?,
            subscription: s(&o["subscription"]).or_else(|| s(&o["parent"]["subscription_details"]["subscription"])),
        },
        "customer.subscription.trial_will_end" => Action::TrialWillEnd {
            customer: s(&o["customer"]).ok_or_else(|| missing("customer"))?,
            trial_end: o["trial_end"].as_i64(),
        },
        "charge.refunded" => Action::Refunded {
            payment_intent: s(&o["payment_intent"]).ok_or_else(|| missing("payment_intent"))?,
            full: o["refunded"].as_bool() == Some(true),
        },
        _ => Action::Ignored,
    };
    Ok(Event { id, kind, created, action })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscription_event_reads_its_period_end_from_its_items() {
        let body = serde_json::json!({
            "id": "evt_1", "type": "customer.subscription.updated", "created": 1_800_000_000,
            "data": {"object": {
                "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "active",
                "metadata": {"org_id": "org-1"}, "trial_end": null, "canceled_at": null,
                "items": {"object": "list", "data": [{"id": "si_1", "quantity": 4,
                    "current_period_end": 1_802_592_000, "price": {"id": "price_team_monthly"}}]}
            }}
        });
        let ev = parse(body.to_string().as_bytes()).expect("parses");
        assert_eq!(ev.created, 1_800_000_000);
        let Action::Subscription(sub) = ev.action else { panic!("{:?}", ev.action) };
        assert_eq!((sub.quantity, sub.period_end, sub.org.as_deref()), (4, Some(1_802_592_000), Some("org-1")));
        assert_eq!(sub.price.as_deref(), Some("price_team_monthly"));
        let other =
            serde_json::json!({"id": "evt_2", "type": "payment_method.attached", "created": 1, "data": {"object": {}}});
        assert_eq!(parse(other.to_string().as_bytes()).expect("parses").action, Action::Ignored);
        assert!(parse(b"{}").is_err());
    }
}
