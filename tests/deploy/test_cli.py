"""The operator's command line: health of one service, the ledger check and
loading a newly published holiday schedule."""
import datetime
import json

import psycopg
import pytest

from nameko.rpc import rpc as nameko_rpc

from onewindow import cli
from services.registry import CENTRE

SCHEDULE_2089 = """\
# 2089, as the State Council would publish it
2089-01-01 holiday 元旦
2089-01-22 holiday 春节
2089-01-23 holiday 春节
2089-01-26 workday 春节调休
"""


def run_cli(capsys, *argv):
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


# ---------------------------------------------------------------- no broker needed

def test_setup_with_service_users_names_every_missing_or_unusable_password_before_doing_anything(
        capsys, monkeypatch):
    for service in CENTRE.names:
        monkeypatch.delenv(f"{service.upper()}_BROKER_PASSWORD", raising=False)
        monkeypatch.setenv(f"{service.upper()}_DATABASE_PASSWORD", "a" * 24)
    monkeypatch.setenv("INTAKE_DATABASE_PASSWORD", "short")
    monkeypatch.setenv("FEES_DATABASE_PASSWORD", "has@and/in-a-uri-breaks")
    monkeypatch.delenv("OW_PROBE_PASSWORD", raising=False)
    monkeypatch.delenv("OW_MONITOR_PASSWORD", raising=False)
    # nothing is created: a database URL nobody answers would fail any attempt
    monkeypatch.setenv("OW_ADMIN_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/postgres")
    code, _, err = run_cli(capsys, "setup", "--service-users")
    assert code == 1
    for service in CENTRE.names:
        assert f"{service.upper()}_BROKER_PASSWORD is not set" in err
    assert "OW_PROBE_PASSWORD is not set" in err and "OW_MONITOR_PASSWORD is not set" in err
    assert "INTAKE_DATABASE_PASSWORD must be 16 or more" in err and "FEES_DATABASE_PASSWORD must be" in err
    assert "REVIEW_DATABASE_PASSWORD" not in err and "connection" not in err.lower()


def test_read_schedule_gives_every_day_of_the_year(tmp_path):
    path = tmp_path / "2089.txt"
    path.write_text(SCHEDULE_2089, encoding="utf-8")
    days = cli.read_schedule(2089, path)
    assert len(days) == 4
    assert days[datetime.date(2089, 1, 26)] == (True, "春节调休")


def test_read_schedule_refuses_days_of_another_year_and_names_them(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("2089-01-01 holiday\n2030-12-31 holiday\n2032-01-01 holiday\n", encoding="utf-8")
    with pytest.raises(ValueError) as err:
        cli.read_schedule(2089, path)
    assert "2030-12-31" in str(err.value) and "2032-01-01" in str(err.value)


def test_read_schedule_refuses_an_empty_file(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("# nothing yet\n", encoding="utf-8")
    with pytest.raises(ValueError, match="lists no days"):
        cli.read_schedule(2089, path)


def test_a_bad_schedule_file_fails_with_every_bad_line_and_stores_nothing(tmp_path, capsys, monkeypatch):
    path = tmp_path / "bad.txt"
    path.write_text("2089-01-01 holiday\n2089-13-01 holiday\nnonsense\n", encoding="utf-8")
    monkeypatch.setattr(cli, "_units", lambda services: pytest.fail("nothing may be stored"))
    code, _, err = run_cli(capsys, "calendar", "load", "2089", str(path))
    assert code == 1
    assert "line 2" in err and "line 3" in err


def test_help_names_every_operator_command(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for name in ("health", "parked", "retrying", "outbox", "purge", "ledger", "calendar", "report"):
        assert name in out


# ---------------------------------------------------------------- on the real broker

class UnbalancedFees:
    """Stands in for fees whose books do not add up."""
    name = "fees"

    @nameko_rpc
    def check_ledger(self):
        return {"balanced": False, "problems": ["entry 7 books 100 fen to no treasury account"]}


def test_ledger_exit_status_follows_the_check(platform_env, run_services, capsys):
    from services.fees.service import FeesService
    runner = run_services(FeesService)
    code, out, _ = run_cli(capsys, "ledger", "--json")
    result = json.loads(out)
    assert "balanced" in result
    assert code == (0 if result["balanced"] else 1)
    runner.stop()

    run_services(UnbalancedFees)
    code, out, _ = run_cli(capsys, "ledger")
    assert code == 1
    assert "LEDGER NOT BALANCED" in out and "entry 7" in out


def test_health_of_one_service(platform_env, run_services, capsys):
    from services.notify.service import NotifyService
    run_services(NotifyService)
    code, out, _ = run_cli(capsys, "health", "--service", "notify", "--json")
    assert code == 0
    assert set(json.loads(out)) == {"notify"} and json.loads(out)["notify"]["ok"] is True


def test_health_fails_when_the_service_does_not_answer(platform_env, capsys):
    code, out, _ = run_cli(capsys, "health", "--service", "review", "--timeout", "1")
    assert code == 1
    assert "DOWN" in out


@pytest.fixture
def year_2089_removed_afterwards(platform_env):
    """The databases are shared by the whole run: leave no loaded year behind."""
    yield
    for url in platform_env["databases"].values():
        with psycopg.connect(url) as conn:
            conn.execute("DELETE FROM workday_overrides WHERE day BETWEEN '2089-01-01' AND '2089-12-31'")
            conn.execute("DELETE FROM calendar_years WHERE year = 2089")


def test_calendar_load_stores_the_year_everywhere_and_recomputes(platform_env, run_services, capsys, tmp_path,
                                                                 year_2089_removed_afterwards):
    from services.intake.service import IntakeService
    from services.review.service import ReviewService
    run_services(IntakeService, ReviewService)
    path = tmp_path / "2089.txt"
    path.write_text(SCHEDULE_2089, encoding="utf-8")

    code, out, err = run_cli(capsys, "calendar", "load", "2089", str(path), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["stored_in"] == list(CENTRE.names)
    assert (result["holidays"], result["workdays"]) == (3, 1)
    for service in ("intake", "review"):
        assert "error" not in (result["recomputed"][service] or {}), result["recomputed"]
    for service, url in platform_env["databases"].items():
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1 FROM calendar_years WHERE year = 2089").fetchone(), service
            rows = conn.execute("SELECT day, is_workday FROM workday_overrides "
                                "WHERE day BETWEEN '2089-01-01' AND '2089-12-31' ORDER BY day").fetchall()
            assert [r[1] for r in rows] == [False, False, False, True], service

    # loading again replaces the year; it does not add to it
    path.write_text("2089-10-01 holiday 国庆节\n", encoding="utf-8")
    code, out, _ = run_cli(capsys, "calendar", "load", "2089", str(path))
    assert code == 0
    assert "1 holidays and 0 make-up workdays" in out
    with psycopg.connect(platform_env["databases"]["review"]) as conn:
        days = conn.execute("SELECT day FROM workday_overrides WHERE day BETWEEN '2089-01-01' AND '2089-12-31'").fetchall()
    assert [str(d[0]) for d in days] == ["2089-10-01"]


def test_retrying_lists_events_waiting_for_another_attempt(platform_env, service_sql, capsys):
    import uuid
    event_id = str(uuid.uuid4())
    service_sql("fees", "INSERT INTO inbox (consumer, event_id, event_type, payload, status, attempts, last_error) "
                        "VALUES ('fees.on_probe', %s, 'probe', '{}', 'retry', 2, 'OperationalError: gone')",
                (event_id,))
    try:
        code, out, _ = run_cli(capsys, "retrying", "--service", "fees", "--json")
        assert code == 0
        rows = [r for r in json.loads(out)["fees"] if r["event_id"] == event_id]
        assert rows and rows[0]["attempts"] == 2 and rows[0]["last_error"] == "OperationalError: gone"
    finally:
        service_sql("fees", "DELETE FROM inbox WHERE event_id = %s", (event_id,))


def test_report_asks_intake_and_fees_over_rpc(platform_env, run_services, capsys):
    from services.fees.service import FeesService
    from services.intake.service import IntakeService
    run_services(IntakeService, FeesService)
    code, out, err = run_cli(capsys, "report", "--start", "2026-01-01", "--end", "2026-01-31", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["start"] == "2026-01-01" and "headline" in result
    assert "error" not in result["fees_by_month"] and result["fees_by_month"]["total"]["net_fen"] >= 0


def test_purge_runs_each_services_retention_and_reports_table_sizes(platform_env, capsys, service_sql):
    # an idempotency record of intake far past any retention (the run's databases are shared: only it is old)
    service_sql("intake", "INSERT INTO idempotency_keys (method, key, principal, fingerprint, created_at) "
                          "VALUES ('intake.submit', 'purge-test', 'window', '', now() - interval '20 years')")
    code, out, err = run_cli(capsys, "purge", "--days", "3650", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert set(result) == set(CENTRE.names)
    assert result["intake"]["purged"]["idempotency_keys"] == 1
    assert {"outbox_published", "inbox_done"} <= set(result["review"]["purged"])
    assert "messages_masked" in result["notify"]["purged"] and "outbox" in result["fees"]["tables"]
    assert service_sql("intake", "SELECT 1 FROM idempotency_keys WHERE key = 'purge-test'") == []
