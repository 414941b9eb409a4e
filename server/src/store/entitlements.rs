//! Entitlements in storage: an org's effective plan read inside a transaction, the check that
//! takes one more of a limited thing in that same transaction (so N concurrent requests against
//! a limit of L give exactly L successes), what is in use, administrators' overrides, and the
//! cache the hot paths (API calls) read plans from, dropped whenever a plan source changes.

use std::collections::HashMap;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use sessionforge_shared::ids::OrgId;

use super::audit::{AuditEntry, record};
use super::orgs::OrgScope;
use super::{Store, StoreError, now};
use crate::plans::{Catalogue, Effective, Limit, OrgPlanRow};

/// The org's plan as it applies now.
pub(crate) fn org_plan(c: &Connection, org: OrgId, catalogue: &Catalogue) -> Result<Effective, StoreError> {
    let row = c
        .query_row(
            "SELECT o.plan_override, o.plan_override_until, o.plan_override_at,
                    CASE WHEN b.status IN ('trialing', 'active') OR b.status IN ('past_due', 'unpaid') THEN b.plan END,
                    CASE WHEN b.status IN ('past_due', 'unpaid') THEN COALESCE(b.grace_until, 0) END,
                    COALESCE(b.sub_event_created, 0)
             FROM orgs o LEFT JOIN org_billing b ON b.org_id = o.id WHERE o.id = ?1",
            [org.to_string()],
            |r| {
                Ok(OrgPlanRow {
                    override_plan: r.get(0)?,
                    override_until: r.get(1)?,
                    override_at: r.get(2)?,
                    subscription_plan: r.get(3)?,
                    subscription_until: r.get(4)?,
                    subscription_since: r.get(5)?,
                })
            },
        )
        .optional()?
        .ok_or(StoreError::NotFound)?;
    let license = super::installed_license::installed(c)?.map(|l| l.as_instance());
    Ok(catalogue.effective(&row, license.as_ref(), now()))
}

/// Fails with `PlanLimit` unless the org's plan allows one more of `limit` beyond `used`.
pub(crate) fn require(
    c: &Connection,
    org: OrgId,
    catalogue: &Catalogue,
    limit: Limit,
    used: u64,
) -> Result<(), StoreError> {
    let plan = org_plan(c, org, catalogue)?;
    match limit.of(&plan.plan) {
        Some(max) if used + 1 > max => Err(StoreError::PlanLimit {
            limit: limit.as_str(),
            max,
            used,
            plan: plan.plan_id,
            upgrade_url: catalogue.upgrade_url().to_string(),
        }),
        _ => Ok(()),
    }
}

/// How long a cached plan is trusted at most (a plan's own end comes sooner when it has one).
const PLAN_CACHE_SECS: i64 = 60;

/// Orgs' plans for the hot paths: cleared on every change of an override or the installed
/// license, and each entry kept no longer than its source applies.
#[derive(Debug, Default)]
pub struct PlanCache(Mutex<HashMap<OrgId, (Effective, i64)>>);

impl PlanCache {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<OrgId, (Effective, i64)>> {
        crate::lock(&self.0)
    }

    pub fn clear(&self) {
        self.map().clear();
    }
}

/// What an org uses of each limit now (API calls: what is stored for this month; the store
/// flushes first).
pub(crate) fn usage(c: &Connection, org: OrgId) -> Result<[(Limit, u64); 4], StoreError> {
    let o = org.to_string();
    let count =
        |sql: &str| -> Result<u64, StoreError> { Ok(c.query_row(sql, [&o], |r| r.get::<_, i64>(0))?.unsigned_abs()) };
    Ok([
        (Limit::Machines, count("SELECT COUNT(*) FROM machines WHERE org_id = ?1 AND revoked_at IS NULL")?),
        (
            Limit::Seats,
            count("SELECT COUNT(*) FROM memberships WHERE org_id = ?1")?
                + c.query_row(
                    "SELECT COUNT(*) FROM invitations WHERE org_id = ?1 AND accepted_at IS NULL AND revoked_at IS NULL
                       AND expires_at > ?2",
                    params![o, now()],
                    |r| r.get::<_, i64>(0),
                )?
                .unsigned_abs(),
        ),
        (
            Limit::ConcurrentSessions,
            count("SELECT COUNT(*) FROM sessions WHERE org_id = ?1 AND state IN ('starting', 'running')")?,
        ),
        (
            Limit::ApiCallsPerMonth,
            c.query_row(
                "SELECT COALESCE(SUM(api_calls), 0) FROM usage_months WHERE org_id = ?1 AND month = ?2",
                params![o, super::usage::Month::of(now()).key()],
                |r| r.get::<_, i64>(0),
            )?
            .unsigned_abs(),
        ),
    ])
}

/// An administrator's plan override for an org.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanOverride {
    pub plan: String,
    pub until: Option<i64>,
    pub reason: String,
}

impl Store {
    /// The org's plan and what it uses of each limit.
    pub async fn entitlements(
        &self,
        scope: &OrgScope,
        catalogue: Catalogue,
    ) -> Result<(Effective, [(Limit, u64); 4]), StoreError> {
        let org = scope.org_id();
        self.flush_usage().await?;
        self.db.read(move |c| Ok((org_plan(c, org, &catalogue)?, usage(c, org)?))).await
    }

    /// The org's plan from the cache (read from the database when missing or stale).
    pub async fn cached_plan(&self, org: OrgId) -> Result<Effective, StoreError> {
        let at = now();
        if let Some((plan, until)) = self.plans.map().get(&org)
            && *until > at
        {
            return Ok(plan.clone());
        }
        let catalogue = self.catalogue.clone();
        let plan = self.db.read(move |c| org_plan(c, org, &catalogue)).await?;
        let until = plan.ends_at.map_or(at + PLAN_CACHE_SECS, |end| end.min(at + PLAN_CACHE_SECS));
        self.plans.map().insert(org, (plan.clone(), until));
        Ok(plan)
    }

    /// Forgets every cached plan (after a change of a plan source).
    pub fn plans_changed(&self) {
        self.plans.clear();
    }

    /// Sets (or with `None` clears) an org's plan override. Nothing is deleted when it lowers
    /// limits: what is over the new limit stays, and taking more is refused.
    pub async fn set_plan_override(
        &self,
        org: OrgId,
        value: Option<PlanOverride>,
        audit: AuditEntry,
    ) -> Result<(), StoreError> {
        self.db
            .write(move |tx| {
                let before: Option<Option<String>> = tx
                    .query_row("SELECT plan_override FROM orgs WHERE id = ?1", [org.to_string()], |r| r.get(0))
                    .optional()?;
                let before = before.ok_or(StoreError::NotFound)?;
                let (plan, until, reason) = match &value {
                    Some(v) => (Some(v.plan.clone()), v.until, Some(v.reason.clone())),
                    None => (None, None, None),
                };
                tx.execute(
                    "UPDATE orgs SET plan_override = ?1, plan_override_until = ?2, plan_override_reason = ?3,
                        plan_override_at = ?5 WHERE id = ?4",
                    params![plan, until, reason, org.to_string(), now()],
                )?;
                let details = serde_json::json!({"before": before, "after": plan, "until": until, "reason": reason});
                record(tx, &audit.org(org).target("org", org).details(details))?;
                Ok(())
            })
            .await?;
        self.plans_changed();
        Ok(())
    }
}
