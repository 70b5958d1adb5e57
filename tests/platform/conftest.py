"""The probe services' databases and a way to start them, for the tests of
the shared machinery."""
import psycopg
import pytest
from psycopg.rows import dict_row

from onewindow import entrypoints, topology
from tests.platform.probe import ProbeSink

MIGRATIONS = __import__("pathlib").Path(__file__).parent / "migrations"


@pytest.fixture
def probes(platform_env, extra_database, run_services):
    urls = {"probesrc": extra_database("probesrc", MIGRATIONS), "probesink": extra_database("probesink", MIGRATIONS)}
    topology.declare(platform_env["amqp_uri"], entrypoints.subscriptions([ProbeSink]))

    def query(service, sql, params=None):
        with psycopg.connect(urls[service], row_factory=dict_row, autocommit=True) as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def start(*classes):
        return run_services(*classes, **{c.name: {"DATABASE_URL": urls[c.name]} for c in classes})

    return {"urls": urls, "query": query, "start": start}


def effects(probes, text):
    return probes["query"]("probesink", "SELECT * FROM effects WHERE text = %s", (text,))
