-- Expected access, learnt from review decisions: a finding closed as justified may record that this
-- user and this patient (any rule), or this user and this kind of access (the finding's rule, any
-- patient, up to the justified finding's score), are expected at the finding's organisation until a
-- stated time, with the reason. Later findings it covers are not raised. Every exception expires,
-- may be revoked (never deleted), is revoked when its finding is reopened, and counts the findings
-- it has silenced.
CREATE TABLE exceptions (
    id            INTEGER PRIMARY KEY,
    organisation  TEXT    NOT NULL,
    user_id       TEXT    NOT NULL,
    rule          TEXT    NOT NULL,
    nhs_number    TEXT    NOT NULL,
    reason        TEXT    NOT NULL,
    from_ns       BIGINT  NOT NULL,
    to_ns         BIGINT  NOT NULL,
    finding_id    BIGINT  NOT NULL,
    max_score     BIGINT  NOT NULL,
    created_by    TEXT    NOT NULL,
    created_ns    BIGINT  NOT NULL,
    revoked_by    TEXT    NOT NULL DEFAULT '',
    revoked_ns    BIGINT  NOT NULL DEFAULT 0,
    revoke_note   TEXT    NOT NULL DEFAULT '',
    uses          BIGINT  NOT NULL DEFAULT 0,
    last_used_ns  BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX exceptions_in_force ON exceptions (revoked_ns, to_ns);
