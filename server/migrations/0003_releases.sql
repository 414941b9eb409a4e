-- 0003: agent releases published to this server. Artifacts live on disk, content-addressed by
-- their SHA-256 (data_dir/artifacts/sha256/<first two hex>/<hash>); rows record which version of
-- which target on which channel each one is. Yanked releases stay for the record but leave the
-- manifest.

CREATE TABLE releases (
    id          TEXT PRIMARY KEY,
    -- Semantic version; "newest" is decided by semver precedence in the server, not by SQL.
    version     TEXT NOT NULL,
    target      TEXT NOT NULL,
    channel     TEXT NOT NULL CHECK (channel IN ('stable', 'beta')),
    sha256      TEXT NOT NULL,
    size        INTEGER NOT NULL,
    file_name   TEXT NOT NULL,
    notes       TEXT NOT NULL DEFAULT '',
    created_by  TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at  INTEGER NOT NULL,
    yanked_at   INTEGER
) STRICT;

CREATE UNIQUE INDEX releases_one_per_version ON releases (target, version);
CREATE INDEX releases_by_channel ON releases (channel, target);
