"""`make soak`: the month's mix, paced at half the rate this machine manages,
for a long while (60 minutes; `SOAK_ARGS="--minutes 3"` for less), to see
that nothing keeps growing.

The four services run in their own processes in a sandbox (own vhost, own
databases), with retention shortened (--retention seconds, purged every
minute) so a soak of minutes shows what weeks would. Every --every seconds
(5 minutes; a quarter of a shorter soak) it prints one JSON line: each
service's resident memory, the submit p99 of that interval, the rows of the
tables retention governs (outbox, inbox) and of notify's messages, the rows
retention should already have removed, and the broker's queue depths. At the
end it prints a summary and fails (exit 1) when:

- memory, submit p99, a queue or the events still to be sent or applied
  grew: the median of the last third of the samples (the first, a warm-up,
  left out) is above the median of the first third by a factor and by an
  absolute margin, so one noisy sample on a shared machine is no trend;
- a retained table holds a row retention should have removed (published or
  done longer ago than --retention, two purge rounds and a minute): that,
  not a row count, is "outgrew retention"; notify's messages are kept
  (masked), so they may grow with the cases but not per case;
- an event was parked, or the workload failed.

The rate: half of what a short full-load burst measures first (--rate to
give it instead).

A server with autovacuum off (some CI machines turn it off) never clears the
dead rows that purging and publishing leave, and the relay's and the inbox's
index scans then visit them again on every pass: latency grows with the
soak's age, whatever the services do. There the soak runs VACUUM (ANALYZE)
on its databases every minute itself, as autovacuum would, and says so.
"""
import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

import psycopg  # noqa: E402

from onewindow import config  # noqa: E402
from onewindow.sandbox import Sandbox, caller_uri  # noqa: E402
from scripts.bench import ServiceProcesses, catalog_once_up, percentile  # noqa: E402
from scripts.workload import Centre, plan_month  # noqa: E402
from services.registry import CENTRE  # noqa: E402

RETAINED = ("outbox", "inbox")  # what retention bounds
WATCHED = RETAINED + ("messages",)  # messages are kept (masked): watched, not bounded
PURGE_EVERY = 60.0  # the housekeeping loop's minute
VACUUM_EVERY = 60.0  # autovacuum's own naptime


def resident_mib(procs):
    result = {}
    for service, proc in procs.items():
        with open(f"/proc/{proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    result[service] = round(int(line.split()[1]) / 1024, 1)
    return result


def table_rows():
    rows = {}
    for service in CENTRE.names:
        with psycopg.connect(config.database_url(service)) as conn:
            for table in WATCHED:
                exists = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0]
                if exists:
                    rows[f"{service}.{table}"] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return rows


def autovacuum_is_on():
    with psycopg.connect(config.admin_database_url()) as conn:
        return conn.execute("SHOW autovacuum").fetchone()[0] == "on"


def vacuum_now_and_then(every=VACUUM_EVERY):
    """What autovacuum would do, for a server where it is off. A round that
    fails is said on stderr and the next one tried: a loop that died quietly
    would leave the soak saying it vacuums while it does not."""
    while True:
        eventlet.sleep(every)
        for service in CENTRE.names:
            try:
                with psycopg.connect(config.database_url(service), autocommit=True) as conn:
                    conn.execute("VACUUM (ANALYZE)")
            except psycopg.Error as exc:
                print(f"soak: VACUUM of {service}'s database failed: {exc}", file=sys.stderr, flush=True)


def queue_depths(vhost):
    result = subprocess.run(["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "messages"],
                            capture_output=True, text=True, timeout=60)
    depths = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and not parts[0].startswith(("rpc.reply", "workload-tap")):
            depths[parts[0]] = int(parts[1])
    return depths


def overdue_and_held(retention):
    """Per service: rows retention should have removed by now (published
    outbox rows, done inbox rows older than retention plus two purge rounds
    and a minute), and what is still to be sent or applied (unpublished,
    retrying or waiting, parked)."""
    late = retention + 2 * PURGE_EVERY + 60
    overdue, held = {}, {}
    for service in CENTRE.names:
        with psycopg.connect(config.database_url(service)) as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM outbox WHERE published_at < now() - make_interval(secs => %s)) AS o, "
                "(SELECT count(*) FROM inbox WHERE status = 'done' AND updated_at < now() - make_interval(secs => %s)) "
                "  AS i, (SELECT count(*) FROM outbox WHERE published_at IS NULL) AS unpublished, "
                "(SELECT count(*) FROM inbox WHERE status IN ('retry', 'waiting')) AS pending, "
                "(SELECT count(*) FROM inbox WHERE status = 'parked') AS parked", (late, late)).fetchone()
        overdue[f"{service}.outbox"], overdue[f"{service}.inbox"] = row[0], row[1]
        held[f"{service}.unpublished"], held[f"{service}.pending"], held[f"{service}.parked"] = row[2:]
    return overdue, held


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def grew(values, factor, margin):
    """A trend, not a noisy sample: the median of the last third of the
    samples is above `factor` times the median of the first third and by
    more than `margin`. The first sample (warm-up) is left out; fewer than
    three others tell nothing."""
    values = [v for v in values[1:] if v is not None]
    if len(values) < 3:
        return False
    third = len(values) // 3
    first, last = median(values[:third]), median(values[-third:])
    return last > factor * first and last - first > margin


def measure_rate(items, seed, cases=60, concurrency=20):
    plans = plan_month(items, cases, seed)
    centre = Centre(caller_uri(), plans, concurrency)
    centre.prepare()
    elapsed = centre.run()
    centre.rpc.close()
    return cases / elapsed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--every", type=float, default=None,
                        help="seconds between samples (default 300, less for a soak shorter than an hour: 12 samples)")
    parser.add_argument("--rate", type=float, default=None, help="cases per second (default: half the measured)")
    parser.add_argument("--retention", type=float, default=120.0,
                        help="seconds published outbox and done inbox rows are kept (default 120)")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    seconds = args.minutes * 60
    every = args.every or min(300.0, seconds / 12)
    os.environ.setdefault("OW_PORTAL_URL", "http://127.0.0.1:8000")   # applicants rate from its link
    os.environ.setdefault("OW_PORTAL_SECRET", uuid.uuid4().hex)  # without it no SMS carries a rating link
    os.environ.update({"OW_QUIET_HOURS": "",
                       "OW_RETENTION_DAYS": str(args.retention / 86400), "OW_PURGE_INTERVAL_SECONDS": "1"})
    samples, errors = [], []
    with Sandbox(CENTRE, "owsoak") as sandbox:
        services = ServiceProcesses(sandbox.service_accounts())   # each its own user and role, as deployed
        try:
            items = catalog_once_up()
            measured = None
            if args.rate is None:
                measured = measure_rate(items, args.seed)
            rate = args.rate or measured / 2
            plans = plan_month(items, max(1, int(rate * seconds)), args.seed + 1)
            centre = Centre(caller_uri(), plans, args.concurrency)
            centre.prepare()
            baseline = table_rows()  # what the measuring burst left, gone after retention
            started = time.perf_counter()
            runner = eventlet.spawn(centre.run, pace=rate, deadline=120)
            vacuum = None if autovacuum_is_on() else eventlet.spawn(vacuum_now_and_then)
            print(json.dumps({"soak": {"minutes": args.minutes, "rate_cases_per_second": round(rate, 3),
                                       "measured_full_rate": measured and round(measured, 3),
                                       "sample_every_seconds": every, "retention_seconds": args.retention,
                                       "autovacuum": "on" if vacuum is None else
                                       f"off on this server: the soak vacuums its databases every "
                                       f"{VACUUM_EVERY:.0f} s itself"}}),
                  flush=True)
            cases_before = 0
            while time.perf_counter() - started < seconds:
                eventlet.sleep(min(every, seconds - (time.perf_counter() - started)))
                at = time.perf_counter() - started
                window = [p.submit_seconds for p in plans
                          if p.submit_seconds and p.started and at - every <= p.started - started <= at]
                submitted = sum(1 for p in plans if p.application_no)
                sample = {"at_seconds": round(at), "cases_submitted": submitted,
                          "cases_in_interval": submitted - cases_before,
                          "memory_mib": resident_mib(services.procs),
                          "submit_p99_ms": round(percentile(window, 99) * 1000, 1) if window else None,
                          "table_rows": table_rows(), "queue_depths": queue_depths(sandbox.vhost),
                          "queued_messages": None}
                sample["overdue_rows"], sample["held_rows"] = overdue_and_held(args.retention)
                sample["queued_messages"] = sum(sample["queue_depths"].values())
                sample["queue_depths"] = {q: n for q, n in sample["queue_depths"].items() if n}
                cases_before = submitted
                samples.append(sample)
                print(json.dumps(sample, ensure_ascii=False), flush=True)
            centre.running = False
            runner.kill()
            if vacuum is not None:
                vacuum.kill()
            errors = centre.errors
            centre.rpc.close()
        finally:
            services.stop()
    result = verdict(samples, rate, args.retention, errors, baseline)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 1 if result["failed_because"] else 0


# What counts as growth: (factor, margin) of the last third's median over the first third's
MEMORY = (1.25, 30.0)     # MiB
P99 = (2.0, 100.0)        # ms
QUEUE = (2.0, 200)        # messages
HELD = (2.0, 50)          # rows still to be sent or applied
PER_CASE = (1.5, 0.5)     # notify's messages per case


def verdict(samples, rate, retention, errors, baseline=None):
    reasons = []
    services = samples[0]["memory_mib"].keys() if samples else []
    for service in services:
        if grew([s["memory_mib"].get(service) for s in samples], *MEMORY):
            reasons.append(f"{service} memory kept growing")
    if grew([s["submit_p99_ms"] for s in samples], *P99):
        reasons.append("submit p99 kept growing")
    baseline = baseline or {}
    for s in samples[1:]:  # the first may still hold the measuring burst's rows
        for key, n in s.get("overdue_rows", {}).items():
            if n:
                reasons.append(f"{key} held {n} rows older than retention allows at {s['at_seconds']} s")
    keys = samples[-1].get("held_rows", {}) if samples else {}
    for key in keys:
        values = [s.get("held_rows", {}).get(key) for s in samples]
        if key.endswith(".parked") and values[-1]:
            reasons.append(f"{key}: {values[-1]} events parked")
        elif grew(values, *HELD):
            reasons.append(f"{key} kept growing: events not sent or applied")
    for key in (samples[-1]["table_rows"] if samples else {}):
        if key.endswith(".messages"):
            per_case = [(s["table_rows"][key] - baseline.get(key, 0)) / s["cases_submitted"]
                        if s["cases_submitted"] else None for s in samples]
            if grew(per_case, *PER_CASE):
                reasons.append(f"{key} per case kept growing")
    for queue in (samples[-1]["queue_depths"] if samples else {}):
        if grew([s["queue_depths"].get(queue, 0) for s in samples], *QUEUE):
            reasons.append(f"queue {queue} kept growing")
    if grew([s.get("queued_messages") for s in samples], *QUEUE):
        reasons.append("the broker's queued messages kept growing")
    if errors:
        reasons.append(f"{len(errors)} workload errors, e.g. {errors[0]!r}")
    return {"samples": len(samples), "rate_cases_per_second": rate, "retention_seconds": retention,
            "failed_because": reasons}


if __name__ == "__main__":
    sys.exit(main())
