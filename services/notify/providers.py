"""SMS providers behind one small interface:

    provider.name
    provider.send(message) -> provider_message_id     # or raises ProviderError

`message` is a dict with `message_id`, `out_id`, `phone`, `text`,
`template_code`, `params` (and the rest of the message row). `out_id` is the
provider-side idempotency key: the same on every attempt of the message, so
a provider that dedupes on it (Alibaba's OutId, the HTTP gateway's out_id)
reaches the phone once however often the sender asks.

A send that fails raises ProviderError. Say whether the provider may have
taken the message: `maybe_sent=True` after a read timeout, a dropped
connection once the request went out, or an answer that cannot be read. Such
a message is retried on the same provider only (same out_id), never handed to
the fallback, which could not tell it apart from a new text.

- `local`: records the message as sent here (the default, what `onewindow
  run` uses); its provider message id is derived from the message id. With
  OW_SMS_SINK set it also writes every send attempt to that SQLite file, an
  independent witness outside notify's database, and reaches "the phone" once
  per out_id like a deduplicating gateway.
- `http` / `http_backup`: the JSON gateway API documented in README.md, signed
  with HMAC-SHA256, with connect and read timeouts.
- `aliyun` / `tencent`: Alibaba Cloud SMS and Tencent Cloud SMS through their
  official SDKs (clouds.py); their receipts arrive by callback (receipts.py).
"""
import hashlib
import hmac
import json
import logging
import os
import sqlite3
import threading
import time
import uuid

import requests
import urllib3

from onewindow import personal

from . import domain

log = logging.getLogger(__name__)

# Gateway answers that no retry can fix: the phone or the text is refused.
PERMANENT_CODES = {"INVALID_PHONE", "MOBILE_NUMBER_ILLEGAL", "BLACKLISTED", "CONTENT_REJECTED"}
# HTTP answers from a proxy in front of the gateway, which may have taken the
# message before the proxy gave up on it.
AMBIGUOUS_HTTP = {502, 504}


class ProviderError(Exception):
    def __init__(self, reason, detail="", retryable=True, maybe_sent=False):
        self.reason = reason          # short, a metrics label
        self.detail = detail
        self.retryable = retryable
        self.maybe_sent = maybe_sent  # the provider may have taken it: no failover
        super().__init__(f"{reason}: {detail}" if detail else reason)


def out_id(message):
    """The provider-side idempotency key of a message: its id, on every attempt."""
    return str(message["message_id"])


class SmsSink:
    """Every send attempt of the local provider, in a SQLite file outside
    notify: the witness a drill asks whether one event's text reached a phone
    twice. A phone is reached once per out_id, as a deduplicating gateway
    would; a second out_id for the same event and template is a second text."""

    def __init__(self, path):
        self.path = path
        self._lock = threading.Lock()
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS attempts (id INTEGER PRIMARY KEY, out_id TEXT NOT NULL, "
                       "event_id TEXT, template TEXT, recipient_role TEXT, phone_tail TEXT, "
                       "reached_phone INTEGER NOT NULL, at REAL NOT NULL, pid INTEGER NOT NULL)")
            db.execute("CREATE TABLE IF NOT EXISTS reached (out_id TEXT PRIMARY KEY)")

    def _connect(self):
        return sqlite3.connect(self.path, timeout=30, isolation_level="IMMEDIATE")

    def record(self, message):
        key = out_id(message)
        with self._lock, self._connect() as db:
            reached = db.execute("INSERT OR IGNORE INTO reached (out_id) VALUES (?)", (key,)).rowcount == 1
            db.execute("INSERT INTO attempts (out_id, event_id, template, recipient_role, phone_tail, reached_phone, "
                       "at, pid) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (key, message.get("event_id"), message.get("template"), message.get("recipient_role"),
                        str(message.get("phone", ""))[-4:], int(reached), time.time(), os.getpid()))
        return reached


def sink_figures(path):
    """What the sink saw: attempts, texts that reached a phone, and notices
    (event, template, recipient) that reached a phone more than once."""
    with sqlite3.connect(path) as db:
        attempts = db.execute("SELECT count(*) FROM attempts").fetchone()[0]
        reached = db.execute("SELECT count(*) FROM attempts WHERE reached_phone = 1").fetchone()[0]
        twice = db.execute("SELECT count(*) FROM (SELECT 1 FROM attempts WHERE reached_phone = 1 "
                           "GROUP BY event_id, template, recipient_role HAVING count(*) > 1)").fetchone()[0]
        repeated = db.execute("SELECT count(*) FROM (SELECT 1 FROM attempts GROUP BY out_id "
                              "HAVING count(*) > 1)").fetchone()[0]
    return {"attempts": attempts, "sends": reached, "sent_twice_for_one_event": twice,
            "out_ids_asked_more_than_once": repeated}


class LocalProvider:
    name = "local"

    def __init__(self, sink_path=None):
        self.sink = SmsSink(sink_path) if sink_path else None

    def send(self, message):
        if self.sink is not None:
            self.sink.record(message)
        log.info("SMS (local) %s to %s, %d segments", message.get("template_code"),
                 personal.mask_phone(message["phone"]), domain.segments(message["text"]))
        return f"local-{message['message_id']}"


def sign(key, timestamp, nonce, body):
    """The X-OW-Signature header: hex HMAC-SHA256 over "timestamp\\nnonce\\nbody"."""
    payload = f"{timestamp}\n{nonce}\n".encode() + body
    return hmac.new(key.encode(), payload, hashlib.sha256).hexdigest()


def never_connected(exc):
    """True when a requests ConnectionError happened before the request went
    out (refused, no route, name not resolved): the gateway never saw it."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


class HttpProvider:
    def __init__(self, settings, sign_name):
        self.name = settings.name
        self.settings = settings
        self.sign_name = sign_name
        if not settings.url:
            raise ValueError(f"SMS provider {settings.name} needs a URL")

    def request_body(self, message):
        return {
            "sign_name": self.sign_name,
            "template_code": message["template_code"],
            "template_param": message.get("params") or {},
            "phone_numbers": message["phone"],
            "content": message["text"],
            "out_id": message.get("out_id") or out_id(message),
        }

    def send(self, message):
        body = json.dumps(self.request_body(message), ensure_ascii=False, sort_keys=True).encode()
        timestamp = str(int(time.time()))
        nonce = uuid.uuid4().hex
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-OW-Key-Id": self.settings.key_id,
            "X-OW-Timestamp": timestamp,
            "X-OW-Nonce": nonce,
            "X-OW-Signature": sign(self.settings.key, timestamp, nonce, body),
        }
        try:
            response = requests.post(self.settings.url, data=body, headers=headers,
                                     timeout=(self.settings.connect_timeout, self.settings.read_timeout))
        except requests.exceptions.ConnectTimeout as exc:
            raise ProviderError("connect_timeout", str(exc)) from None
        except requests.exceptions.ReadTimeout as exc:
            raise ProviderError("read_timeout", str(exc), maybe_sent=True) from None
        except requests.exceptions.ConnectionError as exc:
            raise ProviderError("connection", str(exc)[:200], maybe_sent=not never_connected(exc)) from None
        except requests.exceptions.RequestException as exc:
            raise ProviderError("request", str(exc)[:200], maybe_sent=True) from None
        status = response.status_code
        if status >= 500 or status in (408, 429):
            raise ProviderError(f"http_{status}", response.text[:200], maybe_sent=status in AMBIGUOUS_HTTP)
        try:
            answer = response.json()
        except ValueError:
            raise ProviderError("bad_response", f"HTTP {status}: {response.text[:200]}", maybe_sent=True) from None
        code = str(answer.get("code", ""))
        if status >= 400 or code.upper() != "OK":
            code = code or f"http_{status}"
            raise ProviderError(code if code in PERMANENT_CODES else f"code_{code}"[:40],
                                str(answer.get("message", ""))[:200],
                                retryable=status < 400 and code not in PERMANENT_CODES)
        provider_id = answer.get("message_id") or answer.get("biz_id")
        if not provider_id:
            raise ProviderError("bad_response", "no message_id in the answer", maybe_sent=True)
        return str(provider_id)


CLOUDS = ("aliyun", "tencent")


def build(name, settings):
    if name == "local":
        return LocalProvider(settings.sink)
    if name in settings.http:
        return HttpProvider(settings.http[name], settings.sign_name)
    if name in CLOUDS:
        from . import clouds
        return clouds.build(name, settings.config, settings.sign_name)
    raise ValueError(f"unknown SMS provider {name!r} (local, http, http_backup, {', '.join(CLOUDS)})")


def build_all(settings):
    providers = {settings.provider: build(settings.provider, settings)}
    if settings.fallback and settings.fallback != settings.provider:
        providers[settings.fallback] = build(settings.fallback, settings)
    return providers
