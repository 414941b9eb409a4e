-- 0012: billing through Stripe. Every verified webhook event is kept (unique on Stripe's event
-- id) and acted on in the transaction that marks it processed, so a duplicate does nothing and
-- a crash leaves it for Stripe's retry. An org's subscription as the newest event told it;
-- one-time license purchases (their key is derived from the server's key and the purchase,
-- never stored).

CREATE TABLE billing_events (
    id           TEXT PRIMARY KEY,
    type         TEXT NOT NULL,
    -- The event's `created` (Unix seconds): newer state is never overwritten by an older event.
    created      INTEGER NOT NULL,
    payload      TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('processed', 'failed', 'ignored')),
    error        TEXT,
    received_at  INTEGER NOT NULL,
    processed_at INTEGER,
    attempts     INTEGER NOT NULL DEFAULT 1
) STRICT;

CREATE INDEX billing_events_by_time ON billing_events (received_at);

CREATE TABLE org_billing (
    org_id              TEXT PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
    customer_id         TEXT UNIQUE,
    subscription_id     TEXT UNIQUE,
    plan                TEXT,
    interval            TEXT,
    status              TEXT,
    seats               INTEGER,
    period_end          INTEGER,
    trial_end           INTEGER,
    -- When payment first failed in the current run of failures.
    past_due_since      INTEGER,
    -- Until when the plan still applies while payment fails (past_due_since + the grace).
    grace_until         INTEGER,
    canceled_at         INTEGER,
    -- The org had a trial once (a second checkout gets none).
    trialed_at          INTEGER,
    -- When the owners were told the trial ended (once).
    trial_ended_mailed_at INTEGER,
    -- The `created` of the newest subscription event applied.
    sub_event_created   INTEGER NOT NULL DEFAULT 0,
    updated_at          INTEGER NOT NULL
) STRICT;

CREATE TABLE license_purchases (
    checkout_session_id TEXT PRIMARY KEY,
    license_id          TEXT NOT NULL REFERENCES licenses (id),
    email               TEXT NOT NULL,
    payment_intent      TEXT,
    created_at          INTEGER NOT NULL,
    refunded_at         INTEGER
) STRICT;

CREATE INDEX license_purchases_by_payment ON license_purchases (payment_intent);

-- The plan each org was last seen on by the retention sweeper, and since when: plan retention
-- counts from that moment at the earliest, so a change of plan (a downgrade, a lapsed
-- subscription or license) never deletes stored output at once.
CREATE TABLE org_plan_state (
    org_id TEXT PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
    plan   TEXT NOT NULL,
    since  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
