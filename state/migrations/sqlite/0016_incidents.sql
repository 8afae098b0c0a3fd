-- Incidents: declared from a firing alert or by hand, with a lead, affected pathways (space-
-- separated ids), a status (investigating, identified, monitoring, resolved) and, once resolved,
-- a blameless post-mortem. `exercise` names the rehearsal (a mock breach, an outage drill) or is
-- empty for a real incident.
CREATE TABLE incidents (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    title                 TEXT    NOT NULL,
    severity              TEXT    NOT NULL,
    status                TEXT    NOT NULL,
    lead                  TEXT    NOT NULL,
    pathways              TEXT    NOT NULL,
    exercise              TEXT    NOT NULL DEFAULT '',
    alert_id              BIGINT  NOT NULL DEFAULT 0,
    declared_by           TEXT    NOT NULL,
    declared_ns           BIGINT  NOT NULL,
    resolved_ns           BIGINT,
    impact                TEXT    NOT NULL DEFAULT '',
    contributing_factors  TEXT    NOT NULL DEFAULT '',
    went_well             TEXT    NOT NULL DEFAULT '',
    hazard_id             TEXT    NOT NULL DEFAULT '',
    postmortem_by         TEXT    NOT NULL DEFAULT '',
    postmortem_ns         BIGINT
);
CREATE INDEX incidents_by_declared ON incidents (declared_ns);

-- What happened, in order: entries people wrote (notes, status changes, messages for users) and,
-- once resolved, what Pathwatch saw (alerts, canary state changes, silences), kept for the
-- post-mortem. `public` marks a message for users (the status page shows it).
CREATE TABLE incident_timeline (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id  BIGINT  NOT NULL,
    at_ns        BIGINT  NOT NULL,
    kind         TEXT    NOT NULL,
    author       TEXT    NOT NULL DEFAULT '',
    text         TEXT    NOT NULL,
    public       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX incident_timeline_by_incident ON incident_timeline (incident_id, at_ns);

-- A post-mortem's actions: what, who owns it, by when (a date), and when it was done.
CREATE TABLE incident_actions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id  BIGINT  NOT NULL,
    description  TEXT    NOT NULL,
    owner        TEXT    NOT NULL,
    due          TEXT    NOT NULL,
    created_ns   BIGINT  NOT NULL,
    done_ns      BIGINT,
    done_by      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX incident_actions_open ON incident_actions (done_ns, due);
