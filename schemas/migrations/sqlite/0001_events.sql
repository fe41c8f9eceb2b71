-- The event log. One row per event; global_position is the rowid, so it is dense as long as
-- rows are only ever appended (the writer assigns head + 1 under its single-writer lock).
CREATE TABLE IF NOT EXISTS events (
    global_position INTEGER PRIMARY KEY,
    event_id        BLOB    NOT NULL UNIQUE,
    stream          TEXT    NOT NULL,
    stream_version  INTEGER NOT NULL,
    recorded_at_us  INTEGER NOT NULL,
    event_type      TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL,
    actor           TEXT    NOT NULL,
    correlation_id  BLOB,
    causation_id    BLOB,
    data            BLOB    NOT NULL,
    raw             BLOB,
    hash            BLOB    NOT NULL,
    UNIQUE (stream, stream_version)
);
