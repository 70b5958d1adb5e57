"""Transactional outbox: events are rows written in the transaction of the
change that caused them; a relay publishes them with publisher confirms and
mandatory routing, marks them published, and retries what the broker refused.

Two paths. The fast one: the unit of work hands the rows it wrote to its
relay once they are committed, and the relay publishes them from memory, with
no claim and no transaction around them; what the broker confirmed is marked
published once per poll interval, in one statement for all of it, before the
sweep looks. The sweep: every poll interval the relay claims rows left unpublished for longer
than SETTLE_SECONDS (a commit whose process died before publishing, a broker
that was away, rows written by another process) with FOR UPDATE SKIP LOCKED,
so several replicas may sweep at once. The sweep leaves fresh rows to the
fast path; an event both take (a fast path slower than the settling time)
is published twice, and consumers skip the duplicate by event_id
(inbox.py), as they do when a relay dies between publish and mark (its
process gone, another's sweep publishes again what it had not marked yet).
"""
import contextlib
import datetime
import json
import logging
import threading
import time
import uuid

import amqp
import amqp.exceptions
from kombu import Connection, Exchange
from nameko.amqp.publish import UndeliverableMessage

from . import config, metrics, topology, workdays
from .topology import event_exchange
from .validation import wire

log = logging.getLogger(__name__)

REDELIVERY_HEADER = "x-onewindow-redelivery"
DEFAULT_EXCHANGE = Exchange("")  # straight to the queue named by the routing key
CONFIRMED = object()


class Written:
    """An outbox row as its transaction wrote it: what the fast path publishes."""

    __slots__ = ("event_type", "event", "body")

    def __init__(self, event_type, event, body):
        self.event_type, self.event, self.body = event_type, event, body

    @property
    def event_id(self):
        return self.event["event_id"]


def compose(payload, occurred_at=None):
    """The event as it is stored and published. `occurred_at`: when the fact
    happened, if not now (an event emitted in reaction to an earlier one);
    always in the centre's zone."""
    at = occurred_at.astimezone(workdays.zone()) if occurred_at else workdays.local_now()
    event = {"event_id": str(uuid.uuid4()), "occurred_at": at.isoformat()}
    event.update(wire(payload))
    return event


def write(unit, event_type, event):
    # serialised once: the same text is stored and, on the fast path, published
    body = json.dumps(event)
    unit.execute("INSERT INTO outbox (event_id, event_type, payload) VALUES (%s, %s, %s::jsonb)",
                 (event["event_id"], event_type, body))
    return Written(event_type, event, body)


def backoff_seconds(attempts, cap=300.0):
    return min(cap, config.retry_base_seconds() * (2 ** max(0, attempts - 1)))


# What the sweep publishes (settled for %s seconds: younger rows are the
# fast path's) and what goes back to its consumer: the claims' conditions,
# and the look before them (Relay.due).
SWEEP_DUE = ("published_at IS NULL AND next_attempt_at <= now() "
             "AND created_at <= now() - make_interval(secs => %s)")
REDELIVERY_DUE = "status IN ('retry', 'waiting') AND next_attempt_at <= now()"


class Relay:
    # Backlog and parked counts are for dashboards scraped every 15 s: no
    # need to count them on every half-second pass.
    GAUGE_INTERVAL = 5.0
    # How long the sweep leaves a row to the fast path of the process that
    # wrote it: far above the fast path's usual milliseconds, so the two
    # seldom publish one event twice; short enough that what a dead process
    # left behind goes out within seconds.
    SETTLE_SECONDS = 2.0
    CONFIRM_TIMEOUT = 30.0
    UNROUTABLE_CAP = 3600.0

    def __init__(self, service_name, pool, amqp_uri, poll_interval=0.5, batch=200, subscriptions=()):
        self.service_name = service_name
        self.subscriptions = subscriptions
        # The event types of this service some service listens to. Known only
        # when the relay was given the centre's subscriptions; then an event
        # no one listens to is published for whoever may bind (an observer)
        # without demanding a route: it is not a backlog. Unknown: every
        # event must be routed.
        self.heard = {event for source, event, _ in subscriptions if source == service_name} \
            if subscriptions else None
        self.pool = pool
        self.amqp_uri = amqp_uri
        self.poll_interval = poll_interval
        self.batch = batch
        self.exchange = event_exchange(service_name)
        self._connection = None
        self._chan = None
        self._gauges_at = 0.0
        self._wake = threading.Event()
        self._handed = []
        self._confirmed = []  # published by the fast path, not marked yet
        self._swept_at = 0.0
        self._running = False
        self._topology_declared = False

    def declare_topology(self):
        """Every consumer queue of every service exists before anything is
        published, so a service that starts late still gets what was sent."""
        try:
            topology.declare(self.amqp_uri, self.subscriptions)
            self._topology_declared = True
        except Exception as exc:
            if "ACCESS_REFUSED" in str(exc) or "403" in str(exc):
                # A least-privilege user may not declare other services' queues:
                # set-up declared them with the admin user (onewindow.access).
                log.warning("%s may not declare the event topology; relying on set-up's declarations",
                            self.service_name)
                self._topology_declared = True
            else:
                log.exception("could not declare the event topology yet; will retry")

    def hand_over(self, written):
        """Rows a transaction of this process has just committed: published
        by the relay's next pass, at once."""
        self._handed.extend(written)
        self._wake.set()

    def stop(self):
        self._running = False
        self._wake.set()
        try:
            self.mark_confirmed()  # else the next sweep publishes them again
        except Exception:
            log.warning("%s relay: %d published events left unmarked at stop; they will be "
                        "published again", self.service_name, len(self._confirmed))
        self.close()

    def run(self):
        import eventlet

        self._running = True
        failures = 0
        while self._running:
            self._wake.wait(self.poll_interval)
            self._wake.clear()
            if not self._running:
                break
            try:
                if not self._topology_declared:
                    self.declare_topology()
                self.publish_handed()
                # marks, the sweep and retries fall due on a scale of seconds:
                # once per poll interval, not on every commit that wakes the relay
                if time.monotonic() - self._swept_at >= self.poll_interval:
                    self._swept_at = time.monotonic()
                    self.sweep_pass()
                if time.monotonic() - self._gauges_at >= self.GAUGE_INTERVAL:
                    self.update_gauges()
                    self._gauges_at = time.monotonic()
                failures = 0
            except Exception:
                failures += 1
                log.exception("%s relay pass failed", self.service_name)
                eventlet.sleep(min(10, 0.5 * 2 ** failures))

    def sweep_pass(self):
        """Mark what the fast path got confirmed, then sweep and redeliver,
        each only when the one look before them finds something due. Nearly
        every pass of a busy relay, and every pass of an idle one, finds
        nothing: the look is one autocommitted statement, where the two
        claims were two transactions of three round trips each (BEGIN, the
        claim, COMMIT), twice a second in every service."""
        self.mark_confirmed()  # before the sweep, which would take them again
        sweep, redeliver = self.due()
        if sweep:
            while self.publish_due(settled_for=self.SETTLE_SECONDS) >= self.batch:
                pass
        if redeliver:
            self.redeliver_due_retries()

    def due(self):
        """(whether the sweep has rows to publish, whether the inbox has
        events to send back to their consumers): the claims' conditions,
        without their locks."""
        with self._autocommitted() as conn:
            row = conn.execute(
                f"SELECT EXISTS (SELECT 1 FROM outbox WHERE {SWEEP_DUE}) AS sweep, "
                f"       EXISTS (SELECT 1 FROM inbox WHERE {REDELIVERY_DUE}) AS redeliver",
                (self.SETTLE_SECONDS,),
            ).fetchone()
        return row["sweep"], row["redeliver"]

    def _channel(self):
        """One connection and one confirm-mode channel for the relay's life
        (nameko's Publisher opened a connection per message). Confirms are
        collected for a whole batch, not waited for one message at a time."""
        if self._connection is None:
            self._connection = Connection(self.amqp_uri, connect_timeout=10)
            self._connection.ensure_connection(max_retries=1)
        if self._chan is None:
            channel = self._connection.connection.channel()
            channel.confirm_select()
            channel.events["basic_ack"].add(self._on_ack)
            channel.events["basic_nack"].add(self._on_nack)
            channel.events["basic_return"].add(self._on_return)
            self._chan, self._tag, self._declared = channel, 0, set()
        return self._chan

    def _settle(self, delivery_tag, multiple, outcome):
        for tag in [t for t in self._unsettled if t <= delivery_tag] if multiple else [delivery_tag]:
            if tag in self._unsettled:
                self._settled[tag] = self._returned.pop(tag, None) or outcome
                self._unsettled.discard(tag)

    def _on_ack(self, delivery_tag, multiple):
        self._settle(delivery_tag, multiple, CONFIRMED)

    def _on_nack(self, delivery_tag, multiple):
        self._settle(delivery_tag, multiple, RuntimeError("the broker refused the message (nack)"))

    def _on_return(self, exc, exchange, routing_key, message):
        # mandatory and no queue bound: the broker returns it, then acks it
        tag = int(message.properties.get("message_id") or 0)
        self._returned[tag] = UndeliverableMessage()

    def _drop_channel(self, connection_too):
        for thing in ([self._chan] if self._chan else []) + \
                ([self._connection] if connection_too and self._connection else []):
            try:
                thing.close()
            except Exception:
                pass
        self._chan = None
        if connection_too:
            self._connection = None

    def _publish_batch(self, messages):
        """Publish [(body, exchange, routing_key, headers, mandatory)] with
        one wait for all their confirms. Returns (outcomes,
        broker_gone): outcomes[i] is None (confirmed) or UndeliverableMessage
        or another refusal for each message settled in order; when the
        broker went away, broker_gone is its error and belongs to message
        len(outcomes); the messages after it are unknown and left alone."""
        self._unsettled, self._settled, self._returned = set(), {}, {}
        tags = []
        try:
            channel = self._channel()
            for body, exchange, routing_key, headers, mandatory in messages:
                if exchange.name and exchange.name not in self._declared:
                    channel.exchange_declare(exchange.name, exchange.type, durable=exchange.durable,
                                             auto_delete=exchange.auto_delete)
                    self._declared.add(exchange.name)
                self._tag += 1
                channel.basic_publish(
                    amqp.Message(body if isinstance(body, str) else json.dumps(body), content_type="application/json",
                                 content_encoding="utf-8",
                                 delivery_mode=2, application_headers=headers or {}, message_id=str(self._tag)),
                    exchange=exchange.name, routing_key=routing_key, mandatory=mandatory)
                tags.append(self._tag)
                self._unsettled.add(self._tag)
            deadline = time.monotonic() + self.CONFIRM_TIMEOUT
            while self._unsettled:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no confirm from the broker in {self.CONFIRM_TIMEOUT:.0f} s")
                self._connection.connection.drain_events(timeout=remaining)
            gone = None
        except Exception as exc:  # the connection or the channel is gone: start afresh next time
            self._drop_channel(connection_too=not isinstance(exc, amqp.exceptions.ChannelError))
            gone = exc
        outcomes = []
        for tag in tags:
            if tag not in self._settled:
                break
            outcome = self._settled[tag]
            outcomes.append(None if outcome is CONFIRMED else outcome)
        if gone is None and len(outcomes) < len(messages):
            gone = RuntimeError("the broker did not settle every message")
        return outcomes, (gone if len(outcomes) < len(messages) else None)

    def close(self):
        self._drop_channel(connection_too=True)

    def publish_handed(self):
        """The fast path: publish what this process's transactions committed
        and handed over. The confirmed rows wait for mark_confirmed; a row
        the broker refused gets its error and backoff for the sweep at once;
        when the broker went away, the rest is left to the sweep and this
        raises, so the relay backs off."""
        while self._handed:
            handed, self._handed = self._handed[:self.batch], self._handed[self.batch:]
            rows = [{"event_id": w.event_id, "event_type": w.event_type, "payload": w.body, "attempts": 0}
                    for w in handed]
            outcomes, broker_gone = self._publish_rows(rows)
            if broker_gone is None and not any(outcomes):
                self._count_published(rows)
                self._confirmed.extend(rows)
                continue
            with self._autocommitted() as conn:
                self._record_outcomes(conn, rows, outcomes, broker_gone, self._mark_published)
            if broker_gone is not None:
                self._handed = []  # the sweep publishes them once the broker is back
                raise broker_gone

    def mark_confirmed(self):
        """Mark published, in one statement, every row the fast path got
        confirmed since the last time: one statement per poll interval
        instead of one per commit. Rows it could not mark (the database
        away) are tried again the next time."""
        if not self._confirmed:
            return
        rows, self._confirmed = self._confirmed, []
        try:
            with self._autocommitted() as conn:
                self._mark_published(conn, rows)
        except Exception:
            self._confirmed[:0] = rows
            raise

    @contextlib.contextmanager
    def _autocommitted(self):
        """A pooled connection on which each statement is its own
        transaction: no BEGIN and COMMIT round trips around one statement."""
        with self.pool.connection() as conn:
            conn.autocommit = True
            try:
                yield conn
            finally:
                conn.autocommit = False

    def publish_due(self, mark=None, settled_for=0.0):
        """The sweep: publish every due event once; returns how many rows
        were claimed. `settled_for`: only rows written at least that many
        seconds ago (younger ones are the fast path's).

        One transaction: claim a batch (FOR UPDATE SKIP LOCKED), publish it
        with one wait for the confirms, mark the confirmed rows in one
        statement. A row the broker refuses (no queue bound) is kept with its
        error and a backoff, and the others go on. When the broker itself
        goes away mid-batch, the pass still commits what it knows: the rows
        already confirmed are marked, the first unconfirmed one keeps the
        error, the rest are left for the next pass; then it raises so the
        relay backs off."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                # the payload as PostgreSQL's text: published as it is, not parsed and written again
                "SELECT event_id, event_type, payload::text AS payload, attempts FROM outbox "
                f"WHERE {SWEEP_DUE} "
                # fresh events first: rows the broker keeps refusing (a
                # listener's queue is missing) must not take every pass
                "ORDER BY attempts > 0, id LIMIT %s FOR UPDATE SKIP LOCKED",
                (settled_for, self.batch),
            ).fetchall()
            if not rows:
                return 0
            outcomes, broker_gone = self._publish_rows(rows)
            self._record_outcomes(conn, rows, outcomes, broker_gone, mark or self._mark_published)
        if broker_gone is not None:
            raise broker_gone
        return len(rows)

    def _publish_rows(self, rows):
        return self._publish_batch([(row["payload"], self.exchange, row["event_type"], None,
                                     self.heard is None or row["event_type"] in self.heard) for row in rows])

    def _record_outcomes(self, conn, rows, outcomes, broker_gone, mark):
        """Record what the broker said of each row: confirmed rows marked
        published in one statement, a refused one kept with its error and
        backoff; rows after a broker that went away are left as they are."""
        failed = [(row, exc) for row, exc in zip(rows, outcomes) if exc is not None]
        if broker_gone is not None:
            failed.append((rows[len(outcomes)], broker_gone))
        for row, exc in failed:
            reason = "unroutable" if isinstance(exc, UndeliverableMessage) else type(exc).__name__
            metrics.PUBLISH_FAILURES.labels(self.service_name, row["event_type"], reason).inc()
            attempts = row["attempts"] + 1
            # no queue bound changes only with a deployment: look
            # again within the hour; a broker error within a minute
            cap = self.UNROUTABLE_CAP if isinstance(exc, UndeliverableMessage) else 60
            conn.execute(
                "UPDATE outbox SET attempts = %s, last_error = %s, "
                "next_attempt_at = now() + make_interval(secs => %s) "
                "WHERE event_id = %s AND published_at IS NULL",
                (attempts, f"{reason}: {exc}"[:500], backoff_seconds(attempts, cap), row["event_id"]),
            )
        confirmed = [row for row, exc in zip(rows, outcomes) if exc is None]
        if confirmed:
            mark(conn, confirmed)
            self._count_published(confirmed)

    def _count_published(self, rows):
        for row in rows:
            metrics.EVENTS_PUBLISHED.labels(self.service_name, row["event_type"]).inc()

    @staticmethod
    def _mark_published(conn, rows):
        conn.execute(
            # a row the sweep published meanwhile keeps its first mark
            "UPDATE outbox SET published_at = now(), attempts = attempts + 1 "
            "WHERE event_id = ANY(%s::uuid[]) AND published_at IS NULL",
            ([str(row["event_id"]) for row in rows],),
        )

    def redeliver_due_retries(self):
        """Send failed and waiting events back to their consumer's queue when
        their pause is over. A lease keeps a lost redelivery from being
        forgotten. A consumer queue that no longer exists holds back only its
        own events; a broker gone mid-batch keeps the leases already taken."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT consumer, event_id, payload::text AS payload, attempts FROM inbox "
                f"WHERE {REDELIVERY_DUE} "
                "ORDER BY next_attempt_at LIMIT %s FOR UPDATE SKIP LOCKED",
                (self.batch,),
            ).fetchall()
            if not rows:
                return
            outcomes, broker_gone = self._publish_batch(
                [(row["payload"], DEFAULT_EXCHANGE, row["consumer"], {REDELIVERY_HEADER: row["attempts"]}, True)
                 for row in rows])
            failed = [(row, exc) for row, exc in zip(rows, outcomes) if exc is not None]
            if broker_gone is not None:
                failed.append((rows[len(outcomes)], broker_gone))
            for row, exc in failed:
                reason = "unroutable" if isinstance(exc, UndeliverableMessage) else type(exc).__name__
                conn.execute(
                    "UPDATE inbox SET last_error = %s, next_attempt_at = now() + interval '60 seconds' "
                    "WHERE consumer = %s AND event_id = %s",
                    (f"redelivery {reason}: {exc}"[:2000], row["consumer"], row["event_id"]),
                )
                if isinstance(exc, UndeliverableMessage):
                    log.warning("%s: no queue %s to redeliver event %s to", self.service_name, row["consumer"],
                                row["event_id"])
            sent = [row for row, exc in zip(rows, outcomes) if exc is None]
            if sent:
                conn.execute(
                    "UPDATE inbox SET next_attempt_at = now() + interval '60 seconds' "
                    "WHERE (consumer, event_id) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
                    ([row["consumer"] for row in sent], [row["event_id"] for row in sent]),
                )
        if broker_gone is not None:
            raise broker_gone

    def update_gauges(self):
        with self.pool.connection() as conn:
            backlog = conn.execute("SELECT count(*) AS n FROM outbox WHERE published_at IS NULL").fetchone()["n"]
            counts = {r["status"]: r["n"] for r in conn.execute(
                "SELECT status, count(*) AS n FROM inbox WHERE status IN ('retry', 'waiting', 'parked') "
                "GROUP BY status"
            ).fetchall()}
            years = [r["year"] for r in conn.execute("SELECT year FROM calendar_years").fetchall()]
        metrics.OUTBOX_BACKLOG.labels(self.service_name).set(backlog)
        metrics.INBOX_RETRYING.labels(self.service_name).set(counts.get("retry", 0))
        metrics.INBOX_WAITING.labels(self.service_name).set(counts.get("waiting", 0))
        metrics.INBOX_PARKED.labels(self.service_name).set(counts.get("parked", 0))
        workdays.record_years_known(self.service_name, years)
