"""Delivery receipts (状态报告) that Alibaba Cloud SMS and Tencent Cloud SMS
push to our callback URL: checked and turned into what
`notify.delivery_report` takes. Pure: the HTTP route (the gateway) hands
over the query token and the body and sends back `answer(...)`.

Neither provider signs these callbacks: Alibaba's SmsReport push and
Tencent's status callback are plain JSON arrays POSTed to the URL configured
in the provider's console, with no signature header documented. So the URL
carries a secret of ours, `?token=...` (ALIYUN_SMS_RECEIPT_TOKEN,
TENCENT_SMS_RECEIPT_TOKEN), compared in constant time; a receipt then only
counts for a message we sent: its id is the BizId / SerialNo the provider
gave back when it accepted the message (clouds.py), and an unknown one
changes nothing.
"""
import dataclasses
import hmac
import json

PROVIDERS = ("aliyun", "tencent")
MAX_BODY = 1_000_000  # a push carries at most some hundreds of receipts


class ReceiptRefused(Exception):
    """The callback is not one to act on. `problems` lists every reason."""

    def __init__(self, problems, status=400):
        self.problems = list(problems)
        self.status = status
        super().__init__("; ".join(self.problems))


@dataclasses.dataclass(frozen=True)
class Receipt:
    provider_message_id: str   # as clouds.py recorded it: "aliyun:<BizId>", "tencent:<SerialNo>"
    status: str                # delivered | failed
    reason: str | None         # the provider's code and text when it failed
    out_id: str | None         # our key, when the provider echoes it (Alibaba's out_id)


def verify_token(expected, given):
    """The callback URL's secret: refused when we have none configured (a
    receipt endpoint open to anyone would let anyone mark SMS delivered)."""
    if not expected:
        raise ReceiptRefused(["no receipt token is configured for this provider"], status=403)
    if not given or not hmac.compare_digest(str(expected).encode(), str(given).encode()):
        raise ReceiptRefused(["wrong or missing token"], status=403)


def _items(body):
    if len(body) > MAX_BODY:
        raise ReceiptRefused([f"body over {MAX_BODY} bytes"], status=413)
    try:
        items = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReceiptRefused([f"body is not JSON: {exc}"]) from None
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list) or not items:
        raise ReceiptRefused(["body must be a non-empty JSON array of receipts"])
    return items


def _text(item, key, problems, where, required=True):
    value = item.get(key)
    if value is None or value == "":
        if required:
            problems.append(f"{where}: {key} is missing")
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        problems.append(f"{where}: {key} must be text")
        return None
    value = str(value)
    if "\x00" in value or len(value) > 200:
        problems.append(f"{where}: {key} is not a plausible value")
        return None
    return value


@dataclasses.dataclass(frozen=True)
class Push:
    """How one provider writes a receipt: which field is its message id,
    its failure code and text, our key, and how it says delivered."""
    provider: str
    id_key: str
    code_key: str
    text_key: str
    out_key: str | None
    outcome_key: str
    outcomes: dict          # the outcome field's values -> delivered?
    outcome_rule: str       # said when the outcome field is none of them


ALIYUN_PUSH = Push("aliyun", "biz_id", "err_code", "err_msg", "out_id", "success", {True: True, False: False},
                   "success must be true or false")
TENCENT_PUSH = Push("tencent", "sid", "errmsg", "description", None, "report_status",
                    {"SUCCESS": True, "FAIL": False}, "report_status must be SUCCESS or FAIL")


def read_push(push, body):
    """Every receipt of one push, or ReceiptRefused naming every problem."""
    found, problems = [], []
    for i, item in enumerate(_items(body)):
        where = f"receipt {i}"
        if not isinstance(item, dict):
            problems.append(f"{where}: not an object")
            continue
        native_id = _text(item, push.id_key, problems, where)
        code = _text(item, push.code_key, problems, where, required=False)
        text = _text(item, push.text_key, problems, where, required=False)
        out_id = _text(item, push.out_key, problems, where, required=False) if push.out_key else None
        outcome = item.get(push.outcome_key)
        # by type too: 1 == True, and a "success": 1 is not what Alibaba sends
        kinds = {type(value) for value in push.outcomes}
        delivered = push.outcomes.get(outcome) if type(outcome) in kinds else None
        if delivered is None:
            problems.append(f"{where}: {push.outcome_rule}")
            continue
        if native_id is None:
            continue
        reason = None if delivered else " ".join(p for p in (code, text) if p) or "undelivered"
        found.append(Receipt(f"{push.provider}:{native_id}", "delivered" if delivered else "failed", reason, out_id))
    if problems:
        raise ReceiptRefused(problems)
    return found


def aliyun_receipts(body):
    """SmsReport: [{"phone_number", "send_time", "report_time", "success",
    "err_code", "err_msg", "sms_size", "biz_id", "out_id"}, ...]."""
    return read_push(ALIYUN_PUSH, body)


def tencent_receipts(body):
    """Status callback: [{"user_receive_time", "nationcode", "mobile",
    "report_status" SUCCESS|FAIL, "errmsg", "description", "sid"}, ...]."""
    return read_push(TENCENT_PUSH, body)


PARSERS = {"aliyun": aliyun_receipts, "tencent": tencent_receipts}


def parse(provider, body, given_token, expected_token):
    """Every receipt of one callback, or ReceiptRefused naming every problem."""
    if provider not in PARSERS:
        raise ReceiptRefused([f"unknown provider {provider!r}"], status=404)
    verify_token(expected_token, given_token)
    return PARSERS[provider](body)


def answer(provider, refused=None):
    """(HTTP status, JSON body) as each provider documents: anything but
    code/result 0 makes it push the receipts again later."""
    if provider == "aliyun":
        return (200, {"code": 0, "msg": "成功"}) if refused is None else \
            (refused.status, {"code": 1, "msg": str(refused)[:200]})
    return (200, {"result": 0, "errmsg": "OK"}) if refused is None else \
        (refused.status, {"result": 1, "errmsg": str(refused)[:200]})


def forward(receipts, delivery_report, not_found=(LookupError,)):
    """Calls `delivery_report(provider_message_id, status, reason)` for each
    receipt; one for a message we do not know is counted, not retried (the
    provider would push it forever). Returns (applied, unknown)."""
    applied = unknown = 0
    for receipt in receipts:
        try:
            delivery_report(receipt.provider_message_id, receipt.status, receipt.reason)
            applied += 1
        except not_found:
            unknown += 1
    return applied, unknown
