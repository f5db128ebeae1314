-- Times are milliseconds since the Unix epoch. Secrets are stored only as keyed hashes.

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    origins    TEXT NOT NULL DEFAULT '[]',   -- JSON array of web origins for the status frame
    captures   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    label      TEXT NOT NULL,
    salt       BLOB NOT NULL,
    hash       BLOB NOT NULL,                -- SHA-256(salt || secret)
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE TABLE pairing_tokens (
    hash       BLOB PRIMARY KEY,             -- HMAC-SHA-256(pepper, token)
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    user_id    TEXT NOT NULL,
    key_id     TEXT NOT NULL REFERENCES api_keys(id),
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    created_at INTEGER NOT NULL
);

CREATE TABLE bindings (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    user_id     TEXT NOT NULL,
    app_name    TEXT NOT NULL,
    device_name TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX bindings_tenant ON bindings(tenant_id);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    binding_id   TEXT NOT NULL REFERENCES bindings(id),
    refresh_hash BLOB NOT NULL UNIQUE,       -- HMAC-SHA-256(pepper, refresh token)
    expires_at   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER
);
CREATE INDEX sessions_binding ON sessions(binding_id);
