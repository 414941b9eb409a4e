-- 0011: usage metering per org and UTC month; sign-ins ended by a newer one (plans may cap
-- sign-ins per user); the license this instance activated online (its issuer, its key sealed
-- with the server's key, and how the issuer last answered); when an override was set (plan
-- retention counts from then, so a downgrade never deletes output at once).

CREATE TABLE usage_months (
    org_id           TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    -- 'YYYY-MM', in UTC.
    month            TEXT NOT NULL,
    sessions_started INTEGER NOT NULL DEFAULT 0,
    session_seconds  INTEGER NOT NULL DEFAULT 0,
    bytes_relayed    INTEGER NOT NULL DEFAULT 0,
    api_calls        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, month)
) STRICT, WITHOUT ROWID;

-- Machines that connected at least once in a month.
CREATE TABLE usage_machines (
    org_id     TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    month      TEXT NOT NULL,
    machine_id TEXT NOT NULL,
    PRIMARY KEY (org_id, month, machine_id)
) STRICT, WITHOUT ROWID;

ALTER TABLE login_sessions ADD COLUMN ended_at INTEGER;
-- When it was made, in milliseconds: sign-ins made within one second still have an order.
ALTER TABLE login_sessions ADD COLUMN created_ms INTEGER;
ALTER TABLE login_sessions ADD COLUMN ended_reason TEXT;

ALTER TABLE installed_license ADD COLUMN issuer_url TEXT;
ALTER TABLE installed_license ADD COLUMN key_sealed BLOB;
ALTER TABLE installed_license ADD COLUMN heartbeat_secs INTEGER;
ALTER TABLE installed_license ADD COLUMN last_valid_at INTEGER;
-- Until when the plan applies without another valid answer (the unreachable-issuer grace).
ALTER TABLE installed_license ADD COLUMN valid_until INTEGER;
ALTER TABLE installed_license ADD COLUMN last_attempt_at INTEGER;
ALTER TABLE installed_license ADD COLUMN last_code TEXT;
ALTER TABLE installed_license ADD COLUMN last_error TEXT;

ALTER TABLE orgs ADD COLUMN plan_override_at INTEGER;
