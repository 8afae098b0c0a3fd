-- Findings raised by the anomaly rules and their review workflow. A finding's identity is its key
-- (rule, user, patient, the rule's time bucket): a later run that sees the same thing updates it
-- instead of raising it again.
CREATE TABLE findings (
    id            INTEGER PRIMARY KEY,
    key           TEXT    NOT NULL UNIQUE,
    rule          TEXT    NOT NULL,
    severity      TEXT    NOT NULL,
    user_id       TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    organisation  TEXT    NOT NULL,
    nhs_number    TEXT    NOT NULL,
    from_ns       BIGINT  NOT NULL,
    to_ns         BIGINT  NOT NULL,
    events        BIGINT  NOT NULL,
    first_seq     BIGINT  NOT NULL,
    explanation   TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    assignee      TEXT    NOT NULL,
    raised_ns     BIGINT  NOT NULL,
    updated_ns    BIGINT  NOT NULL,
    closed_ns     BIGINT  NOT NULL,
    notified_ns   BIGINT  NOT NULL
);
CREATE INDEX findings_by_status ON findings (status, raised_ns);
CREATE INDEX findings_by_user ON findings (user_id, raised_ns);

-- Everything that happened to a finding, oldest first: raised, seen again, status changes,
-- assignments and notes, with who and when.
CREATE TABLE finding_history (
    finding_id    INTEGER NOT NULL REFERENCES findings (id),
    at_ns         BIGINT  NOT NULL,
    actor         TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    from_status   TEXT    NOT NULL,
    to_status     TEXT    NOT NULL,
    note          TEXT    NOT NULL
);
CREATE INDEX finding_history_by_finding ON finding_history (finding_id, at_ns);

-- How far the incremental scan has read the audit chain.
CREATE TABLE scan_state (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq      BIGINT  NOT NULL,
    last_run_ns   BIGINT  NOT NULL
);
