-- A task's feed position is drawn as its change commits, not as it is made.
-- Drawn at the change (0002), the shared feed lock was held from a task's
-- first write to the end of its transaction; every feed read, which takes
-- the lock exclusively, waited for all of those, and every writer queued
-- behind that read meanwhile. Drawn by a deferred trigger, the lock is held
-- for the commit only. The rule is unchanged: a reader sees every position
-- drawn before it read, so nothing can appear behind a cursor it handed out.
DROP TRIGGER IF EXISTS task_changed ON tasks;
DROP FUNCTION IF EXISTS review_task_changed();
ALTER TABLE tasks ALTER COLUMN feed_seq SET DEFAULT 0;   -- until its commit draws one (no one sees it before)
CREATE OR REPLACE FUNCTION review_task_committing() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(72021);   -- the feed's lock (store.FEED_LOCK)
    UPDATE tasks SET feed_seq = nextval('task_feed_seq') WHERE task_id = NEW.task_id;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER task_added AFTER INSERT ON tasks DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION review_task_committing();
-- the trigger's own update changes only the position: it does not fire again
CREATE CONSTRAINT TRIGGER task_changed AFTER UPDATE ON tasks DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (OLD.feed_seq IS NOT DISTINCT FROM NEW.feed_seq) EXECUTE FUNCTION review_task_committing();
