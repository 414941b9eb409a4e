-- 0010: licenses. On an issuer: the licenses it issued (keys stored only as keyed hashes) and
-- their activations (one per instance fingerprint, released when heartbeats stop). On a
-- licensed server: the one license installed for the whole instance.

CREATE TABLE licenses (
    id              TEXT PRIMARY KEY,
    key_hash        BLOB NOT NULL UNIQUE,
    -- The key's last group, so people can tell keys apart; the key itself is shown once.
    key_hint        TEXT NOT NULL,
    org_id          TEXT REFERENCES orgs (id) ON DELETE SET NULL,
    -- A customer with no account yet (a guest purchase).
    customer_email  TEXT,
    licensee        TEXT NOT NULL,
    plan            TEXT NOT NULL,
    max_activations INTEGER NOT NULL,
    -- NULL: perpetual.
    expires_at      INTEGER,
    grace_days      INTEGER NOT NULL,
    heartbeat_secs  INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    suspended_at    INTEGER,
    revoked_at      INTEGER
) STRICT;

CREATE TABLE license_activations (
    id                TEXT PRIMARY KEY,
    license_id        TEXT NOT NULL REFERENCES licenses (id) ON DELETE CASCADE,
    fingerprint       TEXT NOT NULL,
    name              TEXT NOT NULL DEFAULT '',
    platform          TEXT NOT NULL DEFAULT '',
    created_at        INTEGER NOT NULL,
    last_heartbeat_at INTEGER NOT NULL,
    UNIQUE (license_id, fingerprint)
) STRICT;

-- At most one row: the license this instance runs under.
CREATE TABLE installed_license (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    source       TEXT NOT NULL CHECK (source IN ('file', 'key')),
    license_id   TEXT NOT NULL,
    plan         TEXT NOT NULL,
    licensee     TEXT NOT NULL,
    expires_at   INTEGER,
    grace_days   INTEGER NOT NULL,
    -- The license file as installed (for `source = 'file'`), kept to show and re-verify.
    document     TEXT NOT NULL,
    installed_at INTEGER NOT NULL
) STRICT;
