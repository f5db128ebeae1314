-- PostgreSQL twin of sqlite/0009_relay_hardening.sql.
-- Relay hardening (issue 18).
-- A code approval records the API key that made it (NULL for the owner's CLI): once that
-- key is revoked the approval no longer binds anything, like the pairing tokens it minted
-- (pairing_tokens.key_id has named the minting key since 0001).
ALTER TABLE challenges ADD COLUMN key_id TEXT REFERENCES api_keys(id);
CREATE INDEX challenges_key ON challenges(key_id, status);
