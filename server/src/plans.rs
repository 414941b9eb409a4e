//! Plans and entitlements: what an org may use. [`Catalogue`] is the configured plan list;
//! [`Catalogue::effective`] is the one place that decides an org's plan, in this precedence: an
//! instance administrator's override (until it expires), then (later) a subscription or a
//! license, else the default plan. The store calls it inside the writer's transaction at every
//! point of use, so a limit is checked and taken in one step.

use std::sync::Arc;

use crate::settings::{PlanSettings, PlansSettings};

/// Where an org's plan comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// An instance administrator set it (with a reason, possibly until a date).
    Override,
    /// Nothing else applies: `plans.default`.
    Default,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Override => "override",
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
}

/// What an org has stored about its plan: an override, if any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrgPlanRow {
    pub override_plan: Option<String>,
    pub override_until: Option<i64>,
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
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Machines => "machines",
            Limit::Seats => "seats",
            Limit::ConcurrentSessions => "concurrent_sessions",
        }
    }

    /// The plan's limit, `None` for unlimited (0 in the settings).
    pub fn of(self, plan: &PlanSettings) -> Option<u64> {
        let n = match self {
            Limit::Machines => u64::from(plan.machines),
            Limit::Seats => u64::from(plan.seats),
            Limit::ConcurrentSessions => u64::from(plan.concurrent_sessions),
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
        Effective { plan_id: id, plan, source: Source::Default, ends_at: None }
    }

    /// The org's plan at `now`.
    pub fn effective(&self, row: &OrgPlanRow, now: i64) -> Effective {
        if let Some(id) = &row.override_plan
            && row.override_until.is_none_or(|until| until > now)
            && let Some(plan) = self.plan(id)
        {
            return Effective {
                plan_id: id.clone(),
                plan: plan.clone(),
                source: Source::Override,
                ends_at: row.override_until,
            };
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
        let none = c.effective(&OrgPlanRow::default(), 100);
        assert_eq!((none.plan_id.as_str(), none.source), ("self-hosted", Source::Default));
        assert_eq!(Limit::Machines.of(&none.plan), None, "self-hosted is unlimited");
        let row = OrgPlanRow { override_plan: Some("free".into()), override_until: Some(200) };
        let free = c.effective(&row, 100);
        assert_eq!((free.plan_id.as_str(), free.source, free.ends_at), ("free", Source::Override, Some(200)));
        assert_eq!(Limit::Machines.of(&free.plan), Some(2));
        assert_eq!(c.effective(&row, 200).source, Source::Default, "expired");
        let unknown = OrgPlanRow { override_plan: Some("gone".into()), override_until: None };
        assert_eq!(c.effective(&unknown, 100).source, Source::Default, "a plan removed from the catalogue");
    }
}
