//! Billing state: Stripe webhook events applied exactly once, newest state first, and each
//! org's subscription as they left it. An event is stored (unique on its id) and acted on in
//! one transaction; a duplicate finds it stored and does nothing, an event older than the state
//! it would change is recorded and skipped, and an event that fails is kept with its error (its
//! effects rolled back) so that Stripe's retry, or an administrator, can run it again.

use rusqlite::{OptionalExtension, Transaction, params};
use sessionforge_shared::ids::OrgId;

use super::audit::{Actor, AuditEntry, record};
use super::billing_views::{OrgBilling, billing_row};
use super::outbox::{NewMail, queue_mail};
use super::{Store, StoreError, now};

mod purchases;

use crate::billing::events::{Action, Event, Subscription};
pub use purchases::PurchaseKey;

/// What the rules of billing need from the settings.
#[derive(Clone, Debug)]
pub struct Rules {
    /// The plan a recurring price is for.
    pub plans_by_price: Vec<(String, String)>,
    /// One-time price → (plan, max activations, days; 0 perpetual).
    pub products: Vec<(String, String, u32, u32)>,
    pub past_due_grace_days: u32,
}

/// What became of an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Processed,
    /// Seen before (processed or ignored): nothing done again.
    Duplicate,
    /// Stored, not acted on (a type we do not act on, or older than the state it would change).
    Ignored(String),
    /// Acting on it failed; kept with this error for a retry.
    Failed(String),
}

/// How long an event that names something not (yet) known here is failed, so that Stripe
/// delivers it again (events arrive in any order); older, it is recorded and ignored, so that
/// events about other things never keep the endpoint failing.
const WAIT_FOR_RELATED_SECS: i64 = 3600;

fn not_yet(ev: &Event, what: String) -> Result<Outcome, StoreError> {
    if now() - ev.created < WAIT_FOR_RELATED_SECS {
        Err(StoreError::Internal(format!("{what} yet")))
    } else {
        Ok(Outcome::Ignored(format!("{what}: not about this server")))
    }
}

fn system(action: &'static str) -> AuditEntry {
    AuditEntry::new(Actor::System, None, action)
}

/// The org an event is about: its metadata, else the customer or subscription it was linked to.
fn find_org(
    tx: &Transaction<'_>,
    org: Option<&str>,
    customer: &str,
    subscription: Option<&str>,
) -> Result<Option<String>, StoreError> {
    if let Some(org) = org {
        let exists: Option<String> =
            tx.query_row("SELECT id FROM orgs WHERE id = ?1", [org], |r| r.get(0)).optional()?;
        if exists.is_some() {
            return Ok(exists);
        }
    }
    Ok(tx
        .query_row(
            "SELECT org_id FROM org_billing WHERE customer_id = ?1 OR (?2 IS NOT NULL AND subscription_id = ?2)",
            params![customer, subscription],
            |r| r.get(0),
        )
        .optional()?)
}

fn ensure_row(tx: &Transaction<'_>, org: &str) -> Result<(), StoreError> {
    tx.execute("INSERT OR IGNORE INTO org_billing (org_id, updated_at) VALUES (?1, ?2)", params![org, now()])?;
    Ok(())
}

/// Mails every owner of `org` with `template`.
fn mail_owners(
    tx: &Transaction<'_>,
    org: &str,
    template: &'static str,
    params: serde_json::Value,
) -> Result<(), StoreError> {
    let owners: Vec<String> = tx
        .prepare("SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = ?1 AND m.role = 'owner'")?
        .query_map([org], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for to in owners {
        queue_mail(tx, &NewMail { to, template, params: params.clone(), link: None })?;
    }
    Ok(())
}

fn apply_subscription(
    tx: &Transaction<'_>,
    rules: &Rules,
    created: i64,
    sub: &Subscription,
) -> Result<Outcome, StoreError> {
    let Some(org) = find_org(tx, sub.org.as_deref(), &sub.customer, Some(&sub.id))? else {
        return Err(StoreError::Internal(format!("no org for subscription {} (customer {})", sub.id, sub.customer)));
    };
    ensure_row(tx, &org)?;
    if sub.status == "trialing" {
        // That the org had a trial is true whatever order the events come in.
        tx.execute(
            "UPDATE org_billing SET trialed_at = COALESCE(trialed_at, ?2) WHERE org_id = ?1",
            params![org, created],
        )?;
    }
    let newest: i64 =
        tx.query_row("SELECT sub_event_created FROM org_billing WHERE org_id = ?1", [&org], |r| r.get(0))?;
    if created < newest {
        trial_over(tx, &org)?;
        return Ok(Outcome::Ignored(format!("older ({created}) than the state applied ({newest})")));
    }
    let plan = sub
        .price
        .as_ref()
        .and_then(|p| rules.plans_by_price.iter().find(|(price, _)| price == p))
        .map(|(_, plan)| plan);
    let failing = matches!(sub.status.as_str(), "past_due" | "unpaid");
    let grace = i64::from(rules.past_due_grace_days) * 86_400;
    tx.execute(
        "UPDATE org_billing SET customer_id = ?2, subscription_id = ?3, plan = COALESCE(?4, plan), status = ?5, seats = ?6,
            period_end = ?7, trial_end = ?8, canceled_at = ?9,
            past_due_since = CASE WHEN ?10 THEN COALESCE(past_due_since, ?11) ELSE NULL END,
            grace_until = CASE WHEN ?10 THEN COALESCE(past_due_since, ?11) + ?12 ELSE NULL END,
            trialed_at = CASE WHEN ?5 = 'trialing' THEN COALESCE(trialed_at, ?11) ELSE trialed_at END,
            sub_event_created = ?11, updated_at = ?13
         WHERE org_id = ?1",
        params![
            org,
            sub.customer,
            sub.id,
            plan,
            sub.status,
            sub.quantity,
            sub.period_end,
            sub.trial_end,
            sub.canceled_at,
            failing,
            created,
            grace,
            now()
        ],
    )?;
    let org_id: OrgId = org.parse().map_err(|_| StoreError::Internal(format!("bad org id {org}")))?;
    let details =
        serde_json::json!({"subscription": sub.id, "status": sub.status, "plan": plan, "seats": sub.quantity});
    record(tx, &system("billing.subscription_changed").org(org_id).target("org", &org).details(details))?;
    trial_over(tx, &org)?;
    Ok(Outcome::Processed)
}

/// Tells the owners, once, that the org's trial ended, as soon as both are known: that it had a
/// trial, and that the subscription is past it (events may come in any order).
fn trial_over(tx: &Transaction<'_>, org: &str) -> Result<(), StoreError> {
    let (trialed, status, mailed): (Option<i64>, Option<String>, Option<i64>) = tx.query_row(
        "SELECT trialed_at, status, trial_ended_mailed_at FROM org_billing WHERE org_id = ?1",
        [org],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let Some(status) = status else { return Ok(()) };
    if trialed.is_none() || mailed.is_some() || status == "trialing" {
        return Ok(());
    }
    let paid = matches!(status.as_str(), "active" | "past_due");
    mail_owners(tx, org, "trial_ended", serde_json::json!({"paid": paid}))?;
    tx.execute("UPDATE org_billing SET trial_ended_mailed_at = ?2 WHERE org_id = ?1", params![org, now()])?;
    Ok(())
}

fn act(tx: &Transaction<'_>, rules: &Rules, ev: &Event, key: Option<&PurchaseKey>) -> Result<Outcome, StoreError> {
    match &ev.action {
        Action::Subscription(sub) => apply_subscription(tx, rules, ev.created, sub),
        Action::SubscriptionCheckout { org, customer, subscription } => {
            let Some(org) = find_org(tx, Some(org), customer, Some(subscription))? else {
                return Err(StoreError::Internal(format!("checkout for unknown org {org}")));
            };
            ensure_row(tx, &org)?;
            tx.execute(
                "UPDATE org_billing SET customer_id = ?2, subscription_id = COALESCE(subscription_id, ?3), updated_at = ?4
                 WHERE org_id = ?1",
                params![org, customer, subscription, now()],
            )?;
            Ok(Outcome::Processed)
        }
        Action::Purchase(p) => purchases::purchase(tx, rules, ev, key, p),
        Action::InvoicePaid { customer, subscription } => {
            let Some(org) = find_org(tx, None, customer, subscription.as_deref())? else {
                return not_yet(ev, format!("no org has customer {customer}"));
            };
            // A failed run of payments ends. Invoices carry no plan or seats, so they never move
            // the subscription's ordering mark; its own events set everything else.
            let n = tx.execute(
                "UPDATE org_billing SET past_due_since = NULL, grace_until = NULL, status = 'active', updated_at = ?3
                 WHERE org_id = ?1 AND sub_event_created <= ?2 AND status IN ('past_due', 'unpaid')",
                params![org, ev.created, now()],
            )?;
            Ok(if n > 0 { Outcome::Processed } else { Outcome::Ignored("older than the state applied".into()) })
        }
        Action::PaymentFailed { customer, subscription } => {
            let Some(org) = find_org(tx, None, customer, subscription.as_deref())? else {
                return not_yet(ev, format!("no org has customer {customer}"));
            };
            let grace = i64::from(rules.past_due_grace_days) * 86_400;
            let n = tx.execute(
                "UPDATE org_billing SET status = 'past_due', past_due_since = COALESCE(past_due_since, ?2),
                    grace_until = COALESCE(past_due_since, ?2) + ?3, updated_at = ?4
                 WHERE org_id = ?1 AND sub_event_created <= ?2
                   AND status IN ('active', 'trialing', 'past_due', 'unpaid')",
                params![org, ev.created, grace, now()],
            )?;
            // The owners hear of every failed payment, even one that arrives late.
            let until: Option<i64> =
                tx.query_row("SELECT grace_until FROM org_billing WHERE org_id = ?1", [&org], |r| r.get(0))?;
            let params =
                serde_json::json!({"grace_until": until.map(crate::api_time), "grace_days": rules.past_due_grace_days});
            mail_owners(tx, &org, "payment_failed", params)?;
            Ok(if n > 0 {
                Outcome::Processed
            } else {
                Outcome::Ignored("older than the state applied (owners mailed)".into())
            })
        }
        Action::TrialWillEnd { customer, trial_end } => {
            let Some(org) = find_org(tx, None, customer, None)? else {
                return not_yet(ev, format!("no org has customer {customer}"));
            };
            mail_owners(tx, &org, "trial_ending", serde_json::json!({"trial_end": trial_end.map(crate::api_time)}))?;
            Ok(Outcome::Processed)
        }
        Action::Refunded { payment_intent, full: false } => {
            Ok(Outcome::Ignored(format!("a partial refund of {payment_intent}: the license stays")))
        }
        Action::Refunded { payment_intent, full: true } => purchases::refund(tx, ev, payment_intent),
        Action::Ignored => Ok(Outcome::Ignored(format!("{} is not acted on", ev.kind))),
    }
}

impl Store {
    /// Stores and acts on a verified event, exactly once.
    pub async fn apply_billing_event(
        &self,
        ev: Event,
        payload: String,
        rules: Rules,
        key: Option<PurchaseKey>,
    ) -> Result<Outcome, StoreError> {
        let (outcome, changed) = self
            .db
            .write(move |tx| {
                let at = now();
                let state: Option<String> = tx
                    .query_row("SELECT state FROM billing_events WHERE id = ?1", [&ev.id], |r| r.get(0))
                    .optional()?;
                if matches!(state.as_deref(), Some("processed" | "ignored")) {
                    return Ok((Outcome::Duplicate, false));
                }
                tx.execute("SAVEPOINT act", [])?;
                let result = act(tx, &rules, &ev, key.as_ref());
                let (state, error, outcome) = match result {
                    Ok(Outcome::Ignored(why)) => ("ignored", Some(why.clone()), Outcome::Ignored(why)),
                    Ok(o) => ("processed", None, o),
                    Err(e) => {
                        // Undo whatever the failed action wrote; keep the event and its error.
                        tx.execute("ROLLBACK TO act", [])?;
                        ("failed", Some(e.to_string()), Outcome::Failed(e.to_string()))
                    }
                };
                tx.execute("RELEASE act", [])?;
                tx.execute(
                    "INSERT INTO billing_events (id, type, created, payload, state, error, received_at, processed_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, CASE WHEN ?5 = 'failed' THEN NULL ELSE ?7 END)
                     ON CONFLICT (id) DO UPDATE SET state = excluded.state, error = excluded.error,
                        processed_at = excluded.processed_at, attempts = attempts + 1",
                    params![ev.id, ev.kind, ev.created, payload, state, error, at],
                )?;
                Ok((outcome, state == "processed"))
            })
            .await?;
        if changed {
            self.plans_changed();
        }
        Ok(outcome)
    }

    /// Applies a subscription as Stripe's API shows it now (reconciliation), newer than any
    /// event so far; returns the org's billing before and after.
    pub async fn sync_subscription(
        &self,
        org: String,
        sub: Subscription,
        rules: Rules,
    ) -> Result<(OrgBilling, OrgBilling), StoreError> {
        let result = self
            .db
            .write(move |tx| {
                let read = |c: &rusqlite::Connection| billing_row(c, &org);
                let before = read(tx)?;
                let at = now().max(
                    tx.query_row("SELECT sub_event_created FROM org_billing WHERE org_id = ?1", [&org], |r| r.get(0))
                        .optional()?
                        .unwrap_or(0),
                );
                let sub = Subscription { org: Some(org.clone()), ..sub };
                apply_subscription(tx, &rules, at, &sub)?;
                Ok((before, read(tx)?))
            })
            .await?;
        self.plans_changed();
        Ok(result)
    }
}
