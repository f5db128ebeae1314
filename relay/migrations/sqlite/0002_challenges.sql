-- Code pairing. The challenge id is the device's credential for fetching its tokens, so
-- only its keyed hash is stored. The 8-character code is a short-lived approval handle
-- the app's user types in; apps list it via /api/pairing/pending, so it is kept as is.
CREATE TABLE challenges (
    id_hash       BLOB PRIMARY KEY,          -- HMAC-SHA-256(pepper, challengeId)
    code          TEXT NOT NULL UNIQUE,
    device_id     TEXT NOT NULL,
    device_name   TEXT NOT NULL,
    client_addr   TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'pending',  -- pending | approved | denied | delivered
    interval_ms   INTEGER NOT NULL,
    last_poll_at  INTEGER,
    binding_id    TEXT REFERENCES bindings(id),
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);
CREATE INDEX challenges_device ON challenges(device_id, status);
