-- The hazard log on PostgreSQL, in the state database: the same tables and columns as the SQLite
-- migrations (migrations/sqlite) ended with. Sign-offs keep their insertion order in a `rowid`
-- column of their own (SQLite has one implicitly), so one query orders them on both.

CREATE TABLE hazards (
    id          TEXT    NOT NULL PRIMARY KEY,
    version     BIGINT  NOT NULL,
    document    TEXT    NOT NULL,
    updated_ns  BIGINT  NOT NULL
);

CREATE TABLE hazard_changes (
    hazard_id   TEXT    NOT NULL,
    version     BIGINT  NOT NULL,
    at_ns       BIGINT  NOT NULL,
    actor       TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    changes     TEXT    NOT NULL,
    document    TEXT    NOT NULL,
    PRIMARY KEY (hazard_id, version)
);

CREATE TABLE hazard_signoffs (
    rowid       BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hazard_id   TEXT    NOT NULL,
    version     BIGINT  NOT NULL,
    at_ns       BIGINT  NOT NULL,
    officer     TEXT    NOT NULL,
    statement   TEXT    NOT NULL
);
CREATE INDEX hazard_signoffs_by_hazard ON hazard_signoffs (hazard_id, at_ns);

CREATE TABLE evidence_history (
    hazard_id        TEXT    NOT NULL,
    control_id       TEXT    NOT NULL,
    source           TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    since_ns         BIGINT  NOT NULL,
    last_checked_ns  BIGINT  NOT NULL,
    ended_ns         BIGINT,
    verified_ns      BIGINT,
    detail           TEXT    NOT NULL,
    link             TEXT,
    PRIMARY KEY (hazard_id, control_id, source, since_ns)
);
CREATE INDEX evidence_history_by_time ON evidence_history (last_checked_ns);

CREATE TABLE chain_verifications (
    at_ns            BIGINT  NOT NULL PRIMARY KEY,
    full_walk        BIGINT  NOT NULL,
    records_checked  BIGINT  NOT NULL,
    head_seq         BIGINT,
    head_hash        TEXT,
    intact           BIGINT  NOT NULL,
    detail           TEXT    NOT NULL
);
