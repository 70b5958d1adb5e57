"""SMS providers behind one small interface:

    provider.name
    provider.send(message) -> provider_message_id     # or raises ProviderError

`message` is a dict with `message_id`, `phone`, `text`, `template_code`,
`params`. A provider must treat `message_id` as the idempotency key of the
send (the gateway's `out_id`): the reconciler may hand the same message over
again after a crash, and it must not reach the phone twice.

- `local`: records the message as sent here (the default, what `onewindow
  run` uses); its provider message id is derived from the message id.
- `http` / `http_backup`: the JSON gateway API documented in README.md, signed
  with HMAC-SHA256, with connect and read timeouts.
"""
import hashlib
import hmac
import json
import logging
import time
import uuid

import requests

from . import domain

log = logging.getLogger(__name__)

# Gateway answers that no retry can fix: the phone or the text is refused.
PERMANENT_CODES = {"INVALID_PHONE", "MOBILE_NUMBER_ILLEGAL", "BLACKLISTED", "CONTENT_REJECTED"}


class ProviderError(Exception):
    def __init__(self, reason, detail="", retryable=True):
        self.reason = reason          # short, a metrics label
        self.detail = detail
        self.retryable = retryable
        super().__init__(f"{reason}: {detail}" if detail else reason)


class LocalProvider:
    name = "local"

    def send(self, message):
        log.info("SMS (local) %s to %s, %d segments", message.get("template_code"),
                 domain.mask_phone(message["phone"]), domain.segments(message["text"]))
        return f"local-{message['message_id']}"


def sign(key, timestamp, nonce, body):
    """The X-OW-Signature header: hex HMAC-SHA256 over "timestamp\\nnonce\\nbody"."""
    payload = f"{timestamp}\n{nonce}\n".encode() + body
    return hmac.new(key.encode(), payload, hashlib.sha256).hexdigest()


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
            "out_id": str(message["message_id"]),
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
            raise ProviderError("read_timeout", str(exc)) from None
        except requests.exceptions.ConnectionError as exc:
            raise ProviderError("connection", str(exc)[:200]) from None
        except requests.exceptions.RequestException as exc:
            raise ProviderError("request", str(exc)[:200]) from None
        status = response.status_code
        if status >= 500 or status in (408, 429):
            raise ProviderError(f"http_{status}", response.text[:200])
        try:
            answer = response.json()
        except ValueError:
            raise ProviderError("bad_response", f"HTTP {status}: {response.text[:200]}") from None
        code = str(answer.get("code", ""))
        if status >= 400 or code.upper() != "OK":
            code = code or f"http_{status}"
            raise ProviderError(code if code in PERMANENT_CODES else f"code_{code}"[:40],
                                str(answer.get("message", ""))[:200],
                                retryable=status < 400 and code not in PERMANENT_CODES)
        provider_id = answer.get("message_id") or answer.get("biz_id")
        if not provider_id:
            raise ProviderError("bad_response", "no message_id in the answer")
        return str(provider_id)


def build(name, settings):
    if name == "local":
        return LocalProvider()
    if name in settings.http:
        return HttpProvider(settings.http[name], settings.sign_name)
    raise ValueError(f"unknown SMS provider {name!r} (local, http, http_backup)")


def build_all(settings):
    providers = {settings.provider: build(settings.provider, settings)}
    if settings.fallback and settings.fallback != settings.provider:
        providers[settings.fallback] = build(settings.fallback, settings)
    return providers
