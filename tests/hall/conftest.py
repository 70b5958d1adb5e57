"""Fixtures for the hall's integration tests: a HallService on a database of
its own per test (queues are per day, so tests must not see each other's
tickets), the layout of tests/hall/layout.yaml, and a calendar in which the
next three days are working days and the fourth is a holiday."""
import datetime
import os
import pathlib
import uuid
import zoneinfo

import pytest

os.environ.setdefault("HALL_LIGHTS_SECONDS", "0.5")
os.environ.setdefault("HALL_GAUGE_SECONDS", "0.5")

from services.hall.service import HallService  # noqa: E402
from tests.conftest import rows_at, stop_all  # noqa: E402
from services.registry import CENTRE  # noqa: E402
from onewindow.sandbox import free_port  # noqa: E402

LAYOUT = pathlib.Path(__file__).resolve().parent / "layout.yaml"


def today():
    return datetime.datetime.now(zoneinfo.ZoneInfo("Asia/Shanghai")).date()


def day(offset):
    return today() + datetime.timedelta(days=offset)


HOLIDAY = 4  # days from today


class Hall:
    """One running hall: its RPC proxy, its database and its web address."""

    def __init__(self, rpc, url, sql, port):
        self.rpc = rpc.hall
        self.url = url
        self.sql = sql
        self.base = f"http://127.0.0.1:{port}"

    def take(self, queue="A", channel="kiosk", **kwargs):
        return self.rpc.take_ticket(queue, channel, ref(), **kwargs)

    def call(self, window):
        return self.rpc.call_next(window, ref())

    def events(self, event_type):
        return [r["payload"] for r in self.sql("SELECT payload FROM outbox WHERE event_type = %s ORDER BY id",
                                               (event_type,))]


def ref():
    return uuid.uuid4().hex


TABLES = ("tickets", "ticket_counters", "ticket_history", "appointments", "appointment_slots", "visits",
          "idempotency_keys", "document_counters", "outbox", "inbox")


@pytest.fixture(scope="session")
def hall_database(platform_env):
    """A database of the hall's own for these tests, with the test calendar."""
    import psycopg
    from onewindow import migrate
    name = f"{platform_env['run_id']}_hall_tests"
    migrate.create_database(platform_env["admin"], name)
    url = f"{platform_env['admin'].rsplit('/', 1)[0]}/{name}"
    migrate.migrate("hall", CENTRE.member("hall").migrations, url)
    platform_env["sandbox"].add_database(url)  # the principals the tests call as
    with psycopg.connect(url, autocommit=True) as conn:
        for offset in range(HOLIDAY):
            conn.execute("INSERT INTO workday_overrides (day, is_workday, name) VALUES (%s, true, 'test')",
                         (day(offset),))
        conn.execute("INSERT INTO workday_overrides (day, is_workday, name) VALUES (%s, false, 'test holiday')",
                     (day(HOLIDAY),))
    HallService.calendar.invalidate()
    yield url
    platform_env["sandbox"].forget_database(url)
    migrate.drop_database(platform_env["admin"], name)


@pytest.fixture(scope="session")
def hall_sql(hall_database):
    return lambda sql, params=None: rows_at(hall_database, sql, params)


@pytest.fixture(scope="session")
def hall_config(hall_database):
    def make(port=None):
        cfg = CENTRE.nameko_config("hall")
        cfg.update({"DATABASE_URL": hall_database, "HALL_LAYOUT": str(LAYOUT), "METRICS_PORT": None,
                    "WEB_SERVER_ADDRESS": f"127.0.0.1:{port or free_port()}"})
        return cfg
    return make


@pytest.fixture(scope="module")
def hall_runner(hall_config):
    """One running hall for a test module; each test starts from empty tables."""
    from nameko.runners import ServiceRunner
    config = hall_config()
    runner = ServiceRunner(config)
    runner.add_service(HallService)
    runner.start()
    yield int(config["WEB_SERVER_ADDRESS"].rsplit(":", 1)[1])
    stop_all([runner])


@pytest.fixture
def hall(hall_runner, rpc, hall_sql, hall_database):
    hall_sql(f"TRUNCATE {', '.join(TABLES)}")
    return Hall(rpc, hall_database, hall_sql, hall_runner)
