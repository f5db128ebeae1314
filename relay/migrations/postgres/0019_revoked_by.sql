-- PostgreSQL twin of sqlite/0019_revoked_by.sql: who revoked a binding, on its row.
ALTER TABLE bindings ADD COLUMN revoked_by TEXT;
