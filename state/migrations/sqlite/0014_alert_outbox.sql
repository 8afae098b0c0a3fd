-- The notification an alert owes, written with the change that causes it and cleared once a
-- channel has it: a leader that stops between the two leaves it for the next one to send.
ALTER TABLE alerts ADD COLUMN notify_pending TEXT NOT NULL DEFAULT '';
CREATE INDEX alerts_owing ON alerts (slo) WHERE notify_pending <> '';
