"""`make bench`: figures for the skeleton, measured in one run on one machine.

1. The bare nameko ceiling: RPC calls per second, each dispatching one event to
   a second service (2,000 calls pipelined), nothing of ours in between.
2. The pipeline: the four services, each in its own process as `make run`
   starts them, taking complete cases from submit to the applicant's last SMS,
   with department systems deciding over RPC concurrently.

Broker messages are counted the same way for both: an RPC call is two (request
and reply), an event is one per consumer it reaches. For the pipeline that is
2 x the case-work RPC calls (submit, decide, pay; status polls excluded) plus
every event delivery recorded in the services' inboxes.

Prints JSON. Options: --cases N (default 200), --concurrency C (default 20),
--ceiling-calls N (default 2000), --item CODE (default ENT-EST).
"""
import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

import psycopg  # noqa: E402
from nameko.exceptions import RemoteError  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

from onewindow import config  # noqa: E402
from onewindow.sandbox import Sandbox  # noqa: E402
from scripts.sample import application  # noqa: E402


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


def measure_ceiling(calls):
    procs = [start(["scripts.ceiling_services", "caller"]), start(["scripts.ceiling_services", "listener"])]
    try:
        with ClusterRpcProxy({"AMQP_URI": config.amqp_uri()}, timeout=60) as rpc:
            wait_answer(lambda: rpc.ceiling_listener.received_count())
            wait_answer(lambda: rpc.ceiling_caller.ping(-1))
            base = wait_answer(lambda: rpc.ceiling_listener.received_count() or None, 10)
            started = time.perf_counter()
            pending = [rpc.ceiling_caller.ping.call_async(i) for i in range(calls)]
            for p in pending:
                p.result()
            while rpc.ceiling_listener.received_count() < base + calls:
                time.sleep(0.01)
            elapsed = time.perf_counter() - started
    finally:
        stop(procs)
    return {"calls": calls, "seconds": round(elapsed, 3), "calls_per_second": round(calls / elapsed, 1),
            "messages_per_second": round(3 * calls / elapsed, 1)}


class Pipeline:
    def __init__(self, item_code, cases, concurrency):
        self.item_code = item_code
        self.cases = cases
        self.concurrency = concurrency
        self.latencies = []
        self.work_calls = 0
        self.done = {}
        self.tag = uuid.uuid4().hex[:6]

    def proxy(self):
        return ClusterRpcProxy({"AMQP_URI": config.amqp_uri()}, timeout=60)

    def run(self):
        env = os.environ.copy()
        for service in config.SERVICES:
            env[f"{service.upper()}_METRICS_PORT"] = ""
        procs = [start(["onewindow", "serve", s], env) for s in config.SERVICES]
        try:
            with self.proxy() as rpc:
                for s in config.SERVICES:
                    wait_answer(lambda: getattr(rpc, s).health())
                self.item = next(i for i in rpc.intake.list_items() if i["code"] == self.item_code)
                form = rpc.intake.form_for(self.item_code)
                self.form = form["fields"] if isinstance(form, dict) else form
            self.running = True
            deciders = [eventlet.spawn(self.decide_loop, d) for d in self.item["departments"]]
            payer = eventlet.spawn(self.pay_loop)
            pool = eventlet.GreenPool(self.concurrency)
            started = time.perf_counter()
            for n in range(self.cases):
                pool.spawn_n(self.submit_one, n)
            pool.waitall()
            with self.proxy() as rpc:
                while len([a for a in self.numbers if self.finished(rpc, a)]) < len(self.numbers):
                    if time.perf_counter() - started > 600:
                        raise RuntimeError("cases did not complete within 10 minutes")
                    eventlet.sleep(0.2)
            elapsed = time.perf_counter() - started
            self.running = False
            for g in deciders + [payer]:
                g.wait()
            deliveries = self.event_deliveries()
        finally:
            stop(procs)
        messages = 2 * self.work_calls + deliveries
        return {
            "item": self.item_code, "cases": self.cases, "concurrency": self.concurrency,
            "seconds": round(elapsed, 3), "cases_per_second": round(self.cases / elapsed, 2),
            "submit_latency_ms": {"p50": round(percentile(self.latencies, 50) * 1000, 1),
                                  "p99": round(percentile(self.latencies, 99) * 1000, 1),
                                  "mean": round(statistics.mean(self.latencies) * 1000, 1)},
            "rpc_work_calls": self.work_calls, "event_deliveries": deliveries,
            "messages_per_second": round(messages / elapsed, 1),
        }

    @property
    def numbers(self):
        return list(self.done)

    def finished(self, rpc, number):
        if self.done[number]:
            return True
        messages = rpc.notify.messages(application_no=number)
        if any(m["template"] == "rating_invitation" for m in messages):
            self.done[number] = True
        return self.done[number]

    def submit_one(self, n):
        app, _ = application(self.item, self.form, f"bench-{self.tag}-{n}")
        with self.proxy() as rpc:
            t = time.perf_counter()
            result = rpc.intake.submit(app)
            self.latencies.append(time.perf_counter() - t)
        self.work_calls += 1
        if result["status"] not in ("accepted", "completed", "awaiting_payment"):
            raise RuntimeError(f"unexpected {result}")
        self.done[result["application_no"]] = False

    def decide_loop(self, department):
        with self.proxy() as rpc:
            while self.running:
                tasks = rpc.review.tasks(department, status="open")
                calls = [rpc.review.decide.call_async(t["task_id"], department, t["assignee"], "approve", "同意",
                                                      f"bench-{t['task_id']}")
                         for t in tasks if t["application_no"] in self.done]
                for c in calls:
                    c.result()
                self.work_calls += len(calls)
                eventlet.sleep(0.05 if calls else 0.2)

    def pay_loop(self):
        paid = set()
        with self.proxy() as rpc:
            while self.running:
                for number in [n for n in self.numbers if n not in paid and not self.done[n]]:
                    try:
                        bill = rpc.fees.bill(number)
                    except RemoteError as exc:
                        if exc.exc_type == "NotFound":
                            continue
                        raise
                    if bill["status"] == "unpaid":
                        rpc.fees.pay(bill["bill_no"], bill["total_fen"], "pos", f"bench-pay-{number}")
                        self.work_calls += 1
                    paid.add(number)
                eventlet.sleep(0.2)

    def event_deliveries(self):
        total = 0
        for service in config.SERVICES:
            with psycopg.connect(config.database_url(service)) as conn:
                total += conn.execute("SELECT count(*) FROM inbox").fetchone()[0]
        return total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--ceiling-calls", type=int, default=2000)
    parser.add_argument("--item", default="ENT-EST")
    args = parser.parse_args(argv)
    os.environ["OW_QUIET_HOURS"] = ""
    with Sandbox("owbench"):
        ceiling = measure_ceiling(args.ceiling_calls)
        pipeline = Pipeline(args.item, args.cases, args.concurrency).run()
    print(json.dumps({
        "machine": {"cpus": os.cpu_count()},
        "ceiling": ceiling,
        "pipeline": pipeline,
        "efficiency": round(pipeline["messages_per_second"] / ceiling["messages_per_second"], 3),
    }, indent=2))


if __name__ == "__main__":
    main()
