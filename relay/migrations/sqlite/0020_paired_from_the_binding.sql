-- The log's `paired` is read from the binding's own row (created_at, via) since a pairing
-- writes no event (db/activity.rs::events_page): the rows written before would show twice.
DELETE FROM binding_events WHERE type = 'paired';
