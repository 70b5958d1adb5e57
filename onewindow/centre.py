"""The services one centre runs, as the platform sees them.

The platform never imports a service. The composition root (the `services`
package's `registry` module) builds a `Centre` naming each service class by
its import path, and hands it to whatever needs the list: the `onewindow`
command, the sandbox, the event topology and, through the container config,
each relay. A class is imported only when something asks for it, so a
process that serves one service loads that service's code and no other's.
The command finds the root through the one `onewindow.centre` entry point in
pyproject.toml, so adding a service is one line in the registry.
"""
import importlib.metadata
import importlib.util
import json
import pathlib
from dataclasses import dataclass
from typing import Optional

from . import access, config, entrypoints, principals, topology

ENTRY_POINT_GROUP = "onewindow.centre"


def load(path):
    """The object `package.module:name` names, imported now."""
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class Member:
    """One service of the centre."""
    name: str
    # "package.module:Class", imported on first use (`cls`).
    service: str
    metrics_port: Optional[int] = None
    # The port of its HTTP entrypoints (nameko's web server), if it has any.
    web_port: Optional[int] = None
    # "package.module:function" that loads reference data into a freshly
    # migrated database (given a unit of work); safe to run again.
    bootstrap: Optional[str] = None
    # The principal role of its own broker user: `service` for a service that
    # calls others as itself; a public front (the portal) calls as the role
    # the contract gives it, and its grant lets it publish exactly those calls.
    role: str = principals.SERVICE
    # Where a person opens its web pages (default /<name>).
    web_home: Optional[str] = None

    def __post_init__(self):
        for label, path in (("service", self.service), ("bootstrap", self.bootstrap)):
            module, colon, attr = (path or "").partition(":")
            if path is not None and not (module and colon and attr.isidentifier()):
                raise ValueError(f"{self.name}: {label} {path!r} is not 'package.module:name'")

    @property
    def module(self):
        return self.service.partition(":")[0]

    @property
    def cls(self):
        cls = load(self.service)
        if getattr(cls, "name", None) != self.name:
            raise ValueError(f"{self.service} is named {getattr(cls, 'name', None)!r}, "
                             f"the registry calls it {self.name!r}")
        return cls

    def load_reference_data(self, unit):
        return load(self.bootstrap)(unit) if self.bootstrap else None

    @property
    def migrations(self):
        # Beside the service module, found without running it.
        return pathlib.Path(importlib.util.find_spec(self.module).origin).resolve().parent / "migrations"


class Centre:
    def __init__(self, *members, subscriptions=None):
        """`subscriptions`: the path of the manifest of every event handler
        of the centre (written from the handlers by `write_subscriptions`),
        so that a service learns the whole event topology without importing
        the others; without it, the topology is read from the classes."""
        self.members = tuple(members)
        names = [m.name for m in self.members]
        if len(set(names)) != len(names):
            raise ValueError(f"two services share a name: {names}")
        self._by_name = {m.name: m for m in self.members}
        self.manifest = pathlib.Path(subscriptions) if subscriptions else None
        self._subscriptions = None

    @property
    def names(self):
        return tuple(self._by_name)

    @property
    def classes(self):
        """Every service class: imports every service."""
        return tuple(m.cls for m in self.members)

    def member(self, name):
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no service {name!r} in this centre (known: {', '.join(self.names)})") from None

    def service_class(self, name):
        return self.member(name).cls

    def metrics_port(self, name):
        return config.metrics_port(name, default=self.member(name).metrics_port)

    def web_address(self, name):
        return config.web_address(name, self.member(name).web_port)

    def subscriptions(self):
        """[(source_service, event_type, queue_name)] of every handler."""
        if self.manifest is None:
            return self.declared_subscriptions()
        if self._subscriptions is None:
            self._subscriptions = [tuple(s) for s in json.loads(self.manifest.read_text(encoding="utf-8"))]
        return self._subscriptions

    def declared_subscriptions(self):
        """The same, read from the handlers themselves (imports every service)."""
        return entrypoints.subscriptions(self.classes)

    def subscriptions_text(self):
        """The manifest as it should read: one handler a line, for diffs."""
        rows = ",\n".join("  " + json.dumps(list(s)) for s in self.declared_subscriptions())
        return f"[\n{rows}\n]\n"

    def stale_subscriptions(self):
        """True when the manifest differs from the handlers."""
        return self.manifest is not None and (
            not self.manifest.exists() or self.manifest.read_text(encoding="utf-8") != self.subscriptions_text())

    def write_subscriptions(self):
        self.manifest.write_text(self.subscriptions_text(), encoding="utf-8")
        self._subscriptions = None

    def calls(self, name):
        """The services `name` calls over RPC (its ServiceRpcProxy dependencies)."""
        from nameko.rpc import RpcProxy
        return sorted({value.target_service for value in vars(self.service_class(name)).values()
                       if isinstance(value, RpcProxy)})

    def role_calls(self, name):
        """`service.method` of every call the role of `name`'s broker user
        allows; none for a plain service (its RpcProxy targets are `calls`)."""
        role = self.member(name).role
        if role == principals.SERVICE:
            return []
        return access.callable_methods(role, entrypoints.rpc_methods(self.classes))

    def web_url(self, name):
        """Where a person on this machine opens `name`'s pages, or None."""
        address = self.web_address(name)
        if not address:
            return None
        home = self.member(name).web_home or f"/{name}"
        return f"http://{address.replace('0.0.0.0', '127.0.0.1')}{home}"

    def validate(self):
        """Every setting of the platform and of every service (imports them
        all): a bad value names itself before anything starts."""
        self.classes
        config.SETTINGS.validate(self.names)

    def nameko_config(self, name):
        """The container config `name` runs with: the platform's settings, its
        metrics port and the subscriptions its relay declares at start.
        Imports that service only: its own settings are declared by then."""
        self.service_class(name)
        config.SETTINGS.validate(self.names)
        cfg = config.nameko_config(name, default_metrics_port=self.member(name).metrics_port,
                                   default_web_port=self.member(name).web_port)
        cfg[topology.SUBSCRIPTIONS_KEY] = self.subscriptions()
        return cfg


    def set_up(self, names=None, quiet=False):
        """Databases, migrations, reference data and event queues; safe to
        run again."""
        from . import migrate
        from .db import UnitOfWork, connect_pool

        for member in [self.member(n) for n in names] if names else self.members:
            created = migrate.create_database(config.admin_database_url(), config.database_name(member.name))
            applied = migrate.migrate(member.name, member.migrations)
            loaded = ""
            pool = connect_pool(config.database_url(member.name), min_size=1, max_size=1)
            try:
                with UnitOfWork(pool, member.name) as unit:
                    # every service may be called by the others as its own user (the
                    # portal's user as the role `portal`)
                    for other in self.members:
                        principals.register(unit, access.user_name(other.name), other.role)
                    loaded = member.load_reference_data(unit) or ""
            finally:
                pool.close()
            if not quiet:
                print(f"{member.name}: database {config.database_name(member.name)}"
                      f"{' created' if created else ''}, {len(applied)} migrations applied {loaded}")
        subs = topology.declare(config.amqp_uri(), self.subscriptions())
        if not quiet:
            print(f"broker: {len(subs)} event queues declared")


def installed():
    """The centre named by the `onewindow.centre` entry point."""
    points = list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
    if not points:
        raise RuntimeError(f"no {ENTRY_POINT_GROUP!r} entry point is installed: run `make venv` "
                           "(pip install -e .) so the command finds the services")
    if len(points) > 1:
        raise RuntimeError(f"several {ENTRY_POINT_GROUP!r} entry points: {[p.value for p in points]}")
    return points[0].load()
