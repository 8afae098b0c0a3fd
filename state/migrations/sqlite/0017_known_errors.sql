-- Known errors kept on the dashboard (beside those in the configuration): what fails, how to tell
-- (error class, step, message), what users should do meanwhile, when it is expected to be fixed,
-- the incident it belongs to, whether the status page shows it. Retired ones are kept.
CREATE TABLE known_errors (
    id                      INTEGER PRIMARY KEY AUTOINCREMENT,
    pathway                 TEXT    NOT NULL,
    title                   TEXT    NOT NULL,
    error_class             TEXT    NOT NULL DEFAULT '',
    step                    TEXT    NOT NULL DEFAULT '',
    message_contains        TEXT    NOT NULL DEFAULT '',
    workaround              TEXT    NOT NULL,
    expected_resolution_ns  BIGINT,
    incident_id             BIGINT  NOT NULL DEFAULT 0,
    public                  INTEGER NOT NULL DEFAULT 0,
    created_by              TEXT    NOT NULL,
    created_ns              BIGINT  NOT NULL,
    updated_by              TEXT    NOT NULL,
    updated_ns              BIGINT  NOT NULL,
    retired_ns              BIGINT,
    retired_by              TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX known_errors_by_pathway ON known_errors (pathway, retired_ns);
