-- A patient's next of kin, as the patient index has it (an NHS number; empty when unknown): a member
-- of staff named as next of kin is family, wherever they live and whatever their surname.
ALTER TABLE patient_index ADD COLUMN next_of_kin TEXT NOT NULL DEFAULT '';
