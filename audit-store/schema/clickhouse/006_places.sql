-- Where people live, as keys (see `places.rs`): the address's first line, the postcode unit and the
-- postcode sector, for the people whose address gives any. Replaced with the staff directory and the
-- patient index, under their Version (written before them), as side tables like patient_next_of_kin:
-- stores made before them need no ALTER (on a cluster, every replica's).
CREATE TABLE IF NOT EXISTS staff_places (
    Version UInt64,
    UserId String,
    LineKey String,
    PostcodeKey String,
    SectorKey String
) ENGINE = MergeTree
PARTITION BY Version
ORDER BY UserId
SETTINGS index_granularity = 8192;

CREATE TABLE IF NOT EXISTS patient_places (
    Version UInt64,
    NhsNumber String,
    LineKey String,
    PostcodeKey String,
    SectorKey String
) ENGINE = MergeTree
PARTITION BY Version
ORDER BY NhsNumber
SETTINGS index_granularity = 8192;
