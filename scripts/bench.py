"""`make bench`: figures for the skeleton, measured in one run on one machine.

1. Two nameko ceilings, measured one after the other in the same run: bare
   (RPC calls per second, each dispatching one event to a second service,
   2,000 calls pipelined, nothing of ours in between) and durable (the same,
   with every RPC and every event handler committing one INSERT through the
   project's own pool). The pipeline's efficiency is given against both.
2. A month of a city centre replayed through the four services, each in its
   own process as `make run` starts them: 67.3% instant items, the rest
   committed with one to five departments, about 2% rejected, 5% needing
   materials once, every fee paid, every case rated (99% satisfied); department
   systems decide over RPC concurrently. Complete = from first submit to the
   last SMS (the rating invitation) of the last case.
3. The same mix paced at half the measured rate, for latency at half load.
4. intake's report for the month, beside the mix that was replayed.
5. The hall's morning rush (scripts/rush.py): 2,000 kiosk tickets over 40
   windows calling at once; tickets per second and call_next latency p99.

Broker messages are counted the same way for both: an RPC call is two (request
and reply), an event is one per consumer it reaches. For the pipeline that is
2 x the case-work RPC calls (submit, supplement, decide, pay, rate; status
polls excluded) plus every event delivery recorded in the services' inboxes.

The driver (this process: windows, departments, applicants) shares the cores
with the services; its own CPU is printed beside theirs. `verdict` holds the
targets of the performance work, each with its measured figure.

Prints JSON. `make bench BENCH_ARGS="--cases 500"` for a shorter run.
"""
import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

import psycopg  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

from onewindow import config, migrate, topology  # noqa: E402
from services.registry import CENTRE  # noqa: E402
from onewindow.sandbox import Sandbox, caller_uri  # noqa: E402
from scripts.ceiling_services import PINGS_TABLE  # noqa: E402
from scripts.rush import measure_rush  # noqa: E402
from scripts.workload import Centre, ProxyPool, plan_month  # noqa: E402


def percentile(values, p):
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def start(args, env=None):
    return subprocess.Popen([sys.executable, "-m", *args], env=env or os.environ.copy(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_answer(call, timeout=60):
    deadline = time.time() + timeout
    while True:
        try:
            return call()
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.3)


def stop(procs):
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()


def measure_ceiling(calls, kind="bare"):
    """Calls per second of nameko alone (`bare`) or of nameko committing one
    INSERT per RPC and per event through the project's pool (`durable`)."""
    env = os.environ.copy()
    database = None
    if kind == "durable":
        admin = config.admin_database_url()
        database = f"owbench_ceiling_{os.getpid()}"
        migrate.create_database(admin, database)
        env["CEILING_DATABASE_URL"] = f"{admin.rsplit('/', 1)[0]}/{database}"
        with psycopg.connect(env["CEILING_DATABASE_URL"], autocommit=True) as conn:
            conn.execute(PINGS_TABLE)
    caller, listener = f"{kind}_caller" if kind == "durable" else "ceiling_caller", \
        f"{kind}_listener" if kind == "durable" else "ceiling_listener"
    procs = [start(["scripts.ceiling_services", "caller", kind], env),
             start(["scripts.ceiling_services", "listener", kind], env)]
    try:
        with ClusterRpcProxy({"AMQP_URI": config.amqp_uri()}, timeout=60) as rpc:
            wait_answer(lambda: getattr(rpc, listener).received_count())
            wait_answer(lambda: getattr(rpc, caller).ping(-1))
            deadline = time.monotonic() + 30
            while getattr(rpc, listener).received_count() < 1:  # the warm-up event has been handled
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{listener} never received the warm-up event")
                time.sleep(0.05)
            base = getattr(rpc, listener).received_count()
            started = time.perf_counter()
            pending = [getattr(rpc, caller).ping.call_async(i) for i in range(calls)]
            for p in pending:
                p.result()
            while getattr(rpc, listener).received_count() < base + calls:
                time.sleep(0.01)
            elapsed = time.perf_counter() - started
        if database:
            with psycopg.connect(env["CEILING_DATABASE_URL"]) as conn:
                committed = conn.execute("SELECT count(*) FROM pings WHERE n >= 0").fetchone()[0]
            if committed != 2 * calls:  # one per call and one per event, or it measured something else
                raise RuntimeError(f"durable ceiling: {committed} rows committed for {calls} calls")
    finally:
        stop(procs)
        if database:
            migrate.drop_database(config.admin_database_url(), database)
    return {"calls": calls, "seconds": round(elapsed, 3), "calls_per_second": round(calls / elapsed, 1),
            "messages_per_second": round(3 * calls / elapsed, 1)}


def driver_cpu_seconds():
    """This process's own CPU: the simulated clerks, departments and applicants."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class ServiceProcesses:
    """The services, each in its own process as `make run` starts them (with
    `accounts`, a sandbox's `service_accounts()`, as its own broker user and
    database role, as deployed), with their CPU time and peak memory read
    from /proc."""

    def __init__(self, accounts=None):
        env = os.environ.copy()
        for service in CENTRE.names:
            env[f"{service.upper()}_METRICS_PORT"] = ""
        self.procs = {s: start(["onewindow", "serve", s], dict(env, **(accounts or {}).get(s, {})))
                      for s in CENTRE.names}

    def cpu_seconds(self):
        ticks = os.sysconf("SC_CLK_TCK")
        result = {}
        for service, proc in self.procs.items():
            with open(f"/proc/{proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            result[service] = (int(fields[11]) + int(fields[12])) / ticks
        return result

    def peak_memory_mib(self):
        result = {}
        for service, proc in self.procs.items():
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        result[service] = round(int(line.split()[1]) / 1024, 1)
        return result

    def stop(self):
        stop(list(self.procs.values()))


def event_deliveries():
    """Every event delivery to a handler, by the consumer service and the
    event's kind: where the messages per case go. Counted from the events
    the services wrote to their outboxes, once for each handler the centre's
    code subscribes to them, not from the consumers' inboxes: a repeatable
    handler keeps no row of what it applied."""
    written = {}
    for service in CENTRE.names:
        with psycopg.connect(config.database_url(service)) as conn:
            for event_type, n in conn.execute("SELECT event_type, count(*) FROM outbox GROUP BY event_type"):
                written[(service, event_type)] = n
    counts = {}
    for source, event_type, queue in CENTRE.subscriptions():
        key = f"{topology.consumer_of(queue)}<-{event_type}"
        counts[key] = counts.get(key, 0) + written.get((source, event_type), 0)
    return counts


def transactions():
    """Transactions each service's database committed or rolled back so far
    (PostgreSQL's own count): with the deliveries, where its round trips go."""
    counts = {}
    with psycopg.connect(config.database_url(CENTRE.names[0])) as conn:
        for service in CENTRE.names:
            name = psycopg.conninfo.conninfo_to_dict(config.database_url(service))["dbname"]
            row = conn.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
                               (name,)).fetchone()
            counts[service] = row[0] if row else 0
    return counts


def deliveries_between(before, after):
    return {k: after[k] - before.get(k, 0) for k in sorted(after) if after[k] - before.get(k, 0)}


def latency_ms(values):
    return {p: round(percentile(values, int(p[1:])) * 1000, 1) for p in ("p50", "p95", "p99")} if values else None


def receipt_delay_p99(plans):
    """From the acceptance (the submit's answer reaching the window) to the
    receipt SMS handed to the provider (its sent_at), both on this machine's clock."""
    RECEIPTS = ("application_accepted", "application_accepted_online")  # without and with a portal
    import datetime
    delays = []
    for plan in plans:
        for m in getattr(plan, "messages", []):
            if m["template"] in RECEIPTS and m.get("sent_at") and plan.accepted_at:
                sent = datetime.datetime.fromisoformat(m["sent_at"]).timestamp()
                delays.append(max(0.0, sent - plan.accepted_at))
    return round(percentile(delays, 99) * 1000, 1) if delays else None


def catalog_once_up():
    """Wait until every service answers; the catalog's items."""
    pool = ProxyPool(caller_uri(), 2)
    try:
        for s in CENTRE.names:
            wait_answer(lambda: pool.call(s, "health", retry_for=60))
        return pool.call("intake", "list_items")[0]
    finally:
        pool.close()


def run_pipeline(cases, concurrency, seed, accounts=None):
    services = ServiceProcesses(accounts)
    try:
        items = catalog_once_up()
        plans = plan_month(items, cases, seed)
        deliveries_before = event_deliveries()
        centre = Centre(caller_uri(), plans, concurrency)
        centre.prepare()
        cpu_before, driver_before = services.cpu_seconds(), driver_cpu_seconds()
        transactions_before = transactions()
        elapsed = centre.run()
        cpu_after, driver_after = services.cpu_seconds(), driver_cpu_seconds()
        time.sleep(1.5)  # PostgreSQL publishes its counters at most once a second
        transactions_after = transactions()
        cpu_per_case = {s: round((cpu_after[s] - cpu_before[s]) / cases * 1000, 2) for s in cpu_after}
        by_kind = deliveries_between(deliveries_before, event_deliveries())
        deliveries = sum(by_kind.values())
        full = {
            "cases": cases, "concurrency": concurrency, "seconds": round(elapsed, 3),
            "cases_per_second": round(cases / elapsed, 2),
            "submit_latency_ms": latency_ms([p.submit_seconds for p in plans if p.submit_seconds]),
            "acceptance_to_receipt_sms_p99_ms": receipt_delay_p99(plans),
            "cpu_ms_per_case": cpu_per_case,
            "cpu_ms_per_case_all_services": round(sum(cpu_per_case.values()), 2),
            # the simulated windows, departments and applicants: not ours, but on the same two cores
            "driver_cpu": {"ms_per_case": round((driver_after - driver_before) / cases * 1000, 2),
                           "share_of_wall_time": round((driver_after - driver_before) / elapsed, 3)},
            "rpc_work_calls": centre.work_calls, "event_deliveries": deliveries,
            # polls cost the services CPU too, though they are not counted as messages of case work
            "rpc_polls": centre.polls,
            "event_deliveries_per_case": {k: round(n / cases, 2) for k, n in by_kind.items()},
            "transactions_per_case": {s: round((transactions_after[s] - transactions_before[s]) / cases, 1)
                                      for s in CENTRE.names},
            "messages_per_second": round((2 * centre.work_calls + deliveries) / elapsed, 1),
            # the efficiencies compare messages per second: a case told in fewer
            # messages lowers them however much faster cases go, so this goes beside
            "messages_per_case": round((2 * centre.work_calls + deliveries) / cases, 2),
            "errors": centre.errors[:5],
        }
        # half of full load: the same mix, paced at half the measured rate
        half_plans = plan_month(items, max(20, cases // 4), seed + 1)
        half = Centre(caller_uri(), half_plans, concurrency)
        half.prepare()
        half.run(pace=full["cases_per_second"] / 2)
        full["half_load"] = {"cases": len(half_plans), "pace_cases_per_second": round(full["cases_per_second"] / 2, 2),
                             "submit_latency_ms": latency_ms([p.submit_seconds for p in half_plans if p.submit_seconds])}
        full["peak_memory_mib"] = services.peak_memory_mib()
        replayed = plans + half_plans
        pool = ProxyPool(caller_uri(), 1)
        import datetime
        import zoneinfo
        today = datetime.datetime.now(zoneinfo.ZoneInfo(config.time_zone())).date().isoformat()
        report, _ = pool.call("intake", "report", today[:8] + "01", today)
        pool.close()
        full["report"] = report
        full["replayed"] = mix_of(replayed)
        centre.rpc.close()
        half.rpc.close()
        return full
    finally:
        services.stop()


def mix_of(plans):
    concluded = [p for p in plans if p.outcome]
    return {
        "received": len(plans),
        "instant_ratio": round(sum(p.kind == "instant" for p in plans) / len(plans), 4),
        "concluded": len(concluded),
        "rejected": sum(p.outcome == "rejected" for p in plans),
        "needed_materials": sum(p.leave_out_material for p in plans),
        "fees_fen": sum(p.paid_fen for p in plans),
        "satisfaction_rate": round(sum(p.score >= 4 for p in plans if p.rated) / max(1, sum(p.rated for p in plans)), 4),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=8000, help="cases in the replayed month (default 8000)")
    parser.add_argument("--concurrency", type=int, default=40, help="cases in flight at full load")
    parser.add_argument("--ceiling-calls", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--rush-tickets", type=int, default=2000, help="the hall's morning rush: tickets taken")
    parser.add_argument("--rush-windows", type=int, default=40, help="windows calling them at once")
    args = parser.parse_args(argv)
    # stopped with SIGTERM (timeout, kill), it still stops its services and
    # removes its sandbox, as chaos does: left running, they held their
    # database connections until PostgreSQL refused every new client
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.environ["OW_QUIET_HOURS"] = ""
    # the replayed applicants rate from the portal's link in the last SMS
    os.environ.setdefault("OW_PORTAL_URL", "http://127.0.0.1:8000")
    os.environ.setdefault("OW_PORTAL_SECRET", uuid.uuid4().hex)  # without it no SMS carries a rating link
    with Sandbox(CENTRE, "owbench") as sandbox:
        # the services run as deployed: each its own broker user and database role
        accounts = sandbox.service_accounts()
        # the two ceilings side by side, before the pipeline, on the same machine state
        ceiling = measure_ceiling(args.ceiling_calls, "bare")
        durable = measure_ceiling(args.ceiling_calls, "durable")
        pipeline = run_pipeline(args.cases, args.concurrency, args.seed, accounts)

        def start_as_deployed(argv, env):
            return start(argv, dict(env, **accounts[argv[-1]]))
        rush = measure_rush(args.rush_tickets, args.rush_windows, start_as_deployed, stop, wait_answer, ProxyPool,
                            percentile)
    efficiency = {"of_bare": round(pipeline["messages_per_second"] / ceiling["messages_per_second"], 3),
                  "of_durable": round(pipeline["messages_per_second"] / durable["messages_per_second"], 3)}
    print(json.dumps({
        "machine": {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()]},
        "ceiling": ceiling,
        "durable_ceiling": dict(durable, of_bare=round(durable["calls_per_second"] / ceiling["calls_per_second"], 3)),
        "pipeline": pipeline,
        "efficiency": efficiency,
        "morning_rush": rush,
        "verdict": verdict(pipeline, efficiency),
    }, indent=2))


# The targets of the performance issue (same machine, same run, full-size month).
TARGETS = [
    # (name, where the figure is, "min" or "max", target)
    ("efficiency_of_bare", lambda p, e: e["of_bare"], "min", 0.35),
    ("efficiency_of_durable", lambda p, e: e["of_durable"], "min", 0.5),
    ("submit_p99_ms_half_load", lambda p, e: (p["half_load"]["submit_latency_ms"] or {}).get("p99"), "max", 25.0),
    ("submit_p99_ms_full_load", lambda p, e: (p["submit_latency_ms"] or {}).get("p99"), "max", 150.0),
    ("acceptance_to_receipt_sms_p99_ms", lambda p, e: p["acceptance_to_receipt_sms_p99_ms"], "max", 500.0),
    ("cpu_ms_per_case_all_services", lambda p, e: p["cpu_ms_per_case_all_services"], "max", 20.0),
]


def verdict(pipeline, efficiency):
    """Each target with its measured figure and whether it is met; a figure
    that could not be measured is not met."""
    out = {}
    for name, figure, sense, target in TARGETS:
        value = figure(pipeline, efficiency)
        met = value is not None and (value >= target if sense == "min" else value <= target)
        out[name] = {"measured": value, "target": f"{'>=' if sense == 'min' else '<='} {target}", "met": met}
    out["all_met"] = all(v["met"] for v in out.values())
    return out


if __name__ == "__main__":
    main()
