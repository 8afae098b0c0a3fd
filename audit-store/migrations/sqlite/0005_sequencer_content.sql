-- What each chained event said (SHA-256 of its JSON), so a replay of an event id with different
-- content is refused instead of taken for a retry. Ids chained before this column existed read ''
-- and are taken for retries, as before.
ALTER TABLE audit_sequencer_ids ADD COLUMN content TEXT NOT NULL DEFAULT '';
