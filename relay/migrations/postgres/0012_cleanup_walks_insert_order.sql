-- PostgreSQL twin of sqlite/0012_cleanup_walks_insert_order.sql: nothing to do. PostgreSQL
-- has no insert order to walk, so its cleanup keeps pairing_tokens_expiry and
-- sessions_expiry.
SELECT 1;
