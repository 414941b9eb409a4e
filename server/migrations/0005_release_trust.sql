-- 0005: releases whose stored artifact no longer matches its published SHA-256 (found when
-- publishing or by `release verify`): never served again. And channel manifests signed with a
-- key that never lives on this server (offline signing), stored and served exactly as signed.

ALTER TABLE releases ADD COLUMN corrupt_at INTEGER;

CREATE TABLE signed_manifests (
    channel      TEXT PRIMARY KEY CHECK (channel IN ('stable', 'beta')),
    -- The signed JSON document, byte for byte, and its ed25519 signature (base64).
    payload      TEXT NOT NULL,
    signature    TEXT NOT NULL,
    key_id       TEXT NOT NULL,
    generated_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    uploaded_at  INTEGER NOT NULL,
    uploaded_by  TEXT REFERENCES users (id) ON DELETE SET NULL
) STRICT;
