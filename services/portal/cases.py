"""The portal's use cases: what each page asks of the other services (over
RPC, as the principal `portal`) and of the portal's own store, turned into a
View to render. No nameko, no SQL, no HTML here."""
import dataclasses
import json
import logging
import time
import uuid

from nameko.exceptions import RemoteError, UnknownService

from onewindow import links, personal
from onewindow.calls import CallTimeout
from onewindow.errors import Conflict, Forbidden, NotFound, ValidationFailed
from onewindow.validation import load

from . import domain, schemas

log = logging.getLogger(__name__)

CONTRACT = {"ValidationFailed": ValidationFailed, "NotFound": NotFound, "Conflict": Conflict,
            "Forbidden": Forbidden}


class Remembered:
    """A value kept for `seconds` in one process (each replica its own)."""

    def __init__(self, seconds, clock=time.monotonic):
        self.seconds, self.clock = seconds, clock
        self.value, self.at = None, None

    def get(self, fetch):
        now = self.clock()
        if self.at is None or now - self.at >= self.seconds:
            self.value, self.at = fetch(), now
        return self.value


class Unavailable(Exception):
    """Another service did not answer: the applicant is asked to try later."""


@dataclasses.dataclass
class View:
    template: str
    context: dict = dataclasses.field(default_factory=dict)
    status: int = 200
    redirect: str = None
    forms: bool = False  # the page has a form: it needs a session and its CSRF token
    retry_after: int = None


@dataclasses.dataclass
class Visit:
    """One request as the use cases see it."""
    store: object            # PortalStore
    services: object         # ServiceCaller: services(service, method, kwargs, timeout=...)
    key: bytes               # the portal's hashing key
    session: dict            # {session_hash, csrf_token, data} or None
    address: str
    form: dict               # posted inputs, stripped
    materials: list          # the checked materials (a list input)
    rating_secret: str
    timeout: float
    catalog: object = None  # Remembered: the catalog, read from intake at most every CATALOG_SECONDS

    def call(self, service, method, **kwargs):
        try:
            return self.services(service, method, kwargs, timeout=self.timeout)
        except RemoteError as exc:
            kind = CONTRACT.get(exc.exc_type)
            if kind is ValidationFailed:
                raise ValidationFailed(json.loads(exc.value)) from None
            if kind is not None:
                raise kind(exc.value) from None
            raise
        except (CallTimeout, UnknownService) as exc:
            log.warning("%s.%s did not answer: %s", service, method, type(exc).__name__)
            raise Unavailable(service) from None

    def items(self):
        """The item catalog: every guide page needs it, and it changes with a
        new catalog version only, so it is asked for once in a while."""
        if self.catalog is None:
            return self.call("intake", "list_items")
        return self.catalog.get(lambda: self.call("intake", "list_items"))

    def limited(self, *checks):
        """Count a try against each (limit name, value); the seconds to wait
        when any is over its limit, else None. Values are hashed with the
        portal's key: no phone or address is stored."""
        now = self.store.epoch()
        waits = []
        for name, value in checks:
            limit = domain.LIMITS[name]
            start = domain.window_start(now, limit.seconds)
            hits = self.store.hit(domain.keyed_hash(self.key, name, value), start, limit.seconds)
            if not domain.allowed(hits, limit):
                waits.append(domain.retry_after(now, limit.seconds))
        return max(waits) if waits else None


def too_many(wait, back):
    return View("limited.html", {"minutes": max(1, (wait + 59) // 60), "back": back}, status=429, retry_after=wait)


def posted_form(visit, schema, redisplay, limits, back):
    """(data, None) for a posted form that loads and is within its limits
    (`limits(data)`: the (limit, value) pairs it counts against); else
    (None, the page to answer): the form again with every problem, or 429."""
    posted = dict(visit.form)
    try:
        data = load(schema, posted)
    except ValidationFailed as exc:
        return None, redisplay(visit, exc.problems, posted, status=400)
    wait = visit.limited(*limits(data))
    if wait:
        return None, too_many(wait, back)
    return data, None


# ------------------------------------------------------------ 办事指南

def home(visit):
    return View("home.html")


def guide(visit, query):
    items = visit.items()
    found = domain.search(items, query)
    return View("guide.html", {"items": found, "query": query or "", "total": len(items)})


def guide_item(visit, item_code, today):
    item = next((i for i in visit.items() if i["code"] == item_code), None)
    if item is None:
        return View("not_found.html", {"what": "办理事项"}, status=404)
    due = None
    if item["kind"] == "committed":
        due = visit.call("intake", "due_date", item_code=item_code, accepted_on=today.isoformat())
    return View("item.html", {"item": item, "due": due, "yuan": domain.yuan,
                              "total_fen": sum(f["amount_fen"] for f in item["fee_items"])})


# ------------------------------------------------------------ 网上申报

def _form_page(visit, item_code, posted=None, problems=None, status=200, client_ref=None):
    form = visit.call("intake", "form_for", item_code=item_code)
    item = next(i for i in visit.items() if i["code"] == item_code)
    labels = domain.input_labels(form["fields"])
    return View("apply.html", {
        "form": form, "item": item, "posted": posted or {}, "checked": set(visit.materials if posted else ()),
        "problems": domain.problems_by_input(problems, labels), "client_ref": client_ref or uuid.uuid4().hex,
        "kinds": domain.APPLICANT_KINDS, "labels": labels,
        "attributes": domain.input_attributes}, status=status, forms=True)


def application_form(visit, item_code):
    try:
        return _form_page(visit, item_code)
    except NotFound:
        return View("not_found.html", {"what": "办理事项"}, status=404)


def apply(visit, item_code):
    """The one form sent: intake checks everything and names every problem;
    they go back beside their fields. Accepted or not, the result page."""
    posted = dict(visit.form)
    client_ref = posted.pop("client_ref", "") or uuid.uuid4().hex
    try:
        form = visit.call("intake", "form_for", item_code=item_code)
    except NotFound:
        return View("not_found.html", {"what": "办理事项"}, status=404)
    wait = visit.limited(("apply_per_address", visit.address))
    if wait:
        return too_many(wait, f"/apply/{item_code}")
    application = domain.application_from_form(form["fields"], item_code, posted, visit.materials, client_ref)
    try:
        result = visit.call("intake", "submit", application=application)
    except ValidationFailed as exc:
        return _form_page(visit, item_code, posted, exc.problems, status=400, client_ref=client_ref)
    except Conflict:  # the same form sent twice at once: the first is still on its way
        return _form_page(visit, item_code, posted, {"_general": ["您的申请正在提交，请稍候刷新页面查看结果，勿重复提交。"]},
                          status=409, client_ref=client_ref)
    return View("applied.html", {"result": result, "item_name": form["item_name"],
                                 "phone": domain.masked_phone(application["applicant"]["phone"])})


# ------------------------------------------------------------ 办件查询

def track_form(visit, problems=None, posted=None, status=200):
    return View("track.html", {"problems": problems or {}, "posted": posted or {}}, status=status, forms=True)


def request_code(visit):
    """Number and phone: when they match a case, a six-digit code goes to
    that phone by SMS (through notify). The answer is the same either way,
    so the form tells no one which numbers and phones belong together."""
    data = {"application_no": visit.form.get("application_no", "").upper(), "phone": visit.form.get("phone", "")}
    problems = {k: [p] for k, p in (("application_no", domain.application_no_problem(data["application_no"])),
                                    ("phone", domain.phone_problem(data["phone"]))) if p}
    if problems:
        return track_form(visit, problems, data, status=400)
    phone = personal.normal_phone(data["phone"])
    wait = visit.limited(("code_per_address", visit.address), ("code_per_case", data["application_no"]),
                         ("code_per_phone", phone))
    if wait:
        return too_many(wait, "/track")
    session = visit.session
    try:
        visit.call("intake", "track", application_no=data["application_no"], phone=phone)
        matched = True
    except (NotFound, ValidationFailed):
        matched = False
    code = domain.new_code()
    # a challenge either way: a wrong pair gets one no code can ever open
    challenge = visit.store.add_code(session["session_hash"], data["application_no"],
                                     domain.keyed_hash(visit.key, "code", code) if matched else "-",
                                     domain.CODE_VALID_MINUTES)
    if matched:
        visit.store.emit("tracking_code_requested", {"phone": phone, "code": code,
                                                     "valid_minutes": domain.CODE_VALID_MINUTES})
    session["data"]["track"] = {"challenge_id": challenge, "application_no": data["application_no"],
                                "phone": phone, "verified": False}
    return View("", redirect="/track/code")


def code_form(visit, problem=None, status=200):
    track = (visit.session or {}).get("data", {}).get("track")
    if not track:
        return View("", redirect="/track")
    return View("code.html", {"phone": domain.masked_phone(track["phone"]), "problem": problem,
                              "minutes": domain.CODE_VALID_MINUTES}, status=status, forms=True)


CODE_PROBLEMS = {"wrong": "验证码不正确，请核对短信后重新输入。",
                 "expired": "验证码已过期，请重新获取。",
                 "spent": "错误次数过多，该验证码已失效，请重新获取。",
                 "missing": "请先获取验证码。"}


def check_code(visit):
    track = (visit.session or {}).get("data", {}).get("track")
    if not track:
        return View("", redirect="/track")
    wait = visit.limited(("check_per_address", visit.address))
    if wait:
        return too_many(wait, "/track/code")
    challenge = visit.store.code(track["challenge_id"], visit.session["session_hash"])
    if challenge is not None:
        challenge = dict(challenge, expires_at=challenge["expires_at"].timestamp())
    verdict = domain.code_verdict(challenge, visit.form.get("code"), visit.key, visit.store.epoch())
    if verdict != "ok":
        if challenge is not None and verdict == "wrong":
            visit.store.code_tried(track["challenge_id"])
        return code_form(visit, CODE_PROBLEMS[verdict], status=400)
    visit.store.code_used(track["challenge_id"])
    track["verified"] = True
    return View("", redirect="/track/case")


def tracked_case(visit, problems=None):
    track = (visit.session or {}).get("data", {}).get("track")
    if not track or not track.get("verified"):
        return View("", redirect="/track")
    try:
        case = visit.call("intake", "track", application_no=track["application_no"], phone=track["phone"])
    except (NotFound, ValidationFailed):
        return View("", redirect="/track")
    return View("case.html", {"case": case, "yuan": domain.yuan, "problems": problems or {},
                              "client_ref": uuid.uuid4().hex}, status=400 if problems else 200,
                forms=bool(case["awaiting_materials"]))


def supplement(visit):
    """补正 online: the materials the one-time notice asked for, from the
    tracked case's page; the clock restarts once they are complete."""
    track = (visit.session or {}).get("data", {}).get("track")
    if not track or not track.get("verified"):
        return View("", redirect="/track")
    wait = visit.limited(("apply_per_address", visit.address))
    if wait:
        return too_many(wait, "/track/case")
    if not visit.materials:
        return tracked_case(visit, {"materials": ["请勾选您补交的材料"]})
    try:
        visit.call("intake", "supplement", application_no=track["application_no"], materials=visit.materials,
                   client_ref=visit.form.get("client_ref") or uuid.uuid4().hex)
    except (ValidationFailed, Conflict) as exc:
        problems = exc.problems if isinstance(exc, ValidationFailed) else {"materials": [str(exc)]}
        return tracked_case(visit, domain.problems_by_input(problems))
    return View("", redirect="/track/case")


# ------------------------------------------------------------ 大厅实况

def hall_board(visit):
    return View("hall.html", {"queues": visit.call("hall", "queues")})


# ------------------------------------------------------------ 服务评价

def _rating_link_ok(visit, application_no, token):
    return links.valid_rating_token(visit.rating_secret, application_no, token)


def rating_form(visit, application_no, token, problems=None, posted=None, status=200):
    if not _rating_link_ok(visit, application_no, token):
        return View("not_found.html", {"what": "评价链接"}, status=404)
    return View("rate.html", {"application_no": application_no, "problems": problems or {},
                              "posted": posted or {}}, status=status, forms=True)


def rate(visit, application_no, token):
    wait = visit.limited(("rate_per_address", visit.address))
    if wait:
        return too_many(wait, "/")
    if not _rating_link_ok(visit, application_no, token):
        return View("not_found.html", {"what": "评价链接"}, status=404)
    try:
        data = load(schemas.RatingForm, visit.form)
    except ValidationFailed as exc:
        return rating_form(visit, application_no, token, exc.problems, visit.form, status=400)
    try:
        visit.call("intake", "rate", application_no=application_no, score=data["score"], comment=data["comment"])
    except Conflict as exc:  # rated already, or (a link made by hand) not concluded yet
        already = "already" in str(exc)
        return View("rated.html", {"already": already, "status_conflict": not already,
                                   "application_no": application_no}, status=409)
    except NotFound:
        return View("not_found.html", {"what": "办件"}, status=404)
    return View("rated.html", {"already": False, "status_conflict": False, "application_no": application_no})


# ------------------------------------------------------------ 投诉

def complaint_form(visit, problems=None, posted=None, status=200):
    return View("complain.html", {"problems": problems or {}, "posted": posted or {},
                                  "client_ref": (posted or {}).get("client_ref") or uuid.uuid4().hex},
                status=status, forms=True)


def complain(visit):
    data, answer = posted_form(visit, schemas.ComplaintForm, complaint_form, lambda d: (
        ("complain_per_address", visit.address), ("complain_per_phone", personal.normal_phone(d["phone"]))),
        "/complain")
    if answer:
        return answer
    try:
        made = visit.call("intake", "complain", text=data["text"], phone=data["phone"],
                          application_no=data["application_no"], client_ref=data["client_ref"])
    except ValidationFailed as exc:
        return complaint_form(visit, exc.problems, visit.form, status=400)
    return View("complained.html", {"complaint": made})


# ------------------------------------------------------------ 办件公示

def publicity(visit, month, today):
    start, end = domain.month_period(month, today)
    rows = visit.call("intake", "publicity", start=start.isoformat(), end=end.isoformat())
    return View("publicity.html", {"rows": rows, "month": start.strftime("%Y-%m"),
                                   "months": domain.recent_months(today, 6)})


# ------------------------------------------------------------ 预约 and 远程取号

def ticket_form(visit, problems=None, posted=None, status=200):
    queues = visit.call("hall", "queues")
    return View("ticket.html", {"queues": queues, "problems": problems or {}, "posted": posted or {},
                                "client_ref": (posted or {}).get("client_ref") or uuid.uuid4().hex},
                status=status, forms=True)


def hall_limits(visit):
    return lambda data: (("hall_per_address", visit.address), ("hall_per_phone", personal.normal_phone(data["phone"])))


def take_ticket(visit):
    data, answer = posted_form(visit, schemas.TicketForm, ticket_form, hall_limits(visit), "/ticket")
    if answer:
        return answer
    try:
        taken = visit.call("hall", "take_ticket", queue_code=data["queue_code"], channel="remote",
                           client_ref=data["client_ref"], phone=data["phone"])
    except ValidationFailed as exc:
        return ticket_form(visit, exc.problems, visit.form, status=400)
    except Conflict as exc:
        return ticket_form(visit, {"_general": [str(exc)]}, visit.form, status=409)
    return View("", redirect=f"/ticket/{taken['ticket_no']}")


def ticket(visit, ticket_no):
    try:
        found = visit.call("hall", "ticket", ticket_no=ticket_no)
    except (NotFound, ValidationFailed):
        return View("not_found.html", {"what": "号码"}, status=404)
    return View("ticket_status.html", {"ticket": found})


def booking_form(visit, item_code, date, today, problems=None, posted=None, status=200):
    items = visit.items()
    day = domain.booking_day(date, today)
    slots = []
    if item_code:
        try:
            slots = visit.call("hall", "slots", item_code=item_code, date=day.isoformat())
        except ValidationFailed as exc:
            problems = dict(problems or {}, **exc.problems)
    return View("book.html", {"items": items, "item_code": item_code or "", "date": day.isoformat(),
                              "days": domain.booking_days(today, 10), "slots": slots, "problems": problems or {},
                              "posted": posted or {},
                              "client_ref": (posted or {}).get("client_ref") or uuid.uuid4().hex},
                status=status, forms=True)


def book(visit, today):
    def again(visit, problems, posted, status):
        return booking_form(visit, posted.get("item_code"), posted.get("date"), today, problems, posted, status)

    data, answer = posted_form(visit, schemas.BookingForm, again, hall_limits(visit), "/book")
    if answer:
        return answer
    posted = visit.form
    try:
        booked = visit.call("hall", "book", item_code=data["item_code"], date=data["date"].isoformat(),
                            slot=data["slot"], phone=data["phone"], client_ref=data["client_ref"])
    except (ValidationFailed, Conflict) as exc:
        problems = exc.problems if isinstance(exc, ValidationFailed) else {"slot": [str(exc)]}
        return booking_form(visit, data["item_code"], data["date"].isoformat(), today, problems, posted, 400)
    return View("booked.html", {"appointment": booked})
