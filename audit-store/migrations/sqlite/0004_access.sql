-- What explains an access to a patient's record, for the anomaly rules. Names and addresses are
-- kept only as match keys (lowercase letters and digits), never as written.

-- The staff directory, replaced whole at each load.
CREATE TABLE staff_directory (
    user_id       TEXT NOT NULL PRIMARY KEY,
    surname_key   TEXT NOT NULL,
    address_key   TEXT NOT NULL,
    nhs_number    TEXT NOT NULL
);

-- The patient index with the flags that make a record sensitive, replaced whole at each load.
CREATE TABLE patient_index (
    nhs_number    TEXT    NOT NULL PRIMARY KEY,
    surname_key   TEXT    NOT NULL,
    address_key   TEXT    NOT NULL,
    vip           INTEGER NOT NULL,
    restricted    INTEGER NOT NULL,
    deceased_ns   BIGINT  NOT NULL
);

-- Care relationships (registration, appointment, referral, encounter), added as they arrive.
-- to_ns 0 is open-ended.
CREATE TABLE care_relationships (
    organisation  TEXT   NOT NULL,
    nhs_number    TEXT   NOT NULL,
    kind          TEXT   NOT NULL,
    from_ns       BIGINT NOT NULL,
    to_ns         BIGINT NOT NULL,
    PRIMARY KEY (organisation, nhs_number, kind, from_ns)
);
