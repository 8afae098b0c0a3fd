-- The sequencer's idempotency index, per source system: an id is a retry only from the system
-- that first sent it. Ids chained before this keep source '' and still count as retries from any
-- source (what they were).
CREATE TABLE audit_sequencer_source_ids (
    source   TEXT   NOT NULL,
    event_id TEXT   NOT NULL,
    seq      BIGINT NOT NULL,
    content  TEXT   NOT NULL DEFAULT '',
    PRIMARY KEY (source, event_id)
);
INSERT INTO audit_sequencer_source_ids (source, event_id, seq, content)
    SELECT '', event_id, seq, content FROM audit_sequencer_ids;
DROP TABLE audit_sequencer_ids;
