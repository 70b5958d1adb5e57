"""`make bench-gateway`: what the HTTP gateway costs over calling the service
directly over RPC, and how fast a new task reaches a department's webhook.

In a sandbox of its own, every service in its own process as `make run`
starts them. For two calls (`intake.health`, nothing but the round trip, and
`intake.form_for`, a real read), each made directly over AMQP (nameko's
standalone proxy) and through the gateway (HTTP, keep-alive, a bearer
token): latency one call at a time (p50, p95) and calls per second with
`--concurrency` callers; the overhead is the difference. Then `--cases`
committed cases are submitted and the time from review's `task_opened`
(its occurred_at) to the department's webhook receiving it is measured.

Prints JSON. `make bench-gateway BENCH_ARGS="--calls 200"` for less.
"""
import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

import eventlet.wsgi  # noqa: E402
import requests  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

from onewindow import config  # noqa: E402
from onewindow.sandbox import Sandbox  # noqa: E402
from scripts.bench import ServiceProcesses, wait_answer  # noqa: E402
from scripts.sample import application  # noqa: E402
from services.registry import CENTRE  # noqa: E402

ITEM = "ENT-EST"


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary(seconds):
    return {"p50_ms": round(percentile(seconds, 50) * 1000, 2), "p95_ms": round(percentile(seconds, 95) * 1000, 2),
            "mean_ms": round(statistics.mean(seconds) * 1000, 2)}


def sequential(call, calls):
    took = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        took.append(time.perf_counter() - started)
    return took


def concurrent(make_caller, calls, concurrency):
    """calls per second with `concurrency` green threads, each with its own caller."""
    per_worker = max(1, calls // concurrency)

    def work():
        call, close = make_caller()
        try:
            for _ in range(per_worker):
                call()
        finally:
            close()

    pool = eventlet.GreenPool(concurrency)
    started = time.perf_counter()
    for _ in range(concurrency):
        pool.spawn(work)
    pool.waitall()
    return round(per_worker * concurrency / (time.perf_counter() - started), 1)


def measure_calls(amqp_uri, base, token, method, kwargs, calls, concurrency):
    def rpc_caller():
        proxy = ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=60)
        rpc = proxy.start()
        return (lambda: getattr(rpc.intake, method)(**kwargs)), proxy.stop

    def http_caller():
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        url = f"{base}/api/v1/intake/{method}"

        def call():
            response = session.post(url, json=kwargs, timeout=60)
            assert response.status_code == 200, response.text
        return call, session.close

    result = {}
    for name, make in (("rpc", rpc_caller), ("gateway", http_caller)):
        call, close = make()
        try:
            sequential(call, 20)  # warm up: connections, caches
            result[name] = summary(sequential(call, calls))
        finally:
            close()
        result[name]["calls_per_second"] = concurrent(make, calls, concurrency)
    result["overhead_ms_p50"] = round(result["gateway"]["p50_ms"] - result["rpc"]["p50_ms"], 2)
    result["throughput_ratio"] = round(result["gateway"]["calls_per_second"] / result["rpc"]["calls_per_second"], 2)
    return result


class Receiver:
    """A department system's webhook endpoint answering `status` to every
    POST; keeps what it got: {"at", "headers", "body"} (the raw body)."""

    def __init__(self, status=204):
        self.status = status
        self.received = []
        sock = eventlet.listen(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}/onewindow"
        self.server = eventlet.spawn(eventlet.wsgi.server, sock, self, log_output=False, log=_Quiet())

    def __call__(self, environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        self.received.append({"at": time.time(), "headers": headers, "body": body})
        start_response(f"{self.status} Answer", [("Content-Type", "text/plain")])
        return [b"noted"]

    def close(self):
        self.server.kill()


class _Quiet:
    def write(self, *_):
        pass


def measure_webhooks(rpc, cases):
    item = next(i for i in rpc.intake.list_items() if i["code"] == ITEM)
    fields = rpc.intake.form_for(ITEM)["fields"]
    receiver = Receiver()
    department = item["departments"][0]
    rpc.gateway.set_webhook(department, receiver.url, "bench-secret-of-sixteen+")
    numbers = set()
    for n in range(cases):
        app, _ = application(item, fields, f"bench-hook-{uuid.uuid4().hex[:8]}-{n}", phone=f"1390013{n:04d}")
        numbers.add(rpc.intake.submit(app)["application_no"])
        eventlet.sleep(0.2)  # one arrival at a time, as at a window
    deadline = time.time() + 60
    got = lambda: [(r["at"], json.loads(r["body"])) for r in receiver.received]  # noqa: E731
    while len({b["event"]["application_no"] for _, b in got()} & numbers) < len(numbers):
        if time.time() > deadline:
            break
        eventlet.sleep(0.05)
    delays = [at - datetime.datetime.fromisoformat(body["event"]["occurred_at"]).timestamp()
              for at, body in got() if body["event"]["application_no"] in numbers]
    receiver.close()
    return {"cases": cases, "delivered": len(delays), "department": department,
            "task_opened_to_webhook": summary(delays) if delays else None,
            "within_a_second": sum(1 for d in delays if d < 1.0)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=500, help="calls per measurement")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--cases", type=int, default=10, help="cases for the webhook latency")
    args = parser.parse_args(argv)
    import logging
    # py-amqp notes every confirm that arrives as a proxy's channel closes: noise, not news
    logging.getLogger("amqp").setLevel(logging.ERROR)
    with Sandbox(CENTRE, "owbg") as sandbox:
        services = ServiceProcesses(sandbox.service_accounts())   # the gateway as its own user, role gateway
        try:
            base = f"http://{CENTRE.web_address('gateway').replace('0.0.0.0', '127.0.0.1')}"
            with sandbox.router(timeout=60) as rpc:
                for service in CENTRE.names:
                    wait_answer(lambda: getattr(rpc, service).health(), timeout=120)
                wait_answer(lambda: requests.get(f"{base}/health", timeout=5).raise_for_status(), timeout=60)
                token = rpc.gateway.issue_token(sandbox.principal("window", name="bench-window"))["token"]
                result = {
                    "calls": args.calls, "concurrency": args.concurrency,
                    "health": measure_calls(sandbox.amqp_uri, base, token, "health", {}, args.calls,
                                            args.concurrency),
                    "form_for": measure_calls(sandbox.amqp_uri, base, token, "form_for", {"item_code": ITEM},
                                              args.calls, args.concurrency),
                    "webhooks": measure_webhooks(rpc, args.cases),
                    "webhook_poll_seconds": config.webhook_poll_seconds(),
                }
        finally:
            services.stop()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
