"""RabbitMQ users with least privilege: one per service, one per department system.

RabbitMQ checks three regular expressions per user and vhost, matched against
resource names (queues and exchanges alike):

- configure: declare or delete the resource. Declaring an exchange that
  already exists still needs configure on it, and kombu declares a queue's
  exchange whenever it declares the queue.
- write: publish to an exchange; be the queue side of a binding (bind needs
  write on the queue and read on the exchange).
- read: consume from a queue; be the exchange side of a binding.

On top of that, topic permissions restrict the routing keys a user may publish
with (write) and bind with (read) on a topic exchange. nameko's `nameko-rpc`
and `<service>.events` are topic exchanges, so the routing key is where the
fine grain lives: a department may bind its reply queue only with a reply
uuid, never with `intake.*`, so it cannot copy the requests of others.

Names used by nameko 2.14.1 (see nameko/rpc.py):
- a service's RPC queue `rpc-<service>`, bound to `nameko-rpc` with `<service>.*`;
- a caller's reply queue `rpc.reply-<caller>-<uuid>`, bound to `nameko-rpc`
  with the uuid as routing key; for a standalone ClusterRpcProxy the caller
  is `standalone_rpc_proxy`; replies are published to `nameko-rpc` with the
  uuid as routing key;
- event consumer queues `evt-<source>-<event_type>--<service>.<method>`
  (onewindow/entrypoints.py), bound to `<source>.events` with the event type.

Users are created with `rabbitmqctl` when it is available, otherwise through
the management HTTP API (port 15672).
"""
import json
import re
import secrets
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

from . import config, topology


RPC_EXCHANGE = "nameko-rpc"
DEFAULT_EXCHANGE = "amq.default"  # the nameless exchange, as permissions name it
UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
STANDALONE_REPLY_QUEUE = rf"rpc\.reply-standalone_rpc_proxy-{UUID}"
DEPARTMENT_CODE = re.compile(r"^[A-Za-z0-9_]{1,32}$")


@dataclass
class Grant:
    """What one user may do in one vhost."""
    configure: str
    write: str
    read: str
    # exchange -> (write routing-key regex, read/binding-key regex)
    topics: dict = field(default_factory=dict)


def _any_of(*patterns):
    return "^(" + "|".join(patterns) + ")$"


def user_name(service, prefix="ow"):
    return f"{prefix}-{service}"


def department_user_name(code, prefix="ow"):
    return f"{prefix}-dept-{code}"


def service_grant(service, subscriptions, calls=(), methods=()):
    """The grant of a service's own user.

    `subscriptions` is [(source_service, event_type, queue_name)] as returned
    by `Centre.subscriptions()`; only this service's entries count. `calls`
    names the services it calls over RPC (its ServiceRpcProxy dependencies);
    `methods` single `service.method`s it may call besides (the calls of the
    role its user holds, `Centre.role_calls`).
    """
    own = [(source, event_type) for source, event_type, queue in subscriptions
           if topology.consumer_of(queue) == service]
    sources = sorted({source for source, _ in own})
    svc = re.escape(service)
    own_queues = [
        rf"rpc-{svc}",                                  # its RPC requests
        rf"evt-[a-z_]+-[a-z_]+--{svc}\.[A-Za-z0-9_]+",   # its event consumer queues
        rf"rpc\.reply-{svc}-{UUID}",                     # replies if it calls another service
    ]
    own_exchange = re.escape(f"{service}.events")
    source_exchanges = [re.escape(f"{source}.events") for source in sources]
    rpc = re.escape(RPC_EXCHANGE)
    topics = {
        # binds rpc-<service> with "<service>.*"; publishes replies to callers'
        # uuids, and its calls to the services it calls
        RPC_EXCHANGE: (_any_of(UUID, *(rf"{re.escape(t)}\.[a-z_]+" for t in sorted(calls)),
                               *(re.escape(m) for m in sorted(methods))),
                       _any_of(rf"{svc}\.\*", UUID)),
        # publishes its own event types; binds nothing there
        f"{service}.events": (r"^[a-z_]+$", "^$"),
    }
    for source in sources:
        types = sorted({re.escape(t) for s, t in own if s == source})
        topics[f"{source}.events"] = ("^$", _any_of(*types))
    return Grant(
        # declares its queues, nameko-rpc, its own exchange and (through the
        # queue declarations) the exchanges it listens to
        configure=_any_of(*own_queues, rpc, own_exchange, *source_exchanges),
        # binds its queues; publishes replies, its events and inbox retries
        # (retries go through the default exchange straight to its own queue)
        write=_any_of(*own_queues, rpc, own_exchange, re.escape(DEFAULT_EXCHANGE)),
        # consumes its queues; binds them to nameko-rpc and to the sources
        read=_any_of(*own_queues, rpc, *source_exchanges),
        topics=topics,
    )


def department_grant(services, methods=None):
    """A department system: calls RPC methods and reads its own replies.

    It may declare, bind and consume only standalone reply queues, bind them
    only with a uuid, and publish to `nameko-rpc` only with
    `<service>.<method>` of the given services (or only the listed methods,
    e.g. ("review.tasks", "review.decide")). No event exchange or queue
    matches any of its patterns."""
    rpc = re.escape(RPC_EXCHANGE)
    if methods:
        calls = _any_of(*(re.escape(m) for m in methods))
    else:
        calls = _any_of(*(rf"{re.escape(s)}\.[a-z_]+" for s in services))
    allowed = _any_of(STANDALONE_REPLY_QUEUE, rpc)
    return Grant(configure=allowed, write=allowed, read=allowed,
                 topics={RPC_EXCHANGE: (calls, f"^{UUID}$")})


def callable_methods(role, methods):
    """`service.method` of every RPC method this role may call, from
    `entrypoints.rpc_methods(classes)`: the services' own declarations."""
    return sorted(name for name, method in methods.items() if role in method.roles or role == "gateway")


def caller_grant(role, methods):
    """A principal's grant: a standalone reply queue, and publishing calls to
    exactly the methods its role may call (the gateway: every method, since
    it calls on behalf of every role)."""
    return department_grant((), methods=callable_methods(role, methods))


# --- applying grants --------------------------------------------------------

class AccessError(RuntimeError):
    pass


def _rabbitmqctl(*args, stdin=None):
    return subprocess.run(["rabbitmqctl", "-q", *args], input=stdin, capture_output=True, text=True, timeout=60)


def _management(method, path, body=None):
    user = config.rabbitmq_admin_user()
    password = config.rabbitmq_admin_password()
    import base64
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    url = config.rabbitmq_management_url()
    req = urllib.request.Request(f"{url}/api/{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"content-type": "application/json",
                                          "authorization": f"Basic {token}"})
    return urllib.request.urlopen(req, timeout=10).read()


def _use_rabbitmqctl():
    return shutil.which("rabbitmqctl") is not None and config.access_backend() != "http"


def _ctl(*args, stdin=None):
    result = _rabbitmqctl(*args, stdin=stdin)
    if result.returncode != 0:
        raise AccessError(f"rabbitmqctl {args[0]} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result


def _q(value):
    return urllib.parse.quote(value, safe="")


def _add_or_update_user(user, password):
    """The password goes through stdin, never the process list. rabbitmqctl
    can fail for reasons of its own (it starts an Erlang VM that must reach
    the node: on a busy machine it sometimes cannot), so only "already
    exists" means update the password; anything else is tried again, then
    reported with what rabbitmqctl said."""
    said = ""
    for _ in range(3):
        added = _rabbitmqctl("add_user", user, stdin=password)
        if added.returncode == 0:
            return
        said = (added.stderr or added.stdout).strip()
        if "already exists" in said:
            _ctl("change_password", user, stdin=password)
            return
    raise AccessError(f"rabbitmqctl add_user {user} failed: {said}")


def apply_grant(vhost, user, password, grant):
    """Create or update `user` with `password` and exactly `grant` in `vhost`."""
    if _use_rabbitmqctl():
        _add_or_update_user(user, password)
        _ctl("set_permissions", "-p", vhost, user, grant.configure, grant.write, grant.read)
        _rabbitmqctl("clear_topic_permissions", "-p", vhost, user)
        for exchange, (write, read) in grant.topics.items():
            _ctl("set_topic_permissions", "-p", vhost, user, exchange, write, read)
        return
    try:
        _management("PUT", f"users/{_q(user)}", {"password": password, "tags": ""})
        _management("PUT", f"permissions/{_q(vhost)}/{_q(user)}",
                     {"configure": grant.configure, "write": grant.write, "read": grant.read})
        try:
            _management("DELETE", f"topic-permissions/{_q(vhost)}/{_q(user)}")
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise
        for exchange, (write, read) in grant.topics.items():
            _management("PUT", f"topic-permissions/{_q(vhost)}/{_q(user)}",
                         {"exchange": exchange, "write": write, "read": read})
    except (OSError, urllib.error.URLError) as exc:
        raise AccessError(f"neither rabbitmqctl nor the management API is usable: {exc}") from exc


def delete_user(user):
    if _use_rabbitmqctl():
        _rabbitmqctl("delete_user", user)
        return
    try:
        _management("DELETE", f"users/{_q(user)}")
    except Exception:
        pass


def create_service_users(vhost, centre, prefix="ow", passwords=None):
    """One user per service of `centre`. Returns {service: (user, password)}."""
    subscriptions = centre.subscriptions()
    services = centre.names
    from concurrent.futures import ThreadPoolExecutor

    passwords = passwords or {}
    made = {service: (user_name(service, prefix), passwords.get(service) or secrets.token_hex(16))
            for service in services}
    # each rabbitmqctl call starts a VM: the users are made side by side
    with ThreadPoolExecutor(max_workers=len(made) or 1) as pool:
        for done in [pool.submit(apply_grant, vhost, user, password,
                                 service_grant(service, subscriptions, centre.calls(service),
                                               centre.role_calls(service)))
                     for service, (user, password) in made.items()]:
            done.result()
    return made


PROBE_USER = "probe"


def probe_grant(services):
    """What a readiness probe needs: publish `<service>.health` and read its
    reply, nothing else. Its calls are anonymous (no `user_id`)."""
    return department_grant((), methods=[f"{service}.health" for service in services])


def create_department_user(vhost, code, services, password=None, prefix="ow", methods=None):
    """A department system's user (`ow-dept-<code>`). Returns (user, password)."""
    if not DEPARTMENT_CODE.match(code):
        raise ValueError(f"department code must be 1-32 letters, digits or _: {code!r}")
    user = department_user_name(code, prefix)
    password = password or secrets.token_hex(16)
    apply_grant(vhost, user, password, department_grant(services, methods=methods))
    return user, password


def amqp_uri_for(user, password, vhost, broker="127.0.0.1:5672"):
    return f"amqp://{_q(user)}:{_q(password)}@{broker}/{_q(vhost)}"


def declare_topology(admin_uri, centre):
    """Declare, as the administrator, everything the restricted users only use:
    the event exchanges and consumer queues (onewindow.topology), the RPC
    exchange and each service's RPC queue. Run it at set-up, before the
    services start with their own users."""
    from kombu import Connection, Queue
    from nameko.rpc import get_rpc_exchange

    from . import topology

    subs = topology.declare(admin_uri, centre.subscriptions())
    exchange = get_rpc_exchange({})
    with Connection(admin_uri, connect_timeout=10) as conn:
        channel = conn.channel()
        exchange(channel).declare()
        for service in centre.names:
            # the same arguments the service's own declaration carries (quorum
            # on a cluster), or the broker refuses the service's at its start
            Queue(f"rpc-{service}", exchange=exchange, routing_key=f"{service}.*", durable=True,
                  queue_arguments=topology.queue_arguments())(channel).declare()
    return subs
