"""What every OneWindow service needs once: configuration, the database
provider with its unit of work, outbox and inbox, metrics, error types and the
working-day calendar.

psycopg 3 blocks the eventlet hub unless it waits with select(); the choice is
read when psycopg is first imported, so it is made here, before any module of
this package imports psycopg.
"""
import os

os.environ.setdefault("PSYCOPG_WAIT_FUNC", "wait_select")
