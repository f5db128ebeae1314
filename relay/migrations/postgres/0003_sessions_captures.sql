-- PostgreSQL twin of sqlite/0003_sessions_captures.sql.
ALTER TABLE sessions ADD COLUMN family_id TEXT;
ALTER TABLE sessions ADD COLUMN rotated_at BIGINT;
ALTER TABLE sessions ADD COLUMN successor_id TEXT;
UPDATE sessions SET family_id = id WHERE family_id IS NULL;
CREATE INDEX sessions_family ON sessions(family_id);

CREATE TABLE captures (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    binding_id TEXT NOT NULL REFERENCES bindings(id),
    user_id    TEXT NOT NULL,
    url        TEXT NOT NULL,
    title      TEXT NOT NULL,
    text       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX captures_tenant ON captures(tenant_id, created_at);
