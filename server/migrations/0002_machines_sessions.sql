-- 0002: enrolled machines, one-time enrollment tokens, sessions and their stored output, and
-- per-org settings (the allow-list of commands that may be started remotely).

CREATE TABLE enrollment_tokens (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    -- Keyed hash of the token; the token itself is shown once.
    token_hash  BLOB NOT NULL UNIQUE,
    created_by  TEXT REFERENCES users (id) ON DELETE SET NULL,
    note        TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER,
    machine_id  TEXT,
    revoked_at  INTEGER
) STRICT;

CREATE INDEX enrollment_tokens_by_org ON enrollment_tokens (org_id, created_at);

CREATE TABLE machines (
    id                TEXT PRIMARY KEY,
    org_id            TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    -- Keyed hash of the machine credential the agent keeps in its keyring.
    credential_hash   BLOB NOT NULL UNIQUE,
    hostname          TEXT NOT NULL,
    os                TEXT NOT NULL,
    os_version        TEXT NOT NULL DEFAULT '',
    arch              TEXT NOT NULL,
    cpus              INTEGER NOT NULL DEFAULT 0,
    memory_bytes      INTEGER NOT NULL DEFAULT 0,
    agent_version     TEXT NOT NULL DEFAULT '',
    -- Latest heartbeat figures.
    load              REAL,
    memory_used_bytes INTEGER,
    session_count     INTEGER NOT NULL DEFAULT 0,
    enrolled_at       INTEGER NOT NULL,
    enrolled_by       TEXT REFERENCES users (id) ON DELETE SET NULL,
    last_seen_at      INTEGER,
    revoked_at        INTEGER
) STRICT;

CREATE INDEX machines_by_org ON machines (org_id);

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    machine_id    TEXT NOT NULL REFERENCES machines (id) ON DELETE CASCADE,
    source        TEXT NOT NULL CHECK (source IN ('relayed', 'discovered')),
    -- The AI CLI (claude, codex, ...) or 'other'.
    kind          TEXT NOT NULL,
    command       TEXT NOT NULL,
    -- JSON array of strings.
    args          TEXT NOT NULL DEFAULT '[]',
    cwd           TEXT NOT NULL DEFAULT '',
    pid           INTEGER,
    state         TEXT NOT NULL CHECK (state IN ('starting', 'running', 'exited', 'crashed', 'stale')),
    exit_code     INTEGER,
    reason        TEXT,
    cols          INTEGER NOT NULL DEFAULT 80,
    rows          INTEGER NOT NULL DEFAULT 24,
    cpu_percent   REAL NOT NULL DEFAULT 0,
    memory_bytes  INTEGER NOT NULL DEFAULT 0,
    started_at    INTEGER NOT NULL,
    ended_at      INTEGER,
    updated_at    INTEGER NOT NULL,
    -- Offset just past the stored output, recorded when retention removes chunks (otherwise the
    -- end is that of the last chunk in session_output).
    output_end    INTEGER NOT NULL DEFAULT 0,
    -- Output before this offset was removed by retention.
    retained_from INTEGER NOT NULL DEFAULT 0,
    requested_by  TEXT REFERENCES users (id) ON DELETE SET NULL
) STRICT;

CREATE INDEX sessions_by_org ON sessions (org_id, started_at);
CREATE INDEX sessions_by_machine ON sessions (machine_id, state);

-- Output in contiguous chunks. A NULL data marks a gap (bytes lost on the agent).
CREATE TABLE session_output (
    session_id   TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    start_offset INTEGER NOT NULL,
    end_offset   INTEGER NOT NULL,
    -- When the chunk was stored, in milliseconds since the Unix epoch (for recordings).
    at_ms        INTEGER NOT NULL,
    data         BLOB
) STRICT;

-- Chunks never overlap, so ordering by end also orders by start; one index serves appends,
-- range reads and the stored end.
CREATE INDEX session_output_by_end ON session_output (session_id, end_offset);

CREATE TABLE org_settings (
    org_id           TEXT PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
    -- JSON array of command names that may be started remotely; NULL means the defaults.
    allowed_commands TEXT
) STRICT;
