"""`make soak`: the month's mix, paced at half the rate this machine manages,
for a long while (60 minutes; `SOAK_ARGS="--minutes 3"` for less), to see
that nothing keeps growing.

The four services run in their own processes in a sandbox (own vhost, own
databases), with retention shortened (--retention seconds, purged every
minute) so a soak of minutes shows what weeks would. Every --every seconds
(5 minutes; a quarter of a shorter soak) it prints one JSON line: each
service's resident memory, the submit p99 of that interval, the rows of the
tables retention governs (outbox, inbox) and of notify's messages, and the
broker's queue depths. At the end it prints a summary and fails (exit 1)
when memory or p99 kept growing from sample to sample, a retained table
holds more than retention allows, a queue kept growing, or the workload
failed.

The rate: half of what a short full-load burst measures first (--rate to
give it instead).
"""
import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import psycopg  # noqa: E402

from onewindow import config  # noqa: E402
from onewindow.sandbox import Sandbox, caller_uri  # noqa: E402
from scripts.bench import ServiceProcesses, catalog_once_up, percentile  # noqa: E402
from scripts.workload import Centre, plan_month  # noqa: E402
from services.registry import CENTRE  # noqa: E402

RETAINED = ("outbox", "inbox")  # what retention bounds
WATCHED = RETAINED + ("messages",)  # messages are kept (masked): watched, not bounded
PURGE_EVERY = 60.0  # the housekeeping loop's minute


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


def queue_depths(vhost):
    result = subprocess.run(["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "messages"],
                            capture_output=True, text=True, timeout=60)
    depths = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and not parts[0].startswith(("rpc.reply", "workload-tap")):
            depths[parts[0]] = int(parts[1])
    return depths


def keeps_growing(values, factor):
    """Rising at every one of the last three samples, and by more than
    `factor` overall from the second sample (the first is warm-up)."""
    values = [v for v in values if v is not None]
    if len(values) < 4:
        return False
    last = values[-4:]
    return all(b > a for a, b in zip(last, last[1:])) and values[-1] > factor * max(values[1], 1e-9)


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
    parser.add_argument("--every", type=float, default=None, help="seconds between samples (default 300)")
    parser.add_argument("--rate", type=float, default=None, help="cases per second (default: half the measured)")
    parser.add_argument("--retention", type=float, default=120.0,
                        help="seconds published outbox and done inbox rows are kept (default 120)")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    seconds = args.minutes * 60
    every = args.every or min(300.0, seconds / 4)
    os.environ.setdefault("OW_PORTAL_URL", "http://127.0.0.1:8000")   # applicants rate from its link
    os.environ.update({"OW_QUIET_HOURS": "", "OW_SMS_SEND_INTERVAL": "0.2",
                       "OW_RETENTION_DAYS": str(args.retention / 86400), "OW_PURGE_INTERVAL_SECONDS": "1"})
    samples, errors = [], []
    with Sandbox(CENTRE, "owsoak") as sandbox:
        services = ServiceProcesses()
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
            print(json.dumps({"soak": {"minutes": args.minutes, "rate_cases_per_second": round(rate, 3),
                                       "measured_full_rate": measured and round(measured, 3),
                                       "sample_every_seconds": every, "retention_seconds": args.retention}}),
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
                sample["queued_messages"] = sum(sample["queue_depths"].values())
                sample["queue_depths"] = {q: n for q, n in sample["queue_depths"].items() if n}
                cases_before = submitted
                samples.append(sample)
                print(json.dumps(sample, ensure_ascii=False), flush=True)
            centre.running = False
            runner.kill()
            errors = centre.errors
            centre.rpc.close()
        finally:
            services.stop()
    result = verdict(samples, rate, args.retention, errors, baseline)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 1 if result["failed_because"] else 0


def verdict(samples, rate, retention, errors, baseline=None):
    reasons = []
    services = samples[0]["memory_mib"].keys() if samples else []
    for service in services:
        if keeps_growing([s["memory_mib"].get(service) for s in samples], 1.2):
            reasons.append(f"{service} memory kept growing")
    if keeps_growing([s["submit_p99_ms"] for s in samples], 2.0):
        reasons.append("submit p99 kept growing")
    # rows one case leaves in a retained table, from the first sample (before
    # any purge could matter), less what was there before the soak began
    first = samples[0] if samples else None
    baseline = baseline or {}
    bounds = {}
    for key in (first["table_rows"] if first else {}):
        if key.split(".", 1)[1] in RETAINED and first["cases_submitted"]:
            per_case = max(0, first["table_rows"][key] - baseline.get(key, 0)) / first["cases_submitted"]
            # kept for `retention`, purged every minute, plus cases still in flight
            bounds[key] = round(per_case * rate * (retention + 2 * PURGE_EVERY + 120) * 1.5) + 100
            if samples[-1]["table_rows"][key] > bounds[key]:
                reasons.append(f"{key} holds {samples[-1]['table_rows'][key]} rows, more than retention allows "
                               f"({bounds[key]})")
    for queue in (samples[-1]["queue_depths"] if samples else {}):
        if keeps_growing([s["queue_depths"].get(queue, 0) for s in samples], 2.0):
            reasons.append(f"queue {queue} kept growing")
    if keeps_growing([s.get("queued_messages") for s in samples], 2.0):
        reasons.append("the broker's queued messages kept growing")
    if errors:
        reasons.append(f"{len(errors)} workload errors, e.g. {errors[0]!r}")
    return {"samples": len(samples), "retained_table_bounds": bounds, "failed_because": reasons}


if __name__ == "__main__":
    sys.exit(main())
