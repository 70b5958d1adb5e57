"""The hall's retention: past the cut-off, idempotency records go, a
ticket's phone goes, appointments keep a masked phone, and a visit (done, or
never done by its day) keeps a masked phone and no address."""
import datetime

from psycopg.types.json import Jsonb

from onewindow import retention
from onewindow.db import UnitOfWork, connect_pool
from services.hall.store import HallStore

PHONE = "13912345678"


def test_personal_data_past_retention_is_removed_or_masked(extra_database):
    pool = connect_pool(extra_database("hall"), min_size=1, max_size=1)
    now = datetime.datetime.now(datetime.timezone.utc)
    old, recent = now - datetime.timedelta(days=30), now - datetime.timedelta(hours=1)
    try:
        with UnitOfWork(pool, "hall") as unit:
            for name, at in (("old", old), ("new", recent)):
                unit.execute("INSERT INTO idempotency_keys (method, key, principal, fingerprint, result, created_at) "
                             "VALUES ('hall.take_ticket', %s, 'window', '', %s, %s)", (name, Jsonb({"phone": PHONE}), at))
                unit.execute("INSERT INTO tickets (service_day, ticket_no, queue_code, seq, channel, phone, taken_at) "
                             "VALUES (%s, %s, 'A', 1, 'remote', %s, %s)", (at.date(), name, PHONE, at))
                unit.execute("INSERT INTO appointments (appointment_no, item_code, queue_code, day, slot, starts_at, "
                             "ends_at, phone) VALUES (%s, 'I', 'A', %s, '09:00', %s, %s, %s)",
                             (name, at.date(), at, at, PHONE))
            for name, preferred, completed in (("done-long-ago", old.date(), old), ("never-done", old.date(), None),
                                               ("done-lately", old.date(), recent),
                                               ("to-come", (now + datetime.timedelta(days=3)).date(), None)):
                unit.execute("INSERT INTO visits (visit_no, kind, item_code, phone, address, preferred_date, "
                             "completed_at) VALUES (%s, 'home', 'I', %s, '幸福路1号', %s, %s)",
                             (name, PHONE, preferred, completed))
        with UnitOfWork(pool, "hall") as unit:
            done = retention.purge(unit, HallStore(unit))
        assert {k: done[k] for k in ("idempotency_keys", "ticket_phones", "appointment_phones", "visits")} == \
            {"idempotency_keys": 1, "ticket_phones": 1, "appointment_phones": 1, "visits": 2}
        with UnitOfWork(pool, "hall") as unit:
            assert retention.purge(unit, HallStore(unit))["visits"] == 0  # masked once
            requests = [r["key"] for r in unit.all("SELECT key FROM idempotency_keys")]
            tickets = {r["ticket_no"]: r["phone"] for r in unit.all("SELECT ticket_no, phone FROM tickets")}
            appointments = {r["appointment_no"]: r["phone"] for r in unit.all("SELECT * FROM appointments")}
            visits = {r["visit_no"]: (r["phone"], r["address"]) for r in unit.all("SELECT * FROM visits")}
    finally:
        pool.close()
    assert requests == ["new"]
    assert tickets == {"old": None, "new": PHONE}
    assert appointments == {"old": "139****5678", "new": PHONE}
    assert visits == {"done-long-ago": ("139****5678", ""), "never-done": ("139****5678", ""),
                      "done-lately": (PHONE, "幸福路1号"), "to-come": (PHONE, "幸福路1号")}
