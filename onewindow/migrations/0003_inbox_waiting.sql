-- An event whose prerequisite has not arrived yet waits (status 'waiting')
-- without using up its retries; it is parked only when the wait runs out.
ALTER TABLE inbox DROP CONSTRAINT IF EXISTS inbox_status_check;
ALTER TABLE inbox ADD CONSTRAINT inbox_status_check
    CHECK (status IN ('processing', 'done', 'retry', 'waiting', 'parked'));
ALTER TABLE inbox ADD COLUMN IF NOT EXISTS waiting_since timestamptz;
ALTER TABLE inbox ADD COLUMN IF NOT EXISTS waits integer NOT NULL DEFAULT 0;
DROP INDEX IF EXISTS inbox_waiting;
CREATE INDEX IF NOT EXISTS inbox_due ON inbox (next_attempt_at) WHERE status IN ('retry', 'waiting');
