-- no-transaction
-- PostgreSQL twin of sqlite/0020_idle_by_key.sql, built CONCURRENTLY so instances still
-- serving keep writing bindings meanwhile.
CREATE INDEX CONCURRENTLY bindings_idle_by_key ON bindings(dpop_jkt) WHERE revoked_by = 'idle';
