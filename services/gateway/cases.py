"""The gateway's use cases: an HTTP call turned into an RPC call for a
principal; tokens; webhooks and their deliveries."""
import json
import logging
import time

from nameko.exceptions import BadRequest, RemoteError, UnknownService

from onewindow.calls import CallTimeout
from onewindow.errors import NotFound

from . import domain
from . import metrics as gateway_metrics

log = logging.getLogger(__name__)


class Answer:
    """An HTTP answer: status, JSON body."""

    def __init__(self, status, body):
        self.status = status
        self.body = body


def error(status, code, message, exc_type=None):
    return Answer(status, domain.gateway_error(exc_type or code, code, message))


def authenticate(store, authorization):
    """The principal an `Authorization: Bearer` header's token is bound to, or None."""
    token = domain.bearer_token(authorization)
    return store.principal_of(domain.token_hash(token)) if token else None


def call(services, routes, principal, service, method, raw_body, timeout):
    """POST /api/v1/<service>/<method> for `principal`: the service's answer."""
    if principal is None:
        return error(401, "unauthorized", "a valid bearer token is required (onewindow principal token NAME)")
    if (service, method) not in routes:
        return error(404, "method_not_found", f"no method {service}.{method} in the contract",
                     exc_type="MethodNotFound")
    try:
        kwargs = json.loads(raw_body.decode("utf-8")) if raw_body.strip() else {}
    except (UnicodeDecodeError, ValueError) as exc:
        return error(400, "bad_json", f"the body is not UTF-8 JSON: {exc}")
    if not isinstance(kwargs, dict):
        return error(400, "bad_json", "the body must be a JSON object of the method's arguments by name")
    started = time.perf_counter()
    try:
        result = services(service, method, kwargs, on_behalf_of=principal, timeout=timeout)
        answer = Answer(200, result)
    except RemoteError as exc:
        answer = Answer(*domain.error_answer(exc.exc_type, exc.value))
    except BadRequest as exc:  # MethodNotFound, IncorrectSignature, MalformedRequest
        answer = Answer(*domain.error_answer(type(exc).__name__, str(exc)))
    except CallTimeout as exc:
        answer = error(504, "timeout", str(exc))
    except UnknownService:
        answer = error(503, "unavailable", f"{service} is not running")
    gateway_metrics.CALL_SECONDS.labels(service, method, str(answer.status)).observe(time.perf_counter() - started)
    return answer


# ------------------------------------------------------------ SMS receipts

def sms_receipts(services, provider, token, raw_body, timeout):
    """(raw_body None: over the size limit.) A provider's push of delivery receipts: checked by notify's pure
    functions (the URL's token, every report), each handed to
    notify.delivery_report. Returns (HTTP status, body) as the provider
    documents them; anything but success makes it push again later, which
    is harmless: a receipt for a message already final changes nothing."""
    from services.notify import clouds, receipts

    if raw_body is None:
        return receipts.answer(provider, receipts.ReceiptRefused(["the body is too large"], status=413))
    expected = clouds.CloudSettings.load(provider).receipt_token if provider in receipts.PROVIDERS else ""
    try:
        found = receipts.parse(provider, raw_body, token, expected)
    except receipts.ReceiptRefused as refused:
        log.warning("SMS receipts from %s refused: %s", provider, refused)
        return receipts.answer(provider, refused)

    def report(provider_message_id, status, reason):
        try:
            services("notify", "delivery_report", {"provider_message_id": provider_message_id, "status": status,
                                                    "reason": reason}, timeout=timeout)
        except RemoteError as exc:
            if exc.exc_type == "NotFound":
                raise LookupError(provider_message_id) from None
            raise

    try:
        applied, unknown = receipts.forward(found, report)
    except (RemoteError, CallTimeout, UnknownService) as exc:
        log.warning("SMS receipts from %s not applied yet: %r", provider, exc)
        return receipts.answer(provider, receipts.ReceiptRefused([f"notify: {type(exc).__name__}"], status=503))
    if unknown:
        log.warning("%d SMS receipt(s) from %s for messages notify does not know", unknown, provider)
    return receipts.answer(provider)


# ------------------------------------------------------------ tokens

def issue_token(store, principal):
    """A new token for `principal`; only its hash is kept, so it is shown once."""
    token = domain.new_token()
    store.add_token(principal, domain.token_hash(token))
    return {"principal": principal, "token": token}


def revoke_tokens(store, principal):
    revoked = store.revoke_tokens(principal)
    if not revoked:
        raise NotFound(f"{principal} has no active token")
    return {"principal": principal, "revoked": revoked}


# ------------------------------------------------------------ webhooks

def set_webhook(store, data):
    """Register (or replace) a department's webhook; the secret is shown once."""
    secret = data["secret"] or domain.new_token()
    row = store.set_webhook(data["department"], data["url"], secret)
    return dict(row, secret=secret)


def owe_webhooks(store, event_type, event):
    """An event for a department with a webhook becomes a delivery, once."""
    department = domain.webhook_department(event_type, event)
    if department and store.has_webhook(department):
        if store.owe(department, str(event["event_id"]), event_type, event):
            gateway_metrics.WEBHOOK_OWED.labels(event_type).inc()


class WebhookDeliverer:
    """Posts due deliveries, signed; retries with backoff, then dead-letters.
    Runs beside the service over a unit-of-work factory."""

    def __init__(self, units, store_cls, post, max_attempts, retry_base, timeout, batch=50):
        self.units, self.store_cls, self.post = units, store_cls, post
        self.max_attempts, self.retry_base, self.timeout, self.batch = max_attempts, retry_base, timeout, batch

    def run_once(self, now=time.time):
        with self.units() as unit:
            # leased for longer than one POST may take: a crash mid-way retries it
            claimed = self.store_cls(unit).claim_due(self.batch, self.timeout * 2 + 5)
        for delivery in claimed:
            self.deliver(delivery, int(now()))
        return len(claimed)

    def count_backlog(self):
        with self.units() as unit:
            backlog = self.store_cls(unit).backlog()
        for state in ("pending", "dead"):
            gateway_metrics.WEBHOOK_BACKLOG.labels(state).set(backlog[state])

    def deliver(self, delivery, timestamp):
        body = domain.webhook_body(delivery["delivery_id"], delivery["event_type"], delivery["department"],
                                   delivery["payload"])
        headers = {"Content-Type": "application/json", "X-OneWindow-Event": delivery["event_type"],
                   "X-OneWindow-Delivery": str(delivery["delivery_id"]),
                   domain.SIGNATURE_HEADER: domain.sign(delivery["secret"], timestamp, body)}
        try:
            status = self.post(delivery["url"], body, headers, self.timeout)
            problem = None if 200 <= status < 300 else f"HTTP {status}"
        except Exception as exc:  # refused, reset, timed out: all worth a retry
            problem = f"{type(exc).__name__}: {exc}"[:500]
        with self.units() as unit:
            store = self.store_cls(unit)
            if problem is None:
                store.delivered(delivery["delivery_id"])
                gateway_metrics.WEBHOOK_DELIVERIES.labels("delivered").inc()
                return "delivered"
            outcome, delay = domain.after_failure(delivery["attempts"], self.max_attempts, self.retry_base)
            if outcome == "dead":
                store.dead(delivery["delivery_id"], problem)
                log.warning("webhook delivery %s to %s dead after %d attempts: %s", delivery["delivery_id"],
                            delivery["department"], delivery["attempts"], problem)
            else:
                store.retry_later(delivery["delivery_id"], delay, problem)
            gateway_metrics.WEBHOOK_DELIVERIES.labels(outcome if outcome == "dead" else "retry").inc()
            return outcome
