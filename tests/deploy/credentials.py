"""Who each deployed service connects as, read from its environment the way
the service reads it (docker-compose's resolved file, or Kubernetes' Secrets
as the documented script creates them). Shared by test_compose and test_k8s."""
import urllib.parse

from onewindow import access, dbroles

# settings only the set-up may hold: the administrator's, and every service's password
SETUP_ONLY = ("OW_ADMIN_DATABASE_URL", "OW_RABBITMQ_ADMIN_PASSWORD", "OW_PROBE_PASSWORD", "OW_MONITOR_PASSWORD")
SETUP_ONLY_SUFFIXES = ("_BROKER_PASSWORD", "_DATABASE_PASSWORD")


def _account(url):
    parts = urllib.parse.urlsplit(url or "")
    return (urllib.parse.unquote(parts.username or ""), urllib.parse.unquote(parts.password or ""),
            parts.path.lstrip("/"))


def credential_problems(envs, admin_users, admin_passwords):
    """Every way the services' credentials break "each service its own user
    and role, and no administrator": `envs` is {service: environment}."""
    problems, brokers, databases, passwords = [], {}, {}, {}

    def once(kind, seen, key, service):
        if key in seen:
            problems.append(f"{service} and {seen[key]} share a {kind}")
        seen.setdefault(key, service)

    for service, env in envs.items():
        env = {k: str(v) for k, v in env.items()}
        user, password, _ = _account(env.get("AMQP_URI"))
        if user != access.user_name(service):
            problems.append(f"{service} connects to the broker as {user!r}, not {access.user_name(service)}")
        own = f"{service.upper()}_DATABASE_URL"
        role, db_password, database = _account(env.get(own))
        if role != dbroles.role_name(service) or database != f"onewindow_{service}":
            problems.append(f"{service} connects to PostgreSQL as {role!r} to {database!r}, "
                            f"not {dbroles.role_name(service)} to onewindow_{service}")
        for name, kind in ((user, "broker user"), (role, "database role")):
            if name in admin_users:
                problems.append(f"{service} uses the administrator's {kind} {name!r}")
        once("broker user", brokers, user, service)
        once("database role", databases, role, service)
        for secret in (password, db_password):
            once("password", passwords, secret, service)
        others = sorted(k for k in env if k.endswith("_DATABASE_URL") and k != own)
        if others:
            problems.append(f"{service} holds other databases' URLs: {others}")
        held = sorted(k for k in env if k in SETUP_ONLY or k.endswith(SETUP_ONLY_SUFFIXES))
        if held:
            problems.append(f"{service} holds what only the set-up may: {held}")
        leaked = sorted(k for k, v in env.items() if any(p and p in v for p in admin_passwords))
        if leaked:
            problems.append(f"{service} holds an administrator's password in {leaked}")
    return problems


def setup_problems(setup_env, envs, admin_users):
    """The set-up must create exactly the users and roles the services
    connect with, as the administrator, with ow-probe for the probes."""
    problems = []
    if _account(setup_env.get("AMQP_URI"))[0] not in admin_users:
        problems.append("the set-up does not declare the topology as the broker's administrator")
    for service, env in envs.items():
        S = service.upper()
        if setup_env.get(f"{S}_BROKER_PASSWORD") != _account(env.get("AMQP_URI"))[1]:
            problems.append(f"the set-up creates {access.user_name(service)} with another password")
        if setup_env.get(f"{S}_DATABASE_PASSWORD") != _account(env.get(f"{S}_DATABASE_URL"))[1]:
            problems.append(f"the set-up creates {dbroles.role_name(service)} with another password")
        if _account(setup_env.get(f"{S}_DATABASE_URL"))[0] not in admin_users:
            problems.append(f"the set-up migrates {service} as someone who does not own its tables")
        probe_user, probe_password, _ = _account(env.get("OW_PROBE_AMQP_URI"))
        if (probe_user, probe_password) != (access.user_name(access.PROBE_USER), setup_env.get("OW_PROBE_PASSWORD")):
            problems.append(f"{service}'s health probe does not call as the ow-probe the set-up creates")
    return problems


def exporter_problems(exporter_env, setup_env, admin_users, admin_passwords):
    """postgres_exporter connects as ow_monitor (statistics only), with the
    password the set-up creates that role with, and holds nothing more."""
    problems = []
    user, password = exporter_env.get("DATA_SOURCE_USER"), exporter_env.get("DATA_SOURCE_PASS")
    if user != dbroles.MONITOR_ROLE:  # an administrator's name included
        problems.append(f"the exporter connects as {user!r}, not {dbroles.MONITOR_ROLE}")
    if not password or password != setup_env.get("OW_MONITOR_PASSWORD"):
        problems.append(f"the set-up creates {dbroles.MONITOR_ROLE} with another password than the exporter's")
    if password in admin_passwords:
        problems.append("the exporter holds an administrator's password")
    held = sorted(k for k in exporter_env if k not in ("DATA_SOURCE_URI", "DATA_SOURCE_USER", "DATA_SOURCE_PASS"))
    if held:
        problems.append(f"the exporter holds more than its own connection: {held}")
    return problems
