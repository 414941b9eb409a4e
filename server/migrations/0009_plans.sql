-- 0009: an instance administrator's plan override per org (which plan, until when, and why).
-- Without one, an org has the configured default plan (later: its subscription or license).

ALTER TABLE orgs ADD COLUMN plan_override TEXT;
ALTER TABLE orgs ADD COLUMN plan_override_until INTEGER;
ALTER TABLE orgs ADD COLUMN plan_override_reason TEXT;
