-- PostgreSQL twin of sqlite/0019_idle_revocations.sql.
-- Who revoked a binding, on its row (user, app, owner, reuse, idle); NULL for one revoked
-- before this was recorded.
ALTER TABLE bindings ADD COLUMN revoked_by TEXT;

-- The keys of the bindings revoked as idle, and for how long each had gone unused: a
-- browser back after months is told why its refresh is refused (PROTOCOL §11), by the key
-- that signs its proof, after its token and its binding's row are long deleted. Only a key
-- thumbprint and two numbers, kept for the activity retention (cleanup.rs).
CREATE TABLE idle_revocations (
    jkt        TEXT PRIMARY KEY,
    revoked_at BIGINT NOT NULL,
    unused_ms  BIGINT NOT NULL
);
