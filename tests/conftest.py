"""Test harness. Integration fixtures give each run its own RabbitMQ vhost and
its own databases, so leftovers and a second run cannot collide."""
import warnings

warnings.filterwarnings("ignore", message=".*Eventlet is deprecated")
import eventlet  # noqa: E402

eventlet.monkey_patch()  # before anything imports socket, threading or psycopg

import onewindow  # noqa: E402,F401  (PSYCOPG_WAIT_FUNC before psycopg loads)

import kombu.mixins  # noqa: E402

# A stopping consumer notices the stop at its next drain timeout, 1 s by
# default; tests start and stop hundreds of services, so they look every 0.1 s.
_consume = kombu.mixins.ConsumerMixin.consume


def _consume_briskly(self, limit=None, timeout=None, safety_interval=0.1, **kwargs):
    return _consume(self, limit, timeout, safety_interval, **kwargs)


kombu.mixins.ConsumerMixin.consume = _consume_briskly

import os
import uuid

import pytest

from onewindow.sandbox import Sandbox
from services.registry import CENTRE

ADMIN_DB = os.environ.get("OW_ADMIN_DATABASE_URL", "postgresql://onewindow:onewindow@127.0.0.1:5432/postgres")
STOP_SECONDS = 20

# Each phase of a test (setup, call, teardown) gets PHASE_SECONDS. The limit is
# an eventlet timeout thrown into the test's own greenlet, so a test waiting on
# the broker or the database fails with the line it was stuck on and the rest
# of the suite goes on. pytest-timeout (pyproject) stays behind it for a test
# that spins without ever yielding, which only a process exit can stop.
PHASE_SECONDS = 150


class PhaseTookTooLong(AssertionError):
    pass


def _bounded(phase):
    @pytest.hookimpl(wrapper=True)
    def hook(item):
        limit = PhaseTookTooLong(f"{phase} of {item.nodeid} took over {PHASE_SECONDS} s")
        with eventlet.Timeout(PHASE_SECONDS, limit):
            return (yield)
    return hook


pytest_runtest_setup = _bounded("setup")
pytest_runtest_call = _bounded("call")
pytest_runtest_teardown = _bounded("teardown")


@pytest.fixture(scope="session")
def platform_env():
    """Isolated vhost + one database per service, migrated, env set."""
    os.environ["OW_RETRY_BASE_SECONDS"] = "0.2"
    os.environ["OW_QUIET_HOURS"] = ""  # tests run at any hour in Asia/Shanghai
    os.environ.setdefault("OW_SMS_SEND_INTERVAL", "0.2")
    for service in CENTRE.names:
        os.environ[f"{service.upper()}_METRICS_PORT"] = ""
    yield from sandboxed()


def sandboxed():
    """A vhost and databases of their own, as the environment the fixtures
    below read; a second one opened inside the first stands in for it until
    it closes (the sandbox restores the environment it found)."""
    sandbox = Sandbox(CENTRE, "owt")
    try:
        sandbox.open()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield {"amqp_uri": sandbox.amqp_uri, "vhost": sandbox.vhost, "databases": sandbox.databases,
               "run_id": sandbox.run_id, "admin": ADMIN_DB, "sandbox": sandbox}
    finally:
        sandbox.close()


@pytest.fixture
def extra_database(platform_env):
    """A fresh database for one test, migrated for `service` from `directory`."""
    from onewindow import migrate
    made = []

    def make(service, directory=None):
        name = f"{platform_env['run_id']}_{service}_{uuid.uuid4().hex[:6]}"
        migrate.create_database(ADMIN_DB, name)
        url = f"{ADMIN_DB.rsplit('/', 1)[0]}/{name}"
        if directory is None:
            from services.registry import CENTRE
            directory = CENTRE.member(service).migrations
        migrate.migrate(service, directory, url)
        platform_env["sandbox"].add_database(url)
        made.append((name, url))
        return url

    yield make
    for name, url in made:
        platform_env["sandbox"].forget_database(url)
        migrate.drop_database(ADMIN_DB, name)


@pytest.fixture
def service_config(platform_env):
    def make(service, **overrides):
        from onewindow import config, topology
        cfg = CENTRE.nameko_config(service) if service in CENTRE.names else dict(
            config.nameko_config(service), **{topology.SUBSCRIPTIONS_KEY: CENTRE.subscriptions()})
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
    stop_all(runners)


def _together(runners, action):
    """`action` on every runner side by side; True when all were done within
    STOP_SECONDS."""
    pool = eventlet.GreenPool()
    for runner in reversed(runners):
        pool.spawn_n(getattr(runner, action))
    with eventlet.Timeout(STOP_SECONDS, False):
        pool.waitall()
        return True
    return False


def stop_all(runners, kill=False):
    """Stopped, not killed: a killed consumer's connection can linger and
    keep taking the next test's messages. Stopped together, to pay the wait
    once; runners that do not stop within STOP_SECONDS (a worker that never
    ends) are killed, and one that does not even die is left behind rather
    than waited on: one stuck test must not hang the suite."""
    if not kill and _together(runners, "stop"):
        return
    _together(runners, "kill")


@pytest.fixture
def publish_event(platform_env):
    """Publish an event as `source`'s outbox would: to `<source>.events` with
    the event type as routing key, a fresh event_id and occurred_at unless the
    payload brings its own. Returns the event as sent."""
    import datetime

    from kombu import Connection, Exchange

    from onewindow import topology
    topology.declare(platform_env["amqp_uri"], CENTRE.subscriptions())

    def send(source, event_type, payload):
        event = {"event_id": str(uuid.uuid4()),
                 "occurred_at": datetime.datetime.now(datetime.timezone.utc).astimezone().isoformat()}
        event.update(payload)
        exchange = Exchange(f"{source}.events", type="topic", durable=True)
        with Connection(platform_env["amqp_uri"]) as conn:
            conn.Producer(serializer="json").publish(event, exchange=exchange, routing_key=event_type,
                                                     declare=[exchange])
        return event

    return send


@pytest.fixture
def service_sql(platform_env):
    """service_sql(service, statement, params): rows (dicts) from that
    service's database, autocommit; [] for statements without rows."""
    return lambda service, sql, params=None: rows_at(platform_env["databases"][service], sql, params)


def rows_at(url, sql, params=None):
    """Rows (dicts) of one autocommitted statement on the database at `url`;
    [] for a statement without rows."""
    import psycopg
    from psycopg.rows import dict_row
    with psycopg.connect(url, row_factory=dict_row, autocommit=True) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


@pytest.fixture
def rpc(platform_env):
    """Calls each method as a principal whose role may call it (a department
    method as the department it names); `rpc.as_role(role, department)` and
    `rpc.as_principal(name)` (None: anonymous) call as one in particular."""
    with platform_env["sandbox"].router() as router:
        yield router


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
