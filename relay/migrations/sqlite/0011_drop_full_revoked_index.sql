-- The full index on bindings.revoked_at, replaced by bindings_revoked_only (0010).
DROP INDEX bindings_revoked;
