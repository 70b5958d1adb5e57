"""`onewindow sandbox create|drop NAME`: a place of their own for a department
system's integrators, beside the real centre and never touching its data.

create: a RabbitMQ vhost `sandbox_NAME`, one database per service
(`sandbox_NAME_<service>`), migrated and loaded with the catalog; broker
users for every department of the catalog (`sbx-NAME-dept-<CODE>`, least
privilege in that vhost only) and gateway tokens for them and for a window
(`sbx-NAME-window`); a few sample cases, some decided, some with tasks still
open. The services run only while it is filled. It writes `sandbox-NAME.env`
(mode 600): the variables that run the centre on the sandbox
(`env $(grep -v '^#' sandbox-NAME.env | xargs) onewindow run`, web ports of
their own) and the credentials.

drop: removes the vhost, the databases, the broker users and the file.
"""
import json
import os
import pathlib
import re
import subprocess
import time
import urllib.parse

NAME = re.compile(r"^[a-z][a-z0-9_]{0,19}$")


def _names(name):
    if not NAME.match(name or ""):
        raise ValueError("a sandbox name is 1-20 lowercase letters, digits or _, starting with a letter")
    return f"sandbox_{name}", f"sbx-{name}"


def env_file(name, directory="."):
    return pathlib.Path(directory) / f"sandbox-{name}.env"


def create(centre, name, cases=4, directory=".", broker="127.0.0.1:5672"):
    import secrets

    from onewindow import access, config, migrate
    from onewindow.sandbox import create_impersonator, create_vhost, env_router, free_port
    from scripts.bench import ServiceProcesses, wait_answer

    vhost, prefix = _names(name)
    if env_file(name, directory).exists():
        raise ValueError(f"sandbox {name} exists already ({env_file(name, directory)}): drop it first")
    if create_vhost(vhost) is None:
        raise RuntimeError("could not create a RabbitMQ vhost (need rabbitmqctl or the management plugin)")
    admin = config.admin_database_url()
    env = {"AMQP_URI": f"amqp://guest:guest@{broker}/{urllib.parse.quote(vhost, safe='')}",
           "OW_ADMIN_DATABASE_URL": admin}
    for service in centre.names:
        database = f"{vhost}_{service}"
        migrate.create_database(admin, database)
        env[f"{service.upper()}_DATABASE_URL"] = f"{admin.rsplit('/', 1)[0]}/{database}"
        env[f"{service.upper()}_METRICS_PORT"] = ""
        if centre.member(service).web_port:
            env[f"{service.upper()}_PORT"] = str(free_port())
    saved = dict(os.environ)
    os.environ.update(env)
    credentials = {}
    try:
        centre.set_up(quiet=True)
        services = ServiceProcesses()
        try:
            # the set-up calls as each principal in turn (onewindow.sandbox.env_router)
            caller, password = f"{prefix}-caller", secrets.token_hex(16)
            create_impersonator(vhost, caller, password)
            with env_router(centre, timeout=60, uri=access.amqp_uri_for(caller, password, vhost, broker)) as rpc:
                for service in centre.names:
                    wait_answer(lambda: getattr(rpc, service).health(), timeout=120)
                credentials = principals(rpc, vhost, prefix, centre.names)
                samples = sample_cases(rpc, name, cases)
        finally:
            services.stop()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    path = env_file(name, directory)
    lines = [f"# OneWindow sandbox {name}: run the centre on it with",
             f"#   env $(grep -v '^#' {path.name} | xargs) onewindow run",
             *(f"{key}={value}" for key, value in env.items() if value != ""),
             "# credentials: broker users (AMQP, docs/wire.md) and gateway tokens (HTTP)",
             *(f"{key}={value}" for key, value in credentials.items())]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return {"sandbox": name, "vhost": vhost, "env_file": str(path), "cases": samples,
            "principals": sorted(k for k in credentials if k.startswith("OW_TOKEN_"))}


def principals(rpc, vhost, prefix, services):
    """A broker user and a gateway token for every department of the
    catalog, and a token for a window."""
    from onewindow import access

    from onewindow import config
    from onewindow.entrypoints import rpc_methods
    from onewindow.sandbox import register_principal
    from services.registry import CENTRE

    databases = [config.database_url(s) for s in services]
    departments = sorted({d for item in rpc.intake.list_items() for d in item["departments"]})
    credentials = {}
    for role in ("window", "cashier"):
        register_principal(databases, f"{prefix}-{role}", role)
        credentials[f"OW_TOKEN_{role.upper()}"] = rpc.gateway.issue_token(f"{prefix}-{role}")["token"]
    for code in departments:
        user, password = access.create_department_user(
            vhost, code, services, prefix=prefix,
            methods=access.callable_methods("department", rpc_methods(CENTRE.classes)))
        register_principal(databases, user, "department", code)
        credentials[f"OW_AMQP_USER_{code}"] = user
        credentials[f"OW_AMQP_PASSWORD_{code}"] = password
        credentials[f"OW_TOKEN_DEPARTMENT_{code}"] = rpc.gateway.issue_token(user)["token"]
    return credentials


def sample_cases(rpc, name, count):
    """Committed cases with departments: every other one approved by all,
    the rest left with open tasks for the integrator's system to decide."""
    from scripts.sample import application

    items = [i for i in rpc.intake.list_items() if i["departments"] and i["kind"] == "committed"]
    made = []
    for n in range(count):
        item = items[n % len(items)]
        fields = rpc.intake.form_for(item["code"])["fields"]
        app, _ = application(item, fields, f"sandbox-{name}-{n}", phone=f"1390013{n:04d}")
        number = rpc.intake.submit(app)["application_no"]
        decided = n % 2 == 0
        if decided:
            for department in item["departments"]:
                task = _wait(lambda: [t for t in rpc.review.tasks(department, status="open")
                                      if t["application_no"] == number])[0]
                rpc.review.decide(task["task_id"], department, task["assignee"], "approve", "同意",
                                  f"sandbox-{name}-{n}-{department}")
        made.append({"application_no": number, "item_code": item["code"], "tasks": "approved" if decided else "open"})
    return made


def _wait(probe, timeout=60):
    deadline = time.time() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.time() > deadline:
            raise TimeoutError("the sample case's tasks did not open")
        time.sleep(0.2)


def drop(centre, name, directory="."):
    from onewindow import config, migrate
    from onewindow.access import delete_user
    from onewindow.sandbox import delete_vhost

    vhost, prefix = _names(name)
    for service in centre.names:
        migrate.drop_database(config.admin_database_url(), f"{vhost}_{service}")
    users = [u for u in _broker_users() if u.startswith(f"{prefix}-")]
    for user in users:
        delete_user(user)
    delete_vhost(vhost)
    path = env_file(name, directory)
    existed = path.exists()
    path.unlink(missing_ok=True)
    return {"sandbox": name, "dropped": {"vhost": vhost, "users": users, "env_file": existed}}


def _broker_users():
    import shutil

    from onewindow import access
    if shutil.which("rabbitmqctl"):
        result = subprocess.run(["rabbitmqctl", "-q", "list_users", "--formatter", "json"], capture_output=True,
                                text=True, timeout=60)
        if result.returncode == 0:
            return [u["user"] for u in json.loads(result.stdout or "[]")]
    return [u["name"] for u in json.loads(access._management("GET", "users"))]
