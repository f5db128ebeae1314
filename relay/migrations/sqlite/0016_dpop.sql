-- Key-bound sessions (PROTOCOL §12): the RFC 7638 thumbprint of the key a binding's
-- tokens are bound to; NULL for a binding made without one (bound on its next refresh
-- with a proof, once). One relay on SQLite keeps spent DPoP proof ids in memory.
ALTER TABLE bindings ADD COLUMN dpop_jkt TEXT;
-- When a binding made without a key was bound to one (its upgrade refresh): a refresh token
-- from before then is an old bearer token, whose reuse revokes the family as ever.
ALTER TABLE bindings ADD COLUMN dpop_bound_at BIGINT;
