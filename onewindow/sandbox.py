"""An isolated place to run the system: its own RabbitMQ vhost and its own
databases, so tests, benchmarks and drills never collide with each other or
with a running centre."""
import json
import os
import shutil
import socket
import subprocess
import threading
import urllib.parse
import urllib.request
import uuid

from . import config, migrate


def _rabbitmqctl(*args):
    return subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60)


def _management(method, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:15672/api/{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"content-type": "application/json",
                                          "authorization": "Basic Z3Vlc3Q6Z3Vlc3Q="})
    urllib.request.urlopen(req, timeout=10).read()


def create_vhost(name):
    quoted = urllib.parse.quote(name, safe="")
    if shutil.which("rabbitmqctl") and _rabbitmqctl("add_vhost", name).returncode == 0:
        _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        return name
    try:
        _management("PUT", f"vhosts/{quoted}")
        _management("PUT", f"permissions/{quoted}/guest", {"configure": ".*", "write": ".*", "read": ".*"})
        return name
    except Exception:
        return None


def delete_vhost(name):
    if shutil.which("rabbitmqctl") and _rabbitmqctl("delete_vhost", name).returncode == 0:
        return
    try:
        _management("DELETE", f"vhosts/{urllib.parse.quote(name, safe='')}")
    except Exception:
        pass


def free_port():
    """A port nothing is bound to now, for a server started at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reserve_port():
    """A socket holding a free port until it is closed: bound, never
    listening, so no other bind to port 0 and no outgoing connection takes
    the port meanwhile, while a server that binds it with SO_REUSEADDR (as
    every web server here does) still can. For a port handed out long
    before its server starts."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    return s


def create_impersonator(vhost, user, password):
    """A broker user of this vhost only that may set any `user_id`: what a
    test or a drill calls through to act as each principal in turn."""
    if not shutil.which("rabbitmqctl"):
        raise RuntimeError("rabbitmqctl is needed to create the sandbox's caller")
    for args in (("add_user", user, password), ("set_user_tags", user, "impersonator"),
                 ("set_permissions", "-p", vhost, user, ".*", ".*", ".*")):
        result = _rabbitmqctl(*args)
        if result.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {args[0]} failed: {result.stderr.strip()}")


CALLER_URI_ENV = "OW_CALLER_URI"  # the impersonating caller of a sandbox or drill


def register_principal(urls, name, role, department=None):
    """Register a principal straight in service databases (sandboxes and
    drills; an operator uses `onewindow principal add`)."""
    import psycopg

    from . import principals
    problems = principals.check_new(name, role, department)
    if problems:
        raise ValueError("; ".join(problems))
    for url in urls:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO principals (name, role, department) VALUES (%s, %s, %s) "
                         "ON CONFLICT (name) DO NOTHING", (name, role, department))


def principal_name(role, department=None):
    """(name, department) of the drill principal of this role; a department
    call naming no valid department goes as department NONE, and is refused."""
    from . import principals
    if role == principals.DEPARTMENT and not principals.DEPARTMENT_CODE.match(department or ""):
        department = "NONE"
    return f"sbx-{role}" + (f"-{department}" if department else ""), department


_REGISTERED = set()
# Callers that start at once (a drill's first burst) register a principal
# once between them, not once each.
_REGISTERING = threading.Lock()


def tag_impersonator(user):
    """Let a drill's caller set any `user_id` (it keeps its own grants)."""
    result = _rabbitmqctl("set_user_tags", user, "impersonator")
    if result.returncode != 0:
        raise RuntimeError(f"rabbitmqctl set_user_tags failed: {result.stderr.strip()}")


def env_router(centre, timeout=30, uri=None):
    """A RoleRouter for a drill: calls through the impersonating user of
    `uri` (default OW_CALLER_URI) and registers principals in the
    centre's databases (what a Sandbox, or a drill's own set-up, provides)."""
    from .client import RoleRouter
    from .entrypoints import rpc_methods
    uri = uri or caller_uri()

    def principal_for(role, department=None):
        name, department = principal_name(role, department)
        databases = tuple(config.database_url(s) for s in centre.names)
        # Keyed by the databases too: one process may set up several
        # sandboxes (the tests do), and each registers its principals anew.
        if (databases, name) not in _REGISTERED:
            with _REGISTERING:
                if (databases, name) not in _REGISTERED:
                    register_principal(list(databases), name, role, department)
                    _REGISTERED.add((databases, name))
        return name

    return RoleRouter(uri, principal_for, rpc_methods(centre.classes), timeout=timeout)


def delete_user(user):
    if shutil.which("rabbitmqctl"):
        _rabbitmqctl("delete_user", user)


class Sandbox:
    """Creates the vhost and databases, sets the environment variables every
    part of the system reads, and removes it all on close.

    `caller_uri` connects as a user that may call as any principal;
    `principal(role, department)` registers one (`sbx-<role>[-<dept>]`) and
    returns its name; `router()` calls each method as a role that may."""

    def __init__(self, centre, prefix="ows", broker="127.0.0.1:5672"):
        self.centre = centre
        self.run_id = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.broker = os.environ.get("OW_TEST_BROKER", broker)
        self.vhost = None
        self.databases = {}
        self._saved = None
        self.caller_user = None
        self._principals = {}
        self._extra_databases = []
        self._service_users, self._service_roles = [], []
        self._ports = []  # reserve_port sockets

    def open(self, setup=True):
        self.vhost = create_vhost(self.run_id)
        if self.vhost is None:
            raise RuntimeError("could not create a RabbitMQ vhost (need rabbitmqctl or the management plugin)")
        self.amqp_uri = f"amqp://guest:guest@{self.broker}/{urllib.parse.quote(self.vhost, safe='')}"
        self._saved = dict(os.environ)
        os.environ["AMQP_URI"] = self.amqp_uri
        admin = config.admin_database_url()
        os.environ["OW_ADMIN_DATABASE_URL"] = admin
        base = admin.rsplit("/", 1)[0]
        for service in self.centre.names:
            name = f"{self.run_id}_{service}"
            migrate.create_database(admin, name)
            self.databases[service] = f"{base}/{name}"
            os.environ[f"{service.upper()}_DATABASE_URL"] = self.databases[service]
            if self.centre.member(service).web_port:
                # a web server of its own, beside a running centre or another
                # sandbox; held, since its server may start long after
                self._ports.append(reserve_port())
                os.environ[f"{service.upper()}_PORT"] = str(self._ports[-1].getsockname()[1])
        if setup:
            self.centre.set_up(quiet=True)
        if setup:
            # the services here connect as the administrator: that user is their principal
            from .client import user_of
            self.principal("service", name=user_of(self.amqp_uri))
        self.caller_user = f"{self.run_id}-caller"
        password = uuid.uuid4().hex
        create_impersonator(self.vhost, self.caller_user, password)
        self.caller_uri = (f"amqp://{self.caller_user}:{password}@{self.broker}/"
                           f"{urllib.parse.quote(self.vhost, safe='')}")
        os.environ[CALLER_URI_ENV] = self.caller_uri
        return self

    def principal(self, role, department=None, name=None):
        """Register (once) the sandbox's principal of this role in every
        service's database; returns its name."""
        if name is None:
            name, department = principal_name(role, department)
        if name not in self._principals:
            register_principal([*self.databases.values(), *self._extra_databases], name, role, department)
            self._principals[name] = (role, department)
        return name

    def add_database(self, url):
        """A database made apart (a test's own) knows the same principals."""
        self._extra_databases.append(url)
        for name, (role, department) in self._principals.items():
            register_principal([url], name, role, department)

    def forget_database(self, url):
        if url in self._extra_databases:
            self._extra_databases.remove(url)

    def service_accounts(self):
        """Each service's own broker user and database role, as `onewindow
        setup --service-users` makes them for a deployment, named after this
        sandbox (user and role names are broker- and server-wide), removed on
        close: {service: the environment its process runs with}."""
        from . import access, dbroles
        access.declare_topology(self.amqp_uri, self.centre)
        users = access.create_service_users(self.vhost, self.centre, prefix=self.run_id)
        self._service_users += [user for user, _ in users.values()]
        accounts = {}
        for service, (user, password) in users.items():
            self.principal(self.centre.member(service).role, name=user)
            url, database = self.databases[service], f"{self.run_id}_{service}"
            role, role_password = dbroles.role_name(service, prefix=self.run_id), uuid.uuid4().hex
            dbroles.grant(url, database, role, role_password)
            self._service_roles.append(role)
            accounts[service] = {"AMQP_URI": access.amqp_uri_for(user, password, self.vhost, self.broker),
                                 f"{service.upper()}_DATABASE_URL": dbroles.url_for(url, database, role,
                                                                                    role_password)}
        return accounts

    def router(self, timeout=30):
        from .client import RoleRouter
        from .entrypoints import rpc_methods
        return RoleRouter(self.caller_uri, self.principal, rpc_methods(self.centre.classes), timeout=timeout)

    def close(self):
        for held in self._ports:
            held.close()
        self._ports = []
        if self._saved is not None:
            os.environ.clear()
            os.environ.update(self._saved)
        for service in list(self.databases):
            migrate.drop_database(config.admin_database_url(), f"{self.run_id}_{service}")
        if self._service_roles:  # their rights went with the databases
            import psycopg
            from psycopg import sql
            with psycopg.connect(config.admin_database_url(), autocommit=True) as conn:
                for role in self._service_roles:
                    conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        if self.vhost:
            delete_vhost(self.vhost)
        for user in [self.caller_user, *self._service_users]:
            if user:
                delete_user(user)

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()


def caller_uri():
    """The impersonating caller of the sandbox or drill this process runs in."""
    uri = config.caller_amqp_uri()
    if not uri:
        raise RuntimeError(f"{CALLER_URI_ENV} is not set: run this inside a sandbox")
    return uri
