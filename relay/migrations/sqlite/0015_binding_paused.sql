-- The user paused this binding in the panel (PROTOCOL §10): tokens kept, no socket; the
-- relay answers the app's errands with 409 extension_paused until the user resumes.
ALTER TABLE bindings ADD COLUMN paused_at INTEGER;
