"""Two tiny services that exercise the shared machinery, nothing else."""
import eventlet
from onewindow.db import Database
from onewindow.entrypoints import event_handler, rpc
from onewindow.errors import ValidationFailed
from onewindow.metrics import Metrics


class ProbeSource:
    name = "probesrc"
    db = Database()
    metrics = Metrics()

    @rpc
    def write_note(self, text, fail_after_write=False):
        self.db.execute("INSERT INTO notes (text) VALUES (%s)", (text,))
        event = self.db.emit("note_written", {"text": text})
        if fail_after_write:
            raise ValidationFailed({"text": ["refused after writing"]})
        return event["event_id"]

    @rpc
    def sleep(self, seconds):
        self.db.execute("SELECT pg_sleep(%s)", (seconds,))
        return seconds

    @rpc
    def green_sleep(self, seconds):
        eventlet.sleep(seconds)
        return seconds


class ProbeSink:
    name = "probesink"
    db = Database()
    metrics = Metrics()

    @event_handler("probesrc", "note_written")
    def on_note_written(self, event):
        self.db.execute("INSERT INTO effects (event_id, text) VALUES (%s, %s)", (event["event_id"], event["text"]))
        plan = self.db.one("SELECT remaining FROM planned_failures WHERE text = %s", (event["text"],))
        if plan and plan["remaining"] != 0:
            # the failure must survive the handler's rollback: commit it apart
            with self.db._pool.connection() as conn:
                conn.execute("UPDATE planned_failures SET remaining = remaining - 1 "
                             "WHERE text = %s AND remaining > 0", (event["text"],))
            raise RuntimeError(f"planned failure for {event['text']}")
