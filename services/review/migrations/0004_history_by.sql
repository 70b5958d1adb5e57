-- the calling principal behind a change (name, or `name via gateway`), next to
-- the reviewer or department it acted as; empty for supervision's own steps.
-- A roster remembers who changed it last.
ALTER TABLE history ADD COLUMN by text;
ALTER TABLE rosters ADD COLUMN updated_by text;
