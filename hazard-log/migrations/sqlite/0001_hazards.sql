-- The hazard log. Each hazard's current version as a JSON document; every version ever saved, with
-- who, when, why and which fields changed; and the Clinical Safety Officer's sign-offs, each of one
-- version. Nothing is ever updated in place except the current row.
CREATE TABLE hazards (
    id          TEXT    NOT NULL PRIMARY KEY,
    version     INTEGER NOT NULL,
    document    TEXT    NOT NULL,
    updated_ns  BIGINT  NOT NULL
);

CREATE TABLE hazard_changes (
    hazard_id   TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    at_ns       BIGINT  NOT NULL,
    actor       TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    changes     TEXT    NOT NULL,
    document    TEXT    NOT NULL,
    PRIMARY KEY (hazard_id, version)
);

CREATE TABLE hazard_signoffs (
    hazard_id   TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    at_ns       BIGINT  NOT NULL,
    officer     TEXT    NOT NULL,
    statement   TEXT    NOT NULL
);
CREATE INDEX hazard_signoffs_by_hazard ON hazard_signoffs (hazard_id, at_ns);
