//! Billing through Stripe: the checkout and portal sessions the server asks Stripe for
//! ([`stripe`]), the webhook signature check ([`signature`]) and the events it acts on
//! ([`events`]). Acting on an event (exactly once, newest state wins) is in
//! `store::billing`; the HTTP surface in `api::billing`.

pub mod events;
pub mod signature;
pub mod stripe;

use sessionforge_shared::license;

use crate::keys::Keys;

/// The license key of a one-time purchase: derived from the server's key and the purchase (its
/// checkout session id), so it is never stored; the key mail derives it again at send time.
pub fn purchase_key(keys: &Keys, purchase: &str) -> String {
    let secret = sessionforge_shared::seal::derive_key(&keys.cookie_key, "license-purchase");
    let digest = sessionforge_shared::seal::derive_key(&secret, purchase);
    license::key_from_bytes(&digest)
}

/// What acting on events needs from `[billing]`.
pub fn rules(b: &crate::settings::BillingSettings) -> crate::store::billing::Rules {
    let mut plans_by_price = Vec::new();
    for (plan, p) in &b.prices {
        for price in [&p.monthly, &p.yearly] {
            if !price.is_empty() {
                plans_by_price.push((price.clone(), plan.clone()));
            }
        }
    }
    let products = b
        .license_products
        .iter()
        .map(|(price, p)| (price.clone(), p.plan.clone(), p.max_activations, p.days))
        .collect();
    crate::store::billing::Rules { plans_by_price, products, past_due_grace_days: b.past_due_grace_days }
}
