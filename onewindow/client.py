"""Calling OneWindow from Python as a principal.

nameko's standalone proxy never sets the AMQP property `user_id`, so every
call it makes is anonymous. `caller(uri)` is that proxy, setting `user_id` to
the user of `uri` on every call (RabbitMQ refuses the message unless it is
the connection's user):

    from onewindow.client import caller
    with caller("amqp://dept-psb:secret@broker/onewindow", timeout=30) as rpc:
        rpc.review.tasks("PSB")

Other languages set the same property: see docs/security.md.
"""
import urllib.parse

from nameko.standalone.rpc import ClusterProxy, ClusterRpcProxy, ServiceProxy

from .principals import ON_BEHALF_OF


def user_of(amqp_uri):
    user = urllib.parse.urlsplit(amqp_uri).username
    return urllib.parse.unquote(user) if user else None


class _PrincipalProxy(ClusterProxy):
    def __init__(self, worker_ctx, reply_listener, user_id):
        super().__init__(worker_ctx, reply_listener)
        self._user_id = user_id

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._proxies:
            options = {"user_id": self._user_id} if self._user_id else {}
            self._proxies[name] = ServiceProxy(self._worker_ctx, name, self._reply_listener, **options)
        return self._proxies[name]


class PrincipalRpcProxy(ClusterRpcProxy):
    """ClusterRpcProxy that calls as `user_id` (default: the URI's user)."""

    def __init__(self, config, user_id=None, context_data=None, **kwargs):
        super().__init__(config, context_data=context_data, **kwargs)
        self._proxy = _PrincipalProxy(self._worker_ctx, self._reply_listener, user_id)


def caller(amqp_uri, timeout=30, anonymous=False, on_behalf_of=None, user_id=None, **config):
    """A proxy calling as the user of `amqp_uri` (or as nobody when
    `anonymous`). `on_behalf_of` is for the gateway only: services ignore it
    from anyone else."""
    context = {ON_BEHALF_OF: on_behalf_of} if on_behalf_of else None
    who = None if anonymous else (user_id or user_of(amqp_uri))
    return PrincipalRpcProxy(dict(config, AMQP_URI=amqp_uri), user_id=who, context_data=context, timeout=timeout)


# --- calling as whoever may: tests and drills --------------------------------

# When several roles may call a method, the first of these that may is used.
ROLE_PREFERENCE = ("anonymous", "window", "cashier", "portal", "supervisor", "operator", "service",
                   "department", "gateway")


def named_department(signature, args, kwargs):
    """The `department` argument of a call, positional or by name."""
    try:
        bound = signature.bind_partial(None, *args, **kwargs)
    except TypeError:
        return kwargs.get("department")
    return bound.arguments.get("department")


class _RoutedMethod:
    def __init__(self, router, service, method):
        self.router, self.service, self.method = router, service, method

    def _target(self, args, kwargs):
        declared = self.router.methods.get(f"{self.service}.{self.method}")
        if declared is None:  # a service outside the centre (test probes): as nobody
            return getattr(self.router.as_principal(None), self.service), self.method
        role = next((r for r in ROLE_PREFERENCE if r in declared.roles), None)
        if role is None:
            raise LookupError(f"{self.service}.{self.method} declares no roles: nobody may call it")
        department = named_department(declared.signature, args, kwargs) if role == "department" else None
        proxy = self.router.as_role(role, department if isinstance(department, str) else None)
        return getattr(proxy, self.service), self.method

    def __call__(self, *args, **kwargs):
        service, method = self._target(args, kwargs)
        return getattr(service, method)(*args, **kwargs)

    def call_async(self, *args, **kwargs):
        service, method = self._target(args, kwargs)
        return getattr(service, method).call_async(*args, **kwargs)


class _RoutedService:
    def __init__(self, router, service):
        self.router, self.service = router, service

    def __getattr__(self, method):
        if method.startswith("_"):
            raise AttributeError(method)
        return _RoutedMethod(self.router, self.service, method)


class RoleRouter:
    """One broker connection that calls each method as a principal whose role
    allows it (a department method as the department it names). It connects
    as a user tagged `impersonator`, the only kind RabbitMQ lets set a
    `user_id` other than its own; `principal_for(role, department)` returns
    the registered principal's name. For tests and drills in a sandbox."""

    def __init__(self, amqp_uri, principal_for, methods, timeout=30):
        self.methods = methods  # {"service.method": RpcMethod}: entrypoints.rpc_methods
        self._holder = ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=timeout)
        self._principal_for = principal_for
        self._proxies = {}

    def start(self):
        self._cluster = self._holder.start()
        return self

    def stop(self):
        self._holder.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def as_principal(self, name):
        if name not in self._proxies:
            self._proxies[name] = _PrincipalProxy(self._holder._worker_ctx, self._holder._reply_listener, name)
        return self._proxies[name]

    def as_role(self, role, department=None):
        return self.as_principal(None if role == "anonymous" else self._principal_for(role, department))

    def __getattr__(self, service):
        if service.startswith("_"):
            raise AttributeError(service)
        return _RoutedService(self, service)
