-- The event log. Payloads are bytea, not jsonb: jsonb rewrites bytes and would break the hash
-- chain. Positions are assigned by the appender while it holds the annal_head row lock, so they
-- are dense and commit in order even with writers in several processes.
CREATE TABLE IF NOT EXISTS annal_events (
    global_position BIGINT  PRIMARY KEY,
    event_id        UUID    NOT NULL UNIQUE,
    stream          TEXT    NOT NULL,
    stream_version  BIGINT  NOT NULL,
    recorded_at_us  BIGINT  NOT NULL,
    event_type      TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL,
    actor           TEXT    NOT NULL,
    correlation_id  UUID,
    causation_id    UUID,
    data            BYTEA   NOT NULL,
    raw             BYTEA,
    hash            BYTEA   NOT NULL,
    UNIQUE (stream, stream_version)
);

-- One row: the log's last position and hash. Locking it FOR UPDATE is the append lock.
CREATE TABLE IF NOT EXISTS annal_head (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    position BIGINT  NOT NULL,
    hash     BYTEA   NOT NULL
);
INSERT INTO annal_head (id, position, hash)
VALUES (1, 0, '\x0000000000000000000000000000000000000000000000000000000000000000')
ON CONFLICT (id) DO NOTHING;
