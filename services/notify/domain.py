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

from onewindow import links, personal


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
        if personal.contains_id_number(text):
            raise PersonalDataLeak(f"template {name}: the text would contain a resident ID number")
        return Rendered(template=name, code=template.code, text=text, segments=segments(text), params=params)


# What a settled message's text reads once retention has removed it.
TEXT_REMOVED = "(removed after the retention period)"


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


def contact_from_accepted(event):
    applicant = event.get("applicant") or {}
    fees = event.get("fees") or []
    return {
        "application_no": event["application_no"],
        "phone": personal.normal_phone(applicant.get("phone")) or "",
        "name": applicant.get("name") or "",
        "name_masked": applicant.get("name_masked") or personal.mask_name(applicant.get("name")),
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
        "phone": personal.normal_phone(applicant.get("phone")) or "",
        "name": applicant.get("name") or "",
        "name_masked": applicant.get("name_masked") or personal.mask_name(applicant.get("name")),
        "item_code": event.get("item_code") or "",
        "item_name": event.get("item_name") or "",
    }


def _applicant_vars(contact):
    return {
        "name_masked": contact.get("name_masked") or personal.mask_name(contact.get("name")) or "申请人",
        "item_name": contact.get("item_name") or "事项",
        "application_no": contact["application_no"],
    }


def _applicant_notice(template, contact, **variables):
    phone = personal.normal_phone(contact.get("phone"))
    if not phone:
        return []
    return [Notice(template, "applicant", phone, {**_applicant_vars(contact), **variables},
                   contact["application_no"])]


def portal_links(portal_url, application_no, secret=""):
    """Where the applicants' web serves a case: tracking (with the number,
    the phone and an SMS code) and rating from a signed link. Empty without a
    portal, and no rating link without the secret that signs it: no SMS
    promises what is not there."""
    if not portal_url:
        return {}
    found = {"track_url": f"{portal_url}/track"}
    if secret:
        found["rate_url"] = portal_url + links.rating_path(secret, application_no)
    return found


def acceptance_notices(event, contact, portal_url=""):
    status = event.get("status") or "accepted"
    if status == "completed":
        collect = event.get("collect") or "请按窗口告知领取办理结果。"
        return _applicant_notice("application_completed_on_the_spot", contact, collect=collect)
    if status == "awaiting_payment":
        total = sum(int(f.get("amount_fen") or 0) for f in event.get("fees") or [])
        return _applicant_notice("application_awaiting_payment", contact, amount_yuan=yuan(total))
    links = portal_links(portal_url, contact["application_no"])
    if links:
        return _applicant_notice("application_accepted_online", contact, due_date=event.get("due_date"),
                                 track_url=links["track_url"])
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
        issued = "、".join(f"{d['document_name']}（证号{d['document_no']}）" for d in event.get("documents") or [])
        if issued:  # 出证: the applicant knows what to collect
            next_step = f"核发{issued}。{next_step}"
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


def completion_notices(event, contact, portal_url="", secret=""):
    """The invitation to rate, through the portal's signed link; without a
    portal there is nowhere to rate from, so nothing is sent."""
    rate_url = portal_links(portal_url, contact["application_no"], secret).get("rate_url")
    if not rate_url:
        return []
    return _applicant_notice("rating_invitation", contact, rate_url=rate_url)


def refusal_notices(event, contact):
    reasons = "；".join(r.rstrip("。；; ") for r in event.get("reasons") or []) or "详见不予受理通知书"
    return _applicant_notice("application_refused", contact, refusal_no=event.get("refusal_no"),
                             reasons=reasons, legal_basis=event.get("legal_basis"))


def withdrawal_notices(event, contact):
    return _applicant_notice("application_withdrawn", contact)


def bill_reduced_notices(event, contact):
    bases = list(dict.fromkeys(line.get("legal_basis") for line in event.get("reduced_lines") or []
                               if line.get("legal_basis")))
    return _applicant_notice("bill_reduced", contact, reduced_yuan=yuan(event.get("reduced_fen") or 0),
                             legal_basis="、".join(bases) or "减免规定", amount_yuan=yuan(event["total_fen"]),
                             bill_no=event.get("bill_no"))


def bill_waived_notices(event, contact):
    return _applicant_notice("bill_waived", contact, reason=event.get("reason") or "依规减免")


def bill_reminder_notices(event, contact):
    return _applicant_notice("bill_reminder", contact, amount_yuan=yuan(event["total_fen"]),
                             bill_no=event.get("bill_no"))


# ---------------------------------------------------------------- complaints

def _complaint_vars(event):
    return {"complaint_no": event.get("complaint_no"), "due_date": event.get("due_date"),
            "department_name": event.get("department_name") or event.get("department") or "中心"}


def _to(template, role, phone, event, **variables):
    phone = personal.normal_phone(phone)
    if not phone:
        return []
    return [Notice(template, role, phone, {**_complaint_vars(event), **variables}, event.get("application_no"))]


def complaint_received_notices(event):
    return _to("complaint_received", "applicant", event.get("phone"), event)


def complaint_warning_notices(event):
    return _to("complaint_warning", "supervisor", event.get("supervisor_phone"), event,
               working_days_left=event.get("working_days_left", 1))


def complaint_overdue_notices(event):
    return (_to("complaint_overdue_complainant", "applicant", event.get("phone"), event,
                notice_no=event.get("notice_no"))
            + _to("complaint_supervision_notice", "supervisor", event.get("supervisor_phone"), event,
                  notice_no=event.get("notice_no"), working_days_overdue=event.get("working_days_overdue")))


def complaint_answered_notices(event):
    return _to("complaint_answered", "applicant", event.get("phone"), event, answer=event.get("answer"))


def _reviewer_vars(event):
    return {
        "application_no": event.get("application_no"),
        "department_name": event.get("department_name") or event.get("department"),
        "assignee": event.get("assignee") or "承办人",
        "due_date": event.get("due_date"),
    }


def warning_notices(event):
    phone = personal.normal_phone(event.get("assignee_phone"))
    if not phone:
        return []
    return [Notice("task_warning_yellow", "assignee", phone,
                   {**_reviewer_vars(event), "working_days_left": event.get("working_days_left", 1)},
                   event.get("application_no"))]


def overdue_notices(event):
    variables = {**_reviewer_vars(event), "working_days_overdue": event.get("working_days_overdue"),
                 "notice_no": event.get("notice_no")}
    notices = []
    assignee = personal.normal_phone(event.get("assignee_phone"))
    if assignee:
        notices.append(Notice("task_overdue_red", "assignee", assignee, variables, event.get("application_no")))
    supervisor = personal.normal_phone(event.get("supervisor_phone"))
    if supervisor:
        notices.append(Notice("task_supervision_notice", "supervisor", supervisor, variables,
                              event.get("application_no")))
    return notices


def extension_notices(event, contact):
    return _applicant_notice("task_extended", contact, department_name=event.get("department_name")
                             or event["department"], working_days=event["working_days"],
                             due_date=event["due_date"], reason=event["reason"])


NOTICE_LEVEL_LABELS = {2: "中心主任", 3: "监察室"}


def escalation_notices(event):
    """督办 raised to the centre's director (2) or the supervision office (3)."""
    phone = personal.normal_phone(event.get("recipient_phone"))
    if not phone:
        return []
    return [Notice("notice_escalated", "supervisor", phone,
                   {**_reviewer_vars(event), "notice_no": event["notice_no"],
                    "level_label": NOTICE_LEVEL_LABELS[event["level"]]}, event.get("application_no"))]


def unstaffed_notices(event):
    """Nobody on either post may decide: the department's supervisor, at once."""
    phone = personal.normal_phone(event.get("supervisor_phone"))
    if not phone:
        return []
    return [Notice("task_unstaffed", "supervisor", phone, _reviewer_vars(event), event.get("application_no"))]


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


def _counts_against_cap(message, today, quiet_end, daily_cap):
    """An urgent text ignores quiet hours and the cap; one counted against
    today's cap already (a retry) is not counted again."""
    return (not message["urgent"] and quiet_end is None and daily_cap > 0
            and message["cap_day"] != today)


def asked_of_cap(messages, *, today, quiet_end, daily_cap):
    """{phone: how many of these messages ask a place in its cap today}."""
    asked = {}
    for message in messages:
        if _counts_against_cap(message, today, quiet_end, daily_cap):
            asked[message["phone"]] = asked.get(message["phone"], 0) + 1
    return asked


@dataclasses.dataclass(frozen=True)
class ClaimPlan:
    send: list   # [(message, cap_day or None)], in the order claimed
    hold: list   # [(message, until, reason)]


def plan_claim(messages, *, now, quiet_end, daily_cap, granted):
    """What a pass does with the messages it claimed, in their order: send,
    or hold (quiet hours, or the phone's daily cap reached, till midnight).
    `granted`: {phone: places its cap gave these messages}, from
    `asked_of_cap`; a phone missing from it (another sender counted it at
    the same instant) leaves its messages queued for the next pass."""
    today = now.date()
    left = dict(granted)
    send, hold = [], []
    for message in messages:
        if not message["urgent"] and quiet_end is not None:
            hold.append((message, quiet_end, "quiet_hours"))
        elif not _counts_against_cap(message, today, quiet_end, daily_cap):
            send.append((message, None))
        elif message["phone"] not in left:
            continue
        elif left[message["phone"]] > 0:
            left[message["phone"]] -= 1
            send.append((message, today))
        else:
            hold.append((message, next_local_midnight(now), "daily_cap"))
    return ClaimPlan(send, hold)


@dataclasses.dataclass(frozen=True)
class Attempt:
    """One hand-over of a claimed message to a provider, as it is recorded:
    gone with `provider_message_id`, or failed with `error`."""
    message: dict
    provider: str
    seconds: float
    provider_message_id: str = None
    error: Exception = None


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
                  max_attempts, failover_after, base=1.0, cap=600.0, maybe_sent=False):
    """What to do after a failed send: retry (maybe on the fallback provider)
    with backoff, or give up and record the terminal reason.

    `attempts` and `provider_attempts` already count the failed one.
    `maybe_sent`: this provider may have taken the message on some attempt
    (a read timeout, an answer that could not be read). Then the message
    never moves to the fallback: only the same provider, asked again under
    the same out_id, can tell it apart from a new text."""
    can_fail_over = bool(fallback) and fallback != provider and provider == primary and not maybe_sent
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


# ------------------------------------------------------------ the hall

VISIT_KIND_NAMES = {"home": "上门", "agent": "代办"}


def _visitor_notice(template, event, **variables):
    """The hall's events carry the phone to tell (no application yet)."""
    phone = personal.normal_phone(event.get("phone"))
    return [Notice(template, "applicant", phone, variables)] if phone else []


def ticket_taken_notices(event):
    if event.get("channel") != "remote":
        return []  # a kiosk ticket is in the holder's hand
    return _visitor_notice("hall_ticket_taken", event, ticket_no=event["ticket_no"], queue_name=event["queue_name"],
                           ahead=event["ahead"], wait_minutes=event["estimated_wait_minutes"])


def turn_near_notices(event):
    return _visitor_notice("hall_turn_near", event, ticket_no=event["ticket_no"], queue_name=event["queue_name"],
                           ahead=event["ahead"])


def ticket_called_notices(event):
    if event.get("channel") != "remote":
        return []  # the hall's screen and voice call those in the hall
    return _visitor_notice("hall_ticket_called", event, ticket_no=event["ticket_no"],
                           window_code=event["window_code"], queue_name=event["queue_name"])


def _appointment_vars(event):
    return {"appointment_no": event["appointment_no"], "date": event["date"], "slot": event["slot"],
            "queue_name": event["queue_name"], "item_code": event["item_code"]}


def appointment_booked_notices(event):
    return _visitor_notice("hall_appointment_booked", event, **_appointment_vars(event))


def appointment_reminder_notices(event):
    return _visitor_notice("hall_appointment_reminder", event, **_appointment_vars(event))


def visit_scheduled_notices(event):
    return _visitor_notice("hall_visit_scheduled", event, visit_no=event["visit_no"],
                           kind_name=VISIT_KIND_NAMES.get(event["kind"], "上门"), assigned_to=event["assigned_to"],
                           scheduled_date=event["scheduled_date"])


# ------------------------------------------------------------ the applicants' web

def tracking_code_notices(event):
    """The portal's one-time code: to the phone the case was applied with
    (the portal asks only after intake confirmed number and phone match).
    No application number on the message: a clerk reading a case's messages
    must not read the code that opens it."""
    phone = personal.normal_phone(event.get("phone"))
    if not phone:
        return []
    return [Notice("portal_tracking_code", "applicant", phone, {"code": event["code"],
                                                                "minutes": event["valid_minutes"]})]
