-- The cleanup finds expired pairing tokens and sessions by walking rowid (insert) order
-- up to the first unexpired row (cleanup.rs, `in_insert_order`): their expiry indexes
-- (0009) cost every mint and every redeem one more page per commit.
DROP INDEX pairing_tokens_expiry;
DROP INDEX sessions_expiry;
