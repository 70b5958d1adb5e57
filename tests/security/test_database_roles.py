"""Each service's PostgreSQL role has rows of its own database and nothing
else: the fees role cannot turn off the ledger's append-only triggers, nor
read intake's database."""
import uuid

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from onewindow import dbroles


@pytest.fixture
def fees_role(platform_env):
    """The roles of fees and intake, as set-up makes them; the fees role's URL."""
    made = {}
    for service in ("fees", "intake"):
        admin = platform_env["databases"][service]
        database = conninfo_to_dict(admin)["dbname"]
        role, password = f"{platform_env['run_id']}_{service}_{uuid.uuid4().hex[:4]}", uuid.uuid4().hex
        dbroles.grant(admin, database, role, password)
        made[service] = (admin, database, role, password)
    try:
        admin, database, role, password = made["fees"]
        yield dbroles.url_for(admin, database, role, password), role
    finally:
        for admin, database, role, _ in made.values():
            dbroles.drop(admin, database, role)


def test_the_fees_role_works_its_rows_and_cannot_touch_the_ledgers_guard(fees_role, platform_env):
    url, role = fees_role
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT current_user, count(*) FROM journal_entries").fetchone()[0] == role
        assert not conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
        conn.execute("SELECT count(*) FROM outbox")
        for statement in ("ALTER TABLE journal_entries DISABLE TRIGGER journal_entries_append_only",
                          "ALTER TABLE postings DISABLE TRIGGER ALL",
                          "DROP TRIGGER journal_entries_append_only ON journal_entries",
                          "SET session_replication_role = replica",
                          "TRUNCATE journal_entries",
                          "DROP TABLE journal_entries",
                          "CREATE TABLE sneaky (x int)"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
    triggers = psycopg.connect(platform_env["databases"]["fees"], autocommit=True).execute(
        "SELECT tgenabled FROM pg_trigger WHERE tgname = 'journal_entries_append_only'").fetchone()
    assert triggers == ("O",)


def test_the_fees_role_cannot_read_intakes_database(fees_role, platform_env):
    url, _ = fees_role
    intake = conninfo_to_dict(platform_env["databases"]["intake"])["dbname"]
    with pytest.raises(psycopg.OperationalError) as info:
        psycopg.connect(make_conninfo(url, dbname=intake)).close()
    assert "permission denied" in str(info.value)
