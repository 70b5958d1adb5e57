"""Idempotent inbox with retries and parking.

A handler's effect and the record of its event_id are written in one
transaction, so a redelivered event changes nothing. A handler that raises is
undone (the whole transaction is rolled back and the event written again:
no savepoint round trips on the path nearly every event takes), the event
is kept in the inbox with status `retry` and a backoff, and the message is
acked: the relay sends it back to the consumer's
queue when the backoff is over. After the last attempt it is `parked`, where
`onewindow parked` lists it and replays it. Nothing is acked and forgotten.

A handler that raises PrerequisiteMissing has not failed: the event it builds
on is still on its way (another queue, a sender that was down). The event
`waits`: it is run again on a schedule capped at OW_INBOX_WAIT_CAP_SECONDS,
without using up its attempts, and parked only after OW_INBOX_WAIT_SECONDS.
"""
import hashlib
import json
import logging

from psycopg.types.json import Jsonb

from . import config, metrics
from .errors import PrerequisiteMissing
from .outbox import backoff_seconds

log = logging.getLogger(__name__)


def event_key(payload):
    event_id = payload.get("event_id") if isinstance(payload, dict) else None
    if event_id:
        return str(event_id)
    # An event without an id still must not be lost or applied twice.
    raw = json.dumps(payload, sort_keys=True, default=str).encode()
    return "sha256:" + hashlib.sha256(raw).hexdigest()


class BatchBroken(Exception):
    """A handler failed inside a batch: the caller undoes the batch."""


def consume_batch(unit, consumer, event_type, deliveries, repeatable=False, lock_order=None):
    """Several deliveries of one queue, [(payload, handler, redelivery)], in
    one transaction: one BEGIN and COMMIT, one connection and one worker for
    all instead of one each. Should a handler fail, the batch is undone and
    each event runs again on its own, committed before the next, exactly as
    single deliveries run: one event's failure neither undoes nor repeats
    another's effect, and the failure is kept for retry as always.
    `lock_order`: the field of the events naming the row each handler
    locks; they run in its order (entrypoints.event_handler says why)."""
    if lock_order:
        deliveries = sorted(deliveries, key=lambda delivery: str(delivery[0].get(lock_order) or ""))
    if len(deliveries) > 1:
        try:
            for payload, handler, redelivery in deliveries:
                consume(unit, consumer, event_type, payload, handler, redelivery, repeatable, batched=True)
            metrics.INBOX_BATCH_EVENTS.labels(unit.service_name, consumer).observe(len(deliveries))
            return
        except BatchBroken:
            unit.undo()
            metrics.INBOX_BATCHES_SPLIT.labels(unit.service_name, consumer).inc()
    for n, (payload, handler, redelivery) in enumerate(deliveries):
        if n:
            unit.checkpoint()
        consume(unit, consumer, event_type, payload, handler, redelivery, repeatable)
        metrics.INBOX_BATCH_EVENTS.labels(unit.service_name, consumer).observe(1)


def consume(unit, consumer, event_type, payload, handler, redelivery=False, repeatable=False, batched=False):
    """Run handler() once per (consumer, event_id). Returns True when it ran
    and succeeded, False when skipped or failed (and scheduled for retry).

    `repeatable`: the handler's effect is the same however often it runs on
    one event (an upsert keyed by what the event is about), so a first
    delivery that succeeds leaves no row: a duplicate just runs again. A
    failure is kept, retried and parked like any other.

    `batched`: other events share the transaction, so a failure raises
    BatchBroken instead of being undone and kept here (consume_batch)."""
    service = unit.service_name
    event_id = event_key(payload)
    if repeatable and not redelivery:
        kept, attempts = False, 0
    else:
        claimed = _claim(unit, service, consumer, event_id, event_type, payload, redelivery)
        if claimed is None:
            return False
        kept, attempts = claimed
    try:
        handler()
        # A write the handler sent pipelined fails it here, not at the
        # commit: kept for retry and parked like any failure, not requeued.
        unit.sync()
    except Exception as exc:
        if batched:
            raise BatchBroken() from exc
        unit.undo()
        if isinstance(exc, PrerequisiteMissing):
            wait_for_prerequisite(unit, consumer, event_id, event_type, payload, attempts, exc)
        else:
            _failed(unit, service, consumer, event_id, event_type, payload, attempts + 1, exc)
        return False
    if kept:
        unit.execute(
            "UPDATE inbox SET status = 'done', attempts = %s, last_error = NULL, waiting_since = NULL, "
            "updated_at = now() WHERE consumer = %s AND event_id = %s",
            (attempts + 1, consumer, event_id),
        )
    return True


def _claim(unit, service, consumer, event_id, event_type, payload, redelivery):
    """None for a duplicate; else (kept, attempts so far): kept is False
    for an event seen the first time, its row already written as done, and
    True for a row an earlier delivery left to be run again."""
    # Written as done at once: no one sees it before this transaction commits,
    # and a failure rewrites it, so success costs no second statement.
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
        if row["status"] == "done" or not (redelivery and row["status"] in ("retry", "waiting", "parked")):
            metrics.INBOX_DUPLICATES.labels(service, consumer).inc()
            unit.execute("UPDATE inbox SET duplicates = duplicates + 1 WHERE consumer = %s AND event_id = %s",
                         (consumer, event_id))
            return None
        return True, row["attempts"]
    return False, 0


def _failed(unit, service, consumer, event_id, event_type, payload, attempts, exc):
    """Keep a failed event for its retry, or park it after the last attempt."""
    parked = attempts >= config.inbox_max_attempts()
    metrics.INBOX_FAILURES.labels(service, consumer).inc()
    log.warning("%s failed on event %s (attempt %d)%s: %r", consumer, event_id, attempts,
                ", parked" if parked else "", exc, exc_info=not parked)
    # The rollback took the row written above (or the lock on it) with
    # it: write it again, never over a 'done' another delivery committed
    # meanwhile.
    unit.execute(
        "INSERT INTO inbox (consumer, event_id, event_type, payload, status, attempts, last_error, "
        "  next_attempt_at) VALUES (%(consumer)s, %(event_id)s, %(event_type)s, %(payload)s, %(status)s, "
        "  %(attempts)s, %(error)s, now() + make_interval(secs => %(backoff)s)) "
        "ON CONFLICT (consumer, event_id) DO UPDATE SET status = EXCLUDED.status, attempts = EXCLUDED.attempts, "
        "  last_error = EXCLUDED.last_error, waiting_since = NULL, next_attempt_at = EXCLUDED.next_attempt_at, "
        "  updated_at = now() WHERE inbox.status <> 'done'",
        {"consumer": consumer, "event_id": event_id, "event_type": event_type, "payload": Jsonb(payload),
         "status": "parked" if parked else "retry", "attempts": attempts,
         "error": f"{type(exc).__name__}: {exc}"[:2000], "backoff": backoff_seconds(attempts)},
    )


def wait_for_prerequisite(unit, consumer, event_id, event_type, payload, attempts, exc):
    """Keep the event to run again later, its attempts untouched; park it
    only when it has waited longer than OW_INBOX_WAIT_SECONDS. (Written
    again after the rollback of the handler, as a failure is.)"""
    row = unit.one(
        "INSERT INTO inbox AS i (consumer, event_id, event_type, payload, status, attempts, waits, waiting_since, "
        "  last_error, next_attempt_at) VALUES (%(consumer)s, %(event_id)s, %(event_type)s, %(payload)s, "
        "  'waiting', %(attempts)s, 1, now(), %(error)s, now() + make_interval(secs => LEAST(%(cap)s, %(base)s))) "
        "ON CONFLICT (consumer, event_id) DO UPDATE SET waits = i.waits + 1, attempts = %(attempts)s, "
        "  waiting_since = COALESCE(i.waiting_since, now()), "
        "  status = CASE WHEN now() - COALESCE(i.waiting_since, now()) > make_interval(secs => %(limit)s) "
        "                THEN 'parked' ELSE 'waiting' END, "
        "  last_error = %(error)s, updated_at = now(), "
        "  next_attempt_at = now() + make_interval(secs => LEAST(%(cap)s, %(base)s * power(2, LEAST(i.waits, 20)))) "
        "WHERE i.status <> 'done' RETURNING status, waits",
        {"limit": config.inbox_wait_seconds(), "cap": config.inbox_wait_cap_seconds(),
         "base": config.retry_base_seconds(), "error": f"waiting: {exc}"[:2000],
         "consumer": consumer, "event_id": event_id, "attempts": attempts,
         "event_type": event_type, "payload": Jsonb(payload)},
    )
    if row is None:
        log.info("%s: event %s was done by another delivery meanwhile", consumer, event_id)
    elif row["status"] == "parked":
        metrics.INBOX_FAILURES.labels(unit.service_name, consumer).inc()
        log.warning("%s parked event %s: its prerequisite did not come in %.0f s: %s", consumer, event_id,
                    config.inbox_wait_seconds(), exc)
    else:
        log.info("%s: event %s waits for its prerequisite (look %d): %s", consumer, event_id, row["waits"], exc)


def list_parked(unit):
    return unit.all(
        "SELECT consumer, event_id, event_type, attempts, last_error, updated_at, payload "
        "FROM inbox WHERE status = 'parked' ORDER BY updated_at"
    )


def list_retrying(unit):
    """Events a handler failed on that wait for their next attempt, and
    events waiting for their prerequisite (status 'waiting'), oldest first."""
    return unit.all(
        "SELECT consumer, event_id, event_type, status, attempts, waits, next_attempt_at, last_error, received_at "
        "FROM inbox WHERE status IN ('retry', 'waiting') ORDER BY received_at"
    )


def replay_parked(unit, event_id=None):
    """Give parked events a fresh round of attempts; returns how many."""
    rows = unit.all(
        "UPDATE inbox SET status = 'retry', attempts = 0, waiting_since = NULL, waits = 0, "
        "  next_attempt_at = now(), updated_at = now() "
        "WHERE status = 'parked' AND (%(id)s::text IS NULL OR event_id = %(id)s) RETURNING event_id",
        {"id": event_id},
    )
    return len(rows)
