"""Idempotent inbox with retries and parking.

A handler's effect and the record of its event_id are written in one
transaction, so a redelivered event changes nothing. A handler that raises is
undone (savepoint), the event is kept in the inbox with status `retry` and a
backoff, and the message is acked: the relay sends it back to the consumer's
queue when the backoff is over. After the last attempt it is `parked`, where
`onewindow parked` lists it and replays it. Nothing is acked and forgotten.
"""
import hashlib
import json
import logging

from psycopg.types.json import Jsonb

from . import config, metrics
from .outbox import backoff_seconds

log = logging.getLogger(__name__)


def event_key(payload):
    event_id = payload.get("event_id") if isinstance(payload, dict) else None
    if event_id:
        return str(event_id)
    # An event without an id still must not be lost or applied twice.
    raw = json.dumps(payload, sort_keys=True, default=str).encode()
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def consume(unit, consumer, event_type, payload, handler, redelivery=False):
    """Run handler() once per (consumer, event_id). Returns True when it ran
    and succeeded, False when skipped or failed (and scheduled for retry)."""
    service = unit.service_name
    event_id = event_key(payload)
    # Written as done at once: no one sees it before this transaction commits,
    # and a failure below rewrites it, so success costs no second statement.
    fresh = unit.one(
        "INSERT INTO inbox (consumer, event_id, event_type, payload, status, attempts) "
        "VALUES (%s, %s, %s, %s, 'done', 1) ON CONFLICT DO NOTHING RETURNING attempts",
        (consumer, event_id, event_type, Jsonb(payload)),
    )
    if fresh is None:
        row = unit.one(
            "SELECT status, attempts FROM inbox WHERE consumer = %s AND event_id = %s FOR UPDATE",
            (consumer, event_id),
        )
        if row["status"] == "done" or not (redelivery and row["status"] in ("retry", "parked")):
            metrics.INBOX_DUPLICATES.labels(service, consumer).inc()
            unit.execute("UPDATE inbox SET duplicates = duplicates + 1 WHERE consumer = %s AND event_id = %s",
                         (consumer, event_id))
            return False
        attempts = row["attempts"]
    else:
        attempts = 0
    try:
        with unit.savepoint():
            handler()
    except Exception as exc:
        attempts += 1
        parked = attempts >= config.inbox_max_attempts()
        metrics.INBOX_FAILURES.labels(service, consumer).inc()
        log.warning("%s failed on event %s (attempt %d)%s: %r", consumer, event_id, attempts,
                    ", parked" if parked else "", exc, exc_info=not parked)
        unit.execute(
            "UPDATE inbox SET status = %s, attempts = %s, last_error = %s, "
            "next_attempt_at = now() + make_interval(secs => %s), updated_at = now() "
            "WHERE consumer = %s AND event_id = %s",
            ("parked" if parked else "retry", attempts, f"{type(exc).__name__}: {exc}"[:2000],
             backoff_seconds(attempts), consumer, event_id),
        )
        return False
    if fresh is None:
        unit.execute(
            "UPDATE inbox SET status = 'done', attempts = %s, last_error = NULL, updated_at = now() "
            "WHERE consumer = %s AND event_id = %s",
            (attempts + 1, consumer, event_id),
        )
    return True


def list_parked(unit):
    return unit.all(
        "SELECT consumer, event_id, event_type, attempts, last_error, updated_at, payload "
        "FROM inbox WHERE status = 'parked' ORDER BY updated_at"
    )


def replay_parked(unit, event_id=None):
    """Give parked events a fresh round of attempts; returns how many."""
    rows = unit.all(
        "UPDATE inbox SET status = 'retry', attempts = 0, next_attempt_at = now(), updated_at = now() "
        "WHERE status = 'parked' AND (%(id)s::text IS NULL OR event_id = %(id)s) RETURNING event_id",
        {"id": event_id},
    )
    return len(rows)
