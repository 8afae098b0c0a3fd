-- What explains an access to a patient's record, for the anomaly rules. Names and addresses are
-- kept only as match keys (lowercase letters and digits), never as written.

-- The staff directory and the patient index are replaced whole at each load: every load writes a
-- new Version (its own partition), readers take the newest, and older partitions are dropped.
CREATE TABLE IF NOT EXISTS staff_directory (
    Version UInt64,
    UserId String,
    SurnameKey String,
    AddressKey String,
    NhsNumber String
) ENGINE = MergeTree
PARTITION BY Version
ORDER BY UserId
SETTINGS index_granularity = 8192;

CREATE TABLE IF NOT EXISTS patient_index (
    Version UInt64,
    NhsNumber String,
    SurnameKey String,
    AddressKey String,
    Vip UInt8,
    Restricted UInt8,
    DeceasedNs UInt64
) ENGINE = MergeTree
PARTITION BY Version
ORDER BY NhsNumber
SETTINGS index_granularity = 8192;

-- Care relationships, added as they arrive; a relationship sent twice collapses on merge and counts
-- once either way (the rules ask only whether one exists). ToNs 0 is open-ended.
CREATE TABLE IF NOT EXISTS care_relationships (
    Organisation String,
    NhsNumber String,
    Kind String,
    FromNs UInt64,
    ToNs UInt64
) ENGINE = ReplacingMergeTree
ORDER BY (Organisation, NhsNumber, Kind, FromNs)
SETTINGS index_granularity = 8192;
