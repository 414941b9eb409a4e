//! License purchases through Stripe Checkout: a paid purchase issues a license once (its key
//! derived by the caller, never stored) and mails it; a full refund revokes it.

use rusqlite::{OptionalExtension, Transaction, params};

use super::super::audit::record;
use super::super::licenses::{NewLicense, insert_license};
use super::super::outbox::{NewMail, queue_mail};
use super::super::{StoreError, now};
use super::{Outcome, Rules, not_yet, system};
use crate::billing::events::{Event, Purchase};

/// A purchase's license key material, made by the caller (who holds the server's keys).
#[derive(Clone)]
pub struct PurchaseKey {
    pub hash: Vec<u8>,
    pub hint: String,
}

impl std::fmt::Debug for PurchaseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PurchaseKey").field("hint", &self.hint).finish_non_exhaustive()
    }
}

/// A paid checkout of a license product: the license, once per checkout session, and its mail.
pub(super) fn purchase(
    tx: &Transaction<'_>,
    rules: &Rules,
    ev: &Event,
    key: Option<&PurchaseKey>,
    purchase: &Purchase,
) -> Result<Outcome, StoreError> {
    let Purchase { session, email, price, payment_intent } = purchase;
    let Some((_, plan, max, days)) = rules.products.iter().find(|(p, ..)| p == price) else {
        return Err(StoreError::Internal(format!("price {price} is not a license product (billing.license_products)")));
    };
    let issued: Option<String> = tx
        .query_row("SELECT license_id FROM license_purchases WHERE checkout_session_id = ?1", [session], |r| r.get(0))
        .optional()?;
    if let Some(license) = issued {
        return Ok(Outcome::Ignored(format!("license {license} was issued for this purchase already")));
    }
    let key = key.ok_or_else(|| StoreError::Internal("no key for a purchase".into()))?;
    let id = uuid::Uuid::now_v7().to_string();
    let expires_at = (*days > 0).then(|| ev.created + i64::from(*days) * 86_400);
    let new = NewLicense {
        id: id.clone(),
        key_hash: key.hash.clone(),
        key_hint: key.hint.clone(),
        org_id: None,
        customer_email: Some(email.clone()),
        licensee: email.clone(),
        plan: plan.clone(),
        max_activations: *max,
        expires_at,
        grace_days: 14,
        heartbeat_secs: 86_400,
    };
    insert_license(tx, &new, &system("license.purchased"))?;
    tx.execute(
        "INSERT INTO license_purchases (checkout_session_id, license_id, email, payment_intent, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![session, id, email, payment_intent, now()],
    )?;
    // The key is not in the row: the sender derives it from the purchase.
    let params = serde_json::json!({"plan": plan, "license_id": id, "max_activations": max,
        "expires_at": expires_at.map(crate::api_time), "purchase": session});
    let template = crate::email::sender::LICENSE_MAIL;
    queue_mail(tx, &NewMail { to: email.clone(), template, params, link: None })?;
    Ok(Outcome::Processed)
}

/// A full refund: the purchase's license is revoked, once.
pub(super) fn refund(tx: &Transaction<'_>, ev: &Event, payment_intent: &str) -> Result<Outcome, StoreError> {
    let license: Option<String> = tx
        .query_row(
            "SELECT license_id FROM license_purchases WHERE payment_intent = ?1 AND refunded_at IS NULL",
            [payment_intent],
            |r| r.get(0),
        )
        .optional()?;
    let Some(license) = license else {
        let refunded: Option<i64> = tx
            .query_row("SELECT 1 FROM license_purchases WHERE payment_intent = ?1", [payment_intent], |r| r.get(0))
            .optional()?;
        if refunded.is_some() {
            return Ok(Outcome::Ignored("already refunded".into()));
        }
        // The purchase's own event may come later; a refund of something else never has one.
        return not_yet(ev, format!("no purchase has payment {payment_intent}"));
    };
    tx.execute("UPDATE license_purchases SET refunded_at = ?2 WHERE license_id = ?1", params![license, now()])?;
    tx.execute("UPDATE licenses SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1", params![license, now()])?;
    record(
        tx,
        &system("license.revoked").target("license", &license).details(serde_json::json!({"reason": "refunded"})),
    )?;
    Ok(Outcome::Processed)
}
