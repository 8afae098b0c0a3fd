-- Care below the organisation: a relationship naming a team (ward, clinic, service) or a clinician,
-- and each person's teams. Where both are loaded, an access is explained by the user's own team or
-- by the user as the named clinician, not by the organisation. Team names are match keys.

-- Added as they arrive, like care_relationships (a relationship naming neither stays there).
CREATE TABLE IF NOT EXISTS care_team_relationships (
    Organisation String,
    NhsNumber String,
    TeamKey String,
    Clinician String,
    Kind String,
    FromNs UInt64,
    ToNs UInt64
) ENGINE = ReplacingMergeTree
ORDER BY (Organisation, NhsNumber, TeamKey, Clinician, Kind, FromNs)
SETTINGS index_granularity = 8192;

-- Replaced with the staff directory, under the directory's Version (written before it, so a reader
-- of the newest directory finds its teams).
CREATE TABLE IF NOT EXISTS staff_teams (
    Version UInt64,
    UserId String,
    TeamKey String
) ENGINE = MergeTree
PARTITION BY Version
ORDER BY UserId
SETTINGS index_granularity = 8192;

-- Each patient's next of kin (an NHS number), for those whose index entry names one: replaced with
-- the patient index, under its Version (written before it). A side table rather than a column, so
-- stores made before it need no ALTER (on a cluster, every replica's).
CREATE TABLE IF NOT EXISTS patient_next_of_kin (
    Version UInt64,
    NhsNumber String,
    NextOfKin String
) ENGINE = MergeTree
PARTITION BY Version
ORDER BY NhsNumber
SETTINGS index_granularity = 8192;
