"""Fixtures for the notify integration tests: a running NotifyService, events
published the way intake, review and fees publish_event them, SQL on notify's
database, and a real local HTTP server acting as the SMS gateway."""
import hashlib
import hmac
import http.server
import json
import random
import threading
import time
import uuid

import pytest

from services.notify.service import NotifyService

# every text's status in notify's outbox, one row `m` each, in the order told
STATUSES = ("FROM outbox, jsonb_array_elements(payload->'messages') WITH ORDINALITY AS e(m, i) "
            "WHERE event_type = 'message_statuses'")


def new_phone():
    return "139" + "".join(random.choice("0123456789") for _ in range(8))


def new_application_no():
    return f"2026ZW{uuid.uuid4().hex[:10].upper()}"


def event(**fields):
    return {"event_id": str(uuid.uuid4()), "occurred_at": "2026-03-02T09:00:00+08:00", **fields}


def accepted(application_no, phone, status="accepted", fees=(), collect="请携带身份证原件到3号窗口领取。"):
    return event(
        application_no=application_no, item_code="FOOD-1", item_name="食品经营许可", catalog_version=1,
        kind="instant" if status != "accepted" else "committed", channel="window", status=status,
        accepted_on="2026-03-02", due_date="2026-03-20", provisional=False, visits=1,
        applicant={"kind": "person", "name": "张三丰", "name_masked": "张**", "phone": phone},
        departments=[], fees=[{"fee_code": f"F{i}", "name": "费", "department": "market", "amount_fen": a,
                               "treasury_account": "TR-1"} for i, a in enumerate(fees)],
        free_registration=not fees, collect=collect)


@pytest.fixture
def notify_sql(service_sql):
    return lambda sql, params=None: service_sql("notify", sql, params)


@pytest.fixture
def start_notify(run_services, monkeypatch):
    """Start NotifyService with settings overrides (the container config)."""
    monkeypatch.setenv("OW_QUIET_HOURS", "")

    def start(**overrides):
        return run_services(NotifyService, notify={"OW_QUIET_HOURS": "", "OW_SMS_SEND_INTERVAL": "0.1",
                                                   **overrides})

    return start


@pytest.fixture
def sent(rpc, wait):
    """Wait until an application's messages reach a status; returns them."""

    def until(application_no, count, status="sent", timeout=15):
        def ready():
            found = rpc.notify.messages(application_no=application_no)
            return found if len(found) >= count and all(m["status"] == status for m in found) else None
        return wait(ready, timeout=timeout, message=f"{count} messages {status} for {application_no}")

    return until


class Gateway:
    """A JSON SMS gateway on 127.0.0.1: checks the HMAC signature, answers by
    a script of behaviours (ok, fail, timeout, refuse), dedupes on out_id."""

    def __init__(self, key, default="ok", slow_seconds=1.0):
        self.key = key
        self.script = []
        self.default = default
        self.slow_seconds = slow_seconds
        self.requests = []
        self.accepted = {}  # out_id -> message_id: what reached a phone
        self.bad_signatures = 0
        self.lock = threading.Lock()
        gateway = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = hmac.new(gateway.key.encode(), (
                    f"{self.headers['X-OW-Timestamp']}\n{self.headers['X-OW-Nonce']}\n").encode() + body,
                    hashlib.sha256).hexdigest()
                payload = json.loads(body)
                with gateway.lock:
                    gateway.requests.append(payload)
                    action = gateway.script.pop(0) if gateway.script else gateway.default
                if not hmac.compare_digest(expected, self.headers.get("X-OW-Signature", "")):
                    gateway.bad_signatures += 1
                    return self.answer(403, {"code": "SIGNATURE_INVALID", "message": "bad signature"})
                if action == "fail":
                    return self.answer(500, {"code": "SYSTEM_ERROR", "message": "try later"})
                if action == "refuse":
                    return self.answer(200, {"code": "INVALID_PHONE", "message": "number refused"})
                if action == "timeout":
                    time.sleep(gateway.slow_seconds)  # accepted, but answers too late
                with gateway.lock:
                    message_id = gateway.accepted.setdefault(payload["out_id"], f"gw-{uuid.uuid4().hex}")
                self.answer(200, {"code": "OK", "message_id": message_id, "message": "OK"})

            def answer(self, status, data):
                raw = json.dumps(data).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except OSError:
                    pass  # the client gave up (read timeout)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms/send"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def requests_for(self, phone):
        with self.lock:
            return [r for r in self.requests if r["phone_numbers"] == phone]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway():
    made = []

    def make(**kwargs):
        made.append(Gateway(key=kwargs.pop("key", f"k-{uuid.uuid4().hex}"), **kwargs))
        return made[-1]

    yield make
    for g in made:
        g.close()


@pytest.fixture
def own_notify_db(extra_database):
    """A notify database of this test's own: a bare Sender claims every due
    message it finds."""
    from onewindow.db import UnitOfWork, connect_pool
    pool = connect_pool(extra_database("notify"), min_size=1, max_size=4)
    yield pool, lambda: UnitOfWork(pool, "notify")
    pool.close()
