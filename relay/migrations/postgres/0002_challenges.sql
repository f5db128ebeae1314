-- PostgreSQL twin of sqlite/0002_challenges.sql.
CREATE TABLE challenges (
    id_hash       BYTEA PRIMARY KEY,
    code          TEXT NOT NULL UNIQUE,
    device_id     TEXT NOT NULL,
    device_name   TEXT NOT NULL,
    client_addr   TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'pending',
    interval_ms   BIGINT NOT NULL,
    last_poll_at  BIGINT,
    binding_id    TEXT REFERENCES bindings(id),
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX challenges_device ON challenges(device_id, status);
