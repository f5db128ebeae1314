-- Webhooks (PROTOCOL §11). A tenant's signing secret is never stored: it is derived from
-- the token pepper and `webhook_secret_nonce` (secrets.rs); `webhook_secret_hash`
-- (SHA-256 of the secret) tells whether the current or the previous pepper made it.
ALTER TABLE tenants ADD COLUMN webhook_url TEXT;
ALTER TABLE tenants ADD COLUMN webhook_secret_nonce TEXT;
ALTER TABLE tenants ADD COLUMN webhook_secret_hash TEXT;

-- The outbox: written in the transaction of the change it announces, delivered at least
-- once. `claimed_until` is the lease of the instance sending it (one sender at a time) and
-- `claim_token` that claim's, so a sender whose lease ran out records nothing; `data` is
-- the event's own fields, the envelope is made at delivery.
CREATE TABLE webhook_outbox (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    type            TEXT NOT NULL,
    data            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until   BIGINT,
    claim_token     TEXT,
    delivered_at    BIGINT,
    failed_at       BIGINT,
    last_error      TEXT
);
CREATE INDEX webhook_outbox_due ON webhook_outbox(next_attempt_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX webhook_outbox_tenant ON webhook_outbox(tenant_id, created_at);
