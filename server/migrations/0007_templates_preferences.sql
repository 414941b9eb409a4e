-- 0007: session templates (a saved command line per org, started in one click) and per-user
-- preferences (a JSON object, so that new kinds of preferences need no new columns).

CREATE TABLE session_templates (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    command     TEXT NOT NULL,
    -- JSON array of strings.
    args        TEXT NOT NULL DEFAULT '[]',
    cwd         TEXT NOT NULL DEFAULT '',
    -- JSON array of environment variable names the command needs on the machine.
    env_names   TEXT NOT NULL DEFAULT '[]',
    created_by  TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX session_templates_name ON session_templates (org_id, name);

CREATE TABLE user_preferences (
    user_id     TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    -- JSON object; absent keys take their defaults in the server.
    prefs       TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;
