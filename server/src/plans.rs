//! Plans and entitlements: what an org may use. [`Catalogue`] is the configured plan list;
//! [`Catalogue::effective`] is the one place that decides an org's plan, in this precedence: an
//! instance administrator's override (until it expires), then the org's subscription, then the
//! license installed on this instance (through its grace period), else the default plan. The store calls it inside the writer's transaction at every
//! point of use, so a limit is checked and taken in one step.

use std::sync::Arc;

use crate::settings::{PlanSettings, PlansSettings};

/// Where an org's plan comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// An instance administrator set it (with a reason, possibly until a date).
    Override,
    /// The org's subscription (billing), while active, trialing, or within the grace of a
    /// failed payment.
    Subscription,
    /// The license installed on this instance (a file, or a key activated online).
    License,
    /// Nothing else applies: `plans.default`.
    Default,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Override => "override",
            Source::Subscription => "subscription",
            Source::License => "license",
            Source::Default => "default",
        }
    }
}

/// An org's plan as it applies now.
#[derive(Clone, Debug, PartialEq)]
pub struct Effective {
    pub plan_id: String,
    pub plan: PlanSettings,
    pub source: Source,
    /// When this source stops applying (Unix seconds), if it does.
    pub ends_at: Option<i64>,
    /// Since when this source applies, as far as its records say (0: unknown). Shown only:
    /// plan retention counts from the sweeper's own record of each org's plan changes.
    pub since: i64,
}

/// What an org has stored about its plan: an override, if any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrgPlanRow {
    pub override_plan: Option<String>,
    pub override_until: Option<i64>,
    /// When the override was set.
    pub override_at: Option<i64>,
    /// The subscription's plan while it applies, until when (a failed payment's grace), and
    /// since when its state was last told.
    pub subscription_plan: Option<String>,
    pub subscription_until: Option<i64>,
    pub subscription_since: i64,
}

/// The license this instance runs under, as far as plans care.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceLicense {
    pub plan: String,
    pub expires_at: Option<i64>,
    pub grace_days: u32,
    /// For a license activated online: until when it applies without another valid answer
    /// from its issuer (`None` for a file, or a key the issuer refused: see `active`).
    pub valid_until: Option<i64>,
    /// False when the issuer's last signed answer said the license is not valid.
    pub active: bool,
    /// When it was installed or activated.
    pub installed_at: i64,
}

/// The plan catalogue, cheap to clone into store transactions.
#[derive(Clone, Debug)]
pub struct Catalogue(Arc<PlansSettings>);

/// A limit, by the name clients see in `PLAN_LIMIT` refusals and entitlements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Machines,
    Seats,
    ConcurrentSessions,
    ApiCallsPerMonth,
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Machines => "machines",
            Limit::Seats => "seats",
            Limit::ConcurrentSessions => "concurrent_sessions",
            Limit::ApiCallsPerMonth => "api_calls_per_month",
        }
    }

    /// The plan's limit, `None` for unlimited (0 in the settings).
    pub fn of(self, plan: &PlanSettings) -> Option<u64> {
        let n = match self {
            Limit::Machines => u64::from(plan.machines),
            Limit::Seats => u64::from(plan.seats),
            Limit::ConcurrentSessions => u64::from(plan.concurrent_sessions),
            Limit::ApiCallsPerMonth => plan.api_calls_per_month,
        };
        (n > 0).then_some(n)
    }
}

impl Catalogue {
    pub fn new(settings: &PlansSettings) -> Self {
        Self(Arc::new(settings.clone()))
    }

    pub fn settings(&self) -> &PlansSettings {
        &self.0
    }

    /// The plan `id`, if the catalogue has it.
    pub fn plan(&self, id: &str) -> Option<&PlanSettings> {
        self.0.catalogue.get(id)
    }

    /// The default plan (validated at start-up to exist; an empty, unlimited plan otherwise).
    fn default_plan(&self) -> Effective {
        let id = self.0.default.clone();
        let plan = self.plan(&id).cloned().unwrap_or_default();
        Effective { plan_id: id, plan, source: Source::Default, ends_at: None, since: 0 }
    }

    /// The org's plan at `now`, given the instance's license.
    pub fn effective(&self, row: &OrgPlanRow, license: Option<&InstanceLicense>, now: i64) -> Effective {
        if let Some(id) = &row.override_plan
            && row.override_until.is_none_or(|until| until > now)
            && let Some(plan) = self.plan(id)
        {
            return Effective {
                plan_id: id.clone(),
                plan: plan.clone(),
                source: Source::Override,
                ends_at: row.override_until,
                since: row.override_at.unwrap_or(0),
            };
        }
        if let Some(id) = &row.subscription_plan
            && row.subscription_until.is_none_or(|until| until > now)
            && let Some(plan) = self.plan(id)
        {
            return Effective {
                plan_id: id.clone(),
                plan: plan.clone(),
                source: Source::Subscription,
                ends_at: row.subscription_until,
                since: row.subscription_since,
            };
        }
        if let Some(l) = license.filter(|l| l.active) {
            // Past expiry it keeps working through its grace period, then the default applies;
            // one activated online also stops when its issuer has not confirmed it for too long.
            let expiry = l.expires_at.map(|e| e + i64::from(l.grace_days) * 86_400);
            let ends_at = match (expiry, l.valid_until) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if ends_at.is_none_or(|end| end > now)
                && let Some(plan) = self.plan(&l.plan)
            {
                return Effective {
                    plan_id: l.plan.clone(),
                    plan: plan.clone(),
                    source: Source::License,
                    ends_at,
                    since: l.installed_at,
                };
            }
        }
        self.default_plan()
    }

    pub fn upgrade_url(&self) -> &str {
        &self.0.upgrade_url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_override_wins_until_it_expires_then_the_default_applies() {
        let c = Catalogue::new(&PlansSettings::default());
        let none = c.effective(&OrgPlanRow::default(), None, 100);
        assert_eq!((none.plan_id.as_str(), none.source), ("self-hosted", Source::Default));
        assert_eq!(Limit::Machines.of(&none.plan), None, "self-hosted is unlimited");
        let row = OrgPlanRow {
            override_plan: Some("free".into()),
            override_until: Some(200),
            override_at: Some(50),
            ..Default::default()
        };
        let free = c.effective(&row, None, 100);
        assert_eq!((free.plan_id.as_str(), free.source, free.ends_at), ("free", Source::Override, Some(200)));
        assert_eq!(Limit::Machines.of(&free.plan), Some(2));
        assert_eq!(c.effective(&row, None, 200).source, Source::Default, "expired");
        let unknown = OrgPlanRow {
            override_plan: Some("gone".into()),
            override_until: None,
            override_at: None,
            ..Default::default()
        };
        assert_eq!(c.effective(&unknown, None, 100).source, Source::Default, "a plan removed from the catalogue");
        let license = InstanceLicense {
            plan: "team".into(),
            expires_at: Some(1_000),
            grace_days: 1,
            valid_until: None,
            active: true,
            installed_at: 10,
        };
        let lic = c.effective(&OrgPlanRow::default(), Some(&license), 1_000 + 3_600);
        assert_eq!(
            (lic.plan_id.as_str(), lic.source, lic.ends_at),
            ("team", Source::License, Some(1_000 + 86_400)),
            "in grace"
        );
        assert_eq!(
            c.effective(&OrgPlanRow::default(), Some(&license), 1_000 + 86_400).source,
            Source::Default,
            "past grace"
        );
    }

    #[test]
    fn a_license_activated_online_applies_until_its_issuer_was_silent_too_long_or_refused_it() {
        let c = Catalogue::new(&PlansSettings::default());
        let online = InstanceLicense {
            plan: "pro".into(),
            expires_at: None,
            grace_days: 0,
            valid_until: Some(500),
            active: true,
            installed_at: 10,
        };
        let now = c.effective(&OrgPlanRow::default(), Some(&online), 499);
        assert_eq!((now.plan_id.as_str(), now.source, now.ends_at), ("pro", Source::License, Some(500)));
        assert_eq!(c.effective(&OrgPlanRow::default(), Some(&online), 500).source, Source::Default, "grace over");
        let refused = InstanceLicense { active: false, ..online.clone() };
        assert_eq!(c.effective(&OrgPlanRow::default(), Some(&refused), 1).source, Source::Default, "refused");
        let expiring = InstanceLicense { expires_at: Some(100), ..online };
        assert_eq!(c.effective(&OrgPlanRow::default(), Some(&expiring), 1).ends_at, Some(100), "the sooner end");
    }
}
