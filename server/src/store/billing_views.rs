//! Billing as people read it: an org's subscription (the Billing page), every org with the plan
//! that applies and where it comes from (the administrators' console), and the webhook event
//! log with each stored payload (for replay). Acting on events is in [`super::billing`].

use rusqlite::OptionalExtension;
use sessionforge_shared::ids::OrgId;

use super::orgs::OrgScope;
use super::{Store, StoreError, now};

/// An org's subscription as the dashboard shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrgBilling {
    pub customer_id: Option<String>,
    pub subscription_id: Option<String>,
    pub plan: Option<String>,
    pub status: Option<String>,
    pub seats: Option<u32>,
    pub period_end: Option<i64>,
    pub trial_end: Option<i64>,
    pub past_due_since: Option<i64>,
    pub trialed_at: Option<i64>,
}

/// One org in the administrators' console.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgOverview {
    pub id: String,
    pub name: String,
    pub personal: bool,
    pub plan: String,
    pub source: &'static str,
    pub ends_at: Option<i64>,
    pub subscription_status: Option<String>,
    pub members: u64,
    pub machines: u64,
    pub api_calls_this_month: u64,
}

/// A stored webhook event, for the administrators' event log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    pub id: String,
    pub kind: String,
    pub created: i64,
    pub state: String,
    pub error: Option<String>,
    pub received_at: i64,
    pub attempts: u32,
    pub payload: String,
}

pub(super) fn billing_row(c: &rusqlite::Connection, org: &str) -> Result<OrgBilling, StoreError> {
    Ok(c.query_row(
        "SELECT customer_id, subscription_id, plan, status, seats, period_end, trial_end, past_due_since, trialed_at
         FROM org_billing WHERE org_id = ?1",
        [org],
        |r| {
            Ok(OrgBilling {
                customer_id: r.get(0)?,
                subscription_id: r.get(1)?,
                plan: r.get(2)?,
                status: r.get(3)?,
                seats: r.get(4)?,
                period_end: r.get(5)?,
                trial_end: r.get(6)?,
                past_due_since: r.get(7)?,
                trialed_at: r.get(8)?,
            })
        },
    )
    .optional()?
    .unwrap_or_default())
}

impl Store {
    /// The org's subscription, if it has billing.
    pub async fn org_billing(&self, scope: &OrgScope) -> Result<OrgBilling, StoreError> {
        let org = scope.org_id().to_string();
        self.db.read(move |c| billing_row(c, &org)).await
    }

    /// Webhook events, newest first (the administrators' event log).
    pub async fn billing_events(&self, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        self.db
            .read(move |c| {
                let mut stmt = c.prepare(
                    "SELECT id, type, created, state, error, received_at, attempts, payload FROM billing_events
                     ORDER BY received_at DESC, created DESC LIMIT ?1",
                )?;
                let rows = stmt.query_map([limit], |r| {
                    Ok(StoredEvent {
                        id: r.get(0)?,
                        kind: r.get(1)?,
                        created: r.get(2)?,
                        state: r.get(3)?,
                        error: r.get(4)?,
                        received_at: r.get(5)?,
                        attempts: r.get(6)?,
                        payload: r.get(7)?,
                    })
                })?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }

    /// Every org linked to a Stripe subscription: (org, subscription id).
    pub async fn billing_links(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.db
            .read(|c| {
                let mut stmt =
                    c.prepare("SELECT org_id, subscription_id FROM org_billing WHERE subscription_id IS NOT NULL")?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }

    /// Every org with its plan as it applies now, its subscription's status and this month's
    /// API calls (the administrators' console).
    pub async fn org_overview(&self) -> Result<Vec<OrgOverview>, StoreError> {
        let catalogue = self.catalogue.clone();
        self.flush_usage().await?;
        self.db
            .read(move |c| {
                let month = super::usage::Month::of(now()).key();
                let mut stmt = c.prepare(
                    "SELECT o.id, o.name, o.personal_owner_id IS NOT NULL, b.status,
                        (SELECT COUNT(*) FROM memberships m WHERE m.org_id = o.id),
                        (SELECT COUNT(*) FROM machines x WHERE x.org_id = o.id AND x.revoked_at IS NULL),
                        COALESCE((SELECT api_calls FROM usage_months u WHERE u.org_id = o.id AND u.month = ?1), 0)
                     FROM orgs o LEFT JOIN org_billing b ON b.org_id = o.id ORDER BY o.created_at",
                )?;
                let rows = stmt
                    .query_map([month], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, bool>(2)?,
                            r.get::<_, Option<String>>(3)?,
                            r.get::<_, i64>(4)?,
                            r.get::<_, i64>(5)?,
                            r.get::<_, i64>(6)?,
                        ))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                let mut out = Vec::with_capacity(rows.len());
                for (id, name, personal, status, members, machines, api_calls) in rows {
                    let org: OrgId = id.parse().map_err(|_| StoreError::Internal(format!("bad org id {id}")))?;
                    let plan = super::entitlements::org_plan(c, org, &catalogue)?;
                    out.push(OrgOverview {
                        id,
                        name,
                        personal,
                        plan: plan.plan_id,
                        source: plan.source.as_str(),
                        ends_at: plan.ends_at,
                        subscription_status: status,
                        members: members.unsigned_abs(),
                        machines: machines.unsigned_abs(),
                        api_calls_this_month: api_calls.unsigned_abs(),
                    });
                }
                Ok(out)
            })
            .await
    }

    /// A stored event's payload, to run it again.
    pub async fn billing_event_payload(&self, id: String) -> Result<String, StoreError> {
        self.db
            .read(move |c| {
                c.query_row("SELECT payload FROM billing_events WHERE id = ?1", [id], |r| r.get(0))
                    .optional()?
                    .ok_or(StoreError::NotFound)
            })
            .await
    }
}
