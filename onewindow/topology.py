"""Every event consumer queue of every service, declared up front.

nameko declares a handler's queue only when its service starts, and an event
published before that is dropped. Declaring all of them at set-up and at every
service's start closes that gap. The list is read from the services' own
handler declarations, so it cannot drift from the code."""
import importlib
import logging

from kombu import Connection, Queue

from . import config

log = logging.getLogger(__name__)


def service_classes():
    classes = []
    for service in config.SERVICES:
        module = importlib.import_module(f"services.{service}.service")
        for value in vars(module).values():
            if isinstance(value, type) and getattr(value, "name", None) == service:
                classes.append(value)
    return classes


def subscriptions(classes=None):
    """[(source_service, event_type, queue_name)] of every inbox handler."""
    from .entrypoints import InboxEventHandler

    found = []
    for cls in classes if classes is not None else service_classes():
        for attr, member in vars(cls).items():
            for entrypoint in getattr(member, "nameko_entrypoints", ()):
                if isinstance(entrypoint, InboxEventHandler):
                    queue = f"evt-{entrypoint.source_service}-{entrypoint.event_type}--{cls.name}.{attr}"
                    found.append((entrypoint.source_service, entrypoint.event_type, queue))
    return sorted(set(found))


def declare(amqp_uri, subs=None):
    from .outbox import event_exchange

    subs = subscriptions() if subs is None else subs
    with Connection(amqp_uri, connect_timeout=10) as conn:
        channel = conn.channel()
        for source, event_type, queue_name in subs:
            exchange = event_exchange(source)
            exchange(channel).declare()
            Queue(queue_name, exchange=exchange, routing_key=event_type,
                  durable=True, auto_delete=False, exclusive=False)(channel).declare()
    return subs
