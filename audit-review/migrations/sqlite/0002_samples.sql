-- Samples of audit events or users drawn for review, with the query and seed that reproduce them,
-- and each item's review outcome.
CREATE TABLE samples (
    id            INTEGER PRIMARY KEY,
    created_ns    BIGINT  NOT NULL,
    created_by    TEXT    NOT NULL,
    unit          TEXT    NOT NULL,
    query         TEXT    NOT NULL,
    items         BIGINT  NOT NULL
);

CREATE TABLE sample_items (
    sample_id     INTEGER NOT NULL REFERENCES samples (id),
    position      INTEGER NOT NULL,
    seq           BIGINT  NOT NULL,
    user_id       TEXT    NOT NULL,
    organisation  TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    occurred_ns   BIGINT  NOT NULL,
    nhs_number    TEXT    NOT NULL,
    events        BIGINT  NOT NULL,
    outcome       TEXT    NOT NULL,
    note          TEXT    NOT NULL,
    reviewer      TEXT    NOT NULL,
    reviewed_ns   BIGINT  NOT NULL,
    PRIMARY KEY (sample_id, position)
);
CREATE INDEX sample_items_by_time ON sample_items (occurred_ns);
