-- bindings_revoked (0009) serves only the cleanup's `revoked_at < cutoff`, which implies
-- `revoked_at IS NOT NULL`: a partial index holds just the revoked bindings, so creating a
-- binding (every pairing) writes no index entry for its NULL. The old index goes in 0011
-- (PostgreSQL builds the new one without locking the table first).
CREATE INDEX bindings_revoked_only ON bindings(revoked_at) WHERE revoked_at IS NOT NULL;
