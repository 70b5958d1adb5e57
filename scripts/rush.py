"""The hall's morning rush, for `make bench`: TICKETS kiosk tickets taken as
fast as ten kiosks can while WINDOWS windows call and finish them, all at
once, against the hall in its own process (as `make run` starts it). Prints
tickets taken per second, tickets served per second and the latency of
call_next (p50/p95/p99), and checks that every ticket was called exactly
once. Runs inside bench's sandbox; the hall's layout here is the shipped one
with WINDOWS windows, open all day so the bench runs at any hour."""
import os
import tempfile
import time
import uuid

import eventlet
import psycopg
import yaml

from onewindow import config
from onewindow.sandbox import caller_uri
from services.hall import domain

KIOSKS = 10


def rush_layout(windows):
    """The shipped queues, served by `windows` windows in turn, open all day."""
    layout = yaml.safe_load(domain.LAYOUT_FILE.read_text(encoding="utf-8"))
    queues = [q["code"] for q in layout["queues"]]
    served = {n: [q for i, q in enumerate(queues) if i % windows == (n - 1) % len(queues) % windows]
              for n in range(1, windows + 1)}  # every queue has a window, however few
    layout.update(opening_hours=["00:00-24:00"], open_days="every_day",
                  windows=[{"code": str(n), "queues": served[n] or [queues[(n - 1) % len(queues)]]}
                           for n in range(1, windows + 1)])
    return layout, queues


def measure_rush(tickets, windows, start, stop, wait_answer, pool_class, percentile):
    """`start`, `stop`, `wait_answer`, `pool_class` and `percentile` are
    bench's own helpers (one way to start a service and to time calls)."""
    layout, queues = rush_layout(windows)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(layout, f, allow_unicode=True)
    env = dict(os.environ, HALL_LAYOUT=f.name, HALL_METRICS_PORT="", OW_MAX_WORKERS=str(max(20, windows + KIOSKS)),
               OW_DB_POOL_SIZE="20")
    hall = start(["onewindow", "serve", "hall"], env)
    pool = pool_class(caller_uri(), windows + KIOSKS)
    try:
        wait_answer(lambda: pool.call("hall", "health", retry_for=60))
        taken, call_seconds, called, errors = [], [], [], []
        all_taken = eventlet.event.Event()
        begin = time.perf_counter()

        def kiosk(n):
            for i in range(n, tickets, KIOSKS):
                try:
                    result, _ = pool.call("hall", "take_ticket", queues[i % len(queues)], "kiosk", uuid.uuid4().hex)
                    taken.append(result["ticket_no"])
                except Exception as exc:
                    errors.append(f"take_ticket: {exc!r}")
            if len(taken) + len([e for e in errors if e.startswith("take")]) >= tickets and not all_taken.ready():
                all_taken.send(time.perf_counter() - begin)

        def window(code):
            while True:
                t0 = time.perf_counter()
                try:
                    ticket, _ = pool.call("hall", "call_next", code, uuid.uuid4().hex)
                except Exception as exc:
                    errors.append(f"call_next: {exc!r}")
                    return
                call_seconds.append(time.perf_counter() - t0)
                if ticket is None:
                    if all_taken.ready():
                        return
                    eventlet.sleep(0.05)  # nobody waits for this window yet
                    continue
                called.append(ticket["ticket_no"])
                pool.call("hall", "finish", ticket["ticket_no"], "served", uuid.uuid4().hex)

        green = eventlet.GreenPool(windows + KIOSKS)
        for n in range(KIOSKS):
            green.spawn(kiosk, n)
        for n in range(1, windows + 1):
            green.spawn(window, str(n))
        green.waitall()
        elapsed = time.perf_counter() - begin
        taking = all_taken.wait() if all_taken.ready() else elapsed
        with psycopg.connect(config.database_url("hall")) as conn:
            twice = conn.execute("SELECT count(*) FROM (SELECT ticket_no FROM ticket_history WHERE action = 'called' "
                                 "GROUP BY service_day, ticket_no HAVING count(*) > 1) t").fetchone()[0]
        ms = {p: round(percentile(call_seconds, int(p[1:])) * 1000, 1) for p in ("p50", "p95", "p99")}
        return {
            "tickets": tickets, "windows": windows, "kiosks": KIOSKS, "seconds": round(elapsed, 3),
            "tickets_per_second": round(len(taken) / taking, 1),
            "served_per_second": round(len(called) / elapsed, 1),
            "call_next_latency_ms": ms, "call_next_calls": len(call_seconds),
            "served": len(called), "called_twice": twice + (len(called) - len(set(called))),
            "errors": errors[:5],
        }
    finally:
        pool.close()
        stop([hall])
        os.unlink(f.name)
