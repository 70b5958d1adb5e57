"""Transactional outbox: events are rows written in the transaction of the
change that caused them; a relay publishes them with publisher confirms and
mandatory routing, marks them published, and retries what the broker refused.

Several replicas may relay at once: rows are claimed with FOR UPDATE SKIP
LOCKED. A relay that dies between publish and mark publishes again later;
consumers skip the duplicate by event_id (inbox.py).
"""
import datetime
import logging
import threading
import time
import uuid

import amqp.exceptions
from kombu import Connection, Exchange, Producer
from nameko.amqp.publish import UndeliverableMessage
from psycopg.types.json import Jsonb

from . import config, metrics, topology, workdays
from .topology import event_exchange
from .validation import wire

log = logging.getLogger(__name__)

REDELIVERY_HEADER = "x-onewindow-redelivery"


def record(unit, event_type, payload, occurred_at=None):
    """`occurred_at`: when the fact happened, if not now (an event emitted
    in reaction to an earlier one); always in the centre's zone."""
    at = occurred_at.astimezone(workdays.zone()) if occurred_at else workdays.local_now()
    event = {"event_id": str(uuid.uuid4()), "occurred_at": at.isoformat()}
    event.update(wire(payload))
    unit.execute(
        "INSERT INTO outbox (event_id, event_type, payload) VALUES (%s, %s, %s)",
        (event["event_id"], event_type, Jsonb(event)),
    )
    return event


def backoff_seconds(attempts, cap=300.0):
    return min(cap, config.retry_base_seconds() * (2 ** max(0, attempts - 1)))


class Relay:
    # Backlog and parked counts are for dashboards scraped every 15 s: no
    # need to count them on every half-second pass.
    GAUGE_INTERVAL = 5.0
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
        self._producer = None
        self._gauges_at = 0.0
        self._wake = threading.Event()
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

    def wake(self):
        self._wake.set()

    def stop(self):
        self._running = False
        self._wake.set()
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
                while self.publish_due() >= self.batch:
                    pass
                self.redeliver_due_retries()
                if time.monotonic() - self._gauges_at >= self.GAUGE_INTERVAL:
                    self.update_gauges()
                    self._gauges_at = time.monotonic()
                failures = 0
            except Exception:
                failures += 1
                log.exception("%s relay pass failed", self.service_name)
                eventlet.sleep(min(10, 0.5 * 2 ** failures))

    def _producer_on_open_channel(self):
        # One connection and channel for the relay's life: nameko's Publisher
        # opened a new connection for every message, half of intake's CPU.
        if self._connection is None:
            self._connection = Connection(self.amqp_uri, transport_options={"confirm_publish": True},
                                          connect_timeout=10)
            self._connection.ensure_connection(max_retries=1)
        if self._producer is None:
            self._producer = Producer(self._connection.channel(), serializer="json")
        return self._producer

    def _drop_channel(self, connection_too):
        for thing in ([self._producer.channel] if self._producer else []) + \
                ([self._connection] if connection_too and self._connection else []):
            try:
                thing.close()
            except Exception:
                pass
        self._producer = None
        if connection_too:
            self._connection = None

    def _publish(self, body, exchange, routing_key, headers=None, mandatory=True):
        """Publish with a confirm; the broker returns an unroutable message
        (mandatory), which py-amqp raises as a NO_ROUTE channel error."""
        producer = self._producer_on_open_channel()
        try:
            producer.publish(body, exchange=exchange, routing_key=routing_key, headers=headers or {},
                             mandatory=mandatory, delivery_mode=2, retry=False,
                             declare=[exchange] if exchange.name else [])
        except amqp.exceptions.ChannelError as exc:
            self._drop_channel(connection_too=False)
            if "NO_ROUTE" in str(exc) or getattr(exc, "reply_code", None) == 312:
                raise UndeliverableMessage() from None
            raise
        except Exception:
            self._drop_channel(connection_too=True)
            raise

    def close(self):
        self._drop_channel(connection_too=True)

    def publish_due(self, mark=None):
        """Publish every due event once; returns how many rows were claimed.

        A row the broker refuses (no queue bound) is kept with its error and
        a backoff, and the pass goes on with the others. When the broker
        itself goes away mid-batch, the pass stops but still commits what it
        knows: the rows already confirmed stay marked, the failed one keeps
        its error; then it raises so the relay backs off."""
        broker_gone = None
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id, event_id, event_type, payload, attempts FROM outbox "
                "WHERE published_at IS NULL AND next_attempt_at <= now() "
                # fresh events first: rows the broker keeps refusing (a
                # listener's queue is missing) must not take every pass
                "ORDER BY attempts > 0, id LIMIT %s FOR UPDATE SKIP LOCKED",
                (self.batch,),
            ).fetchall()
            for row in rows:
                try:
                    if self.heard is None or row["event_type"] in self.heard:
                        self._publish(row["payload"], self.exchange, row["event_type"])
                    else:
                        self._publish(row["payload"], self.exchange, row["event_type"], mandatory=False)
                except Exception as exc:
                    reason = "unroutable" if isinstance(exc, UndeliverableMessage) else type(exc).__name__
                    metrics.PUBLISH_FAILURES.labels(self.service_name, row["event_type"], reason).inc()
                    attempts = row["attempts"] + 1
                    # no queue bound changes only with a deployment: look
                    # again within the hour; a broker error within a minute
                    cap = self.UNROUTABLE_CAP if isinstance(exc, UndeliverableMessage) else 60
                    conn.execute(
                        "UPDATE outbox SET attempts = %s, last_error = %s, "
                        "next_attempt_at = now() + make_interval(secs => %s) WHERE id = %s",
                        (attempts, f"{reason}: {exc}"[:500], backoff_seconds(attempts, cap), row["id"]),
                    )
                    if isinstance(exc, UndeliverableMessage):
                        continue
                    broker_gone = exc
                    break
                (mark or self._mark_published)(conn, row)
                metrics.EVENTS_PUBLISHED.labels(self.service_name, row["event_type"]).inc()
        if broker_gone is not None:
            raise broker_gone
        return len(rows)

    @staticmethod
    def _mark_published(conn, row):
        conn.execute(
            "UPDATE outbox SET published_at = now(), attempts = attempts + 1 WHERE id = %s",
            (row["id"],),
        )

    def redeliver_due_retries(self):
        """Send failed and waiting events back to their consumer's queue when
        their pause is over. A lease keeps a lost redelivery from being
        forgotten. A consumer queue that no longer exists holds back only its
        own events; a broker gone mid-batch keeps the leases already taken."""
        broker_gone = None
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT consumer, event_id, payload, attempts FROM inbox "
                "WHERE status IN ('retry', 'waiting') AND next_attempt_at <= now() "
                "ORDER BY next_attempt_at LIMIT %s FOR UPDATE SKIP LOCKED",
                (self.batch,),
            ).fetchall()
            for row in rows:
                key = (row["consumer"], row["event_id"])
                try:
                    self._publish(row["payload"], Exchange(""), row["consumer"],
                                  headers={REDELIVERY_HEADER: row["attempts"]})
                except Exception as exc:
                    reason = "unroutable" if isinstance(exc, UndeliverableMessage) else type(exc).__name__
                    conn.execute(
                        "UPDATE inbox SET last_error = %s, next_attempt_at = now() + interval '60 seconds' "
                        "WHERE consumer = %s AND event_id = %s",
                        (f"redelivery {reason}: {exc}"[:2000], *key),
                    )
                    if isinstance(exc, UndeliverableMessage):
                        log.warning("%s: no queue %s to redeliver event %s to", self.service_name, *key)
                        continue
                    broker_gone = exc
                    break
                conn.execute(
                    "UPDATE inbox SET next_attempt_at = now() + interval '60 seconds' "
                    "WHERE consumer = %s AND event_id = %s",
                    key,
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
