-- Relay hardening (issue 18).
-- A code approval records the API key that made it (NULL for the owner's CLI): once that
-- key is revoked the approval no longer binds anything, like the pairing tokens it minted
-- (pairing_tokens.key_id has named the minting key since 0001).
ALTER TABLE challenges ADD COLUMN key_id TEXT REFERENCES api_keys(id);
CREATE INDEX challenges_key ON challenges(key_id, status);

-- The cleanup (cleanup.rs) finds expired and revoked rows by these, in batches.
CREATE INDEX pairing_tokens_expiry ON pairing_tokens(expires_at);
CREATE INDEX challenges_expiry ON challenges(expires_at);
CREATE INDEX challenges_binding ON challenges(binding_id);
CREATE INDEX sessions_expiry ON sessions(expires_at);
CREATE INDEX bindings_revoked ON bindings(revoked_at);
CREATE INDEX enrollment_nonces_created ON enrollment_nonces(created_at);
CREATE INDEX captures_binding ON captures(binding_id);

-- The capture inbox's cap per tenant (inbox.rs): each capture's size in bytes (URL +
-- title + text, UTF-8), summed over the tenant's undrained captures from this index, which
-- also serves the drain's order; and the expiry of undrained captures by age.
ALTER TABLE captures ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;
UPDATE captures SET bytes = length(CAST(url AS BLOB)) + length(CAST(title AS BLOB)) + length(CAST(text AS BLOB));
DROP INDEX captures_tenant;
CREATE INDEX captures_tenant ON captures(tenant_id, created_at, bytes);
CREATE INDEX captures_created ON captures(created_at);
