-- A finding's score (the sum of its reasons' points) and its reasons (a JSON array of
-- {"text", "points"}). Findings raised before scores existed are given one from their severity,
-- so the list, ordered by score, keeps them where they were.
ALTER TABLE findings ADD COLUMN score BIGINT NOT NULL DEFAULT 0;
ALTER TABLE findings ADD COLUMN reasons TEXT NOT NULL DEFAULT '[]';
UPDATE findings SET score = CASE severity WHEN 'high' THEN 40 WHEN 'medium' THEN 30 ELSE 20 END;
CREATE INDEX findings_by_score ON findings (score, id);
