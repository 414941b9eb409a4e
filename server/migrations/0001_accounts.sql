-- 0001: accounts, organisations, memberships, browser sign-ins and personal API keys.
-- Released migrations are never edited; add a new numbered file instead.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name  TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    -- Server administrator: may create users and manage the installation.
    is_admin      INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    disabled_at   INTEGER
) STRICT;

-- Plans and seats live on the org so that licensing can attach to them later; invitations get
-- their own table keyed by (org_id, email) with a role, without touching these.
CREATE TABLE orgs (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    -- Set for a user's personal org; NULL for team orgs.
    personal_owner_id TEXT UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    plan              TEXT NOT NULL DEFAULT 'free',
    -- NULL means unlimited.
    seat_limit        INTEGER,
    created_at        INTEGER NOT NULL
) STRICT;

CREATE TABLE memberships (
    org_id     TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, user_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX memberships_by_user ON memberships (user_id);

-- Browser sign-ins. Only a keyed hash of the cookie value is stored.
CREATE TABLE login_sessions (
    token_hash   BLOB PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    ip           TEXT,
    user_agent   TEXT
) STRICT, WITHOUT ROWID;

CREATE INDEX login_sessions_by_user ON login_sessions (user_id);

-- Personal API keys. The secret is shown once; only its keyed hash and a visible prefix stay.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    secret_hash  BLOB NOT NULL UNIQUE,
    -- Space-separated subset of: read write admin.
    scopes       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    expires_at   INTEGER,
    revoked_at   INTEGER
) STRICT;

CREATE INDEX api_keys_by_user ON api_keys (user_id);
