-- 0004: who holds a session's terminal size and whether it waits for its user, the history of
-- its sizes (recordings replay resizes), and per-org agent policy (the allow-list with argument
-- patterns lives in org_settings.allowed_commands as JSON objects; update policy beside it).

-- 1 while a local terminal (`wrap`) holds the size; viewers then resize only with force.
ALTER TABLE sessions ADD COLUMN size_locked INTEGER NOT NULL DEFAULT 0 CHECK (size_locked IN (0, 1));
-- 1 while the agent says the session waits for input (bell, or quiet after output).
ALTER TABLE sessions ADD COLUMN waiting_for_input INTEGER NOT NULL DEFAULT 0 CHECK (waiting_for_input IN (0, 1));

-- Every size a session had, at the output offset where it took effect.
CREATE TABLE session_resizes (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    at_offset  INTEGER NOT NULL,
    at_ms      INTEGER NOT NULL,
    cols       INTEGER NOT NULL,
    rows       INTEGER NOT NULL
) STRICT;

CREATE INDEX session_resizes_by_offset ON session_resizes (session_id, at_offset);

-- off | notify | automatic; NULL means the default (notify).
ALTER TABLE org_settings ADD COLUMN update_policy TEXT CHECK (update_policy IN ('off', 'notify', 'automatic'));
