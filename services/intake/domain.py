"""intake's pure rules: identity checksums, the catalog and its one form,
statutory clocks, the case status, the centre's headline figures.

No nameko, no SQL: everything here is tested with plain values."""
import datetime
import hashlib
import json
import re

# ---------------------------------------------------------------- identities

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def resident_id_problems(value, today=None):
    """Problems with an 18-character resident ID number (GB 11643-1999):
    format, birth date (a real day, not in the future, not before 1900) and
    the ISO 7064 MOD 11-2 check character. Empty list when valid."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{17}[\dXx]", value):
        return ["must be an 18-character resident ID number (17 digits and a digit or X)"]
    problems = []
    try:
        born = datetime.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
        today = today or datetime.date.today()
        if born > today or born.year < 1900:
            problems.append("birth date in the ID number is impossible")
    except ValueError:
        problems.append("birth date in the ID number is not a real date")
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS))
    if _ID_CHECK[total % 11] != value[17].upper():
        problems.append("check digit of the ID number is wrong")
    return problems


def resident_id_check_char(first17):
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS)) % 11]


# GB 32100-2015: 31 characters without I, O, Z, S, V.
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc_check_char(first17):
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS))
    return _USCC_CHARS[(31 - total % 31) % 31]


def uscc_problems(value):
    """Problems with a unified social credit code (GB 32100-2015)."""
    if not isinstance(value, str) or len(value) != 18 or any(c not in _USCC_CHARS for c in value.upper()):
        return ["must be an 18-character unified social credit code (digits and letters except I, O, Z, S, V)"]
    value = value.upper()
    if uscc_check_char(value[:17]) != value[17]:
        return ["check character of the unified social credit code is wrong"]
    return []


_MOBILE = re.compile(r"1[3-9]\d{9}")


def is_mainland_mobile(value):
    """11 digits starting 13-19; a leading +86 or 86 is allowed."""
    if not isinstance(value, str):
        return False
    digits = re.sub(r"[\s-]", "", value)
    digits = re.sub(r"^(\+?86)", "", digits) if len(digits) > 11 else digits
    return bool(_MOBILE.fullmatch(digits))


def normal_mobile(value):
    digits = re.sub(r"[\s-]", "", value)
    return digits[-11:]


def mask_name(name):
    """张三 -> 张*, 欧阳娜娜 -> 欧***; enterprise names keep head and tail."""
    if not name:
        return ""
    if len(name) <= 1:
        return "*"
    if len(name) >= 8:
        return name[:2] + "*" * (len(name) - 4) + name[-2:]
    return name[0] + "*" * (len(name) - 1)


def mask_id(value):
    """Keep the first 3 and last 2 characters: 110***********123X style."""
    if not value:
        return ""
    return value[:3] + "*" * (len(value) - 5) + value[-2:]


def mask_phone(phone):
    return phone[:3] + "****" + phone[-4:] if phone and len(phone) >= 7 else "****"


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


def case_status(case):
    """The status a case is in, from what intake has heard so far. Derived,
    not stepped, so events may arrive in any order with the same result.

    case: {accepted (bool), kind, has_fees, review_outcome (None|approved|
    rejected), bill_status (None|unpaid|paid|waived|refunded), awaiting_materials
    (bool), review_started (bool)}"""
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
}


def application_number(centre, year, sequence):
    """ZW2026000123: centre, year and a 6-digit per-year sequence."""
    return f"{centre}{year}{sequence:06d}"


# ---------------------------------------------------------------- reporting

def ratio(part, whole):
    return round(part / whole, 4) if whole else 0.0


def headline(start, end, figures):
    """The sentence a centre puts at the top of its monthly report."""
    def pct(x):
        return f"{x * 100:.1f}%"

    def day(d):
        return f"{d.year}年{d.month}月{d.day}日"

    satisfaction = (f"群众满意率{pct(figures['satisfaction_rate'])}（{figures['ratings']}条评价）"
                    if figures["ratings"] else "暂无群众评价")
    return (f"{day(start)}至{day(end)}，中心共接件{figures['received']}件，受理{figures['accepted']}件，"
            f"其中即办件占{pct(figures['instant_ratio'])}；办结{figures['completed']}件，"
            f"办结率{pct(figures['completion_rate'])}；超期{figures['overdue']}件；"
            f"收费{figures['fees_fen'] / 100:,.2f}元；{satisfaction}。")
