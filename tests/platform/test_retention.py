"""Retention: old published outbox rows, done inbox rows, idempotency keys
and rejected messages go, nothing a relay or an operator still needs; table
sizes reach the metrics."""
import datetime

from psycopg.types.json import Jsonb

from onewindow import metrics, retention
from onewindow.db import UnitOfWork, connect_pool

OLD = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=10)


def test_purge_removes_only_what_has_served_its_purpose(probes):
    pool = connect_pool(probes["urls"]["probesink"], min_size=1, max_size=1)
    try:
        with UnitOfWork(pool, "probesink") as unit:
            for name, published, created in (("old-published", OLD, OLD), ("new-published", "now", "now"),
                                             ("old-unpublished", None, OLD)):
                event = unit.emit("note_written", {"text": name})
                unit.execute("UPDATE outbox SET published_at = %s::timestamptz, created_at = %s::timestamptz "
                             "WHERE event_id = %s", (published, created, event["event_id"]))
            for name, status, updated in (("old-done", "done", OLD), ("new-done", "done", "now"),
                                          ("old-parked", "parked", OLD), ("old-waiting", "waiting", OLD)):
                unit.execute("INSERT INTO inbox (consumer, event_id, event_type, payload, status, updated_at) "
                             "VALUES ('c', %s, 'note_written', %s, %s, %s::timestamptz)",
                             (name, Jsonb({"text": name}), status, updated))
            for name, at in (("old-key", OLD), ("new-key", "now")):
                unit.execute("INSERT INTO idempotency_keys (method, key, principal, fingerprint, result, created_at) "
                             "VALUES ('submit', %s, 'window', 'f', %s, %s::timestamptz)",
                             (name, Jsonb({"phone": "13912345678"}), at))
                unit.execute("INSERT INTO rejected_messages (kind, queue, reason, body, received_at) "
                             "VALUES ('event', 'q', 'not json', %s, %s::timestamptz)", (name, at))
        with UnitOfWork(pool, "probesink") as unit:
            done = retention.purge(unit, days=7)
        assert done == {"outbox_published": 1, "inbox_done": 1, "idempotency_keys": 1, "rejected_messages": 1}
        kept_outbox = {r["payload"]["text"] for r in probes["query"]("probesink", "SELECT payload FROM outbox")}
        kept_inbox = {r["event_id"] for r in probes["query"]("probesink", "SELECT event_id FROM inbox")}
        assert kept_outbox == {"new-published", "old-unpublished"}
        assert kept_inbox == {"new-done", "old-parked", "old-waiting"}
        assert [r["key"] for r in probes["query"]("probesink", "SELECT key FROM idempotency_keys")] == ["new-key"]
        assert [r["body"] for r in probes["query"]("probesink", "SELECT body FROM rejected_messages")] == ["new-key"]
        with UnitOfWork(pool, "probesink") as unit:
            sizes = retention.record_table_sizes("probesink", unit)
        assert {"outbox", "inbox", "effects"} <= set(sizes)
        assert metrics.TABLE_BYTES.labels("probesink", "outbox")._value.get() == sizes["outbox"]["bytes"] > 0
    finally:
        pool.close()


def test_one_purger_at_a_time(probes):
    pool = connect_pool(probes["urls"]["probesink"], min_size=2, max_size=2)
    try:
        with UnitOfWork(pool, "probesink") as first, UnitOfWork(pool, "probesink") as second:
            assert retention.purge(first) is not None
            assert retention.purge(second) is None  # the first holds the lock until it commits
    finally:
        pool.close()


def test_each_service_purges_by_itself_and_reports_its_table_sizes(probes, wait, monkeypatch):
    from onewindow.db import Database
    from tests.platform.probe import ProbeSink
    monkeypatch.setattr(Database, "TABLE_SIZES_INTERVAL", 0.2)
    monkeypatch.setenv("OW_PURGE_INTERVAL_SECONDS", "0.1")
    probes["query"]("probesink", "INSERT INTO inbox (consumer, event_id, event_type, payload, status, updated_at) "
                                 "VALUES ('c', 'long-done', 'note_written', '{}', 'done', now() - interval '30 days')")
    probes["start"](ProbeSink)
    wait(lambda: not probes["query"]("probesink", "SELECT 1 FROM inbox WHERE event_id = 'long-done'"), timeout=10,
         message="the service's own purge")
    wait(lambda: metrics.TABLE_ROWS.labels("probesink", "inbox")._value.get() is not None, timeout=5,
         message="its table sizes")
