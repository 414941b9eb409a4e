-- 0008: people and email: verified addresses, single-use account links (verify, reset, change
-- of email), invitations, the email outbox and the append-only audit log.

-- Accounts made before sign-up existed were made by an administrator: they count as verified.
ALTER TABLE users ADD COLUMN email_verified_at INTEGER;
UPDATE users SET email_verified_at = created_at;

-- Single-use links mailed to a user. Only a keyed hash of the token is stored; the token itself
-- is derived from the server's key and the row id when the mail is sent.
CREATE TABLE account_tokens (
    id          TEXT PRIMARY KEY,
    purpose     TEXT NOT NULL CHECK (purpose IN ('verify_email', 'reset_password', 'change_email')),
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The address being verified (the new one for a change of email).
    email       TEXT NOT NULL,
    token_hash  BLOB NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
) STRICT;

CREATE INDEX account_tokens_by_user ON account_tokens (user_id, purpose);

-- An invitation to join an org with a role: single-use, expiring, stored as a keyed hash.
CREATE TABLE invitations (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    email       TEXT NOT NULL COLLATE NOCASE,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
    invited_by  TEXT REFERENCES users (id) ON DELETE SET NULL,
    token_hash  BLOB NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    accepted_at INTEGER,
    accepted_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    revoked_at  INTEGER
) STRICT;

CREATE INDEX invitations_by_org ON invitations (org_id, created_at);
-- At most one open invitation per address and org.
CREATE UNIQUE INDEX invitations_open ON invitations (org_id, email) WHERE accepted_at IS NULL AND revoked_at IS NULL;

-- Every email, written in the transaction of the change that caused it and delivered by the
-- background sender. The id is also the Message-ID, so a resend after a crash is recognisable.
-- Links are not stored: `link_kind`/`link_id` name the row whose token the sender derives.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    to_addr         TEXT NOT NULL,
    template        TEXT NOT NULL,
    -- JSON object of the template's values (no secrets).
    params          TEXT NOT NULL,
    link_kind       TEXT CHECK (link_kind IN ('account', 'invitation', 'unsubscribe')),
    link_id         TEXT,
    state           TEXT NOT NULL CHECK (state IN ('queued', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    -- When it was last queued (created, or retried by an administrator): retries give up
    -- counting from here.
    queued_at       INTEGER NOT NULL,
    sent_at         INTEGER
) STRICT;

CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_by_time ON outbox (created_at);

-- Who did what, to what, from where. Rows are never changed or deleted.
CREATE TABLE audit_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    -- NULL for instance-wide events (sign-ins, users, releases).
    org_id      TEXT,
    actor_kind  TEXT NOT NULL CHECK (actor_kind IN ('user', 'api_key', 'machine', 'anonymous', 'system')),
    actor_id    TEXT,
    -- A readable name for the actor at the time (an email, a key name, a hostname).
    actor_label TEXT NOT NULL DEFAULT '',
    action      TEXT NOT NULL,
    target_kind TEXT,
    target_id   TEXT,
    ip          TEXT,
    -- JSON object: a before/after summary, never a secret.
    details     TEXT NOT NULL DEFAULT '{}'
) STRICT;

CREATE INDEX audit_by_org ON audit_events (org_id, seq);
CREATE INDEX audit_by_action ON audit_events (action, seq);

CREATE TRIGGER audit_events_append_only_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;

CREATE TRIGGER audit_events_append_only_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
