-- Where people live, as keys (see `places.rs`): the address's first line, the postcode unit and the
-- postcode sector. Empty when unknown; filled when the directory or the index is next replaced.
ALTER TABLE staff_directory ADD COLUMN line_key TEXT NOT NULL DEFAULT '';
ALTER TABLE staff_directory ADD COLUMN postcode_key TEXT NOT NULL DEFAULT '';
ALTER TABLE staff_directory ADD COLUMN sector_key TEXT NOT NULL DEFAULT '';
ALTER TABLE patient_index ADD COLUMN line_key TEXT NOT NULL DEFAULT '';
ALTER TABLE patient_index ADD COLUMN postcode_key TEXT NOT NULL DEFAULT '';
ALTER TABLE patient_index ADD COLUMN sector_key TEXT NOT NULL DEFAULT '';
