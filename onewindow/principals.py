"""Who is calling: principals, their roles, and the registry every service reads.

A principal is a RabbitMQ user of its own. Each call carries the AMQP
property `user_id`, which RabbitMQ refuses unless it names the connection's
user, so the name is proven by the broker, never by an argument. The role and
department of each name are registered in a `principals` table of every
service's database (written by `onewindow principal add`), so a service
checks them in its own transaction, without a call to anyone. Removing the
broker user ends its calls at once (RabbitMQ closes its connections); a
changed role is read again within OW_PRINCIPAL_CACHE_SECONDS.

The HTTP gateway calls as a principal of role `gateway` and names the real
caller in the context data `on_behalf_of` (AMQP header
`nameko.on_behalf_of`); that header is honoured from a gateway and from no one
else.
"""
import re
import time
import weakref
from dataclasses import dataclass

from . import config
from .errors import Forbidden

ANONYMOUS = "anonymous"
WINDOW = "window"
DEPARTMENT = "department"
CASHIER = "cashier"
SUPERVISOR = "supervisor"
PORTAL = "portal"
OPERATOR = "operator"
GATEWAY = "gateway"
SERVICE = "service"  # a service calling another (ow-intake, ...)

ROLES = (ANONYMOUS, WINDOW, DEPARTMENT, CASHIER, SUPERVISOR, PORTAL, OPERATOR, GATEWAY, SERVICE)
# What `onewindow principal add --role` accepts: every role a broker user can hold.
REGISTERED_ROLES = tuple(r for r in ROLES if r != ANONYMOUS)
# Every caller, anonymous included (health, the catalog).
ANYONE = ROLES
# Every read call is open to these two (the contract's role table).
READERS = (SUPERVISOR, OPERATOR)

ON_BEHALF_OF = "on_behalf_of"  # nameko context data key; AMQP header nameko.on_behalf_of
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
DEPARTMENT_CODE = re.compile(r"^[A-Za-z0-9_]{1,32}$")


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    department: str = None
    via: str = None  # the gateway that relayed the call, if any

    @property
    def anonymous(self):
        return self.role == ANONYMOUS

    def label(self):
        """How the history names it: `name`, or `name via gateway`."""
        return f"{self.name} via {self.via}" if self.via else self.name


NOBODY = Principal(ANONYMOUS, ANONYMOUS)


def check_new(name, role, department=None):
    """Problems with a principal about to be registered, all at once."""
    problems = []
    if not NAME.match(name or "") or name == ANONYMOUS:
        problems.append(f"name must be 1-64 letters, digits or . _ @ -, not {ANONYMOUS!r}: {name!r}")
    if role not in REGISTERED_ROLES:
        problems.append(f"role must be one of {', '.join(REGISTERED_ROLES)}: {role!r}")
    if role == DEPARTMENT and not DEPARTMENT_CODE.match(department or ""):
        problems.append(f"a department principal needs --department, 1-32 letters, digits or _: {department!r}")
    if role != DEPARTMENT and department:
        problems.append("only a department principal has a department")
    return problems


# --- the registry (a table of every service's database) ---------------------

def register(unit, name, role, department=None):
    unit.execute(
        "INSERT INTO principals (name, role, department) VALUES (%s, %s, %s) "
        "ON CONFLICT (name) DO UPDATE SET role = EXCLUDED.role, department = EXCLUDED.department, "
        "registered_at = now()", (name, role, department))


def unregister(unit, name):
    return unit.one("DELETE FROM principals WHERE name = %s RETURNING name", (name,)) is not None


def registered(unit):
    return unit.all("SELECT name, role, department, registered_at FROM principals ORDER BY name")


# What each database said of a name, and until when it is believed: a
# window or a department calls many times a second, and the row changes
# only when an operator registers or removes the principal. Keyed by the
# unit's pool, so two services (or a test's databases) never share it.
_known = weakref.WeakKeyDictionary()


def lookup(unit, name):
    pool = getattr(unit, "_pool", None)
    seconds = config.principal_cache_seconds()
    cache = _known.setdefault(pool, {}) if pool is not None and seconds > 0 else None
    now = time.monotonic()
    if cache is not None and name in cache and cache[name][1] > now:
        return cache[name][0]
    row = unit.one("SELECT name, role, department FROM principals WHERE name = %s", (name,))
    found = Principal(row["name"], row["role"], row["department"]) if row else None
    if cache is not None and found is not None:  # one just registered is believed at once
        if len(cache) > 10000:  # names come from the broker, yet bound it all the same
            cache.clear()
        cache[name] = (found, now + seconds)
    return found


def resolve(unit, user_id, on_behalf_of=None):
    """The principal of a call from the broker-validated `user_id` (None:
    anonymous) and the `on_behalf_of` context data. Forbidden when the name
    is not registered (a removed principal, or a broker user that is none)."""
    if not user_id:
        return NOBODY
    caller = lookup(unit, user_id)
    if caller is None:
        raise Forbidden(f"{user_id} is not a registered principal")
    if caller.role != GATEWAY:
        return caller  # on_behalf_of from anyone but the gateway means nothing
    if not on_behalf_of:
        return caller  # the gateway's own calls (an SMS provider's receipts)
    if not isinstance(on_behalf_of, str):
        raise Forbidden("on_behalf_of must name a principal")
    real = lookup(unit, on_behalf_of)
    if real is None or real.role in (GATEWAY, SERVICE):
        raise Forbidden(f"{caller.name} may not call on behalf of {on_behalf_of}")
    return Principal(real.name, real.role, real.department, via=caller.name)


def authorise(principal, roles, method):
    if principal.role not in roles:
        who = "an anonymous caller" if principal.anonymous else f"{principal.name} (role {principal.role})"
        raise Forbidden(f"{who} may not call {method}")
