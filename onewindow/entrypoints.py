"""nameko entrypoints that finish the unit of work before they answer.

- `rpc`: commits, then replies; the contract's errors are expected (logged as
  warnings); results are plain JSON (ISO dates).
- `event_handler(source, event_type)`: runs the handler through the inbox
  (once per event_id, retried with backoff, parked at the end), commits, then
  acks. If even the commit fails (database down), the message is requeued
  after a pause rather than in a hot loop.
- `timer`: nameko's; its unit of work finishes in worker_result.

A service using these must call its Database dependency `db`.
"""
import functools
import inspect
import logging
import sys

import amqp.exceptions
import eventlet
import kombu.exceptions
from nameko.events import EventHandler
from nameko.rpc import Rpc
from nameko.timer import timer  # noqa: F401  (re-exported)

from . import inbox
from .db import Database
from .errors import CONTRACT_ERRORS, ValidationFailed
from .outbox import REDELIVERY_HEADER
from .validation import text_problems, wire

log = logging.getLogger(__name__)

# What a lost broker connection raises when a reply or an ack is written to it.
BROKER_GONE = (OSError, amqp.exceptions.ConnectionError, amqp.exceptions.RecoverableConnectionError,
               kombu.exceptions.OperationalError)


def finish_units(entrypoint, worker_ctx, exc_info):
    for dependency in entrypoint.container.dependencies:
        if isinstance(dependency, Database):
            try:
                dependency.finish(worker_ctx, exc_info)
            except Exception:
                log.exception("commit failed for %s", worker_ctx)
                exc_info = sys.exc_info()
    return exc_info


class CommittingRpc(Rpc):
    def __init__(self, expected_exceptions=CONTRACT_ERRORS, **kwargs):
        super().__init__(expected_exceptions=expected_exceptions, **kwargs)

    def handle_result(self, message, worker_ctx, result, exc_info):
        exc_info = finish_units(self, worker_ctx, exc_info)
        result = None if exc_info is not None else wire(result)
        try:
            return super().handle_result(message, worker_ctx, result, exc_info)
        except BROKER_GONE as exc:
            # The work is committed; the caller hears nothing and retries with
            # the same idempotency key. Letting this raise would kill the container.
            log.warning("could not reply to %s, the broker connection is gone: %r", worker_ctx, exc)
            return result, exc_info


def rpc(fn=None, **kwargs):
    """Like nameko's rpc, committing before the reply; arguments that are
    not storable text (NUL, lone surrogates) or do not fit the method's
    signature are a ValidationFailed naming every one, before any work."""
    if fn is None:
        return lambda f: rpc(f, **kwargs)
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def checked(self, *args, **call_kwargs):
        try:
            bound = signature.bind(self, *args, **call_kwargs)
        except TypeError as exc:
            raise ValidationFailed({"_call": [str(exc)]}) from None
        problems = {}
        for name, value in list(bound.arguments.items())[1:]:
            problems.update(text_problems(value, name))
        if problems:
            raise ValidationFailed(problems)
        return fn(self, *args, **call_kwargs)

    return CommittingRpc.decorator(**kwargs)(checked)


class InboxEventHandler(EventHandler):
    REQUEUE_PAUSE_SECONDS = 2.0

    def __init__(self, source_service, event_type, **kwargs):
        kwargs.setdefault("requeue_on_error", True)
        super().__init__(source_service, event_type, **kwargs)

    @property
    def queue_name(self):
        return f"evt-{self.source_service}-{self.event_type}--{self.container.service_name}.{self.method_name}"

    def handle_message(self, body, message):
        redelivery = REDELIVERY_HEADER in (message.headers or {})
        context_data = self.unpack_message_headers(message)
        handle_result = functools.partial(self.handle_result, message)
        try:
            self.container.spawn_worker(
                self, (body,), {"_inbox": (self.queue_name, self.event_type, redelivery)},
                context_data=context_data, handle_result=handle_result,
            )
        except Exception:
            self.queue_consumer.requeue_message(message)

    def handle_result(self, message, worker_ctx, result=None, exc_info=None):
        exc_info = finish_units(self, worker_ctx, exc_info)
        if exc_info is not None:
            # Nothing was recorded (the database failed): requeue, not hot.
            eventlet.sleep(self.REQUEUE_PAUSE_SECONDS)
        try:
            self.handle_message_processed(message, result, exc_info)
        except BROKER_GONE as exc:
            # Unacked, the broker delivers it again; the inbox skips what is done.
            log.warning("could not ack %s, the broker connection is gone: %r", worker_ctx, exc)
        return result, exc_info


def event_handler(source_service, event_type, **kwargs):
    """Decorate `def on_x(self, event)`: called once per event_id."""

    def decorator(fn):
        @functools.wraps(fn)
        def through_inbox(self, payload, _inbox=None):
            consumer, kind, redelivery = _inbox or (fn.__name__, event_type, False)
            unit = getattr(self.db, "unit", self.db)
            inbox.consume(unit, consumer, kind, payload, lambda: fn(self, payload), redelivery)

        return InboxEventHandler.decorator(source_service, event_type, **kwargs)(through_inbox)

    return decorator
