-- Second release: 延期, 出证, 绿色通道, escalating 督办, the feed, reviewer pools,
-- and the item's materials and legal limit that decisions are checked against.

ALTER TABLE applications
    ADD COLUMN IF NOT EXISTS legal_limit_days integer,
    ADD COLUMN IF NOT EXISTS materials jsonb NOT NULL DEFAULT '[]'::jsonb,   -- the item's catalog: code, name
    ADD COLUMN IF NOT EXISTS green_channel jsonb;                            -- {"reason"} when 绿色通道

-- 延期 (once per task) and 出证 (the licence an approval issues).
ALTER TABLE tasks
    ADD COLUMN IF NOT EXISTS extension jsonb,   -- working_days, reason, previous_due_date, due_date, extended_at, by
    ADD COLUMN IF NOT EXISTS extension_ref text UNIQUE,
    ADD COLUMN IF NOT EXISTS result jsonb;      -- document_no, document_name

-- The feed's position of a task: a number drawn at its last change. A writer
-- draws it under a shared lock that the feed's reader takes exclusively, so
-- the reader sees every number drawn before it read, committed or gone, and
-- nothing can appear behind a cursor it handed out.
CREATE SEQUENCE IF NOT EXISTS task_feed_seq;
ALTER TABLE tasks ADD COLUMN IF NOT EXISTS feed_seq bigint;
UPDATE tasks SET feed_seq = nextval('task_feed_seq') WHERE feed_seq IS NULL;
ALTER TABLE tasks ALTER COLUMN feed_seq SET NOT NULL;
CREATE OR REPLACE FUNCTION review_task_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(72021);   -- the feed's lock (store.FEED_LOCK)
    NEW.feed_seq := nextval('task_feed_seq');
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS task_changed ON tasks;
CREATE TRIGGER task_changed BEFORE INSERT OR UPDATE ON tasks FOR EACH ROW EXECUTE FUNCTION review_task_changed();
CREATE INDEX IF NOT EXISTS tasks_feed ON tasks (department, feed_seq);

-- A yellow warning is issued once per due date (an extension gives a new
-- one); a supervision notice (督办) once per clock.
ALTER TABLE supervision_notices DROP CONSTRAINT IF EXISTS supervision_notices_pkey;
ALTER TABLE supervision_notices ADD PRIMARY KEY (task_id, clock, level, due_date);
CREATE UNIQUE INDEX IF NOT EXISTS one_notice_per_clock ON supervision_notices (task_id, clock) WHERE level = 'red';
ALTER TABLE supervision_notices DROP CONSTRAINT IF EXISTS supervision_notices_level_check;
ALTER TABLE supervision_notices ADD CONSTRAINT supervision_notices_level_check
    CHECK (level IN ('yellow', 'red', 'unstaffed'));
ALTER TABLE supervision_notices
    ADD COLUMN IF NOT EXISTS answer text,
    ADD COLUMN IF NOT EXISTS answered_at timestamptz,
    ADD COLUMN IF NOT EXISTS answered_by text,
    ADD COLUMN IF NOT EXISTS answer_ref text UNIQUE;

-- Each level of a notice, once: 1 the department, 2 the centre's director,
-- 3 the supervision office.
CREATE TABLE IF NOT EXISTS notice_levels (
    notice_no  text NOT NULL REFERENCES supervision_notices (notice_no),
    level      smallint NOT NULL CHECK (level BETWEEN 1 AND 3),
    as_of      date NOT NULL,
    recipient  jsonb NOT NULL DEFAULT '{}'::jsonb,   -- name, phone of who was told
    issued_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (notice_no, level)
);
INSERT INTO notice_levels (notice_no, level, as_of, issued_at)
    SELECT notice_no, 1, as_of, issued_at FROM supervision_notices WHERE level = 'red'
    ON CONFLICT DO NOTHING;

-- Who is told at levels 2 and 3 (level 1 is the department's own supervisor).
CREATE TABLE IF NOT EXISTS supervision_contacts (
    level      smallint PRIMARY KEY CHECK (level IN (2, 3)),
    name       text NOT NULL DEFAULT '',
    phone      text,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Reviewer pools (AB岗 with several people on a post).
CREATE TABLE IF NOT EXISTS roster_members (
    department text NOT NULL REFERENCES rosters (department),
    reviewer   text NOT NULL,
    post       text NOT NULL CHECK (post IN ('primary', 'backup')),
    position   integer NOT NULL,
    name       text NOT NULL DEFAULT '',
    phone      text,
    absent     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (department, reviewer)
);
INSERT INTO roster_members (department, reviewer, post, position, name, phone, absent)
    SELECT department, primary_id, 'primary', 0, primary_name, primary_phone, primary_absent FROM rosters
    ON CONFLICT DO NOTHING;
INSERT INTO roster_members (department, reviewer, post, position, name, phone, absent)
    SELECT department, backup_id, 'backup', 1, backup_name, backup_phone, backup_absent FROM rosters
    WHERE backup_id IS NOT NULL ON CONFLICT DO NOTHING;
ALTER TABLE rosters
    DROP COLUMN IF EXISTS primary_id, DROP COLUMN IF EXISTS primary_name, DROP COLUMN IF EXISTS primary_phone,
    DROP COLUMN IF EXISTS primary_absent, DROP COLUMN IF EXISTS backup_id, DROP COLUMN IF EXISTS backup_name,
    DROP COLUMN IF EXISTS backup_phone, DROP COLUMN IF EXISTS backup_absent;
