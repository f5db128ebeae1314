-- An errand that finds no connected browser asks whether the user is paired with the app
-- at all (404 not_paired against 504 extension_offline): one probe, not a walk of the
-- tenant's bindings.
CREATE INDEX bindings_tenant_user ON bindings(tenant_id, user_id);
