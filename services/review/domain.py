"""Review rules, pure: who may decide, what the departments' decisions add up
to (并联审批), and the clock of electronic supervision (电子监察).

No nameko, no SQL: tasks and rosters are plain dicts, the calendar is a
`onewindow.workdays.WorkdayCalendar` (or anything with `workdays_between`).
"""
import datetime
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

DECISIONS = ("approve", "reject", "request_materials")
DEEMED = "deemed_approval"  # the decision the system records at timeout (超时默认)

TASK_STATUSES = ("open", "approved", "rejected", "materials_requested", "deemed_approved", "moot")
STATUS_OF_DECISION = {
    "approve": "approved",
    "reject": "rejected",
    "request_materials": "materials_requested",
    DEEMED: "deemed_approved",
}
APPROVING = ("approved", "deemed_approved")
SYSTEM = "system"


# ---------------------------------------------------------------- A/B posts

def assignee(roster):
    """Who may decide now: the primary, or the backup while the primary is absent."""
    if not roster:
        return None
    if roster.get("primary_absent") and roster.get("backup_id"):
        return roster["backup_id"]
    return roster.get("primary_id")


def authorize(roster, reviewer):
    """(allowed, acting_for). The backup acts only while the primary is absent,
    and then acts for the primary."""
    who = assignee(roster)
    if who is None or reviewer != who:
        return False, None
    if who == roster.get("primary_id"):
        return True, None
    return True, roster["primary_id"]


def roster_from_event(department):
    """The roster block of an application_accepted department, flattened."""
    roster = department.get("roster") or {}
    primary = roster.get("primary") or {}
    backup = roster.get("backup") or {}
    if not primary.get("id"):
        return None
    return {
        "department": department["code"],
        "department_name": department.get("name") or "",
        "primary_id": str(primary["id"]), "primary_name": primary.get("name") or "",
        "primary_phone": primary.get("phone"),
        "backup_id": str(backup["id"]) if backup.get("id") else None,
        "backup_name": backup.get("name") or "", "backup_phone": backup.get("phone"),
    }


def name_of(roster, reviewer):
    if not roster or reviewer is None:
        return None
    if reviewer == roster.get("primary_id"):
        return roster.get("primary_name") or None
    if reviewer == roster.get("backup_id"):
        return roster.get("backup_name") or None
    return None


def phone_of(roster, reviewer):
    if not roster or reviewer is None:
        return None
    if reviewer == roster.get("primary_id"):
        return roster.get("primary_phone")
    if reviewer == roster.get("backup_id"):
        return roster.get("backup_phone")
    return None


# ---------------------------------------------------------------- decisions

def normalize_materials(items):
    """Materials asked for, as [{code, name}]: each item is a code or an object
    with `code` and optional `name` (the code stands in for a missing name).
    Returns (materials, problems by index)."""
    materials, problems, seen = [], {}, set()
    for index, item in enumerate(items or []):
        if isinstance(item, str):
            code, name = item.strip(), None
        elif isinstance(item, dict):
            code = item.get("code")
            code = code.strip() if isinstance(code, str) else None
            name = item.get("name")
            if name is not None and not isinstance(name, str):
                problems.setdefault(str(index), []).append("name must be text")
                continue
        else:
            problems.setdefault(str(index), []).append("must be a material code or {code, name}")
            continue
        if not code:
            problems.setdefault(str(index), []).append("code is required")
            continue
        if code in seen:
            continue
        seen.add(code)
        materials.append({"code": code, "name": (name or "").strip() or code})
    return materials, problems


def decision_problems(decision, opinion, legal_basis, missing_materials):
    """What a decision lacks, by field (the cross-field rules)."""
    problems = {}
    if decision == "reject":
        if not (opinion or "").strip():
            problems["opinion"] = ["a rejection needs an opinion"]
        if not (legal_basis or "").strip():
            problems["legal_basis"] = ["a rejection needs a legal basis (否决报备)"]
    if decision == "request_materials":
        if not missing_materials:
            problems["missing_materials"] = ["name the materials to request"]
        else:
            _, bad = normalize_materials(missing_materials)
            for index, found in bad.items():
                problems[f"missing_materials.{index}"] = found
    return problems


# ---------------------------------------------------------------- aggregation

@dataclass
class Outcome:
    """What the tasks of one application add up to.

    kind: `pending` (someone is still reviewing), `rejected`, `materials_requested`
    or `approved`; `moot` lists the open task ids closed by a rejection."""
    kind: str
    moot: list = field(default_factory=list)
    rejections: list = field(default_factory=list)
    missing_materials: list = field(default_factory=list)


def union_of_materials(tasks):
    """Everything asked, once per code, each with the departments that asked."""
    merged = {}
    for task in tasks:
        if task["status"] != "materials_requested":
            continue
        for material in task.get("missing_materials") or []:
            entry = merged.setdefault(material["code"], {"code": material["code"], "name": material.get("name") or material["code"],
                                                         "departments": []})
            if entry["name"] == entry["code"] and material.get("name"):
                entry["name"] = material["name"]
            if task["department"] not in entry["departments"]:
                entry["departments"].append(task["department"])
    for entry in merged.values():
        entry["departments"].sort()
    return sorted(merged.values(), key=lambda m: m["code"])


def aggregate(tasks):
    """Any rejection rejects at once (the open tasks become moot); else, once no
    task is open, any request for materials sends the case back with the union
    of what was asked; else every task approved (or deemed approved) approves."""
    rejected = [t for t in tasks if t["status"] == "rejected"]
    if rejected:
        return Outcome(
            "rejected",
            moot=[t["task_id"] for t in tasks if t["status"] == "open"],
            rejections=[{"department": t["department"], "department_name": t.get("department_name") or "",
                         "opinion": t.get("opinion"), "legal_basis": t.get("legal_basis"),
                         "reviewer": t.get("reviewer"), "acting_for": t.get("acting_for")}
                        for t in sorted(rejected, key=lambda t: t["department"])],
        )
    if any(t["status"] == "open" for t in tasks):
        return Outcome("pending")
    if any(t["status"] == "materials_requested" for t in tasks):
        return Outcome("materials_requested", missing_materials=union_of_materials(tasks))
    if tasks and all(t["status"] in APPROVING for t in tasks):
        return Outcome("approved")
    return Outcome("pending")


def restartable(task):
    """After 补正 every task not already approved starts its clock again."""
    return task["status"] not in APPROVING


# ---------------------------------------------------------------- the clock

SUPERVISION_YEARS = range(2000, 2101)


def supervision_day(as_of, zone="Asia/Shanghai"):
    """The calendar day supervision judges: an ISO date, an ISO instant
    (naive means the centre's zone), a date/datetime, or None for now.
    Days outside 2000-2100 are refused: no case lives there, and counting
    working days to year 9999 would hold a worker for minutes."""
    day = _supervision_day(as_of, zone)
    if day.year not in SUPERVISION_YEARS:
        raise ValueError(f"{day} is outside {SUPERVISION_YEARS.start}-{SUPERVISION_YEARS.stop - 1}")
    return day


def _supervision_day(as_of, zone):
    tz = ZoneInfo(zone)
    if as_of is None:
        return datetime.datetime.now(tz).date()
    if isinstance(as_of, datetime.datetime):
        instant = as_of
    elif isinstance(as_of, datetime.date):
        return as_of
    else:
        text = str(as_of).strip()
        if len(text) == 10:
            return datetime.date.fromisoformat(text)
        instant = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=tz)
    return instant.astimezone(tz).date()


@dataclass(frozen=True)
class ClockReading:
    level: str              # none, yellow, red
    working_days_left: int  # >= 0 while not overdue
    working_days_overdue: int


def read_clock(due_date, today, calendar):
    """Yellow when one working day (or less: due today) is left, red once the
    due date has passed. Working days overdue counts the working days after the
    due date up to today (0 when only rest days have passed)."""
    if today > due_date:
        return ClockReading("red", 0, calendar.workdays_between(due_date, today))
    left = calendar.workdays_between(today, due_date)
    return ClockReading("yellow" if left <= 1 else "none", left, 0)


def supervision_actions(task, today, calendar, issued_levels):
    """What supervision does to one open task: a list of `yellow`, `red`,
    `deem` (each level at most once per clock: `issued_levels` is what was
    already issued for the task's current clock)."""
    if task["status"] != "open":
        return [], None
    reading = read_clock(task["due_date"], today, calendar)
    actions = []
    if reading.level == "yellow" and "yellow" not in issued_levels and "red" not in issued_levels:
        actions.append("yellow")
    if reading.level == "red":
        if "red" not in issued_levels:
            actions.append("red")
        if task.get("timeout_policy") == DEEMED:
            actions.append("deem")
    return actions, reading


def review_working_days(started_on, decided_on, calendar):
    """How long the department took, in working days (0 if decided the day it started)."""
    return max(0, calendar.workdays_between(started_on, decided_on))
