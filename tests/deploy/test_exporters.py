"""postgres_exporter, as deployed (Debian's prometheus-postgres-exporter with
deploy/postgres-exporter/queries.yaml, every database discovered, connecting
as the statistics-only role the set-up creates), against the real
PostgreSQL: every pg_* series the alerts read is there."""
import pathlib
import re
import shutil
import subprocess
import urllib.error
import urllib.request
import uuid

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from onewindow import dbroles
from onewindow.sandbox import free_port

ROOT = pathlib.Path(__file__).resolve().parents[2]
QUERIES = ROOT / "deploy" / "postgres-exporter" / "queries.yaml"


def documented_pg_names():
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    return set(re.findall(r"`(pg_[a-z0-9_]+)`", text))


def read_names():
    """pg_* names that alerts.yml reads."""
    text = (ROOT / "deploy" / "prometheus" / "alerts.yml").read_text(encoding="utf-8")
    return set(re.findall(r"\b(pg_[a-z0-9_]+)\b", text)) - {"pg_terminate_backend"}


def test_every_pg_series_an_alert_reads_is_documented():
    assert read_names() <= documented_pg_names()


@pytest.fixture
def monitored(extra_database):
    """A migrated service database (with tables) as set-up leaves it (no
    CONNECT for PUBLIC), and a monitoring role made as set-up makes
    ow_monitor (a name of its own: roles are the whole server's)."""
    url = extra_database("notify")
    database = conninfo_to_dict(url)["dbname"]
    role, password = f"{database}_monitor", uuid.uuid4().hex
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database)))
    dbroles.grant_monitor(url, [database], password, role=role)
    try:
        yield url, make_conninfo(url, user=role, password=password, sslmode="disable")
    finally:
        dbroles.drop(url, database, role)


def test_the_monitoring_role_reads_no_row(monitored):
    _, monitor = monitored
    with psycopg.connect(monitor) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM messages LIMIT 1")


def test_the_exporter_serves_every_series_the_alerts_read(monitored, tmp_path, wait):
    binary = shutil.which("prometheus-postgres-exporter")
    if binary is None:
        pytest.fail("postgres_exporter is not installed: run `bash scripts/ensure-tools.sh` "
                    "(Debian package `prometheus-postgres-exporter`)")
    url, monitor = monitored
    params = conninfo_to_dict(url)
    source = make_conninfo(monitor, dbname="postgres")  # as deployed: the server's postgres database
    port = free_port()
    log = open(tmp_path / "exporter.log", "w")
    proc = subprocess.Popen(
        [binary, f"--web.listen-address=127.0.0.1:{port}", "--auto-discover-databases",
         f"--include-databases={params['dbname']}", f"--extend.query-path={QUERIES}"],
        env={"DATA_SOURCE_NAME": source, "PATH": "/usr/bin:/bin"}, stdout=log, stderr=subprocess.STDOUT)

    def scrape():
        if proc.poll() is not None:
            raise AssertionError((tmp_path / "exporter.log").read_text())
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                body = response.read().decode()
        except (urllib.error.URLError, ConnectionError):
            return None
        return body if "pg_stat_user_tables_n_dead_tup" in body else None

    try:
        body = wait(scrape, timeout=30, message="postgres_exporter to serve the tables' series")
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
    served = set(re.findall(r"^(pg_[a-z0-9_]+)[{ ]", body, re.M))
    assert read_names() <= served, f"read by alerts, not served: {read_names() - served}"
    assert re.search(rf'^pg_up(\{{[^}}]*\}})? 1$', body, re.M)
    assert re.search(rf'^pg_stat_user_tables_n_dead_tup\{{[^}}]*datname="{params["dbname"]}"[^}}]*'
                     rf'relname="messages"', body, re.M)
    assert re.search(rf'^pg_lock_requests_waiting\{{[^}}]*datname="{params["dbname"]}"', body, re.M)
