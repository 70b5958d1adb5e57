"""The gateway's retention: webhook deliveries acknowledged before the
cut-off go; recent ones, pending ones and the dead-letter list stay."""
import datetime
import uuid

from psycopg.types.json import Jsonb

from onewindow import retention
from onewindow.db import UnitOfWork, connect_pool
from services.gateway.store import GatewayStore


def test_deliveries_acknowledged_before_retention_go(extra_database):
    pool = connect_pool(extra_database("gateway"), min_size=1, max_size=1)
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=30)
    try:
        with UnitOfWork(pool, "gateway") as unit:
            for name, status, delivered_at in (("delivered-long-ago", "delivered", old),
                                               ("delivered-lately", "delivered", "now"),
                                               ("dead-long-ago", "dead", None), ("pending", "pending", None)):
                unit.execute("INSERT INTO deliveries (delivery_id, department, event_id, event_type, payload, status, "
                             "created_at, delivered_at) VALUES (%s, 'market', %s, 'task_opened', %s, %s, %s, "
                             "%s::timestamptz)", (uuid.uuid4(), name, Jsonb({}), status, old, delivered_at))
        with UnitOfWork(pool, "gateway") as unit:
            assert retention.purge(unit, GatewayStore(unit))["deliveries"] == 1
            kept = {r["event_id"] for r in unit.all("SELECT event_id FROM deliveries")}
    finally:
        pool.close()
    assert kept == {"delivered-lately", "dead-long-ago", "pending"}
