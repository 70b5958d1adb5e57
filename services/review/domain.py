"""Review rules, pure: who may decide, what the departments' decisions add up
to (并联审批), and the clock of electronic supervision (电子监察).

No nameko, no SQL: tasks and rosters are plain dicts, the calendar is a
`onewindow.workdays.WorkdayCalendar` (or anything with `workdays_between`).
"""
import datetime
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

# Supervision's clock reading is the platform's: complaints are supervised by it too.
from onewindow.workdays import ClockReading, read_clock  # noqa: F401

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

POSTS = ("primary", "backup")


@dataclass(frozen=True)
class Assignment:
    """Who may decide a department's tasks now, and why (AB岗 with pools).

    `assignee` is the first of `may_decide` (the one shown and told);
    `acting_for` is the primary post's first reviewer while the backup post acts."""
    assignee: str = None
    may_decide: tuple = ()
    acting_for: str = None
    reason: str = "no roster for the department"

    def as_dict(self):
        return {"assignee": self.assignee, "may_decide": list(self.may_decide), "acting_for": self.acting_for,
                "reason": self.reason}


def members(roster, post=None):
    """The reviewers of a roster (of one post), in roster order."""
    found = (roster or {}).get("members") or []
    return [m for m in found if post is None or m["post"] == post]


def assignment(roster):
    """Any present reviewer of the primary post (A岗) may decide; while every
    primary is absent, any present reviewer of the backup post (B岗) acts for
    the primary post; with both posts absent nobody may."""
    primaries, backups = members(roster, "primary"), members(roster, "backup")
    if not primaries and not backups:
        return Assignment()
    present = [m["id"] for m in primaries if not m["absent"]]
    if present:
        return Assignment(present[0], tuple(present), None, "primary post (A岗)")
    standing_in = [m["id"] for m in backups if not m["absent"]]
    acting_for = primaries[0]["id"] if primaries else None
    if standing_in:
        return Assignment(standing_in[0], tuple(standing_in), acting_for,
                          "backup post (B岗) acting: every primary reviewer is absent")
    return Assignment(None, (), None, "nobody: every reviewer of both posts is absent")


def assignee(roster):
    """Who is shown as deciding now (None when nobody may)."""
    return assignment(roster).assignee


def authorize(roster, reviewer):
    """(allowed, acting_for)."""
    now = assignment(roster)
    if reviewer not in now.may_decide:
        return False, None
    return True, now.acting_for


def member(roster, reviewer):
    return next((m for m in members(roster) if m["id"] == reviewer), None) if reviewer else None


def name_of(roster, reviewer):
    found = member(roster, reviewer)
    return (found["name"] or None) if found else None


def phone_of(roster, reviewer):
    found = member(roster, reviewer)
    return found["phone"] if found else None


def person_of(value, post, position):
    """A roster entry from an id or {id, name, phone}."""
    given = value if isinstance(value, dict) else {"id": value}
    return {"id": str(given["id"]).strip(), "name": (given.get("name") or "").strip(), "phone": given.get("phone"),
            "post": post, "position": position, "absent": False}


def roster_from_event(department):
    """The roster block of an application_accepted department, as a roster."""
    roster = department.get("roster") or {}
    people = []
    for post in POSTS:
        person = roster.get(post) or {}
        if person.get("id"):
            people.append(person_of(person, post, len(people)))
    if not people or people[0]["post"] != "primary":
        return None
    return {"department": department["code"], "department_name": department.get("name") or "",
            "members": people}


def merge_roster(current, department, department_name, posts):
    """The roster set_roster writes: `posts` maps a post to a list of people
    (ids or {id, name, phone}); someone already on the roster keeps the name,
    phone and absence not given again."""
    known = {m["id"]: m for m in members(current)}
    people = []
    for post in POSTS:
        for value in posts.get(post) or []:
            person = person_of(value, post, len(people))
            before = known.get(person["id"])
            if before:
                person.update(name=person["name"] or before["name"], phone=person["phone"] or before["phone"],
                              absent=before["absent"])
            people.append(person)
    return {"department": department,
            "department_name": department_name or (current or {}).get("department_name") or "",
            "members": people}


# ---------------------------------------------------------------- decisions

def material_entries(items):
    """The shape of materials asked for: each a code or {code, name}.
    Returns ([(index, code, name)], problems by index), repeats dropped."""
    entries, problems, seen = [], {}, set()
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
        if code not in seen:
            seen.add(code)
            entries.append((index, code, (name or "").strip()))
    return entries, problems


def normalize_materials(items, catalog):
    """Materials asked for, as [{code, name}]. With the item's `catalog`
    ([{code, name}]) every code must be in it and is named by it (an
    applicant never reads a bare code); without one (a case accepted before
    review knew its catalog) each needs its name. Returns (materials,
    problems by index)."""
    entries, problems = material_entries(items)
    names = {m["code"]: m["name"] for m in catalog or []}
    materials = []
    for index, code, name in entries:
        if catalog:
            if code not in names:
                problems.setdefault(str(index), []).append(f"{code} is not a material of this item")
                continue
            name = names[code]
        elif not name:
            problems.setdefault(str(index), []).append(f"{code} needs its name: the item's catalog is not known")
            continue
        materials.append({"code": code, "name": name})
    return materials, problems


def decision_problems(decision, opinion, legal_basis, missing_materials, result=None):
    """What a decision lacks, by field (the cross-field rules; the materials'
    catalog is checked where the case is known)."""
    problems = {}
    if result is not None and decision != "approve":
        problems["result"] = ["only an approval issues a licence or certificate (出证)"]
    if decision == "reject":
        if not (opinion or "").strip():
            problems["opinion"] = ["a rejection needs an opinion"]
        if not (legal_basis or "").strip():
            problems["legal_basis"] = ["a rejection needs a legal basis (否决报备)"]
    if decision == "request_materials":
        if not missing_materials:
            problems["missing_materials"] = ["name the materials to request"]
        else:
            _, bad = material_entries(missing_materials)
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
            entry = merged.setdefault(material["code"], {"code": material["code"],
                                                         "name": material.get("name") or material["code"],
                                                         "departments": []})
            if entry["name"] == entry["code"] and material.get("name"):
                entry["name"] = material["name"]  # a request recorded before names were required
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


def supervision_moment(as_of, zone="Asia/Shanghai", now=None):
    """(the day supervision judges, whether `as_of` lies in the future of
    `now`). `as_of` is an ISO date, an ISO instant (naive means the centre's
    zone), a date/datetime, or None for now. A date is in the future from
    the next day on, an instant from the next moment. Days outside 2000-2100
    are refused: no case lives there, and counting working days to year 9999
    would hold a worker for minutes."""
    tz = ZoneInfo(zone)
    now = (now or datetime.datetime.now(tz)).astimezone(tz)
    moment = _moment(as_of, tz)
    if moment is None:
        day, future = now.date(), False
    elif isinstance(moment, datetime.datetime):
        day, future = moment.astimezone(tz).date(), moment > now
    else:
        day, future = moment, moment > now.date()
    if day.year not in SUPERVISION_YEARS:
        raise ValueError(f"{day} is outside {SUPERVISION_YEARS.start}-{SUPERVISION_YEARS.stop - 1}")
    return day, future


def _moment(as_of, tz):
    """None, a date, or an aware instant."""
    if as_of is None:
        return None
    if isinstance(as_of, datetime.datetime):
        instant = as_of
    elif isinstance(as_of, datetime.date):
        return as_of
    else:
        text = str(as_of).strip()
        if len(text) == 10:
            return datetime.date.fromisoformat(text)
        instant = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=tz)


def supervision_actions(task, today, calendar, issued_levels, staffed=True):
    """What supervision does to one open task: a list of `unstaffed`,
    `yellow`, `red`, `deem`. `issued_levels` is what was already issued for
    the task's clock (`red`, once per clock) and due date (`yellow` and
    `unstaffed`, again after an extension). A task nobody may decide is
    warned at once (`unstaffed`), whatever its clock reads."""
    if task["status"] != "open":
        return [], None
    reading = read_clock(task["due_date"], today, calendar)
    actions = []
    if not staffed and "unstaffed" not in issued_levels:
        actions.append("unstaffed")
    if reading.level == "yellow" and "yellow" not in issued_levels and "red" not in issued_levels:
        actions.append("yellow")
    if reading.level == "red":
        if "red" not in issued_levels:
            actions.append("red")
        if task.get("timeout_policy") == DEEMED:
            actions.append("deem")
    return actions, reading


# ---------------------------------------------------------------- 督办 that escalates

NOTICE_LEVELS = {1: "department", 2: "director", 3: "supervision_office"}
NOTICE_STATUSES = ("open", "answered")


def next_notice_level(notice, today, calendar, after_working_days):
    """The level an unanswered supervision notice rises to now, or None: one
    level at a time, once `after_working_days` working days have passed since
    its current level was issued (`level`, `level_as_of`, `answered_at`)."""
    if notice.get("answered_at") or notice["level"] >= max(NOTICE_LEVELS):
        return None
    if calendar.workdays_between(notice["level_as_of"], today) >= after_working_days:
        return notice["level"] + 1
    return None


def timeline(task, issued_levels, notice, start, until, calendar, after_working_days, staffed=True):
    """What supervision would do to one open task, day by day from `start`
    to `until`, if nobody acted: [(day, action)], action one of `unstaffed`,
    `yellow`, `red` (level 1), `deem`, `level2`, `level3`. `notice` is the
    task's unanswered supervision notice when it has one (as for
    next_notice_level)."""
    events, issued = [], set(issued_levels)
    day = start
    while notice is None and day <= until:
        actions, _ = supervision_actions(task, day, calendar, issued, staffed)
        for action in actions:
            events.append((day, action))
            issued.add(action)
        if "deem" in actions:
            return events
        if "red" in actions:
            notice = {"level": 1, "level_as_of": day, "answered_at": None}
        if day > task["due_date"]:
            break  # past the due date nothing but a notice is left to come
        day += datetime.timedelta(days=1)
    while notice is not None and not notice.get("answered_at") and notice["level"] < max(NOTICE_LEVELS):
        day = calendar.add_workdays(notice["level_as_of"], after_working_days).due_date
        if day > until:
            break
        notice = {"level": notice["level"] + 1, "level_as_of": day, "answered_at": None}
        events.append((day, f"level{notice['level']}"))
    return events


# ---------------------------------------------------------------- 延期

@dataclass(frozen=True)
class Extension:
    working_days: int
    previous_due_date: datetime.date
    due_date: datetime.date
    provisional: bool
    legal_due_date: datetime.date


def extension(task, working_days, legal_limit_days, today, calendar):
    """(Extension or None, why not or None, problems by field) of extending
    an open task by `working_days`: once per task, before it is overdue, and
    never past the item's legal limit counted from the task's clock start."""
    if task["status"] != "open":
        return None, f"the task is {task['status']}, not open", {}
    if task.get("extension"):
        return None, f"the task was already extended once, to {task['extension']['due_date']}", {}
    if today > task["due_date"]:
        return None, f"the task is overdue since {task['due_date'].isoformat()}: supervision, not extension", {}
    if legal_limit_days is None:
        return None, "the item's legal limit is not known for this case", {}
    legal = calendar.add_workdays(task["started_on"], legal_limit_days).due_date
    room = calendar.workdays_between(task["due_date"], legal)
    if room <= 0:
        return None, f"the due date {task['due_date'].isoformat()} is already the legal limit", {}
    if working_days > room:
        return None, None, {"working_days": [
            f"at most {room}: the item's legal limit ({legal_limit_days} working days) ends on {legal.isoformat()}"]}
    due = calendar.add_workdays(task["due_date"], working_days)
    return Extension(working_days, task["due_date"], due.due_date, due.provisional, legal), None, {}


# ---------------------------------------------------------------- the feed

def parse_cursor(cursor):
    """The position a feed cursor names; None is the beginning. ValueError if malformed."""
    if cursor is None:
        return 0
    text = str(cursor)
    if not text.isdigit() or len(text) > 18:
        raise ValueError(f"not a feed cursor: {cursor!r}")
    return int(text)


def review_working_days(started_on, decided_on, calendar):
    """How long the department took, in working days (0 if decided the day it started)."""
    return max(0, calendar.workdays_between(started_on, decided_on))
