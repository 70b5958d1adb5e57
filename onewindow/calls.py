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
    pass


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
            proxy = MethodProxy(worker_ctx, service, method, listener, user_id=user_id)
            reply = proxy.call_async(**kwargs)
            try:
                with eventlet.Timeout(timeout):
                    return reply.result()
            except eventlet.Timeout:
                # forget the call: a late reply is dropped as unknown
                for key, event in list(listener._reply_events.items()):
                    if event is reply.reply_event:
                        listener._reply_events.pop(key, None)
                raise CallTimeout(f"{service}.{method} did not answer within {timeout:g} s") from None

        return call
