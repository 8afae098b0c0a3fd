-- A person's findings at one organisation in one week (Monday 00:00 UTC, from the finding's first
-- event) make one case, which the list pages and the API group by. The key is written when a
-- finding is raised and never changes: organisation|user|week number since 1970-01-05.
ALTER TABLE findings ADD COLUMN case_key TEXT NOT NULL DEFAULT '';
UPDATE findings SET case_key = organisation || '|' || user_id || '|'
    || CAST((from_ns - 345600000000000) / 604800000000000 AS TEXT);
CREATE INDEX findings_by_case ON findings (case_key);
