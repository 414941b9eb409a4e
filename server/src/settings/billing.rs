//! The `[billing]` table: Stripe's keys and API, the price of each plan, one-time license
//! products, trials and the grace of a failed payment. With no secret key, billing is off.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StripeSettings {
    /// Stripe's secret API key; empty: billing is off.
    pub secret_key: String,
    /// Webhook signing secrets; any may sign an event (Stripe rotates them).
    pub webhook_secrets: Vec<String>,
    pub api_base: String,
    /// Pinned `Stripe-Version`.
    pub api_version: String,
    /// Events signed longer ago than this are refused (replay protection).
    pub tolerance_secs: u64,
}

impl Default for StripeSettings {
    fn default() -> Self {
        Self {
            secret_key: String::new(),
            webhook_secrets: Vec::new(),
            api_base: "https://api.stripe.com".into(),
            api_version: "2025-03-31.basil".into(),
            tolerance_secs: 300,
        }
    }
}

/// Written by hand: the keys never reach logs.
impl std::fmt::Debug for StripeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeSettings")
            .field("secret_key", &if self.secret_key.is_empty() { "" } else { "<redacted>" })
            .field("webhook_secrets", &format!("<{} redacted>", self.webhook_secrets.len()))
            .field("api_base", &self.api_base)
            .field("api_version", &self.api_version)
            .field("tolerance_secs", &self.tolerance_secs)
            .finish()
    }
}

/// A plan's recurring prices.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlanPrices {
    pub monthly: String,
    pub yearly: String,
}

/// What a one-time license purchase grants.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LicenseProduct {
    pub plan: String,
    pub max_activations: u32,
    /// Days until it expires; 0: perpetual.
    pub days: u32,
}

impl Default for LicenseProduct {
    fn default() -> Self {
        Self { plan: "pro".into(), max_activations: 1, days: 365 }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BillingSettings {
    pub trial_days: u32,
    pub past_due_grace_days: u32,
    pub stripe: StripeSettings,
    /// Plan id → its prices.
    pub prices: BTreeMap<String, PlanPrices>,
    /// One-time price id → the license it buys.
    pub license_products: BTreeMap<String, LicenseProduct>,
}

impl Default for BillingSettings {
    fn default() -> Self {
        Self {
            trial_days: 14,
            past_due_grace_days: 7,
            stripe: StripeSettings::default(),
            prices: BTreeMap::new(),
            license_products: BTreeMap::new(),
        }
    }
}

impl BillingSettings {
    pub fn enabled(&self) -> bool {
        !self.stripe.secret_key.is_empty()
    }

    /// The plan a recurring price belongs to, and its interval.
    pub fn plan_of_price(&self, price: &str) -> Option<(&str, &'static str)> {
        self.prices.iter().find_map(|(plan, p)| {
            if p.monthly == price {
                Some((plan.as_str(), "monthly"))
            } else if p.yearly == price {
                Some((plan.as_str(), "yearly"))
            } else {
                None
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_keys() {
        let s = StripeSettings {
            secret_key: "sk_test_supersecret".into(),
            webhook_secrets: vec!["whsec_alsosecret".into()],
            ..StripeSettings::default()
        };
        let d = format!("{s:?}");
        assert!(!d.contains("supersecret") && !d.contains("alsosecret"), "{d}");
    }
}
