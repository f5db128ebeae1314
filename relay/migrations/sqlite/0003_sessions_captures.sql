-- Refresh-token rotation: every refresh creates a successor session in the same family.
-- A rotated token used again (outside the 30 s lost-response grace) revokes the family.
ALTER TABLE sessions ADD COLUMN family_id TEXT;
ALTER TABLE sessions ADD COLUMN rotated_at INTEGER;
ALTER TABLE sessions ADD COLUMN successor_id TEXT;
UPDATE sessions SET family_id = id WHERE family_id IS NULL;
CREATE INDEX sessions_family ON sessions(family_id);

-- Page captures sent by the extension, drained by the tenant's app.
CREATE TABLE captures (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    binding_id TEXT NOT NULL REFERENCES bindings(id),
    user_id    TEXT NOT NULL,
    url        TEXT NOT NULL,
    title      TEXT NOT NULL,
    text       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX captures_tenant ON captures(tenant_id, created_at);
