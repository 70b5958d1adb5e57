"""In-memory stand-ins for the database side of a use case, so a rule is
checked in milliseconds without PostgreSQL or RabbitMQ.

FakeUnit is the platform's UnitOfWork with its SQL taken away: events go to
an in-memory outbox, a savepoint undoes nothing (a fake store writes only
after its checks), and any SQL a use case reaches fails the test, because
use cases talk to their store, never to the database. A service's fake store
subclasses its real store and overrides the methods the use case needs."""
import contextlib
import datetime
import uuid

from onewindow.db import UnitOfWork
from onewindow.validation import wire


class FakeUnit(UnitOfWork):
    def __init__(self, service_name="fake"):
        super().__init__(pool=None, service_name=service_name)
        self.outbox = []

    def savepoint(self):
        return contextlib.nullcontext()

    def emit(self, event_type, payload, occurred_at=None):
        event = {"event_id": str(uuid.uuid4()),
                 "occurred_at": (occurred_at or datetime.datetime.now(datetime.timezone.utc)).isoformat()}
        event.update(wire(payload))
        self.outbox.append((event_type, event))
        return event

    def execute(self, sql, params=None):
        raise AssertionError(f"a fake store reached SQL: {sql.split()[0]} ...")

    one = all = execute

    def events(self, event_type=None):
        return [e for t, e in self.outbox if event_type in (None, t)]
