-- How many redeliveries of an event the inbox absorbed: durable, so a drill
-- can count them after services were killed (the metric dies with the process).
ALTER TABLE inbox ADD COLUMN IF NOT EXISTS duplicates integer NOT NULL DEFAULT 0;
