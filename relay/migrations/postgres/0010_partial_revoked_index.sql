-- no-transaction
-- PostgreSQL twin of sqlite/0010_partial_revoked_index.sql: built CONCURRENTLY (outside a
-- transaction, one statement per migration), so instances still serving keep reading and
-- writing bindings while it is built.
CREATE INDEX CONCURRENTLY bindings_revoked_only ON bindings(revoked_at) WHERE revoked_at IS NOT NULL;
