"""notify domain: which texts an event calls for, how they read, how many
segments they cost, when they may go and what happens after a failed send.

Pure rules on plain values: no nameko, no SQL.
"""
import dataclasses
import datetime
import math
import pathlib
import re
import string

import yaml

TEMPLATES_FILE = pathlib.Path(__file__).resolve().parent / "templates.yaml"
DEFAULT_SIGN_NAME = "XX市政务服务中心"

SINGLE_SEGMENT = 70  # a Chinese SMS of up to 70 characters is one segment
SPLIT_SEGMENT = 67   # a longer one is split into 67-character parts (the rest is the joining header)

ROLES = ("applicant", "assignee", "supervisor")
RECEIPT_STATUSES = ("delivered", "failed")


class TemplateError(Exception):
    """A template is unknown, malformed, or a variable is missing: never send
    a half-filled text."""


class PersonalDataLeak(TemplateError):
    """A rendered text contains what looks like a resident ID number."""


# ---------------------------------------------------------------- rendering

def segments(text):
    """Segments billed for `text` (the signature included)."""
    length = len(text)
    if length <= SINGLE_SEGMENT:
        return 1
    return math.ceil(length / SPLIT_SEGMENT)


def signature(sign_name):
    return f"【{sign_name}】"


@dataclasses.dataclass(frozen=True)
class Template:
    name: str
    code: str
    recipient: str
    text: str
    urgent: bool = False

    @property
    def variables(self):
        return [field for _, field, _, _ in string.Formatter().parse(self.text) if field is not None]


@dataclasses.dataclass(frozen=True)
class Rendered:
    template: str
    code: str
    text: str
    segments: int
    params: dict


def _join_lines(text):
    # templates are wrapped in YAML for review; a Chinese text has no spaces
    return "".join(line.strip() for line in str(text).splitlines())


class TemplateBook:
    """The templates of templates.yaml, checked when loaded."""

    def __init__(self, templates):
        self.templates = dict(templates)

    @classmethod
    def load(cls, path=TEMPLATES_FILE):
        data = yaml.safe_load(pathlib.Path(path).read_text(encoding="utf-8"))
        return cls.from_data(data)

    @classmethod
    def from_data(cls, data):
        if not isinstance(data, dict) or not data:
            raise TemplateError("templates: expected a mapping of template name to definition")
        templates, problems = {}, []
        for name, spec in data.items():
            if not isinstance(spec, dict):
                problems.append(f"{name}: expected a mapping")
                continue
            missing = [key for key in ("code", "recipient", "text") if not spec.get(key)]
            if missing:
                problems.append(f"{name}: missing {', '.join(missing)}")
                continue
            if spec["recipient"] not in ROLES:
                problems.append(f"{name}: recipient must be one of {', '.join(ROLES)}")
                continue
            template = Template(name=name, code=str(spec["code"]), recipient=spec["recipient"],
                                text=_join_lines(spec["text"]), urgent=bool(spec.get("urgent", False)))
            try:
                bad = [v for v in template.variables if not v.isidentifier()]
            except ValueError as exc:
                problems.append(f"{name}: {exc}")
                continue
            if bad:
                problems.append(f"{name}: placeholders must be plain names, not {bad}")
                continue
            templates[name] = template
        if problems:
            raise TemplateError("; ".join(problems))
        return cls(templates)

    def __getitem__(self, name):
        try:
            return self.templates[name]
        except KeyError:
            raise TemplateError(f"unknown template {name!r}") from None

    def __contains__(self, name):
        return name in self.templates

    def render(self, name, variables, sign_name=DEFAULT_SIGN_NAME):
        template = self[name]
        wanted = template.variables
        missing = sorted({v for v in wanted if variables.get(v) is None or str(variables.get(v)) == ""})
        if missing:
            raise TemplateError(f"template {name}: missing {', '.join(missing)}")
        params = {v: str(variables[v]) for v in wanted}
        text = signature(sign_name) + template.text.format_map(params)
        if contains_id_number(text):
            raise PersonalDataLeak(f"template {name}: the text would contain a resident ID number")
        return Rendered(template=name, code=template.code, text=text, segments=segments(text), params=params)


# ----------------------------------------------------------- personal data

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_CANDIDATE = re.compile(r"(?<![0-9])[1-9][0-9]{16}[0-9Xx](?![0-9])")


def is_resident_id(value):
    """An 18-character resident ID number with a valid birth date and checksum."""
    value = str(value).upper()
    if not re.fullmatch(r"[1-9][0-9]{16}[0-9X]", value):
        return False
    try:
        datetime.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == value[17]


def contains_id_number(text):
    return any(is_resident_id(m.group(0)) for m in _ID_CANDIDATE.finditer(str(text)))


def mask_name(name):
    """张三 -> 张*, 欧阳娜娜 -> 欧***: the family name is enough to greet."""
    name = (name or "").strip()
    if not name:
        return ""
    return name[0] + "*" * max(1, len(name) - 1)


def mask_phone(phone):
    phone = str(phone or "")
    if len(phone) < 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


_PHONE = re.compile(r"^1[3-9][0-9]{9}$")


def normalize_phone(phone):
    """A mainland mobile number as 11 digits, or None."""
    if phone is None:
        return None
    digits = re.sub(r"[\s-]", "", str(phone))
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return digits if _PHONE.match(digits) else None


def yuan(fen):
    """Integer fen as yuan with two decimals, for reading only: 12345 -> '123.45'."""
    fen = int(fen)
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


# ------------------------------------------------------------ what to send

@dataclasses.dataclass(frozen=True)
class Notice:
    """One text to one recipient, before rendering."""
    template: str
    recipient_role: str
    phone: str
    variables: dict
    application_no: str = None


class ContactUnknown(Exception):
    """The applicant's phone is not known yet (intake's event has not arrived):
    the inbox retries the event later."""


def contact_from_accepted(event):
    applicant = event.get("applicant") or {}
    fees = event.get("fees") or []
    return {
        "application_no": event["application_no"],
        "phone": normalize_phone(applicant.get("phone")) or "",
        "name": applicant.get("name") or "",
        "name_masked": applicant.get("name_masked") or mask_name(applicant.get("name")),
        "item_code": event.get("item_code") or "",
        "item_name": event.get("item_name") or "",
        "collect": event.get("collect") or "",
        "fees_total_fen": sum(int(f.get("amount_fen") or 0) for f in fees),
        "accepted": True,
    }


def contact_from_applicant(event):
    """What intake's other events say about the applicant (no collect/fees)."""
    applicant = event.get("applicant") or {}
    return {
        "application_no": event["application_no"],
        "phone": normalize_phone(applicant.get("phone")) or "",
        "name": applicant.get("name") or "",
        "name_masked": applicant.get("name_masked") or mask_name(applicant.get("name")),
        "item_code": event.get("item_code") or "",
        "item_name": event.get("item_name") or "",
    }


def _applicant_vars(contact):
    return {
        "name_masked": contact.get("name_masked") or mask_name(contact.get("name")) or "申请人",
        "item_name": contact.get("item_name") or "事项",
        "application_no": contact["application_no"],
    }


def _applicant_notice(template, contact, **variables):
    phone = normalize_phone(contact.get("phone"))
    if not phone:
        return []
    return [Notice(template, "applicant", phone, {**_applicant_vars(contact), **variables},
                   contact["application_no"])]


def acceptance_notices(event, contact):
    status = event.get("status") or "accepted"
    if status == "completed":
        collect = event.get("collect") or "请按窗口告知领取办理结果。"
        return _applicant_notice("application_completed_on_the_spot", contact, collect=collect)
    if status == "awaiting_payment":
        total = sum(int(f.get("amount_fen") or 0) for f in event.get("fees") or [])
        return _applicant_notice("application_awaiting_payment", contact, amount_yuan=yuan(total))
    return _applicant_notice("application_accepted", contact, due_date=event.get("due_date"))


def materials_notices(event, contact):
    names = [m.get("name") or m.get("code") for m in event.get("missing_materials") or []]
    names = [n for n in names if n]
    return _applicant_notice("materials_requested", contact, materials="、".join(names))


def review_notices(event, contact):
    if event.get("outcome") == "approved":
        collect = contact.get("collect") or "请按通知领取办理结果。"
        if int(contact.get("fees_total_fen") or 0) > 0:
            next_step = f"请留意缴费通知，缴清费用{yuan(contact['fees_total_fen'])}元后，{collect}"
        else:
            next_step = collect
        return _applicant_notice("review_approved", contact, next_step=next_step)
    reasons = []
    for rejection in event.get("rejections") or []:
        department = rejection.get("department_name") or rejection.get("department") or "审批部门"
        opinion = (rejection.get("opinion") or "").rstrip("。；; ")
        basis = rejection.get("legal_basis")
        reasons.append(f"{department}：{opinion}" + (f"（依据：{basis}）" if basis else ""))
    text = "；".join(reasons) + "。" if reasons else ""
    return _applicant_notice("review_rejected", contact, reasons=text or "详见不予许可决定书。")


def bill_issued_notices(event, contact):
    return _applicant_notice("bill_issued", contact, amount_yuan=yuan(event["total_fen"]),
                             bill_no=event.get("bill_no"))


def bill_paid_notices(event, contact):
    return _applicant_notice("bill_paid", contact, amount_yuan=yuan(event["total_fen"]),
                             receipt_no=event.get("receipt_no") or event.get("bill_no"))


def bill_refunded_notices(event, contact):
    return _applicant_notice("bill_refunded", contact, amount_yuan=yuan(event["total_fen"]),
                             reason=event.get("reason") or "按规定退费")


def completion_notices(event, contact):
    return _applicant_notice("rating_invitation", contact)


def _reviewer_vars(event):
    return {
        "application_no": event.get("application_no"),
        "department_name": event.get("department_name") or event.get("department"),
        "assignee": event.get("assignee") or "承办人",
        "due_date": event.get("due_date"),
    }


def warning_notices(event):
    phone = normalize_phone(event.get("assignee_phone"))
    if not phone:
        return []
    return [Notice("task_warning_yellow", "assignee", phone,
                   {**_reviewer_vars(event), "working_days_left": event.get("working_days_left", 1)},
                   event.get("application_no"))]


def overdue_notices(event):
    variables = {**_reviewer_vars(event), "working_days_overdue": event.get("working_days_overdue"),
                 "notice_no": event.get("notice_no")}
    notices = []
    assignee = normalize_phone(event.get("assignee_phone"))
    if assignee:
        notices.append(Notice("task_overdue_red", "assignee", assignee, variables, event.get("application_no")))
    supervisor = normalize_phone(event.get("supervisor_phone"))
    if supervisor:
        notices.append(Notice("task_supervision_notice", "supervisor", supervisor, variables,
                              event.get("application_no")))
    return notices


# ------------------------------------------------------------------ timing

def parse_quiet_hours(value):
    """"21:00-08:00" -> (time(21), time(8)); "" or None -> None (no quiet hours)."""
    if value is None or not str(value).strip():
        return None
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", str(value))
    if not match:
        raise ValueError(f"quiet hours must look like 21:00-08:00, not {value!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = datetime.time(h1, m1), datetime.time(h2, m2)
    if start == end:
        return None
    return start, end


def quiet_until(now, window):
    """When quiet hours containing `now` (an aware local time) end, or None
    when `now` is outside them. Windows may cross midnight."""
    if window is None:
        return None
    start, end = window
    t = now.timetz().replace(tzinfo=None)
    if start < end:
        inside = start <= t < end
        end_day = now.date()
    else:
        inside = t >= start or t < end
        end_day = now.date() + datetime.timedelta(days=1) if t >= start else now.date()
    if not inside:
        return None
    return datetime.datetime.combine(end_day, end, tzinfo=now.tzinfo)


def next_local_midnight(now):
    day = now.date() + datetime.timedelta(days=1)
    return datetime.datetime.combine(day, datetime.time(0, 0), tzinfo=now.tzinfo)


def retry_delay(attempts, base=1.0, cap=600.0):
    """Exponential backoff after `attempts` failed sends: base, 2*base, 4*base ... up to cap."""
    return min(cap, base * (2 ** max(0, attempts - 1)))


@dataclasses.dataclass(frozen=True)
class AfterFailure:
    status: str               # 'queued' (try again) or 'failed' (terminal)
    provider: str
    provider_attempts: int
    delay: float = 0.0
    reason: str = None


def after_failure(*, attempts, provider, provider_attempts, retryable, reason, primary, fallback,
                  max_attempts, failover_after, base=1.0, cap=600.0):
    """What to do after a failed send: retry (maybe on the fallback provider)
    with backoff, or give up and record the terminal reason.

    `attempts` and `provider_attempts` already count the failed one."""
    can_fail_over = bool(fallback) and fallback != provider and provider == primary
    if not retryable:
        if can_fail_over:
            # the primary refuses this message: the fallback may still take it
            return AfterFailure("queued", fallback, 0, 0.0)
        return AfterFailure("failed", provider, provider_attempts, reason=reason)
    if attempts >= max_attempts:
        return AfterFailure("failed", provider, provider_attempts,
                            reason=f"gave up after {attempts} attempts: {reason}")
    if can_fail_over and provider_attempts >= failover_after:
        return AfterFailure("queued", fallback, 0, 0.0)
    return AfterFailure("queued", provider, provider_attempts, retry_delay(attempts, base, cap))


def contract_status(status):
    """The contract knows queued, sent, delivered, failed: a message being
    handed to the provider is still queued for the reader."""
    return "queued" if status == "sending" else status
