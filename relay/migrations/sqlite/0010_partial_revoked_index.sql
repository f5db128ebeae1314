-- bindings_revoked (0009) serves only the cleanup's `revoked_at < cutoff`, which implies
-- `revoked_at IS NOT NULL`: a partial index holds just the revoked bindings, so creating a
-- binding (every pairing) no longer writes an index entry for its NULL (measured with
-- callgrind: BENCHMARKS.md, "Relay hardening").
DROP INDEX bindings_revoked;
CREATE INDEX bindings_revoked ON bindings(revoked_at) WHERE revoked_at IS NOT NULL;
