-- The alert engine's newest evaluation round, so the alerts page can say when alert state was
-- last brought up to date and whether every SLO could be evaluated.
CREATE TABLE alert_evaluations (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    at_ns       BIGINT  NOT NULL,
    every_secs  BIGINT  NOT NULL,
    evaluated   INTEGER NOT NULL,
    failed      INTEGER NOT NULL,
    detail      TEXT    NOT NULL
);
