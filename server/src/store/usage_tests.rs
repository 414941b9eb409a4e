//! Tests of `usage`: UTC months, month-boundary counting with an injected clock, and the
//! API-call limit under concurrency, on a real SQLite file.

use super::super::orgs::OrgScope;
use super::*;

#[test]
fn months_are_utc_calendar_months() {
    let jan31_last = 1_769_903_999; // 2026-01-31T23:59:59Z
    assert_eq!(Month::of(jan31_last).key(), "2026-01");
    assert_eq!(Month::of(jan31_last + 1).key(), "2026-02");
    assert_eq!(Month::of(jan31_last + 1).start(), jan31_last + 1);
    assert_eq!(Month { year: 2026, month: 12 }.next().key(), "2027-01");
    assert_eq!(Month { year: 2026, month: 1 }.prev().key(), "2025-12");
    let split = split_by_month(jan31_last - 9, jan31_last + 21);
    assert_eq!(
        split,
        vec![(Month { year: 2026, month: 1 }, 10), (Month { year: 2026, month: 2 }, 20)],
        "an interval across midnight UTC on the last day is split there"
    );
    assert!(split_by_month(5, 5).is_empty());
}

/// A store with one user (and their personal org) whose default plan allows 3 API calls a month.
async fn store_with_org(dir: &std::path::Path) -> (Store, OrgId, OrgScope) {
    let mut store = Store::open(&dir.join("sf.db"), 2, std::time::Duration::from_secs(5)).expect("open");
    let mut plans = crate::settings::PlansSettings { default: "free".into(), ..Default::default() };
    plans.catalogue.get_mut("free").expect("free plan").api_calls_per_month = 3;
    store.set_catalogue(crate::plans::Catalogue::new(&plans));
    let new = super::super::users::NewUser {
        email: "a@example.com".into(),
        display_name: "A".into(),
        password_hash: "x".into(),
        is_admin: false,
        email_verified: true,
    };
    let (user, org) = store.create_user(new).await.expect("user");
    let scope = store.org_scope(user.id, org).await.expect("scope");
    (store, org, scope)
}

#[tokio::test]
async fn counts_land_in_the_utc_month_they_happened_in_across_a_month_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, org, scope) = store_with_org(dir.path()).await;
    let feb = Month { year: 2026, month: 2 }.start();
    // A machine and a session running from 10 s before midnight UTC on 31 January.
    store
        .db
        .write(move |tx| {
            tx.execute(
                "INSERT INTO machines (id, org_id, credential_hash, hostname, os, arch, enrolled_at, last_seen_at)
                 VALUES ('m1', ?1, X'01', 'h', 'linux', 'x86_64', ?2, ?2)",
                params![org.to_string(), feb - 20],
            )?;
            tx.execute(
                "INSERT INTO sessions (id, org_id, machine_id, source, kind, command, state, started_at, updated_at)
                 VALUES ('s1', ?1, 'm1', 'relayed', 'shell', 'sh', 'running', ?2, ?2)",
                params![org.to_string(), feb - 10],
            )?;
            Ok(())
        })
        .await
        .expect("rows");
    store.flush_usage_at(feb - 30).await.expect("first flush starts the clock");
    for _ in 0..3 {
        store.count_api_call(org, feb - 5).await.expect("within the limit");
    }
    let refused = store.count_api_call(org, feb - 4).await;
    assert!(
        matches!(refused, Err(StoreError::PlanLimit { limit: "api_calls_per_month", max: 3, used: 3, .. })),
        "{refused:?}"
    );
    store.meter.add(org, feb - 1, |c| c.bytes_relayed += 100);
    store.flush_usage_at(feb - 1).await.expect("flush before midnight");
    // After midnight UTC the limit starts again, and the running session's seconds split.
    store.count_api_call(org, feb).await.expect("a new month");
    store.meter.add(org, feb + 1, |c| c.bytes_relayed += 7);
    let months = store.usage(&scope, 3, feb + 20).await.expect("usage");
    let keys: Vec<_> = months.iter().map(|m| m.month.key()).collect();
    assert_eq!(keys, ["2025-12", "2026-01", "2026-02"]);
    let jan = &months[1];
    assert_eq!(
        jan.counts,
        Counts { sessions_started: 0, session_seconds: 10, bytes_relayed: 100, api_calls: 3 },
        "January: 10 s of the session, the calls before the refusal"
    );
    assert_eq!(jan.active_machines, 1);
    let feb_usage = &months[2];
    assert_eq!(
        feb_usage.counts,
        Counts { sessions_started: 0, session_seconds: 20, bytes_relayed: 7, api_calls: 1 },
        "February so far"
    );
    assert_eq!(months[0].counts, Counts::default(), "an empty month is zeros");
}

#[tokio::test]
async fn concurrent_api_calls_never_pass_the_monthly_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, org, scope) = store_with_org(dir.path()).await;
    let at = Month { year: 2026, month: 3 }.start() + 60;
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.count_api_call(org, at).await.is_ok() })
        })
        .collect();
    let mut passed = 0;
    for c in calls {
        passed += usize::from(c.await.expect("task"));
    }
    assert_eq!(passed, 3, "exactly the plan's 3 calls pass");
    let months = store.usage(&scope, 1, at).await.expect("usage");
    assert_eq!(months[0].counts.api_calls, 3, "only the calls that passed are counted");
}
