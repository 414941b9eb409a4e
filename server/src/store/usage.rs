//! Usage metering per org and UTC month: machines that connected, sessions started,
//! session-seconds, bytes relayed and API calls. Counting costs no database write: the hot
//! paths add to an in-memory [`Meter`], which [`Store::flush_usage`] writes out every few
//! seconds and at shutdown (one transaction; on failure the counts are kept for the next try).
//! Session-seconds are measured at each flush from the sessions table, split at month starts.
//!
//! API calls per month are also a plan limit: [`Store::count_api_call`] checks and counts in
//! one step under the meter's lock, against the org's plan from a cache (no database round
//! trip per request).

use std::collections::HashMap;
use std::sync::Mutex;

use rusqlite::{Transaction, params};
use sessionforge_shared::ids::OrgId;
use time::{Date, OffsetDateTime};

use super::orgs::OrgScope;
use super::{Store, StoreError, now};
use crate::lock;
use crate::plans::Limit;

/// A UTC calendar month.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Month {
    pub year: i32,
    /// 1–12.
    pub month: u8,
}

impl Month {
    /// The month holding the Unix time `at`.
    pub fn of(at: i64) -> Month {
        let d = OffsetDateTime::from_unix_timestamp(at).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        Month { year: d.year(), month: u8::from(d.month()) }
    }

    /// Unix time of the month's first second.
    pub fn start(self) -> i64 {
        let month = time::Month::try_from(self.month).unwrap_or(time::Month::January);
        Date::from_calendar_date(self.year, month, 1).map(|d| d.midnight().assume_utc().unix_timestamp()).unwrap_or(0)
    }

    pub fn next(self) -> Month {
        if self.month >= 12 { Month { year: self.year + 1, month: 1 } } else { Month { month: self.month + 1, ..self } }
    }

    pub fn prev(self) -> Month {
        if self.month <= 1 { Month { year: self.year - 1, month: 12 } } else { Month { month: self.month - 1, ..self } }
    }

    /// `YYYY-MM`, as stored and shown.
    pub fn key(self) -> String {
        format!("{:04}-{:02}", self.year, self.month)
    }
}

/// Splits `[from, to)` at month starts: seconds per month.
pub fn split_by_month(from: i64, to: i64) -> Vec<(Month, u64)> {
    let mut out = Vec::new();
    let mut at = from;
    while at < to {
        let month = Month::of(at);
        let end = month.next().start().min(to);
        out.push((month, (end - at).unsigned_abs()));
        at = end;
    }
    out
}

/// Counted in one month for one org.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub sessions_started: u64,
    pub session_seconds: u64,
    pub bytes_relayed: u64,
    pub api_calls: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.sessions_started += o.sessions_started;
        self.session_seconds += o.session_seconds;
        self.bytes_relayed += o.bytes_relayed;
        self.api_calls += o.api_calls;
    }
}

/// One month of an org's usage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonthUsage {
    pub month: Month,
    pub active_machines: u64,
    pub counts: Counts,
}

/// An org's API calls this month, as far as the limit is concerned.
#[derive(Clone, Copy, Debug)]
struct ApiTally {
    month: Month,
    calls: u64,
}

#[derive(Debug, Default)]
struct Pending {
    counts: HashMap<(OrgId, Month), Counts>,
    /// Up to when session-seconds and machines were measured (0: not yet; the first flush
    /// starts counting session-seconds).
    measured_to: i64,
}

/// Counts waiting to be written, and the API-call tallies limits are checked against.
#[derive(Debug, Default)]
pub struct Meter {
    pending: Mutex<Pending>,
    tallies: Mutex<HashMap<OrgId, ApiTally>>,
    /// Serialises flushes with loading a tally, so that no call is counted twice or missed.
    flushing: tokio::sync::Mutex<()>,
}

impl Meter {
    /// Adds to the org's counts of the month holding `at`.
    pub fn add(&self, org: OrgId, at: i64, f: impl FnOnce(&mut Counts)) {
        f(lock(&self.pending).counts.entry((org, Month::of(at))).or_default());
    }

    fn take(&self) -> Pending {
        let mut p = lock(&self.pending);
        let measured_to = p.measured_to;
        std::mem::replace(&mut *p, Pending { measured_to, ..Pending::default() })
    }

    /// Puts back what a failed flush took.
    fn restore(&self, taken: Pending) {
        let mut p = lock(&self.pending);
        for (k, c) in taken.counts {
            p.counts.entry(k).or_default().add(&c);
        }
    }
}

/// Writes `counts`, and the session-seconds and machines seen of `[from, to)`, in `tx`.
fn write(
    tx: &Transaction<'_>,
    mut counts: HashMap<(OrgId, Month), Counts>,
    from: i64,
    to: i64,
) -> Result<(), StoreError> {
    if from > 0 && to > from {
        // Each session's overlap with the window, by org, split at month starts.
        let mut stmt = tx.prepare_cached(
            "SELECT org_id, MAX(started_at, ?1), MIN(COALESCE(ended_at, ?2), ?2) FROM sessions
             WHERE started_at < ?2 AND ((ended_at IS NULL AND state IN ('starting', 'running')) OR ended_at > ?1)",
        )?;
        let rows = stmt.query_map(params![from, to], |r| {
            Ok((super::parse_col::<OrgId>(r, 0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        })?;
        for row in rows {
            let (org, a, b) = row?;
            for (month, secs) in split_by_month(a, b) {
                counts.entry((org, month)).or_default().session_seconds += secs;
            }
        }
    }
    let mut upsert = tx.prepare_cached(
        "INSERT INTO usage_months (org_id, month, sessions_started, session_seconds, bytes_relayed, api_calls)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM orgs WHERE id = ?1)
         ON CONFLICT (org_id, month) DO UPDATE SET
            sessions_started = sessions_started + excluded.sessions_started,
            session_seconds = session_seconds + excluded.session_seconds,
            bytes_relayed = bytes_relayed + excluded.bytes_relayed,
            api_calls = api_calls + excluded.api_calls",
    )?;
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    for ((org, month), c) in &counts {
        upsert.execute(params![
            org.to_string(),
            month.key(),
            n(c.sessions_started),
            n(c.session_seconds),
            n(c.bytes_relayed),
            n(c.api_calls)
        ])?;
    }
    // Machines heard from in the window (heartbeats refresh `last_seen_at` while connected).
    let mut seen = tx.prepare_cached(
        "SELECT org_id, id, last_seen_at FROM machines WHERE last_seen_at >= ?1 AND last_seen_at <= ?2",
    )?;
    let seen = seen
        .query_map(params![from, to], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    let mut machine =
        tx.prepare_cached("INSERT OR IGNORE INTO usage_machines (org_id, month, machine_id) VALUES (?1, ?2, ?3)")?;
    for (org, id, at) in seen {
        machine.execute(params![org, Month::of(at).key(), id])?;
    }
    Ok(())
}

impl Store {
    pub fn meter(&self) -> &Meter {
        &self.meter
    }

    /// Writes what was counted since the last flush, as of now.
    pub async fn flush_usage(&self) -> Result<(), StoreError> {
        self.flush_usage_at(now()).await
    }

    /// Writes what was counted, with session-seconds measured up to `at` (tests pass a clock).
    pub async fn flush_usage_at(&self, at: i64) -> Result<(), StoreError> {
        let _serial = self.meter.flushing.lock().await;
        let taken = self.meter.take();
        let from = taken.measured_to;
        let to = at.max(from);
        let counts = taken.counts.clone();
        let result = self.db.write(move |tx| write(tx, counts, from, to)).await;
        match result {
            Ok(()) => {
                lock(&self.meter.pending).measured_to = to;
                Ok(())
            }
            Err(e) => {
                self.meter.restore(taken);
                Err(e)
            }
        }
    }

    /// Counts one API call for `org` at `at`, refusing it with `PlanLimit` when the org's plan
    /// allows no more this month. Check and count are one step, so concurrent calls never
    /// exceed the limit.
    pub async fn count_api_call(&self, org: OrgId, at: i64) -> Result<(), StoreError> {
        let plan = self.cached_plan(org).await?;
        let month = Month::of(at);
        let Some(max) = Limit::ApiCallsPerMonth.of(&plan.plan) else {
            self.meter.add(org, at, |c| c.api_calls += 1);
            return Ok(());
        };
        let known = lock(&self.meter.tallies).get(&org).is_some_and(|t| t.month == month);
        if !known {
            // Stored plus pending, read while no flush can move pending into storage.
            let _serial = self.meter.flushing.lock().await;
            let key = month.key();
            let stored: i64 = self
                .db
                .read(move |c| {
                    Ok(c.query_row(
                        "SELECT COALESCE(SUM(api_calls), 0) FROM usage_months WHERE org_id = ?1 AND month = ?2",
                        params![org.to_string(), key],
                        |r| r.get(0),
                    )?)
                })
                .await?;
            let pending = lock(&self.meter.pending).counts.get(&(org, month)).map_or(0, |c| c.api_calls);
            let mut tallies = lock(&self.meter.tallies);
            if tallies.get(&org).is_none_or(|t| t.month != month) {
                tallies.insert(org, ApiTally { month, calls: stored.unsigned_abs() + pending });
            }
        }
        let mut tallies = lock(&self.meter.tallies);
        let tally = tallies.entry(org).or_insert(ApiTally { month, calls: 0 });
        if tally.calls >= max {
            return Err(StoreError::PlanLimit {
                limit: Limit::ApiCallsPerMonth.as_str(),
                max,
                used: tally.calls,
                plan: plan.plan_id,
                upgrade_url: self.catalogue.upgrade_url().to_string(),
            });
        }
        tally.calls += 1;
        drop(tallies);
        self.meter.add(org, at, |c| c.api_calls += 1);
        Ok(())
    }

    /// The org's usage in the `months` months up to the one holding `at`, oldest first (months
    /// without usage included, as zeros). Flushes first, so the figures are current.
    pub async fn usage(&self, scope: &OrgScope, months: u32, at: i64) -> Result<Vec<MonthUsage>, StoreError> {
        self.flush_usage_at(at).await?;
        let org = scope.org_id();
        let mut list = Vec::new();
        let mut m = Month::of(at);
        for _ in 0..months.max(1) {
            list.push(m);
            m = m.prev();
        }
        list.reverse();
        self.db
            .read(move |c| {
                let mut counts = c.prepare_cached(
                    "SELECT sessions_started, session_seconds, bytes_relayed, api_calls FROM usage_months
                     WHERE org_id = ?1 AND month = ?2",
                )?;
                let mut machines =
                    c.prepare_cached("SELECT COUNT(*) FROM usage_machines WHERE org_id = ?1 AND month = ?2")?;
                let mut out = Vec::with_capacity(list.len());
                for month in list {
                    let key = month.key();
                    let u = |v: i64| v.unsigned_abs();
                    let row = counts.query_row(params![org.to_string(), key], |r| {
                        Ok(Counts {
                            sessions_started: u(r.get(0)?),
                            session_seconds: u(r.get(1)?),
                            bytes_relayed: u(r.get(2)?),
                            api_calls: u(r.get(3)?),
                        })
                    });
                    let counts = super::optional(row)?.unwrap_or_default();
                    let active_machines = u(machines.query_row(params![org.to_string(), key], |r| r.get(0))?);
                    out.push(MonthUsage { month, active_machines, counts });
                }
                Ok(out)
            })
            .await
    }
}

#[cfg(test)]
#[path = "usage_tests.rs"]
mod tests;
