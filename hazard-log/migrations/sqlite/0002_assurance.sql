-- What the evidence monitor saw. Each row is an interval during which one evidence source of one
-- control kept the same state, from the check that first saw it (since_ns) to the newest check that
-- still saw it (last_checked_ns). A change of state, or a gap in checking, starts a new row, so a
-- report over any period can say how long each source passed, failed or went unchecked. When a
-- change follows without a gap, the earlier row's ended_ns is when the new state was first seen.
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

-- Every verification of the audit trail's hash chain: a full walk, or the records added since the
-- last verified head.
CREATE TABLE chain_verifications (
    at_ns            BIGINT  NOT NULL PRIMARY KEY,
    full_walk        INTEGER NOT NULL,
    records_checked  BIGINT  NOT NULL,
    head_seq         BIGINT,
    head_hash        TEXT,
    intact           INTEGER NOT NULL,
    detail           TEXT    NOT NULL
);
