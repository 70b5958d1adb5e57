"""Each service connects to PostgreSQL as a role of its own.

The administrator (who runs set-up and the migrations) owns every table. A
service's role may connect to its own database only (CONNECT is revoked from
PUBLIC), and there read and write rows: SELECT, INSERT, UPDATE and DELETE on
its tables, its sequences. It is not a superuser and owns no table, so it
cannot alter a table, drop one, or disable a trigger: the fees ledger's
append-only triggers hold against the fees service itself.

postgres_exporter connects as `ow_monitor`: PostgreSQL's pg_monitor (the
statistics views and functions) and CONNECT on each service's database, no
right on any table's rows; a compromised exporter holds no administrator's
password and can read no applicant's data.
"""
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo


MONITOR_ROLE = "ow_monitor"


def role_name(service, prefix="ow"):
    return f"{prefix}_{service}"


def _login_role(conn, role, password):
    """Create or update `role`: may log in with `password`, nothing more."""
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    verb = "ALTER" if exists else "CREATE"
    conn.execute(sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
        sql.Identifier(role), sql.Literal(password)))


def grant(admin_url, database, role, password):
    """Create or update `role` (LOGIN, `password`) with row rights on
    `database` only; safe to run again, and again after a migration."""
    server = make_conninfo(admin_url, dbname="postgres")
    with psycopg.connect(server, autocommit=True) as conn:
        _login_role(conn, role, password)
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database)))
        conn.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
            sql.Identifier(database), sql.Identifier(role)))
    with psycopg.connect(make_conninfo(admin_url, dbname=database), autocommit=True) as conn:
        who = sql.Identifier(role)
        conn.execute(sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(who))
        conn.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}").format(who))
        conn.execute(sql.SQL("GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {}").format(who))
        conn.execute(sql.SQL("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {}").format(who))


def grant_monitor(admin_url, databases, password, role=MONITOR_ROLE):
    """Create or update the exporter's `role`: pg_monitor, and CONNECT on
    each of `databases` (revoked from PUBLIC by `grant`); safe to run again."""
    with psycopg.connect(make_conninfo(admin_url, dbname="postgres"), autocommit=True) as conn:
        _login_role(conn, role, password)
        conn.execute(sql.SQL("GRANT pg_monitor TO {}").format(sql.Identifier(role)))
        for database in databases:
            conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(database), sql.Identifier(role)))


def drop(admin_url, database, role):
    """Remove `role` and every right it holds (in `database` and on it)."""
    with psycopg.connect(make_conninfo(admin_url, dbname=database), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
    with psycopg.connect(make_conninfo(admin_url, dbname="postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def url_for(admin_url, database, role, password):
    """The service's own connection string: the administrator's server, its
    role and database."""
    server = conninfo_to_dict(admin_url)
    return make_conninfo(admin_url, dbname=database, user=role, password=password,
                         host=server.get("host", "127.0.0.1"))
