"""Calling other services from inside a service, as its own principal.

nameko's RpcProxy is bound to one target service; the HTTP gateway (and the
portal) call any service by name, name the principal they act for in the
context data `on_behalf_of` (header `nameko.on_behalf_of`), set the AMQP
`user_id` property to their broker user (RabbitMQ validates it, see
docs/wire.md) and bound the wait for the reply."""
import eventlet
from nameko.extensions import DependencyProvider
from nameko.rpc import MethodProxy, ReplyListener

from .client import user_of
from .principals import ON_BEHALF_OF


class CallTimeout(Exception):
    """A call not answered in time: an Exception, where eventlet's Timeout is
    a BaseException, which an `except Exception` lets through and which ends
    a timer's worker without a word (nameko's timer then waits for it for
    ever, and its container never stops)."""


def call_within(method, timeout, args=(), kwargs=None):
    """A nameko RPC call (a MethodProxy: `self.<proxy>.<method>`) that waits
    at most `timeout` seconds for its reply, else CallTimeout; the call is
    then forgotten, so a late reply is dropped as unknown. The call's own
    arguments go as `args` and `kwargs`, never mixed with these: a contract
    method may have an argument called `method` (fees.pay)."""
    reply = method.call_async(*args, **(kwargs or {}))
    try:
        with eventlet.Timeout(timeout):
            return reply.result()
    except eventlet.Timeout:
        events = method.reply_listener._reply_events
        for key, event in list(events.items()):
            if event is reply.reply_event:
                events.pop(key, None)
        raise CallTimeout(f"{method.service_name}.{method.method_name} did not answer within {timeout:g} s") \
            from None


class ServiceCaller(DependencyProvider):
    """`self.services(service, method, kwargs, on_behalf_of=None, timeout=30)`."""

    rpc_reply_listener = ReplyListener()

    def setup(self):
        # CALL_AS: a service connected through an impersonating user (a test,
        # a drill) names the principal it calls as; RabbitMQ refuses a
        # `user_id` other than the connection's user from anyone else.
        self.user_id = self.container.config.get("CALL_AS") or user_of(self.container.config["AMQP_URI"])

    def get_dependency(self, worker_ctx):
        listener, user_id = self.rpc_reply_listener, self.user_id

        def call(service, method, kwargs, on_behalf_of=None, timeout=30.0):
            if on_behalf_of is not None:
                worker_ctx.data[ON_BEHALF_OF] = on_behalf_of
            return call_within(MethodProxy(worker_ctx, service, method, listener, user_id=user_id), timeout,
                               kwargs=kwargs)

        return call
