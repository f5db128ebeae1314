-- PostgreSQL twin of sqlite/0001_init.sql: the same tables, columns and constraints, so
-- every query in the relay runs unchanged on both. Times are milliseconds since the Unix
-- epoch (BIGINT); flags are 0/1 BIGINTs as in SQLite; secrets only as keyed hashes (BYTEA).

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    origins    TEXT NOT NULL DEFAULT '[]',
    captures   BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    label      TEXT NOT NULL,
    salt       BYTEA NOT NULL,
    hash       BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE pairing_tokens (
    hash       BYTEA PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    user_id    TEXT NOT NULL,
    key_id     TEXT NOT NULL REFERENCES api_keys(id),
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE bindings (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    user_id     TEXT NOT NULL,
    app_name    TEXT NOT NULL,
    device_name TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX bindings_tenant ON bindings(tenant_id);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    binding_id   TEXT NOT NULL REFERENCES bindings(id),
    refresh_hash BYTEA NOT NULL UNIQUE,
    expires_at   BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX sessions_binding ON sessions(binding_id);
