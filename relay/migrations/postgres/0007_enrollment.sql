-- Enterprise auto-pair (PROTOCOL §8). A tenant registers Ed25519 public keys; its admin
-- signs enrollment assertions with the private key, which the relay never sees.
CREATE TABLE enrollment_keys (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    public_key  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX enrollment_keys_tenant ON enrollment_keys(tenant_id);

-- Every assertion nonce ever accepted, per key: an assertion enrolls once. The binding it
-- made lets a retry whose answer was lost get that binding again, never a second one.
CREATE TABLE enrollment_nonces (
    key_id      TEXT NOT NULL REFERENCES enrollment_keys(id),
    nonce       TEXT NOT NULL,
    binding_id  TEXT,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (key_id, nonce)
);

-- A binding made by enrollment belongs to the organization: the browser's user can't
-- revoke it with its refresh token; the app or the owner can.
ALTER TABLE bindings ADD COLUMN managed BIGINT NOT NULL DEFAULT 0;
