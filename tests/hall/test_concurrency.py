"""Two windows calling at the same instant never get the same ticket: proved
in the database with two open transactions, and over the broker with five
windows calling at once through two replicas of the service."""
import collections
import datetime

import eventlet
from nameko.runners import ServiceRunner

from onewindow.db import UnitOfWork, connect_pool
from services.hall.service import HallService
from services.hall.store import HallStore

from .conftest import ref, today


def test_a_ticket_locked_by_one_window_is_skipped_by_the_other_not_waited_for(hall):
    first, second = hall.take("A"), hall.take("A")
    pool = connect_pool(hall.url, min_size=2, max_size=2)
    now = datetime.datetime.now().astimezone()
    try:
        one, two = UnitOfWork(pool, "hall"), UnitOfWork(pool, "hall")
        called_by_one = HallStore(one).call_next(today(), ["A"], "1", now)  # not committed yet
        with eventlet.Timeout(5):
            called_by_two = HallStore(two).call_next(today(), ["A"], "2", now)
        assert called_by_one["ticket_no"] == first["ticket_no"]
        assert called_by_two["ticket_no"] == second["ticket_no"]
        one.rollback()
        two.commit()
    finally:
        pool.close()
    # window 1 gave its ticket back by rolling back: it is called next
    assert hall.call("3")["ticket_no"] == first["ticket_no"]


def test_five_windows_calling_at_once_through_two_replicas_serve_every_ticket_once(hall, hall_config,
                                                                                  platform_env):
    tickets = {hall.take("A")["ticket_no"] for _ in range(40)}
    replica = ServiceRunner(hall_config())
    replica.add_service(HallService)
    replica.start()
    served = collections.defaultdict(list)
    start = eventlet.event.Event()

    def window(code):
        with platform_env["sandbox"].router() as rpc:
            start.wait()
            while True:
                called = rpc.hall.call_next(code, ref())
                if called is None:
                    return
                served[code].append(called["ticket_no"])
                rpc.hall.finish(called["ticket_no"], "served", ref())

    try:
        pool = eventlet.GreenPool()
        for code in ("1", "2", "3", "4", "5"):
            pool.spawn(window, code)
        eventlet.sleep(1)  # every proxy connected, then all at once
        start.send(True)
        pool.waitall()
    finally:
        replica.stop()
    called = [t for per_window in served.values() for t in per_window]
    assert len(called) == len(set(called)) == 40
    assert set(called) == tickets
    assert len([w for w in served.values() if w]) > 1  # the windows really shared the queue
    rows = hall.sql("SELECT ticket_no, count(*) AS n FROM ticket_history WHERE action = 'called' GROUP BY ticket_no")
    assert len(rows) == 40 and {r["n"] for r in rows} == {1}
    assert hall.sql("SELECT count(*) AS n FROM tickets WHERE outcome = 'served'")[0]["n"] == 40
