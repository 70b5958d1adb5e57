-- who made a change at intake: the calling principal (name, or `name via
-- gateway`); empty for lines that record another service's event
ALTER TABLE case_history ADD COLUMN by text;
