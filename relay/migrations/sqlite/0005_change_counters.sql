-- A counter per kind of change that other processes wait for (challenges decided,
-- bindings or API keys revoked), bumped in the same transaction as the change. A relay on
-- SQLite reads these when the file changed, so it wakes only the waiters concerned
-- instead of every waiter on every commit.
CREATE TABLE change_counters (
    topic TEXT PRIMARY KEY,
    seq   INTEGER NOT NULL
);
INSERT INTO change_counters (topic, seq) VALUES ('challenges', 0), ('revocations', 0);
