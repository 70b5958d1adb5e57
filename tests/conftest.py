"""Test harness. Integration fixtures give each run its own RabbitMQ vhost and
its own databases, so leftovers and a second run cannot collide."""
import warnings

warnings.filterwarnings("ignore", message=".*Eventlet is deprecated")
import eventlet  # noqa: E402

eventlet.monkey_patch()  # before anything imports socket, threading or psycopg

import onewindow  # noqa: E402,F401  (PSYCOPG_WAIT_FUNC before psycopg loads)

import json
import os
import shutil
import subprocess
import urllib.parse
import urllib.request
import uuid

import pytest

RUN_ID = f"owt_{os.getpid()}_{uuid.uuid4().hex[:6]}"
BROKER = os.environ.get("OW_TEST_BROKER", "127.0.0.1:5672")
ADMIN_DB = os.environ.get("OW_ADMIN_DATABASE_URL", "postgresql://onewindow:onewindow@127.0.0.1:5432/postgres")


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


@pytest.fixture(scope="session")
def platform_env():
    """Isolated vhost + one database per service, migrated, env set."""
    from onewindow import config, migrate

    vhost = create_vhost(RUN_ID)
    if vhost is None:
        pytest.fail("could not create a RabbitMQ vhost (need rabbitmqctl or the management plugin)")
    amqp = f"amqp://guest:guest@{BROKER}/{urllib.parse.quote(vhost, safe='')}"
    base = ADMIN_DB.rsplit("/", 1)[0]
    saved = dict(os.environ)
    os.environ["AMQP_URI"] = amqp
    os.environ["OW_ADMIN_DATABASE_URL"] = ADMIN_DB
    os.environ["OW_RETRY_BASE_SECONDS"] = "0.2"
    os.environ["OW_QUIET_HOURS"] = ""  # tests run at any hour in Asia/Shanghai
    os.environ.setdefault("OW_SMS_SEND_INTERVAL", "0.2")
    databases = {}
    for service in config.SERVICES:
        name = f"{RUN_ID}_{service}"
        migrate.create_database(ADMIN_DB, name)
        url = f"{base}/{name}"
        os.environ[f"{service.upper()}_DATABASE_URL"] = url
        os.environ[f"{service.upper()}_METRICS_PORT"] = ""
        databases[service] = url
    from onewindow.cli import setup_all
    setup_all(quiet=True)
    try:
        yield {"amqp_uri": amqp, "vhost": vhost, "databases": databases, "run_id": RUN_ID, "admin": ADMIN_DB}
    finally:
        os.environ.clear()
        os.environ.update(saved)
        for name in databases:
            migrate.drop_database(ADMIN_DB, f"{RUN_ID}_{name}")
        delete_vhost(vhost)


@pytest.fixture
def extra_database(platform_env):
    """A fresh database for one test, migrated for `service` from `directory`."""
    from onewindow import migrate
    made = []

    def make(service, directory=None):
        name = f"{RUN_ID}_{service}_{uuid.uuid4().hex[:6]}"
        migrate.create_database(ADMIN_DB, name)
        url = f"{ADMIN_DB.rsplit('/', 1)[0]}/{name}"
        migrate.migrate(service, url, directory)
        made.append(name)
        return url

    yield make
    for name in made:
        migrate.drop_database(ADMIN_DB, name)


@pytest.fixture
def service_config(platform_env):
    def make(service, **overrides):
        from onewindow import config
        cfg = config.nameko_config(service)
        cfg["METRICS_PORT"] = None
        cfg.update(overrides)
        return cfg
    return make


@pytest.fixture
def run_services(platform_env, service_config):
    """Start nameko service classes on the real broker; stopped after the test."""
    from nameko.runners import ServiceRunner
    runners = []

    def start(*classes, **overrides):
        started = []
        for cls in classes:
            cfg = service_config(cls.name, **overrides.get(cls.name, {}))
            runner = ServiceRunner(cfg)
            runner.add_service(cls)
            runner.start()
            runners.append(runner)
            started.append(runner)
        return started[0] if len(started) == 1 else started

    yield start
    for runner in reversed(runners):
        try:
            runner.stop()
        except Exception:
            runner.kill()


@pytest.fixture
def rpc(platform_env):
    from nameko.standalone.rpc import ClusterRpcProxy
    with ClusterRpcProxy({"AMQP_URI": platform_env["amqp_uri"]}, timeout=30) as proxy:
        yield proxy


def wait_until(predicate, timeout=15.0, interval=0.05, message="condition"):
    import time
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


@pytest.fixture
def wait():
    return wait_until
