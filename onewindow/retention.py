"""Retention: what the platform keeps only as long as it is useful.

After OW_RETENTION_DAYS (7 by default) a published outbox row and a done
inbox row have served their purpose (the broker confirmed the one, the
other's effect is committed and a redelivery that late cannot come from a
live queue); so have an idempotency key (a client retries within minutes,
not weeks) and a message set aside as unreadable (an operator looks at it
the day it came). All of them hold personal data: names and phones in
payloads, results and bodies. A service's store adds its own rules in
`purge(older_than)` (its own idempotency records, personal data masked in
what it keeps longer).

Kept whatever their age: parked, waiting and retrying inbox rows and
unpublished outbox rows, which are still to be applied or sent.

Deletes go in small batches so no table is locked for long; one replica at a
time purges (an advisory lock). `onewindow purge` runs it by hand; each
service runs it every OW_PURGE_INTERVAL_SECONDS (an hour; 0 disables).
"""
import datetime
import logging

from . import config, metrics

log = logging.getLogger(__name__)

BATCH = 5000
PURGE_LOCK = 7202  # pg advisory lock: one purger per database at a time


def cutoff(days=None):
    days = config.retention_days() if days is None else days
    return datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days)


def delete_in_batches(unit, table, where, params=()):
    """DELETE FROM table WHERE where, BATCH rows per statement; returns how
    many. The caller commits; each statement is short."""
    total = 0
    while True:
        n = unit.execute(
            f"DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} WHERE {where} LIMIT {BATCH}))",
            params,
        ).rowcount
        total += n
        if n < BATCH:
            return total


def purge_platform(unit, older_than):
    return {
        "outbox_published": delete_in_batches(unit, "outbox", "published_at < %s", (older_than,)),
        "inbox_done": delete_in_batches(unit, "inbox", "status = 'done' AND updated_at < %s", (older_than,)),
        "idempotency_keys": delete_in_batches(unit, "idempotency_keys", "created_at < %s", (older_than,)),
        "rejected_messages": delete_in_batches(unit, "rejected_messages", "received_at < %s", (older_than,)),
    }


def purge(unit, store=None, days=None):
    """Purge one service's database in this unit of work; returns what went,
    or None when another replica is purging it right now."""
    if not unit.one("SELECT pg_try_advisory_xact_lock(%s) AS ok", (PURGE_LOCK,))["ok"]:
        return None
    older_than = cutoff(days)
    done = purge_platform(unit, older_than)
    if store is not None and hasattr(store, "purge"):
        done.update(store.purge(older_than))
    return done


# Tables whose size a soak watches: the platform's, and every service's own.
def table_sizes(unit):
    """Live rows (the statistics' estimate, no scan) and bytes per table."""
    return {r["table"]: {"rows": int(r["rows"]), "bytes": int(r["bytes"])} for r in unit.all(
        "SELECT relname AS table, n_live_tup AS rows, pg_total_relation_size(relid) AS bytes "
        "FROM pg_stat_user_tables WHERE schemaname = current_schema()")}


def record_table_sizes(service, unit):
    sizes = table_sizes(unit)
    for table, size in sizes.items():
        metrics.TABLE_ROWS.labels(service, table).set(size["rows"])
        metrics.TABLE_BYTES.labels(service, table).set(size["bytes"])
    return sizes
