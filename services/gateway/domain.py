"""The gateway's pure rules: tokens, request ids, error answers, webhook
signatures and retries. No nameko, no SQL."""
import hashlib
import hmac
import json
import re
import secrets
import uuid

from onewindow.apidocs import ERROR_STATUS

TOKEN_PREFIX = "owt_"
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,200}$")
# Events a department system is told of, each naming the department it is for.
WEBHOOK_EVENTS = ("task_opened", "task_warning", "task_overdue", "task_deemed_approved")
SIGNATURE_HEADER = "X-OneWindow-Signature"


def new_token():
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token):
    """Tokens are random, 256 bits: one SHA-256 is enough, no salt needed."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def bearer_token(authorization):
    """The token of an `Authorization: Bearer <token>` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 200:
        return None
    return token


def request_id(given):
    """The caller's request id when it is a sane one, else a fresh one."""
    if given and REQUEST_ID.match(given):
        return given
    return uuid.uuid4().hex


def error_answer(exc_type, message, problems=None):
    """(HTTP status, body) of an error, by the stable table of docs/wire.md."""
    status, code = ERROR_STATUS.get(exc_type, (500, "internal"))
    if exc_type == "ValidationFailed" and problems is None:
        problems = validation_problems(message)
    return status, gateway_error(exc_type, code, message, problems)


def gateway_error(exc_type, code, message, problems=None):
    return {"error": {"type": exc_type, "code": code, "message": message, "problems": problems}}


def validation_problems(value):
    """ValidationFailed's message is JSON {"path": [problem, ...]}."""
    try:
        problems = json.loads(value)
    except (TypeError, ValueError):
        return {"_schema": [str(value)]}
    return problems if isinstance(problems, dict) else {"_schema": [str(value)]}


def sign(secret, timestamp, body):
    """`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, as a receiver
    recomputes it (the timestamp bounds replays)."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret, header, body, now, tolerance=300):
    """What a receiver does: True when the signature matches and is recent."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError, AttributeError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


def retry_delay(attempts, base, cap=3600.0):
    """Seconds before attempt `attempts + 1`: doubling from `base`."""
    return min(cap, base * (2 ** max(0, attempts - 1)))


def after_failure(attempts, max_attempts, base):
    """('dead', None) when the attempts are spent, else ('pending', delay)."""
    if attempts >= max_attempts:
        return "dead", None
    return "pending", retry_delay(attempts, base)


def webhook_department(event_type, event):
    """The department an event is for, or None when no webhook should hear it."""
    if event_type not in WEBHOOK_EVENTS:
        return None
    department = event.get("department")
    return department if isinstance(department, str) and department else None


def webhook_body(delivery_id, event_type, department, event):
    return json.dumps({"delivery_id": str(delivery_id), "event_type": event_type, "department": department,
                       "event": event}, ensure_ascii=False, sort_keys=True).encode("utf-8")
