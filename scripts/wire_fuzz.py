"""Wire fuzzing: hypothesis-generated AMQP properties and raw bodies sent
straight to `nameko-rpc` (each service's methods, and names it does not have)
and to every events exchange, while the services run.

Pass: no service ever stops answering `health`, every service queue drains,
and every message is accounted for: answered, set aside in
`rejected_messages`, or handled as a well-formed call or event would be.
Prints JSON figures; exit status 1 on a failure.
"""
if __name__ == "__main__":  # before anything imports socket or threading
    import eventlet
    eventlet.monkey_patch()

import json
import os
import sys
import time
import uuid

import amqp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CONTENT_TYPES = ["application/json", "application/x-python-pickle", "text/plain", "application/octet-stream", "",
                 "application/json; charset=latin-1", "application/x-yaml", "application/data"]
ENCODINGS = [None, "utf-8", "binary", "gzip", "latin-1", "utf-16", "bogus"]
TEXT = st.text(max_size=40)
JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
                       lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
                       max_leaves=12)


def bodies():
    """Raw bytes: missing, wrong types, huge, binary, not UTF-8, JSON of
    every shape, and well-formed calls with hostile arguments."""
    as_json = JSONISH.map(lambda v: json.dumps(v).encode())
    calls = st.fixed_dictionaries({"args": st.lists(JSONISH, max_size=3),
                                   "kwargs": st.dictionaries(TEXT, JSONISH, max_size=3)}).map(
        lambda v: json.dumps(v).encode())
    events = st.fixed_dictionaries({"event_id": TEXT | st.integers() | st.none(),
                                    "application_no": TEXT}).map(lambda v: json.dumps(v).encode())
    return st.one_of(st.just(b""), st.binary(max_size=200), as_json, calls, events,
                     st.sampled_from([b"\xff\xfe\xfd", b"{\"args\": [", b"null", b"[]", b"\x00" * 64,
                                      b"{\"args\": [], \"kwargs\": {}}", b"{\"event_id\": \"\\u0000\"}",
                                      b"{\"event_id\": \"x\", \"a\": \"\\ud800\"}"]),
                     st.integers(min_value=100_000, max_value=400_000).map(lambda n: b"{\"args\": [\"" + b"a" * n
                                                                             + b"\"], \"kwargs\": {}}"))


def properties():
    return st.fixed_dictionaries({}, optional={
        "content_type": st.sampled_from(CONTENT_TYPES),
        "content_encoding": st.sampled_from(ENCODINGS),
        "reply_to": st.one_of(st.just("REPLY"), TEXT.filter(lambda t: t.isprintable()), st.uuids().map(str)),
        "correlation_id": TEXT.filter(lambda t: t.isprintable()),
        "application_headers": st.dictionaries(
            st.sampled_from(["nameko.call_id_stack", "nameko.on_behalf_of", "nameko.language", "x-anything",
                             "nameko.redelivery"]),
            st.one_of(TEXT, st.integers(), st.lists(TEXT, max_size=3), st.booleans()), max_size=3),
        "delivery_mode": st.sampled_from([1, 2]),
        "priority": st.integers(min_value=0, max_value=9),
    })


def targets(centre):
    """(exchange, routing key) pairs: every RPC method, an unknown one, and
    every event type each service listens to."""
    from onewindow.entrypoints import rpc_methods
    found = [("nameko-rpc", name) for name in sorted(rpc_methods(centre.classes))]
    found += [("nameko-rpc", f"{s}.no_such_method") for s in centre.names]
    found += sorted({(f"{source}.events", event_type) for source, event_type, _ in centre.subscriptions()})
    return found


class Wire:
    def __init__(self, amqp_uri):
        import urllib.parse
        parts = urllib.parse.urlsplit(amqp_uri)
        self.conn = amqp.Connection(host=f"{parts.hostname}:{parts.port or 5672}",
                                    userid=urllib.parse.unquote(parts.username),
                                    password=urllib.parse.unquote(parts.password),
                                    virtual_host=urllib.parse.unquote(parts.path[1:]) or "/")
        self.conn.connect()
        self.channel = self.conn.channel()
        self.reply_queue, self.reply_key = f"wire-fuzz-{uuid.uuid4().hex}", str(uuid.uuid4())
        self.channel.queue_declare(self.reply_queue, auto_delete=True)
        self.channel.queue_bind(self.reply_queue, exchange="nameko-rpc", routing_key=self.reply_key)
        self.sent = {"rpc": 0, "event": 0}

    def send(self, exchange, routing_key, props, body):
        props = dict(props)
        if props.get("reply_to") == "REPLY":
            props["reply_to"] = self.reply_key
        headers = props.pop("application_headers", None)
        message = amqp.Message(body, application_headers=headers, **props)
        self.channel.basic_publish(message, exchange=exchange, routing_key=routing_key)
        self.sent["rpc" if exchange == "nameko-rpc" else "event"] += 1

    def replies(self):
        count = 0
        while self.channel.basic_get(self.reply_queue, no_ack=True) is not None:
            count += 1
        return count

    def close(self):
        try:
            self.conn.close()
        except Exception:
            pass


def depth(amqp_uri, queues):
    from kombu import Connection
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        return {q: channel.queue_declare(q, passive=True).message_count for q in queues}


def health(router, centre):
    down = []
    for service in centre.names:
        try:
            if not getattr(router.as_principal(None), service).health().get("ok"):
                down.append(service)
        except Exception as exc:
            down.append(f"{service}: {type(exc).__name__}")
    return down


def fuzz(centre, amqp_uri, databases, router, examples, seed=None, settle_seconds=60, log=print):
    """Send `examples` generated messages; the figures of the run."""
    import psycopg
    chosen = targets(centre)
    wire = Wire(amqp_uri)
    started = time.monotonic()
    before = {s: psycopg.connect(u, autocommit=True).execute("SELECT count(*) FROM rejected_messages").fetchone()[0]
              for s, u in databases.items()}
    checks = []

    @settings(max_examples=examples, deadline=None, database=None, derandomize=seed is not None,
              suppress_health_check=list(HealthCheck))
    @given(target=st.sampled_from(chosen), props=properties(), body=bodies())
    def one(target, props, body):
        wire.send(*target, props, body)
        if wire.sent["rpc"] + wire.sent["event"] in (examples // 2, examples - 1):
            checks.append(health(router, centre))

    try:
        one()
        queues = [f"rpc-{s}" for s in centre.names] + [q for _, _, q in centre.subscriptions()]
        deadline, left = time.monotonic() + settle_seconds, None
        while time.monotonic() < deadline:
            left = {q: n for q, n in depth(amqp_uri, queues).items() if n}
            if not left:
                break
            time.sleep(0.5)
        time.sleep(1.0)
        replies = wire.replies()
        down = health(router, centre)
        after = {s: psycopg.connect(u, autocommit=True).execute(
            "SELECT reason, count(*) FROM rejected_messages GROUP BY 1").fetchall() for s, u in databases.items()}
    finally:
        wire.close()
    set_aside = {}
    for service, rows in after.items():
        for reason, n in rows:
            key = reason.split(":")[0]
            set_aside[key] = set_aside.get(key, 0) + n
    set_aside_total = sum(set_aside.values()) - sum(before.values())
    figures = {"messages": wire.sent, "seconds": round(time.monotonic() - started, 1), "targets": len(chosen),
               "answers_received": replies, "set_aside": set_aside, "set_aside_total": set_aside_total,
               "queues_left": left or {}, "services_down": down, "down_during_run": [c for c in checks if c]}
    figures["passed"] = not left and not down and not figures["down_during_run"] and set_aside_total > 0
    log(json.dumps(figures, ensure_ascii=False))
    return figures


def main(argv=None):
    import argparse
    import logging

    from nameko.runners import ServiceRunner

    from onewindow.sandbox import Sandbox
    from services.registry import CENTRE

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)  # every rejected message is logged once: thousands here
    for service in CENTRE.names:
        os.environ[f"{service.upper()}_METRICS_PORT"] = ""
    sandbox = Sandbox(CENTRE, "owwire").open()
    runners = []
    try:
        for cls in CENTRE.classes:
            runner = ServiceRunner(dict(CENTRE.nameko_config(cls.name), METRICS_PORT=None))
            runner.add_service(cls)
            runner.start()
            runners.append(runner)
        with sandbox.router(timeout=20) as router:
            figures = fuzz(CENTRE, sandbox.amqp_uri, sandbox.databases, router, args.examples, args.seed,
                           log=lambda line: print(line, file=sys.stderr))
        print(json.dumps(figures, ensure_ascii=False, indent=2))
        return 0 if figures["passed"] else 1
    finally:
        for runner in reversed(runners):
            runner.kill()
        sandbox.close()


if __name__ == "__main__":
    sys.exit(main())
