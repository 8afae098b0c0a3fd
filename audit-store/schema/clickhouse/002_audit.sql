-- Audit events in chain order. Partitioned by the day Pathwatch RECEIVED them: the chain is in
-- receive order, so dropping the oldest partitions removes a prefix of the chain, never a middle.
-- ReplacingMergeTree keyed by Seq: a spool replay after a crash writes the same Seq again and it
-- collapses on merge; queries read with LIMIT 1 BY Seq.
CREATE TABLE IF NOT EXISTS audit_events (
    Seq UInt64,
    EventId String,
    Occurred DateTime,
    OccurredNs UInt64,
    Received DateTime,
    ReceivedNs UInt64,
    ActorUserId String,
    ActorName String,
    ActorRole String,
    ActorOrg String,
    PurposeOfUse String,
    Action String,
    NhsNumber String,
    ResourceType String,
    ResourceId String,
    Outcome String,
    CorrelationId String,
    RequestId String,
    SourceSystem String,
    ClientAddress String,
    Device String,
    PrevHash String,
    Hash String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(Received)
ORDER BY Seq
SETTINGS index_granularity = 8192;

-- Slim look-up tables for "by patient" and "by user": keys only, joined back on Seq (the primary key).
CREATE TABLE IF NOT EXISTS audit_by_patient (
    NhsNumber String,
    OccurredNs UInt64,
    Seq UInt64,
    Received DateTime
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(Received)
ORDER BY (NhsNumber, OccurredNs, Seq)
SETTINGS index_granularity = 8192;

CREATE MATERIALIZED VIEW IF NOT EXISTS audit_by_patient_mv TO audit_by_patient AS
SELECT NhsNumber, OccurredNs, Seq, Received FROM audit_events WHERE NhsNumber != '';

CREATE TABLE IF NOT EXISTS audit_by_user (
    ActorUserId String,
    OccurredNs UInt64,
    Seq UInt64,
    Received DateTime
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(Received)
ORDER BY (ActorUserId, OccurredNs, Seq)
SETTINGS index_granularity = 8192;

CREATE MATERIALIZED VIEW IF NOT EXISTS audit_by_user_mv TO audit_by_user AS
SELECT ActorUserId, OccurredNs, Seq, Received FROM audit_events;

-- Where the chain starts once retention has removed its oldest records.
CREATE TABLE IF NOT EXISTS audit_chain_base (
    LastRemovedSeq UInt64,
    LastRemovedHash String
) ENGINE = ReplacingMergeTree
ORDER BY LastRemovedSeq;
