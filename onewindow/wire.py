"""No message can stop a service.

A message that cannot be a call or an event at all (no `reply_to`, a body
that is not a JSON object, an unknown content type, an unknown method, an
event without `event_id`, a value PostgreSQL cannot store) is answered with a
contract error where a reply is possible, set aside in the service's
`rejected_messages` table (`onewindow rejected list`), counted in
`onewindow_rejected_messages_total`, logged once, and acked: it is never
redelivered in a loop and it never reaches a worker.

Without this, nameko lets such a message kill the whole container: its
responder needs `reply_to` (KeyError), and kombu raises out of the consumer
thread on a body it cannot decode.
"""
import json
import logging
import re
from functools import partial

from nameko.amqp.publish import Publisher
from nameko.exceptions import serialize
from nameko.messaging import QueueConsumer
from nameko.rpc import get_rpc_exchange
from prometheus_client import Counter

log = logging.getLogger(__name__)

REJECTED = Counter(
    "onewindow_rejected_messages_total",
    "Messages set aside because they could not be a call or an event (never redelivered)",
    ["service", "kind", "reason"],
)

# What nameko's proxies use as reply_to; a service's broker grant lets it
# publish replies with nothing else as routing key.
REPLY_TO = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
KEPT_BODY_CHARS = 4000


def can_answer(message):
    reply_to = (message.properties or {}).get("reply_to")
    return isinstance(reply_to, str) and REPLY_TO.match(reply_to) is not None


def answer(container, message, exc):
    """Reply with an error to a call that will not run. Always JSON, whatever
    the request's content type was. True when the broker took the reply."""
    if not can_answer(message):
        return False
    try:
        publisher = Publisher(container.config["AMQP_URI"], serializer="json",
                              login_method=container.config.get("LOGIN_METHOD"))
        publisher.publish({"result": None, "error": serialize(exc)},
                          exchange=get_rpc_exchange(container.config),
                          routing_key=message.properties["reply_to"],
                          correlation_id=_text(message.properties.get("correlation_id")))
        return True
    except Exception as failure:
        log.warning("could not answer a rejected call: %r", failure)
        return False


def _text(value):
    return value if isinstance(value, str) else None


def _escaped(value, limit=KEPT_BODY_CHARS):
    """Any value as storable ASCII text (NUL, surrogates and bytes escaped)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        text = repr(bytes(value)[:limit])
    else:
        try:
            text = json.dumps(value, ensure_ascii=True, default=repr)
        except (TypeError, ValueError, RecursionError):
            text = ascii(value)
    return text[:limit]


def _raw_body(message):
    body = getattr(message, "body", b"")
    return body if isinstance(body, (bytes, bytearray)) else str(body).encode("utf-8", "backslashreplace")


def set_aside(container, kind, queue, message, reason, detail="", answered=False):
    """Record, count and log a rejected message once, then ack it."""
    service = container.service_name
    REJECTED.labels(service, kind, reason).inc()
    routing_key = (message.delivery_info or {}).get("routing_key", "")
    raw = _raw_body(message)
    properties = {k: v for k, v in (message.properties or {}).items() if k != "application_headers"}
    properties["headers"] = message.headers or {}
    row = (kind, queue, _escaped(routing_key, 255), f"{reason}: {detail}"[:2000] if detail else reason,
           answered, _escaped(properties), _escaped(raw), len(raw))
    log.warning("%s: set aside a %s message from %s (%s%s), routing key %r, %d bytes%s", service, kind, queue,
                reason, f": {detail}" if detail else "", routing_key[:100], len(raw), ", answered" if answered else "")
    try:
        from .db import Database
        database = next(d for d in container.dependencies if isinstance(d, Database))
        with database.unit_of_work() as unit:
            unit.execute("INSERT INTO rejected_messages (kind, queue, routing_key, reason, answered, properties, "
                         "body, body_bytes) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", row)
    except Exception as failure:  # the log line above is then the only record
        log.error("%s: could not record the rejected message: %r", service, failure)
    finally:
        _ack(message)


def _ack(message):
    try:
        if message.channel.connection:
            message.ack()
    except Exception as failure:
        log.warning("could not ack a rejected message: %r", failure)


class GuardedQueueConsumer(QueueConsumer):
    """nameko's consumer, except that a body kombu cannot decode (unknown
    content type or encoding, broken JSON, not UTF-8) goes to the provider's
    `reject_undecodable` instead of killing the consumer thread."""

    def get_consumers(self, consumer_cls, channel):
        consumers = super().get_consumers(consumer_cls, channel)
        for provider, consumer in self._consumers.items():
            consumer.on_decode_error = partial(self._undecodable, provider)
        return consumers

    def _undecodable(self, provider, message, exc):
        reason = f"{type(exc).__name__}: {exc}"[:500]
        try:
            handler = getattr(provider, "reject_undecodable", None)
            if handler is not None:
                handler(message, reason)
            else:
                set_aside(self.container, "event", provider.queue.name, message, "undecodable", reason)
        except Exception:
            log.exception("could not set aside an undecodable message")
            _ack(message)


def list_rejected(unit, limit=100):
    return unit.all("SELECT id, received_at, kind, routing_key, reason, answered, body_bytes, "
                    "left(body, 200) AS body FROM rejected_messages ORDER BY id DESC LIMIT %s", (limit,))
