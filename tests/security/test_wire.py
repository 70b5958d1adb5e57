"""No message can stop a service: every kind of malformed RPC request and
event, sent straight to the broker while the services run, is answered where
a reply is possible, set aside, and the services keep serving with every
queue drained."""
import json
import uuid

import amqp
import pytest
from kombu import Connection

from services.registry import CENTRE


def raw_channel(uri):
    import urllib.parse
    parts = urllib.parse.urlsplit(uri)
    conn = amqp.Connection(host=parts.hostname + ":" + str(parts.port or 5672),
                           userid=urllib.parse.unquote(parts.username), password=urllib.parse.unquote(parts.password),
                           virtual_host=urllib.parse.unquote(parts.path[1:]) or "/")
    conn.connect()
    return conn, conn.channel()


def rejected(service_sql, service, kind, since):
    return service_sql(service, "SELECT kind, reason, answered FROM rejected_messages WHERE kind = %s AND id > %s "
                                "ORDER BY id", (kind, since))


def last_rejected(service_sql):
    return {service: service_sql(service, "SELECT coalesce(max(id), 0) AS n FROM rejected_messages")[0]["n"]
            for service in CENTRE.names}


def queue_depths(uri, names):
    with Connection(uri) as conn:
        ch = conn.channel()
        return {name: ch.queue_declare(name, passive=True).message_count for name in names}


RPC_CASES = [
    # (what, properties, body, answered, reason)
    ("no reply_to", {"content_type": "application/json"}, json.dumps({"args": [], "kwargs": {}}), False,
     "no_reply_to"),
    ("a JSON list", {"content_type": "application/json"}, "[1, 2]", True, "not_a_call"),
    ("args not a list", {"content_type": "application/json"}, json.dumps({"args": 1, "kwargs": {}}), True,
     "not_a_call"),
    ("broken JSON", {"content_type": "application/json"}, "{not json", True, "undecodable"),
    ("not UTF-8", {"content_type": "application/json"}, b"\xff\xfe\x00{", True, "undecodable"),
    ("unknown content type", {"content_type": "application/x-python-pickle"}, b"\x80\x04K\x01.", True,
     "undecodable"),
    # without a content type kombu hands over the raw bytes: not a call
    ("no content type", {}, b"\x00\x01binary", True, "not_a_call"),
]


def test_malformed_rpc_requests_are_set_aside_and_every_service_keeps_serving(
        platform_env, four_services, rpc, service_sql, wait):
    since = last_rejected(service_sql)
    conn, ch = raw_channel(platform_env["amqp_uri"])
    reply_queue = f"wire-test-{uuid.uuid4().hex}"
    reply_key = str(uuid.uuid4())
    ch.queue_declare(reply_queue, auto_delete=True)
    ch.queue_bind(reply_queue, exchange="nameko-rpc", routing_key=reply_key)
    expected = {}
    try:
        for service in CENTRE.names:
            for what, properties, body, answered, reason in RPC_CASES:
                props = dict(properties, correlation_id=f"{service}:{what}")
                if answered:
                    props["reply_to"] = reply_key
                ch.basic_publish(amqp.Message(body, **props), exchange="nameko-rpc",
                                 routing_key=f"{service}.health")
                expected.setdefault(service, []).append(reason)
            # an unknown method, well formed otherwise
            ch.basic_publish(amqp.Message(json.dumps({"args": [], "kwargs": {}}), content_type="application/json",
                                          reply_to=reply_key, correlation_id=f"{service}:unknown"),
                             exchange="nameko-rpc", routing_key=f"{service}.no_such_method")
            expected[service].append("unknown_method")
        answers = {}

        def collect():
            while True:
                message = ch.basic_get(reply_queue, no_ack=True)
                if message is None:
                    break
                answers[message.properties["correlation_id"]] = json.loads(message.body)
            return len(answers) >= sum(len(v) - 1 for v in expected.values())
        wait(collect, 30, message="an error answer to every answerable request")
    finally:
        conn.close()
    for key, answer in answers.items():
        assert answer["result"] is None
        assert answer["error"]["exc_type"] in ("ValidationFailed", "NotFound"), (key, answer)
    for service, reasons in expected.items():
        rows = wait(lambda: (lambda r: r if len(r) >= len(reasons) else None)(
            rejected(service_sql, service, "rpc", since[service])), 20, message=f"{service}'s rejected messages")
        assert sorted(r["reason"].split(":")[0] for r in rows) == sorted(reasons), rows
        assert sum(1 for r in rows if r["answered"]) == len(reasons) - 1
    # nothing left unacked, every service still answers
    assert set(queue_depths(platform_env["amqp_uri"], [f"rpc-{s}" for s in CENTRE.names]).values()) == {0}
    for service in CENTRE.names:
        assert getattr(rpc, service).health()["ok"]


EVENT_CASES = [
    ("not JSON", {"content_type": "application/json"}, b"\xff garbage", "undecodable"),
    ("a JSON string", {"content_type": "application/json"}, json.dumps("hello"), "no_event_id"),
    ("no event_id", {"content_type": "application/json"}, json.dumps({"application_no": "X"}), "no_event_id"),
    ("NUL in a value", {"content_type": "application/json"},
     json.dumps({"event_id": "nul-1", "application_no": "A\u0000B"}), "unstorable"),
    ("a lone surrogate", {"content_type": "application/json"},
     '{"event_id": "sur-1", "application_no": "\\ud800"}', "unstorable"),
    ("a pickle", {"content_type": "application/x-python-pickle"}, b"\x80\x04K\x01.", "undecodable"),
]


def test_malformed_events_are_set_aside_not_redelivered(platform_env, four_services, rpc, service_sql, wait):
    since = last_rejected(service_sql)
    # one event queue of each listening service, reached through its exchange
    targets = {}
    for source, event_type, queue in CENTRE.subscriptions():
        targets.setdefault(queue.split("--", 1)[1].split(".")[0], (source, event_type, queue))
    conn, ch = raw_channel(platform_env["amqp_uri"])
    try:
        for service, (source, event_type, queue) in targets.items():
            for what, properties, body, reason in EVENT_CASES:
                if isinstance(body, str):
                    body = body.replace("nul-1", f"nul-{service}").replace("sur-1", f"sur-{service}")
                ch.basic_publish(amqp.Message(body, **properties), exchange=f"{source}.events",
                                 routing_key=event_type)
    finally:
        conn.close()
    for service in targets:
        rows = wait(lambda: (lambda r: r if len(r) >= len(EVENT_CASES) * count_consumers(service, targets)
                             else None)(rejected(service_sql, service, "event", since[service])), 30,
                    message=f"{service}'s rejected events")
        assert {r["reason"].split(":")[0] for r in rows} == {"undecodable", "no_event_id", "unstorable"}
        assert all(r["kind"] == "event" for r in rows)
    queues = [q for _, _, q in CENTRE.subscriptions()]
    wait(lambda: set(queue_depths(platform_env["amqp_uri"], queues).values()) == {0}, 20,
         message="every event queue drained")
    for service in CENTRE.names:
        assert getattr(rpc, service).health()["ok"]


def count_consumers(service, targets):
    """How many of this service's queues got the bad events (other handlers
    of the same source and type get them too)."""
    source, event_type, _ = targets[service]
    return sum(1 for s, t, q in CENTRE.subscriptions()
               if s == source and t == event_type and q.split("--", 1)[1].startswith(service + "."))


@pytest.mark.parametrize("body", [b"", b"{}", b"null"])
def test_an_empty_or_bare_body_on_an_rpc_queue_is_answered(platform_env, four_services, body, wait):
    conn, ch = raw_channel(platform_env["amqp_uri"])
    try:
        reply_queue, reply_key = f"wire-bare-{uuid.uuid4().hex}", str(uuid.uuid4())
        ch.queue_declare(reply_queue, auto_delete=True)
        ch.queue_bind(reply_queue, exchange="nameko-rpc", routing_key=reply_key)
        ch.basic_publish(amqp.Message(body, content_type="application/json", reply_to=reply_key,
                                      correlation_id="bare"), exchange="nameko-rpc", routing_key="intake.health")
        answer = wait(lambda: ch.basic_get(reply_queue, no_ack=True), 15, message="an answer")
    finally:
        conn.close()
    assert json.loads(answer.body)["error"]["exc_type"] == "ValidationFailed"


def test_generated_properties_and_bodies_stop_no_service(platform_env, four_services, wait):
    """A reduced `make fuzz` of the wire (scripts/wire_fuzz.py)."""
    from scripts import wire_fuzz
    with platform_env["sandbox"].router(timeout=20) as router:
        figures = wire_fuzz.fuzz(CENTRE, platform_env["amqp_uri"], platform_env["databases"], router, 150, seed=11,
                                 settle_seconds=60)
    assert figures["passed"], figures
    assert sum(figures["messages"].values()) >= 140 and figures["answers_received"] > 0
