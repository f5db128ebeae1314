-- no-transaction
-- PostgreSQL twin of sqlite/0011_drop_full_revoked_index.sql, without locking bindings.
DROP INDEX CONCURRENTLY bindings_revoked;
