"""intake's pure rules (personal data: onewindow.personal): the catalog and its one form,
statutory clocks, the case status, the centre's headline figures.

No nameko, no SQL: everything here is tested with plain values."""
import dataclasses
import datetime
import hashlib
import json
from typing import Optional

from onewindow.workdays import read_clock


# ---------------------------------------------------------------- the application

def _column(default=None, *, jsonb=False, fixed=False, empty_is_null=False, set_by_database=False):
    """A column of `applications`: `jsonb` ones are stored as JSON; `fixed`
    ones are written once, when the case is received; `empty_is_null` ones
    store an empty value as NULL; `set_by_database` ones are never written."""
    factory = {"default_factory": default} if callable(default) else {"default": default}
    return dataclasses.field(**factory, metadata={"jsonb": jsonb, "fixed": fixed, "empty_is_null": empty_is_null,
                                                  "set_by_database": set_by_database})


@dataclasses.dataclass
class Application:
    """One application (办件) as intake keeps it: the one list of the columns
    of `applications`, which the store reads and writes from these fields."""
    application_no: str = _column(fixed=True)
    client_ref: str = _column(fixed=True)
    item_code: Optional[str] = _column(fixed=True)
    item_name: str = _column(fixed=True)
    catalog_version: Optional[int] = _column(fixed=True)
    kind: Optional[str] = _column(fixed=True)
    channel: str = _column(fixed=True)
    applicant: dict = _column(dict, jsonb=True, fixed=True)
    applicant_phone: str = _column(fixed=True)
    form: dict = _column(dict, jsonb=True, fixed=True)
    materials: list = _column(list)
    missing_materials: list = _column(list, jsonb=True)
    materials_stage: Optional[str] = _column()        # intake|review while materials are awaited
    status: str = _column()
    received_at: Optional[datetime.datetime] = _column(set_by_database=True)
    received_on: Optional[datetime.date] = _column(fixed=True)
    accepted_on: Optional[datetime.date] = _column()
    clock_started_on: Optional[datetime.date] = _column()
    due_date: Optional[datetime.date] = _column()
    provisional: bool = _column(False)
    visits: int = _column(1)
    fee_lines: list = _column(list, jsonb=True, fixed=True)
    has_fees: bool = _column(False, fixed=True)
    free_registration: bool = _column(False, fixed=True)
    review_started: bool = _column(False)
    review_outcome: Optional[str] = _column()
    rejections: list = _column(list, jsonb=True)
    bill: Optional[dict] = _column(jsonb=True)
    bill_status: Optional[str] = _column()
    overdue: bool = _column(False)
    outcome: Optional[str] = _column()
    concluded_on: Optional[datetime.date] = _column()
    receipt: Optional[dict] = _column(jsonb=True)
    rating: Optional[int] = _column()
    rating_comment: Optional[str] = _column()
    rated_at: Optional[datetime.datetime] = _column()
    window_code: Optional[str] = _column(fixed=True)
    decided_on: Optional[datetime.date] = _column()
    refusal_no: Optional[str] = _column(fixed=True)
    refusal_reasons: Optional[list] = _column(jsonb=True, fixed=True, empty_is_null=True)
    refusal_legal_basis: Optional[str] = _column(fixed=True)
    withdrawn_on: Optional[datetime.date] = _column()
    withdrawal_reason: Optional[str] = _column()
    green_channel: Optional[dict] = _column(jsonb=True, fixed=True, empty_is_null=True)
    documents: list = _column(list, jsonb=True)

    def update(self, **changes):
        for name, value in changes.items():
            if name not in APPLICATION_COLUMNS:
                raise AttributeError(f"an application has no {name}")
            setattr(self, name, value)
        return self

    def with_changes(self, **changes):
        return dataclasses.replace(self, **changes)


APPLICATION_COLUMNS = {f.name: f.metadata for f in dataclasses.fields(Application)}

# ---------------------------------------------------------------- the catalog

FIELD_TYPES = ("text", "integer", "date", "choice", "phone", "id_number", "uscc", "amount_fen")
KINDS = ("instant", "committed")
TIMEOUT_POLICIES = ("escalate", "deemed_approval")


class CatalogError(ValueError):
    pass


def catalog_checksum(document):
    return hashlib.sha256(json.dumps(document, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class Catalog:
    """One version of the catalog, read from its data document.

    Each item's departments use the fields the item lists for that department,
    else the item's own `fields`, else what the department declares."""

    def __init__(self, document, version_no=None):
        self.document = document
        self.version_no = version_no
        self.label = str(document.get("version", ""))
        self.fields = document.get("fields") or {}
        self.departments = document.get("departments") or {}
        self.fees = document.get("fees") or {}
        self.materials = document.get("materials") or {}
        self.items = {}
        for raw in document.get("items") or []:
            self.items[raw["code"]] = self._item(raw)
        problems = self.problems()
        if problems:
            raise CatalogError("; ".join(problems))

    def _item(self, raw):
        departments = []
        for i, d in enumerate(raw.get("departments") or []):
            code = d["code"]
            declared = (self.departments.get(code) or {}).get("fields") or []
            departments.append({
                "code": code,
                "lead": i == 0,
                "timeout_policy": d.get("timeout_policy", "escalate"),
                "limit_days": d.get("limit_days", raw.get("committed_limit_days", 0)),
                "fields": list(d.get("fields") or raw.get("fields") or declared),
            })
        materials = raw.get("materials") or {}
        return {
            "code": raw["code"],
            "name": raw["name"],
            "kind": raw["kind"],
            "legal_limit_days": raw["legal_limit_days"],
            "committed_limit_days": raw["committed_limit_days"],
            "legal_basis": raw.get("legal_basis", ""),
            "departments": departments,
            "materials": [{"code": c, "name": self.materials.get(c, c), "required": True}
                          for c in materials.get("required") or []]
            + [{"code": c, "name": self.materials.get(c, c), "required": False}
               for c in materials.get("optional") or []],
            "fees": list(raw.get("fees") or []),
            "free_registration": bool(raw.get("free_registration", False)),
            "collect": raw.get("collect", ""),
        }

    def problems(self):
        """What makes this document unusable, all at once."""
        found = []
        for name, f in self.fields.items():
            if f.get("type") not in FIELD_TYPES:
                found.append(f"field {name}: unknown type {f.get('type')!r}")
            if f.get("type") == "choice" and not f.get("choices"):
                found.append(f"field {name}: a choice needs choices")
        for code, d in self.departments.items():
            for key in ("name", "treasury_account", "roster", "supervisor_phone"):
                if not d.get(key):
                    found.append(f"department {code}: {key} missing")
            for f in d.get("fields") or []:
                if f not in self.fields:
                    found.append(f"department {code}: unknown field {f}")
        for code, fee in self.fees.items():
            if fee.get("department") not in self.departments:
                found.append(f"fee {code}: unknown department {fee.get('department')}")
            if not isinstance(fee.get("amount_fen"), int) or fee["amount_fen"] < 0:
                found.append(f"fee {code}: amount_fen must be a whole number of fen")
        for code, item in self.items.items():
            if item["kind"] not in KINDS:
                found.append(f"item {code}: kind must be instant or committed")
            if item["kind"] == "instant" and item["committed_limit_days"] != 0:
                found.append(f"item {code}: an instant item is decided on the day (committed 0)")
            if item["committed_limit_days"] > item["legal_limit_days"]:
                found.append(f"item {code}: committed limit beyond the legal limit")
            if not item["departments"]:
                found.append(f"item {code}: no department")
            for d in item["departments"]:
                if d["code"] not in self.departments:
                    found.append(f"item {code}: unknown department {d['code']}")
                if d["timeout_policy"] not in TIMEOUT_POLICIES:
                    found.append(f"item {code}: timeout policy {d['timeout_policy']!r}")
                for f in d["fields"]:
                    if f not in self.fields:
                        found.append(f"item {code}: unknown field {f}")
            for fee in item["fees"]:
                if fee not in self.fees:
                    found.append(f"item {code}: unknown fee {fee}")
            for m in item["materials"]:
                if m["code"] not in self.materials:
                    found.append(f"item {code}: unknown material {m['code']}")
        return found

    # ---- questions

    def item(self, code):
        return self.items.get(code)

    def department(self, code):
        return self.departments[code]

    def listing(self):
        """list_items(): the contract's view of every item."""
        return [self.describe(item) for item in self.items.values()]

    def describe(self, item):
        return {
            "code": item["code"],
            "name": item["name"],
            "kind": item["kind"],
            "departments": [d["code"] for d in item["departments"]],
            "department_names": {d["code"]: self.departments[d["code"]]["name"] for d in item["departments"]},
            "legal_limit_days": item["legal_limit_days"],
            "committed_limit_days": item["committed_limit_days"],
            "materials": [dict(m) for m in item["materials"]],
            "fees": list(item["fees"]),
            "fee_items": [self.fee_line(code) for code in item["fees"]],
            "free_registration": item["free_registration"],
            "timeout_policy": {d["code"]: d["timeout_policy"] for d in item["departments"]},
            "legal_basis": item["legal_basis"],
            "catalog_version": self.label,
        }

    def form(self, item):
        """The one form (一表制): every field the item's departments use,
        once, in first-use order, with the departments that use it."""
        union = {}
        for d in item["departments"]:
            for name in d["fields"]:
                entry = union.get(name)
                if entry is None:
                    spec = self.fields[name]
                    entry = union[name] = {
                        "name": name,
                        "label": spec.get("label", name),
                        "type": spec["type"],
                        "required": bool(spec.get("required", False)),
                        "departments": [],
                    }
                    if spec["type"] == "choice":
                        entry["choices"] = list(spec["choices"])
                entry["departments"].append(d["code"])
        return list(union.values())

    def declared_count(self, item):
        return sum(len(d["fields"]) for d in item["departments"])

    def fee_line(self, fee_code):
        fee = self.fees[fee_code]
        return {
            "fee_code": fee_code,
            "name": fee["name"],
            "department": fee["department"],
            "amount_fen": fee["amount_fen"],
            "treasury_account": self.departments[fee["department"]]["treasury_account"],
            "legal_basis": fee.get("legal_basis", ""),
        }

    def bill_lines(self, item):
        """The fee lines to bill; none for a free registration (免费登记)."""
        if item["free_registration"]:
            return []
        return [self.fee_line(code) for code in item["fees"]]

    def missing_materials(self, item, provided):
        provided = set(provided)
        return [{"code": m["code"], "name": m["name"]}
                for m in item["materials"] if m["required"] and m["code"] not in provided]

    def department_fields(self, item, department_code, form):
        """Only the fields this department uses (data minimisation)."""
        for d in item["departments"]:
            if d["code"] == department_code:
                return {name: form[name] for name in d["fields"] if name in form}
        return {}


# ---------------------------------------------------------------- clocks

def due_dates(item, start, calendar, departments=None):
    """The case's due date and each department's, counted in working days
    from the day after `start`. Returns (DueDate, {department: DueDate})."""
    per_department = {}
    for d in item["departments"]:
        if departments is not None and d["code"] not in departments:
            continue
        per_department[d["code"]] = calendar.add_workdays(start, d["limit_days"])
    overall = calendar.add_workdays(start, item["committed_limit_days"])
    if per_department:
        latest = max(per_department.values(), key=lambda due: due.due_date)
        if latest.due_date > overall.due_date:
            overall = latest
        overall = type(overall)(overall.due_date, overall.provisional or any(
            due.provisional for due in per_department.values()))
    return overall, per_department


# ---------------------------------------------------------------- case status

CONCLUDED = ("completed", "rejected")
# Ended without a decision: refused at the window (不予受理) or withdrawn by
# the applicant (撤回). Neither is concluded (办结).
REFUSED = "refused"
WITHDRAWN = "withdrawn"
# What may still be withdrawn: everything before conclusion.
WITHDRAWABLE = ("needs_materials", "accepted", "in_review", "awaiting_payment")


def case_status(case):
    """The status a case is in, from what intake has heard so far. Derived,
    not stepped, so events may arrive in any order with the same result.

    case: {accepted (bool), kind, has_fees, review_outcome (None|approved|
    rejected), bill_status (None|unpaid|paid|waived|refunded|cancelled),
    awaiting_materials (bool), review_started (bool), refused (bool),
    withdrawn (bool)}"""
    if case.get("refused"):
        return REFUSED
    if case.get("withdrawn"):
        return WITHDRAWN
    if not case["accepted"]:
        return "needs_materials"
    if case["review_outcome"] == "rejected":
        return "rejected"
    if case["review_outcome"] == "approved":
        if not case["has_fees"] or case["bill_status"] in ("paid", "waived", "refunded"):
            return "completed"
        return "awaiting_payment"
    if case["awaiting_materials"]:
        return "needs_materials"
    return "in_review" if case["review_started"] else "accepted"


STATUS_LABELS = {
    "needs_materials": "待补正材料",
    "accepted": "已受理",
    "in_review": "审批中",
    "awaiting_payment": "待缴费",
    "completed": "已办结",
    "rejected": "不予许可",
    REFUSED: "不予受理",
    WITHDRAWN: "已撤回",
}


def centre_late(case, today):
    """Was the centre late on this case? Only the centre's time counts: from
    the (re)started clock to review's decision. Time a bill waits for the
    applicant, and time materials are awaited, are the applicant's.

    case: {accepted_on, due_date, decided_on, materials_stage, overdue (review
    reported a task overdue), withdrawn_on}; `today` ends the count of a case
    the centre still holds."""
    if case["accepted_on"] is None or case["due_date"] is None:
        return False
    if case["overdue"]:
        return True
    if case["decided_on"] is not None:
        return case["decided_on"] > case["due_date"]
    if case["materials_stage"] is not None:
        return False
    end = case["withdrawn_on"] or today
    return end > case["due_date"]


def application_number(centre, year, sequence):
    """ZW2026000123: centre, year and a 6-digit per-year sequence."""
    return f"{centre}{year}{sequence:06d}"


# Numbered documents of the front office, each with its own yearly sequence.
REFUSAL = "BYSL"     # 不予受理通知书
INQUIRY = "SW"       # 首问登记
COMPLAINT = "TS"     # 投诉


def document_number(kind, centre, year, sequence):
    """ZWBYSL2026000001: centre, kind, year and a 6-digit per-year sequence."""
    return f"{centre}{kind}{year}{sequence:06d}"


# ---------------------------------------------------------------- reporting

def ratio(part, whole):
    return round(part / whole, 4) if whole else 0.0


def headline(start, end, figures):
    """The sentence a centre puts at the top of its monthly report (as
    Tieling's monthly summary reads): cases, refusals, withdrawals, overdue,
    fees, satisfaction, and the hall's appointments and home visits when the
    centre runs a hall service."""
    def pct(x):
        return f"{x * 100:.1f}%"

    def day(d):
        return f"{d.year}年{d.month}月{d.day}日"

    satisfaction = (f"群众满意率{pct(figures['satisfaction_rate'])}（{figures['ratings']}条评价）"
                    if figures["ratings"] else "暂无群众评价")
    hall = (f"预约办理{figures['appointments']}件，上门服务{figures['home_visits']}次；"
            if figures.get("hall") else "")
    return (f"{day(start)}至{day(end)}，中心共接件{figures['received']}件，受理{figures['accepted']}件，"
            f"其中即办件占{pct(figures['instant_ratio'])}；不予受理{figures['refused']}件，"
            f"申请人撤回{figures['withdrawn']}件；办结{figures['completed']}件，"
            f"办结率{pct(figures['completion_rate'])}；超期{figures['overdue']}件；"
            f"首问登记咨询{figures['inquiries']}人次，受理投诉{figures['complaints']}件；{hall}"
            f"收费{figures['fees_fen'] / 100:,.2f}元；{satisfaction}。")


def ranking(rows, complaints):
    """选优评差: one line per key (department, window or reviewer), best
    first. rows: {key, late (bool), working_days (int|None), rating
    (1-5|None)}; complaints: {key: count}. On-time rate first, then
    satisfaction, then fewer complaints."""
    groups = {}
    for row in rows:
        g = groups.setdefault(row["key"], {"cases": 0, "late": 0, "days": [], "ratings": 0, "satisfied": 0})
        g["cases"] += 1
        g["late"] += int(bool(row["late"]))
        if row["working_days"] is not None:
            g["days"].append(row["working_days"])
        if row["rating"] is not None:
            g["ratings"] += 1
            g["satisfied"] += int(row["rating"] >= 4)
    for key in complaints:
        groups.setdefault(key, {"cases": 0, "late": 0, "days": [], "ratings": 0, "satisfied": 0})
    lines = []
    for key, g in groups.items():
        lines.append({
            "key": key,
            "cases": g["cases"],
            "on_time_rate": ratio(g["cases"] - g["late"], g["cases"]),
            "average_working_days": round(sum(g["days"]) / len(g["days"]), 2) if g["days"] else None,
            "ratings": g["ratings"],
            "satisfaction_rate": ratio(g["satisfied"], g["ratings"]),
            "complaints": complaints.get(key, 0),
        })
    lines.sort(key=lambda x: (-x["on_time_rate"], -x["satisfaction_rate"], x["complaints"], -x["cases"],
                              str(x["key"])))
    for rank, line in enumerate(lines, 1):
        line["rank"] = rank
    return lines


# ---------------------------------------------------------------- complaints

def complaint_actions(complaint, today, calendar):
    """What supervision does to one unanswered complaint, like a review task:
    `warn` once when one working day is left, `notice` (督办) once when the
    due date has passed. Returns (actions, reading)."""
    if complaint["answered_at"] is not None:
        return [], None
    reading = read_clock(complaint["due_date"], today, calendar)
    actions = []
    if reading.level == "yellow" and complaint["warning_level"] == "none":
        actions.append("warn")
    if reading.level == "red" and complaint["noticed_on"] is None:
        actions.append("notice")
    return actions, reading


# ------------------------------------------------------------------ SMS notices

# A text's status moves on from queued or sent to delivered or failed, and a
# final one stands: notify's events may come late or twice, never to undo it.
FINAL_NOTICE = ("delivered", "failed")
PASSING_NOTICE = ("queued", "sent")


def later_notice(kept, new):
    """Of two statuses of one text, the one that stands: the newer, unless it
    would put a final status back to a passing one."""
    return kept if kept["status"] in FINAL_NOTICE and new["status"] in PASSING_NOTICE else new


def latest_notices(notices):
    """One notice per text, the one that stands, in the order texts came."""
    latest = {}
    for notice in notices:
        kept = latest.get(notice["message_id"])
        latest[notice["message_id"]] = notice if kept is None else later_notice(kept, notice)
    return list(latest.values())


def unrecorded_cases(notices, recorded):
    """The cases of the notices whose message_id is not among `recorded`."""
    return sorted({n["application_no"] for n in notices if n["message_id"] not in recorded})
