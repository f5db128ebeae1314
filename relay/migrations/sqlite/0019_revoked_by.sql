-- Who revoked a binding, on the row itself (user, app, owner, reuse, idle): the activity
-- log goes a day after the revocation, and a browser that comes back after an idle
-- revocation is still told why (PROTOCOL §11). NULL for a binding revoked before.
ALTER TABLE bindings ADD COLUMN revoked_by TEXT;
