-- Code pairing ends in the browser user's Approve (PROTOCOL §3). An app's approval only
-- names who asks: the challenge moves pending → awaiting_confirmation and records the
-- approving tenant, user, app name (consent-name policy, worked out by the relay) and the
-- tenant's web origin; nothing is bound. The user's Approve (POST /api/pairing/confirm)
-- moves it to confirmed and creates the binding in the same transaction; Deny, or the
-- approving app withdrawing, moves it to denied.
-- status: pending | awaiting_confirmation | confirmed | denied
ALTER TABLE challenges ADD COLUMN tenant_id TEXT REFERENCES tenants(id);
ALTER TABLE challenges ADD COLUMN user_id TEXT;
ALTER TABLE challenges ADD COLUMN app_name TEXT;
ALTER TABLE challenges ADD COLUMN app_origin TEXT;
ALTER TABLE challenges ADD COLUMN approved_at INTEGER;
ALTER TABLE challenges ADD COLUMN confirmed_at INTEGER;
-- GET /api/pairing/pending: a tenant's approved codes that still await the user.
CREATE INDEX challenges_tenant ON challenges(tenant_id, status);

-- Codes approved under the old flow got their binding at approval, without the user; a
-- binding never delivered has no session and nobody holds its tokens. It is revoked (it
-- was never consented to) and its challenge denied. Delivered ones are confirmed.
UPDATE bindings SET revoked_at = created_at
WHERE revoked_at IS NULL AND id IN (SELECT binding_id FROM challenges WHERE status = 'approved');
UPDATE challenges SET status = 'denied' WHERE status = 'approved';
UPDATE challenges SET status = 'confirmed' WHERE status = 'delivered';
