-- Key-bound sessions (PROTOCOL §12): the RFC 7638 thumbprint of the key a binding's
-- tokens are bound to; NULL for a binding made without one (bound on its next refresh
-- with a proof, once).
ALTER TABLE bindings ADD COLUMN dpop_jkt TEXT;
-- When a binding made without a key was bound to one (its upgrade refresh): a refresh token
-- from before then is an old bearer token, whose reuse revokes the family as ever.
ALTER TABLE bindings ADD COLUMN dpop_bound_at BIGINT;

-- DPoP proof ids already spent, shared by every instance, each until its proof is stale.
-- UNLOGGED: the insert on every proof waits for no WAL flush; a PostgreSQL crash empties
-- it (SECURITY.md).
CREATE UNLOGGED TABLE dpop_proofs (
    id         BYTEA PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX dpop_proofs_expiry ON dpop_proofs(expires_at);
