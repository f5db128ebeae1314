-- The registry and the activity log (PROTOCOL §11).
-- How a binding was made: one_click, pasted_token, code or managed. NULL for one made
-- before this was recorded (except managed ones, which the `managed` column tells).
ALTER TABLE bindings ADD COLUMN via TEXT;
UPDATE bindings SET via = 'managed' WHERE managed = 1;
-- Written at most once a minute per binding (http/last_seen.rs), not on every request.
ALTER TABLE bindings ADD COLUMN last_seen_at BIGINT;
ALTER TABLE bindings ADD COLUMN last_errand_at BIGINT;

-- Append-only, per binding, newest read first by id. `refreshed` is one row per binding
-- and UTC day (`day`, NULL for every other type) whose `count` grows: the unique index
-- is what the upsert hits, and NULL days never collide.
CREATE TABLE binding_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    binding_id TEXT NOT NULL,
    type       TEXT NOT NULL,
    at         BIGINT NOT NULL,
    day        BIGINT,
    count      BIGINT NOT NULL DEFAULT 1,
    detail     TEXT
);
CREATE INDEX binding_events_by_binding ON binding_events(binding_id, id);
CREATE UNIQUE INDEX binding_events_daily ON binding_events(binding_id, type, day);
