-- Care below the organisation: a relationship may name a team (a ward, clinic or service) and a
-- clinician; the staff directory may name each person's teams. Where both are loaded, an access is
-- explained by the user's own team or by the user as the named clinician, not by the organisation.
-- A relationship naming neither stays in care_relationships.
CREATE TABLE care_team_relationships (
    organisation TEXT NOT NULL,
    nhs_number   TEXT NOT NULL,
    team_key     TEXT NOT NULL,
    clinician    TEXT NOT NULL,
    kind         TEXT NOT NULL,
    from_ns      BIGINT NOT NULL,
    to_ns        BIGINT NOT NULL,
    PRIMARY KEY (organisation, nhs_number, team_key, clinician, kind, from_ns)
) WITHOUT ROWID;

-- Each person's teams (match keys), replaced with the staff directory.
CREATE TABLE staff_teams (
    user_id  TEXT NOT NULL,
    team_key TEXT NOT NULL,
    PRIMARY KEY (user_id, team_key)
) WITHOUT ROWID;
