-- A finding's identity now includes the organisation (rule|user|organisation|patient|bucket), so a
-- person's activity at two organisations makes two findings. Findings raised before keep their
-- review: their keys are rewritten with the organisation they were raised under, so the next scan
-- finds them again rather than raising them anew.
UPDATE findings
SET key = rule || '|' || user_id || '|' || organisation || substr(key, length(rule) + length(user_id) + 2);
