"""The services one centre runs, as the platform sees them.

The platform never imports a service. The composition root (the `services`
package's `registry` module) builds a `Centre` from the service classes and
hands it to whatever needs the list: the `onewindow` command, the sandbox,
the event topology and, through the container config, each relay. The
command finds the root through the one `onewindow.centre` entry point in
pyproject.toml, so adding a service is one line in the registry.
"""
import importlib.metadata
import inspect
import pathlib
from dataclasses import dataclass
from typing import Callable, Optional

from . import access, config, entrypoints, principals, topology

ENTRY_POINT_GROUP = "onewindow.centre"


@dataclass(frozen=True)
class Member:
    """One service of the centre."""
    cls: type
    metrics_port: Optional[int] = None
    # The port of its HTTP entrypoints (nameko's web server), if it has any.
    web_port: Optional[int] = None
    # Loads reference data into a freshly migrated database (given a unit of
    # work); safe to run again.
    bootstrap: Optional[Callable] = None
    # The principal role of its own broker user: `service` for a service that
    # calls others as itself; a public front (the portal) calls as the role
    # the contract gives it, and its grant lets it publish exactly those calls.
    role: str = principals.SERVICE
    # Where a person opens its web pages (default /<name>).
    web_home: Optional[str] = None

    @property
    def name(self):
        return self.cls.name

    @property
    def migrations(self):
        return pathlib.Path(inspect.getfile(self.cls)).resolve().parent / "migrations"


class Centre:
    def __init__(self, *members):
        self.members = tuple(m if isinstance(m, Member) else Member(m) for m in members)
        names = [m.name for m in self.members]
        if len(set(names)) != len(names):
            raise ValueError(f"two services share a name: {names}")
        self._by_name = {m.name: m for m in self.members}

    @property
    def names(self):
        return tuple(self._by_name)

    @property
    def classes(self):
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
        return entrypoints.subscriptions(self.classes)

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

    def nameko_config(self, name):
        """The container config `name` runs with: the platform's settings, its
        metrics port and the subscriptions its relay declares at start."""
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
                    if member.bootstrap:
                        loaded = member.bootstrap(unit) or ""
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
