"""nameko entrypoints that finish the unit of work before they answer.

- `rpc(roles=(...))`: who may call (onewindow/principals.py), checked before
  any argument is looked at; the caller's principal is `self.caller` in the
  method. Commits, then replies; the contract's errors are expected (logged as
  warnings); results are plain JSON (ISO dates). A message that cannot be a
  call is set aside (onewindow/wire.py) and never reaches a worker.
- `event_handler(source, event_type)`: runs the handler through the inbox
  (once per event_id, retried with backoff, parked at the end), commits, then
  acks. If even the commit fails (database down), the message is requeued
  after a pause rather than in a hot loop. An event that is not a JSON object
  with an `event_id`, or holds what PostgreSQL cannot store, is set aside.
- `http(method, url)`: nameko's web entrypoint, committing before it responds.
- `timer`: nameko's; its unit of work finishes in worker_result.

A service using these has one Database dependency (named `store` by
convention; found by its type, not its name).
"""
import functools
import inspect
import json
import logging
import sys
import time
from dataclasses import dataclass

import amqp
import amqp.exceptions
import eventlet
import eventlet.semaphore
import kombu
import kombu.exceptions
import kombu.serialization
import psycopg
from nameko.amqp.publish import Publisher
from nameko.constants import (AMQP_SSL_CONFIG_KEY, AMQP_URI_CONFIG_KEY, DEFAULT_SERIALIZER, HEADER_PREFIX,
                              LOGIN_METHOD_CONFIG_KEY, SERIALIZER_CONFIG_KEY)
from nameko.containers import ContainerBeingKilled
from nameko.events import EventHandler
from nameko.exceptions import serialize
from nameko.extensions import SharedExtension
from nameko.rpc import Responder, Rpc, RpcConsumer, RpcProxy, get_rpc_exchange
from nameko.timer import timer  # noqa: F401  (re-exported)
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer

from . import idempotency, inbox, logs, principals, topology
from .db import Database
from .errors import CONTRACT_ERRORS, Forbidden, NotFound, ValidationFailed
from .outbox import REDELIVERY_HEADER
from .validation import text_problems, wire
from .wire import GuardedQueueConsumer, answer, can_answer, set_aside

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


# The key under which the entrypoint hands the broker-validated identity to
# the worker; a request that brings it itself is refused.
IDENTITY = "_ow_identity"
BEHALF_HEADER = f"{HEADER_PREFIX}.{principals.ON_BEHALF_OF}"


def context_from_headers(message):
    """nameko context data from the `nameko.*` headers, keeping only plain
    values: a hostile header must not break the worker it travels with."""
    data = {}
    for key, value in (message.headers or {}).items():
        if not isinstance(key, str) or not key.startswith(HEADER_PREFIX + "."):
            continue
        key = key[len(HEADER_PREFIX) + 1:]
        if key == "call_id_stack":
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                data[key] = value[-10:]
        elif isinstance(value, str) and not text_problems(value, key):
            data[key] = value
    return data


class UnconfirmedResponder(Responder):
    """nameko's responder, without waiting for the broker to confirm the
    reply: a round trip per call that buys nothing, since the work is
    committed before the reply and a caller who hears nothing (broker gone)
    asks again with the same idempotency key."""

    publisher_cls = functools.partial(Publisher, use_confirms=False)


JSON = "application/json"  # the one content type our calls and replies have


class Replier(SharedExtension):
    """The replies of one service process, sent on one connection and
    channel kept open. nameko's responder builds a kombu Connection, takes a
    producer from a pool and runs kombu's retry machinery for every reply:
    7 % of a busy service's CPU, against 4 % for the send itself. A reply
    this cannot send (broker gone, channel closed) goes nameko's way, which
    retries; the next one opens a new channel."""

    # After a failed attempt to connect, replies go nameko's way for this
    # long before the next attempt: with the broker away, each reply would
    # otherwise wait its turn behind the lock for a connection of its own.
    PAUSE_AFTER_FAILED_CONNECT_SECONDS = 1.0

    def setup(self):
        self._lock = eventlet.semaphore.Semaphore()
        self._connection = self._channel = None
        self._paused_until = 0.0

    def stop(self):
        self._drop(politely=True)

    def kill(self):
        self._drop()

    def send(self, message, exchange, routing_key):
        """Publish an amqp.Message; raises what failed, the channel dropped."""
        with self._lock:  # one message's frames at a time on the socket
            try:
                self._open().basic_publish(message, exchange=exchange, routing_key=routing_key)
            except Exception:
                self._drop()
                raise

    def _open(self):
        # A channel the broker closed (a refused publish) is not kept: py-amqp
        # reads what the broker sent before each publish, and raises then.
        if self._channel is None:
            if time.monotonic() < self._paused_until:
                raise amqp.exceptions.RecoverableConnectionError("the reply connection failed a moment ago")
            try:
                self._connection = self._connect()
                self._channel = self._connection.connection.channel()
            except Exception:
                self._paused_until = time.monotonic() + self.PAUSE_AFTER_FAILED_CONNECT_SECONDS
                self._drop()
                raise
        return self._channel

    def _connect(self):
        config = self.container.config
        connection = kombu.Connection(config[AMQP_URI_CONFIG_KEY], ssl=config.get(AMQP_SSL_CONFIG_KEY),
                                      login_method=config.get(LOGIN_METHOD_CONFIG_KEY), connect_timeout=10)
        try:
            connection.ensure_connection(max_retries=1)
        except Exception:
            connection.collect()
            raise
        return connection

    def _drop(self, politely=False):
        """Forget the connection; after a failure without the closing
        handshake, which a broker that stopped answering would never end."""
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            try:
                connection.close() if politely else connection.collect()
            except Exception:
                pass


class GuardedRpcConsumer(RpcConsumer):
    """Routes calls to methods like nameko's, and sets aside whatever cannot
    be a call: no reply_to (nameko would die on it), a body that is not
    {"args": [...], "kwargs": {...}}, an unknown method, an undecodable body."""

    queue_consumer = GuardedQueueConsumer()
    replier = Replier()

    def setup(self):
        # declared with the queue type of the services' own queues
        super().setup()
        self.queue.queue_arguments = dict(self.queue.queue_arguments or {}, **topology.queue_arguments())
        # where replies go: named once, not a kombu Exchange made per reply
        self.reply_exchange = get_rpc_exchange(self.container.config).name

    def handle_message(self, body, message):
        try:
            self._route(body, message)
        except Exception:  # never out of this thread: it would kill the container
            log.exception("could not route a call")
            set_aside(self.container, "rpc", self.queue.name, message, "unroutable")

    def _route(self, body, message):
        routing_key = message.delivery_info.get("routing_key", "")
        if not can_answer(message):
            set_aside(self.container, "rpc", self.queue.name, message, "no_reply_to",
                      f"reply_to {message.properties.get('reply_to')!r}"[:200])
            return
        if not (isinstance(body, dict) and isinstance(body.get("args"), list)
                and isinstance(body.get("kwargs"), dict)):
            self.refuse(message, "not_a_call", ValidationFailed(
                {"_request": ["the body must be a JSON object with args (a list) and kwargs (an object)"]}))
            return
        provider = next((p for p in self._providers
                         if f"{self.container.service_name}.{p.method_name}" == routing_key), None)
        if provider is None:
            self.refuse(message, "unknown_method", NotFound(f"{self.container.service_name} has no method "
                                                            f"{routing_key.split('.', 1)[-1][:100]!r}"))
            return
        provider.handle_message(body, message)

    def handle_result(self, message, result, exc_info):
        if not self._reply(message, result, exc_info):
            # nameko's way, without confirms: what the replier could not send,
            # a reply not JSON, a result that cannot be (it answers the error)
            config = self.container.config
            responder = UnconfirmedResponder(
                config[AMQP_URI_CONFIG_KEY], get_rpc_exchange(config),
                config.get(SERIALIZER_CONFIG_KEY, DEFAULT_SERIALIZER), message,
                ssl=config.get(AMQP_SSL_CONFIG_KEY), login_method=config.get(LOGIN_METHOD_CONFIG_KEY))
            result, exc_info = responder.send_response(result, exc_info)
        self.queue_consumer.ack_message(message)
        return result, exc_info

    def _reply(self, message, result, exc_info):
        """The reply nameko's responder would send, through the replier:
        True once sent. Composed here, not by nameko's responder with the
        replier as its publisher: that serializes each result twice (a
        check, then the send), 1.8 % more CPU a case in paired runs."""
        properties = message.properties
        if properties.get("content_type") != JSON:
            return False
        error = serialize(exc_info[1]) if exc_info is not None else None
        try:
            _, _, body = kombu.serialization.dumps({"result": result, "error": error}, "json")
        except Exception:
            return False
        reply = amqp.Message(body, content_type=JSON, content_encoding="utf-8", delivery_mode=2,
                             correlation_id=properties.get("correlation_id"))
        try:
            self.replier.send(reply, self.reply_exchange, properties["reply_to"])
        except Exception as exc:
            log.info("reply sent nameko's way, the kept channel failed: %r", exc)
            return False
        return True

    def refuse(self, message, reason, exc):
        answered = answer(self.container, message, exc)
        set_aside(self.container, "rpc", self.queue.name, message, reason, str(exc)[:500], answered=answered)

    def reject_undecodable(self, message, reason):
        self.refuse(message, "undecodable", ValidationFailed(
            {"_request": ["the body must be JSON (content type application/json, UTF-8)"]}))


class CommittingRpc(Rpc):
    rpc_consumer = GuardedRpcConsumer()

    def __init__(self, expected_exceptions=CONTRACT_ERRORS, roles=None, **kwargs):
        self.roles = roles
        super().__init__(expected_exceptions=expected_exceptions, **kwargs)

    def handle_message(self, body, message):
        kwargs = dict(body["kwargs"])
        if IDENTITY in kwargs:
            self.rpc_consumer.refuse(message, "not_a_call", ValidationFailed({IDENTITY: ["is not an argument"]}))
            return
        headers = message.headers or {}
        kwargs[IDENTITY] = (message.properties.get("user_id"), headers.get(BEHALF_HEADER))
        try:
            self.container.spawn_worker(self, body["args"], kwargs, context_data=context_from_headers(message),
                                        handle_result=functools.partial(self.handle_result, message))
        except ContainerBeingKilled:
            self.rpc_consumer.requeue_message(message)

    def handle_result(self, message, worker_ctx, result, exc_info):
        exc_info = finish_units(self, worker_ctx, exc_info)
        result = None if exc_info is not None else wire(result)
        try:
            return super().handle_result(message, worker_ctx, result, exc_info)
        except BROKER_GONE as exc:
            # The work is committed; the caller hears nothing and retries with
            # the same idempotency key. Letting this raise would kill the container.
            log.warning("could not reply to %s, the broker connection is gone: %r", worker_ctx, exc)
        except Exception as exc:  # e.g. a reply the broker refuses: the call is done, not the container
            set_aside(self.container, "rpc", self.rpc_consumer.queue.name, message, "reply_failed", repr(exc)[:500])
        return result, exc_info


def rpc(fn=None, *, roles=None, **kwargs):
    """Like nameko's rpc, committing before the reply. `roles` names who may
    call (onewindow.principals; none declared: nobody); anyone else gets Forbidden before the arguments are
    looked at. The method sees its caller as `self.caller` (a Principal). A
    department may name only its own department in a `department` argument.
    Arguments that are not storable text (NUL, lone surrogates) or do not fit
    the method's signature are a ValidationFailed naming every one."""
    # Undeclared, nobody may call it (tests/security/test_identity.py
    # checks that every method of the centre declares its roles).
    roles = tuple(roles or ())
    unknown = set(roles) - set(principals.ROLES)
    if unknown:
        raise TypeError(f"unknown roles {sorted(unknown)}; roles are {principals.ROLES}")
    if fn is None:
        return lambda f: rpc(f, roles=roles, **kwargs)
    signature = inspect.signature(fn)
    method = fn.__name__

    @functools.wraps(fn)
    def checked(self, *args, **call_kwargs):
        user_id, on_behalf_of = call_kwargs.pop(IDENTITY, (None, None))
        if user_id is None:
            caller = principals.NOBODY  # no query: nobody to look up
        else:
            caller = principals.resolve(unit_of(self), user_id, on_behalf_of)
        principals.authorise(caller, roles, f"{self.name}.{method}")
        self.caller = caller
        try:
            bound = signature.bind(self, *args, **call_kwargs)
        except TypeError as exc:
            raise ValidationFailed({"_call": [str(exc)]}) from None
        named = bound.arguments.get("department")
        # a blank or missing department names none: validation lists it
        if caller.role == principals.DEPARTMENT and isinstance(named, str) and named and named != caller.department:
            raise Forbidden(f"{caller.name} acts for department {caller.department} only")
        arguments = dict(list(bound.arguments.items())[1:])
        problems = {}
        for name, value in arguments.items():
            problems.update(text_problems(value, name))
        if problems:
            raise ValidationFailed(problems)
        key = idempotency.key_of(arguments)
        if key is None or caller.anonymous:
            return fn(self, *args, **call_kwargs)
        return idempotency.once(unit_of(self), f"{self.name}.{method}", key, caller.name, arguments,
                                lambda: fn(self, *args, **call_kwargs))

    checked.roles = roles
    return CommittingRpc.decorator(roles=roles, **kwargs)(checked)


class ExclusiveWebServer(WebServer):
    """nameko's web server, alone on its port. eventlet listens with
    SO_REUSEPORT, so a second server on a port already served (an old
    process left running, two services given one port) starts without a
    word and the kernel deals the requests between them; here it fails to
    start, saying the address is in use."""

    def start(self):
        if not self._starting:
            self._starting = True
            self._sock = eventlet.listen(self.bind_addr, reuse_port=False)
            self._sock.settimeout(None)  # as nameko's own start: kombu issue 838
            self._serv = self.get_wsgi_server(self._sock, self.get_wsgi_app())
            self._gt = self.container.spawn_managed_thread(self.run)

    def kill(self):
        """nameko closes the socket on stop only: a killed container (a test's
        hostile input) would keep its port, unserved."""
        self._is_accepting = False
        if self._sock is not None:
            self._sock.close()
        super().kill()


class CommittingHttp(HttpRequestHandler):
    """nameko's HTTP entrypoint, committing before the response goes out."""
    server = ExclusiveWebServer()

    def handle_result(self, event, worker_ctx, result, exc_info):
        exc_info = finish_units(self, worker_ctx, exc_info)
        return super().handle_result(event, worker_ctx, result, exc_info)


http = CommittingHttp.decorator


# An event_id longer than this is not an id (and would not fit the index).
MAX_EVENT_ID = 200


def event_problem(body):
    """Why a body cannot be an event, or None."""
    if not isinstance(body, dict):
        return "no_event_id", f"the body is a JSON {type(body).__name__}, not an object"
    event_id = body.get("event_id")
    if not isinstance(event_id, str) or not event_id.strip() or len(event_id) > MAX_EVENT_ID:
        return "no_event_id", f"event_id must be a string of 1-{MAX_EVENT_ID} characters"
    problems = text_problems(body, "event")
    if problems:
        return "unstorable", json.dumps(problems, ensure_ascii=True)[:500]
    return None


class InboxEventHandler(EventHandler):
    REQUEUE_PAUSE_SECONDS = 2.0
    queue_consumer = GuardedQueueConsumer()

    def __init__(self, source_service, event_type, batched=False, **kwargs):
        kwargs.setdefault("requeue_on_error", True)
        self.batched = batched
        self._arrived = []  # batched: deliveries read from the queue, not yet handed to a worker
        super().__init__(source_service, event_type, **kwargs)

    @property
    def queue_name(self):
        return topology.consumer_queue(self.source_service, self.event_type, self.container.service_name,
                                       self.method_name)

    def setup(self):
        super().setup()
        self.queue.queue_arguments = dict(self.queue.queue_arguments or {}, **topology.queue_arguments())

    def handle_message(self, body, message):
        try:
            problem = event_problem(body)
        except Exception as exc:  # e.g. nesting too deep to walk
            problem = ("unstorable", repr(exc)[:200])
        if problem:
            set_aside(self.container, "event", self.queue_name, message, *problem)
            return
        delivery = (body, message, REDELIVERY_HEADER in (message.headers or {}))
        if not self.batched:
            self._spawn([delivery])
            return
        # This runs in the queue consumer's thread, which hands over every
        # message the socket already holds before it yields: the first of
        # them schedules the hand-over to a worker, the rest join it.
        self._arrived.append(delivery)
        if len(self._arrived) == 1:
            eventlet.spawn_n(self._spawn_arrived)

    def _spawn_arrived(self):
        arrived, self._arrived = self._arrived, []
        self._spawn(arrived)

    def _spawn(self, deliveries):
        """One worker for these deliveries, [(body, message, redelivery)]."""
        messages = [message for _, message, _ in deliveries]
        try:
            self.container.spawn_worker(
                self, (), {"_inbox": (self.queue_name, self.event_type,
                                      [(body, redelivery) for body, _, redelivery in deliveries])},
                context_data=context_from_headers(messages[0]),
                handle_result=functools.partial(self.handle_result, deliveries),
            )
        except Exception:
            for message in messages:
                self.queue_consumer.requeue_message(message)

    def reject_undecodable(self, message, reason):
        set_aside(self.container, "event", self.queue_name, message, "undecodable", reason)

    def handle_result(self, deliveries, worker_ctx, result=None, exc_info=None):
        exc_info = finish_units(self, worker_ctx, exc_info)
        if exc_info is not None and len(deliveries) > 1:
            # Not a handler (inbox.consume_batch deals with those): the inbox
            # or the commit. Each goes again on its own, where an event the
            # inbox cannot store is set aside and a database that is down
            # pauses its requeue. Handed over from a fresh greenthread: this
            # worker still holds its slot, and with every slot so held a
            # spawn here would wait for ever.
            for delivery in deliveries:
                eventlet.spawn_n(self._spawn, [delivery])
            return result, None
        message = deliveries[0][1]
        if exc_info is not None and isinstance(exc_info[1], UNSTORABLE):
            # The inbox itself could not store this event: retrying cannot help.
            set_aside(self.container, "event", self.queue_name, message, "unstorable", repr(exc_info[1])[:500])
            return result, None
        if exc_info is not None:
            # Nothing was recorded (the database failed): requeue, not hot.
            eventlet.sleep(self.REQUEUE_PAUSE_SECONDS)
        try:
            for _, message, _ in deliveries:
                self.handle_message_processed(message, result, exc_info)
        except BROKER_GONE as exc:
            # Unacked, the broker delivers it again; the inbox skips what is done.
            log.warning("could not ack %s, the broker connection is gone: %r", worker_ctx, exc)
        return result, exc_info


# What PostgreSQL says of a value it will never store (bad text, a number out
# of range, an index entry too large), unlike a database that is down.
UNSTORABLE = (psycopg.errors.DataError, psycopg.errors.ProgramLimitExceeded)


def unit_of(service):
    """The unit of work of the worker running on `service` (its Database
    dependency, whatever the attribute is called)."""
    for klass in type(service).__mro__:
        for name, value in vars(klass).items():
            if isinstance(value, Database):
                injected = getattr(service, name)
                return getattr(injected, "unit", injected)
    raise RuntimeError(f"{type(service).__name__} has no Database dependency")


def event_handler(source_service, *event_types, repeatable=False, batched=False, lock_order=None, **kwargs):
    """Decorate `def on_x(self, event)`: called once per event_id, for each of
    the event types named. A handler that takes several types declares an
    `event_type` parameter and gets the type of each event in it; the map
    from type to effect then lives in the use case, not in an if/elif.
    `repeatable=True` declares that running it twice on one event changes
    nothing (an upsert keyed by what the event is about): its success
    writes no inbox row (inbox.consume).
    `batched=True`: the events waiting in its queue when a worker starts are
    handled in one transaction (inbox.consume_batch). A batch holds every
    lock it takes until it commits, so two batches could each wait for the
    other: only for a handler that locks no row another worker may lock
    first while it holds its own, or that locks one row named by a field of
    its event (a case by `application_no`): `lock_order` names that field,
    and a batch runs its events in its order, so batches and single events
    take their locks in one order and never wait for each other in a
    circle. A handler that also takes a lock every event shares (a counter)
    is no candidate: the counter comes after a case in one batch and before
    the next case in another."""
    if not event_types:
        raise TypeError("event_handler needs at least one event type")
    if lock_order and not batched:
        raise TypeError("lock_order orders a batch: it needs batched=True")

    def decorator(fn):
        wants_type = "event_type" in inspect.signature(fn).parameters

        @functools.wraps(fn)
        def through_inbox(self, payload=None, _inbox=None):
            # Called directly (a test), `payload` is the one event.
            consumer, kind, deliveries = _inbox or (fn.__name__, event_types[0], [(payload, False)])

            def handle(payload):
                logs.about(payload)  # a batch's worker logs each event's case
                return fn(self, payload, event_type=kind) if wants_type else fn(self, payload)

            if batched:
                inbox.consume_batch(unit_of(self), consumer, kind, [
                    (payload, functools.partial(handle, payload), redelivery) for payload, redelivery in deliveries
                ], repeatable, lock_order)
            else:
                (payload, redelivery), = deliveries
                inbox.consume(unit_of(self), consumer, kind, payload, functools.partial(handle, payload),
                              redelivery, repeatable)

        for event_type in event_types:
            through_inbox = InboxEventHandler.decorator(source_service, event_type, batched=batched,
                                                        **kwargs)(through_inbox)
        return through_inbox

    return decorator


def subscriptions(classes):
    """[(source_service, event_type, queue_name)] of every inbox handler of
    the given service classes."""
    found = []
    for cls in classes:
        for attr, member in vars(cls).items():
            for entrypoint in getattr(member, "nameko_entrypoints", ()):
                if isinstance(entrypoint, InboxEventHandler):
                    found.append((entrypoint.source_service, entrypoint.event_type,
                                  topology.consumer_queue(entrypoint.source_service, entrypoint.event_type,
                                                          cls.name, attr)))
    return sorted(set(found))


@dataclass(frozen=True)
class RpcMethod:
    roles: tuple
    signature: inspect.Signature  # with self


def rpc_methods(classes):
    """{"service.method": RpcMethod} of every RPC method of the given service
    classes: who may call it, as its `@rpc(roles=...)` declares, and how."""
    return {f"{cls.name}.{attr}": RpcMethod(member.roles, inspect.signature(member))
            for cls in classes for attr, member in vars(cls).items()
            if any(isinstance(e, CommittingRpc) for e in getattr(member, "nameko_entrypoints", ()))}


class ServiceRpcProxy(RpcProxy):
    """nameko's RpcProxy, calling as the service's own broker user: it sets
    `user_id` (the user of the service's AMQP_URI), which nameko's never
    does, so the called service sees a principal of role `service`."""

    def setup(self):
        super().setup()
        from .client import user_of
        self.options = dict(self.options, user_id=user_of(self.container.config["AMQP_URI"]))
