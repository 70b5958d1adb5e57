"""Ordered SQL migrations: the platform's, then the service's own, each
applied once and recorded. An advisory lock lets replicas start together."""
import onewindow  # noqa: F401

import pathlib

import psycopg

from . import config

PLATFORM = pathlib.Path(__file__).resolve().parent / "migrations"


def migration_files(service, directory):
    """The platform's migrations, then those in the service's `directory`."""
    files = [("platform", p) for p in sorted(PLATFORM.glob("*.sql"))]
    files += [(service, p) for p in sorted(pathlib.Path(directory).glob("*.sql"))]
    return files


def migrate(service, directory, url=None):
    applied = []
    with psycopg.connect(url or config.database_url(service), autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(7201)")
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                         "name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
            done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
            for scope, path in migration_files(service, directory):
                name = f"{scope}/{path.name}"
                if name in done:
                    continue
                with conn.transaction():
                    conn.execute(path.read_text())
                    conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (name,))
                applied.append(name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(7201)")
    return applied


def create_database(admin_url, name):
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
        return not exists


def drop_database(admin_url, name):
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
