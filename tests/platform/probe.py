"""Two tiny services that exercise the shared machinery, nothing else."""
import eventlet
from onewindow.db import Database
from onewindow.entrypoints import event_handler, rpc
from onewindow.errors import PrerequisiteMissing, ValidationFailed
from onewindow.metrics import Metrics
from onewindow.principals import ANYONE


class ProbeSource:
    name = "probesrc"
    store = Database()
    metrics = Metrics()

    @rpc(roles=ANYONE)
    def write_note(self, text, fail_after_write=False):
        self.store.execute("INSERT INTO notes (text) VALUES (%s)", (text,))
        event = self.store.emit("note_written", {"text": text})
        if fail_after_write:
            raise ValidationFailed({"text": ["refused after writing"]})
        return event["event_id"]

    @rpc(roles=ANYONE)
    def sleep(self, seconds):
        self.store.execute("SELECT pg_sleep(%s)", (seconds,))
        return seconds

    @rpc(roles=ANYONE)
    def green_sleep(self, seconds):
        eventlet.sleep(seconds)
        return seconds


class ProbeSink:
    name = "probesink"
    store = Database()
    metrics = Metrics()

    @event_handler("probesrc", "note_written")
    def on_note_written(self, event):
        note_effect(self.store, event)


class ProbeBatchSink:
    """ProbeSink's effect through a batched handler (its own queue, declared
    by the test that starts it)."""
    name = "probesink"
    store = Database()
    metrics = Metrics()

    @event_handler("probesrc", "note_written", batched=True)
    def on_note_written_batched(self, event):
        note_effect(self.store, event)


def note_effect(store, event):
    # "after:X" builds on the note X, which may come later
    before, _, needed = event["text"].partition("after:")
    if not before and needed and not store.one("SELECT 1 FROM effects WHERE text = %s", (needed,)):
        raise PrerequisiteMissing(f"note {needed} not here yet")
    store.execute("INSERT INTO effects (event_id, text) VALUES (%s, %s)", (event["event_id"], event["text"]))
    plan = store.one("SELECT remaining FROM planned_failures WHERE text = %s", (event["text"],))
    if plan and plan["remaining"] != 0:
        # the failure must survive the handler's rollback: commit it apart
        with store._pool.connection() as conn:
            conn.execute("UPDATE planned_failures SET remaining = remaining - 1 "
                         "WHERE text = %s AND remaining > 0", (event["text"],))
        raise RuntimeError(f"planned failure for {event['text']}")
