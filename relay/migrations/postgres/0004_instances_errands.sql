-- Several relay instances on one database (used on PostgreSQL): which instance holds the
-- live socket of a binding, which instances are alive, and errands handed from the
-- instance that received them to the instance that holds the socket.
CREATE TABLE instances (
    id      TEXT PRIMARY KEY,
    seen_at BIGINT NOT NULL          -- heartbeat; older than 30 s counts as gone
);

CREATE TABLE live_sockets (
    binding_id   TEXT PRIMARY KEY REFERENCES bindings(id),
    instance_id  TEXT NOT NULL,
    conn         BIGINT NOT NULL,     -- the instance's connection number (newest wins)
    connected_at BIGINT NOT NULL
);
CREATE INDEX live_sockets_instance ON live_sockets(instance_id);

CREATE TABLE errands (
    id          TEXT PRIMARY KEY,
    binding_id  TEXT NOT NULL,
    instance_id TEXT NOT NULL,        -- the instance holding the socket
    kind        TEXT NOT NULL,
    params      TEXT NOT NULL,        -- JSON
    outcome     TEXT,                 -- JSON, set once by the socket's instance
    created_at  BIGINT NOT NULL
);
