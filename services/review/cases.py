"""What review does with a case: the steps behind the entrypoints that tie
the pure rules (domain.py) to the tables (store.py).

Each function works on one ReviewStore (one transaction); no nameko here."""
import datetime
import logging
import uuid
from zoneinfo import ZoneInfo

from onewindow import config
from onewindow.errors import Conflict, Forbidden, NotFound, ValidationFailed
from onewindow.validation import load

from . import domain, metrics, schemas

log = logging.getLogger(__name__)


def today():
    return datetime.datetime.now(ZoneInfo(config.time_zone())).date()


# ------------------------------------------------------------------ views

def person(roster, post):
    if not roster or not roster.get(f"{post}_id"):
        return None
    return {"id": roster[f"{post}_id"], "name": roster[f"{post}_name"], "phone": roster[f"{post}_phone"],
            "absent": roster[f"{post}_absent"]}


def roster_view(roster):
    return {"department": roster["department"], "department_name": roster["department_name"],
            "primary": person(roster, "primary"), "backup": person(roster, "backup"),
            "assignee": domain.assignee(roster), "source": roster["source"]}


def snapshot(task):
    """The state a history entry records before and after a change."""
    return {key: task.get(key) for key in (
        "status", "decision", "opinion", "legal_basis", "missing_materials", "reviewer", "acting_for",
        "due_date", "provisional", "warning_level", "clock")}


def task_view(task, roster, with_fields=False):
    view = {
        "task_id": task["task_id"], "application_no": task["application_no"],
        "department": task["department"], "department_name": task["department_name"], "lead": task["lead"],
        "status": task["status"], "assignee": domain.assignee(roster),
        "assignee_name": domain.name_of(roster, domain.assignee(roster)),
        "decision": task["decision"], "opinion": task["opinion"], "legal_basis": task["legal_basis"],
        "missing_materials": task["missing_materials"], "reviewer": task["reviewer"],
        "acting_for": task["acting_for"], "decided_at": task["decided_at"],
        "due_date": task["due_date"], "provisional": task["provisional"], "started_on": task["started_on"],
        "limit_days": task["limit_days"], "timeout_policy": task["timeout_policy"],
        "warning_level": task["warning_level"], "clock": task["clock"],
    }
    if with_fields:
        view["fields"] = task["fields"]
        for extra in ("item_code", "item_name", "accepted_on", "application_status", "applicant_name_masked"):
            if extra in task:
                view[extra] = task[extra]
    return view


def history_view(row):
    return {"at": row["at"], "actor": row["actor"], "acting_for": row["acting_for"], "action": row["action"],
            "task_id": row["task_id"], "department": row["department"], "before": row["before"],
            "after": row["after"], "detail": row["detail"]}


def refresh_gauges(db):
    metrics.set_department_gauges(db.department_counts(today()))


# ------------------------------------------------------------------ steps

def conclude(db, application, actor):
    """Apply what the tasks now add up to; emit the case's outcome once."""
    no = application["application_no"]
    tasks = db.tasks_of(no)
    outcome = domain.aggregate(tasks)
    if outcome.kind == "pending":
        return "in_review"
    case = {"application_no": no, "item_code": application["item_code"], "item_name": application["item_name"],
            "applicant": application["applicant"]}
    if outcome.kind == "rejected":
        for task in tasks:
            if task["task_id"] in outcome.moot:
                db.make_moot(task["task_id"])
                db.audit(no, actor, "mooted", task["task_id"], task["department"], before=snapshot(task),
                         after=dict(snapshot(task), status="moot"), detail={"reason": "another department rejected"})
        db.set_application_status(no, "rejected", completed=True)
        db.emit("review_completed", dict(case, outcome="rejected", rejections=outcome.rejections,
                                         completed_at=datetime.datetime.now(datetime.timezone.utc).astimezone()))
    elif outcome.kind == "materials_requested":
        db.set_application_status(no, "materials_requested")
        db.emit("materials_requested", dict(case, stage="review", missing_materials=outcome.missing_materials))
    else:
        db.set_application_status(no, "approved", completed=True)
        db.emit("review_completed", dict(case, outcome="approved", rejections=[], fees=application["fees"],
                                         completed_at=datetime.datetime.now(datetime.timezone.utc).astimezone()))
    db.audit(no, actor, f"case_{outcome.kind}", before={"status": application["status"]},
             after={"status": outcome.kind},
             detail={"rejections": outcome.rejections, "missing_materials": outcome.missing_materials,
                     "moot": outcome.moot})
    return outcome.kind


def record(db, task, calendar, decision, reviewer, acting_for, opinion, legal_basis=None, missing_materials=None):
    """Write one decision, its audit entry, its events and metrics."""
    status = domain.STATUS_OF_DECISION[decision]
    decided_at = db.record_decision(task["task_id"], status, decision, opinion, legal_basis, missing_materials,
                                    reviewer, acting_for)["decided_at"]
    after = db.task(task["task_id"])
    db.audit(task["application_no"], reviewer, "decided" if decision != domain.DEEMED else "deemed_approved",
             task["task_id"], task["department"], acting_for=acting_for, before=snapshot(task), after=snapshot(after))
    base = {"application_no": task["application_no"], "task_id": task["task_id"], "department": task["department"]}
    db.emit("task_decided", dict(base, decision=decision, task_status=status, reviewer=reviewer,
                                 acting_for=acting_for, opinion=opinion, legal_basis=legal_basis,
                                 missing_materials=missing_materials, decided_at=decided_at,
                                 department_name=task["department_name"]))
    if decision == "reject":
        db.emit("veto_filed", dict(base, reviewer=reviewer, acting_for=acting_for, opinion=opinion,
                                   legal_basis=legal_basis, decided_at=decided_at,
                                   department_name=task["department_name"]))
        metrics.VETOES.labels(task["department"]).inc()
    metrics.DECISIONS.labels(task["department"], decision).inc()
    metrics.DURATION.labels(task["department"]).observe(
        domain.review_working_days(task["started_on"], decided_at.astimezone(ZoneInfo(config.time_zone())).date(),
                                   calendar))
    return after


def decide(db, args):
    task = db.task(args["task_id"])
    if task is None:
        raise NotFound(f"no review task {args['task_id']}")
    if task["department"] != args["department"]:
        raise Forbidden(f"task {task['task_id']} belongs to another department")
    application = db.lock_application(task["application_no"])
    first = db.decision_by_ref(args["client_ref"])
    if first is not None:
        if first["task_id"] != task["task_id"]:
            raise Conflict(f"client_ref {args['client_ref']} was used for another task")
        return first["result"]
    task = db.task(task["task_id"])  # as it is now that the case is ours
    roster = db.roster(task["department"])
    if task["status"] != "open":
        if task["decision"] == args["decision"]:
            return {"task": task_view(task, roster), "application_status": application["status"]}
        raise Conflict(f"task {task['task_id']} is already {task['status']}")
    allowed, acting_for = domain.authorize(roster, args["reviewer"])
    if not allowed:
        raise Forbidden(f"{args['reviewer']} may not decide for {task['department']} now "
                        f"(the assignee is {domain.assignee(roster)})")
    materials = None
    if args["decision"] == "request_materials":
        materials, _ = domain.normalize_materials(args["missing_materials"])
    calendar = db.calendar()
    after = record(db, task, calendar, args["decision"], args["reviewer"], acting_for, args["opinion"],
                   args["legal_basis"], materials)
    status = conclude(db, application, args["reviewer"])
    after = db.task(task["task_id"])
    result = {"task": task_view(after, roster), "application_status": status}
    if not db.keep_decision_result(args["client_ref"], task["task_id"], args["decision"], result):
        raise Conflict(f"client_ref {args['client_ref']} was used for another task")
    return result


def accept(db, event):
    """One task per department of an accepted case (instant items have none)."""
    data = load(schemas.ApplicationAccepted, event)
    departments = {}
    for department in data["departments"]:
        departments.setdefault(department["code"], department)
    if not departments:
        return
    no = data["application_no"]
    applicant = {k: data["applicant"].get(k) for k in ("kind", "name", "name_masked", "phone")}
    if not db.add_application(no, data["item_code"], data["item_name"], data["accepted_on"], applicant,
                              data["fees"], data.get("event_id")):
        log.info("application %s is already under review; event %s ignored", no, data.get("event_id"))
        return
    for code in sorted(departments):  # one order, so two handlers never deadlock on rosters
        roster = domain.roster_from_event(dict(departments[code], roster=_plain_roster(departments[code])))
        if roster:
            db.adopt_roster(roster)
    for code, department in departments.items():
        task = {
            "task_id": str(uuid.uuid4()), "application_no": no, "department": code,
            "department_name": department["name"] or "", "lead": department["lead"], "fields": department["fields"],
            "limit_days": department["limit_days"], "started_on": data["accepted_on"],
            "due_date": department["due_date"] or data["due_date"],
            "provisional": department["provisional"] if department["due_date"] else data["provisional"],
            "timeout_policy": department["timeout_policy"], "supervisor_phone": department["supervisor_phone"],
        }
        db.add_task(task)
        db.audit(no, "intake", "task_created", task["task_id"], code, after=snapshot(dict(task, status="open",
                                                                                          warning_level="none",
                                                                                          clock=1)))


def _plain_roster(department):
    roster = department.get("roster") or {}
    return {post: roster.get(post) or {} for post in ("primary", "backup")}


def restart(db, event):
    """补正 completed: every task not approved starts a fresh clock (restart, not resume)."""
    data = load(schemas.MaterialsSupplemented, event)
    no = data["application_no"]
    application = db.lock_application(no)
    if application is None:
        # acceptance not seen yet: raise, the inbox retries later
        raise LookupError(f"application {no} is not under review yet")
    if application["status"] != "materials_requested":
        db.audit(no, "intake", "supplement_ignored", detail={"status": application["status"],
                                                             "event_id": data.get("event_id")})
        return
    dates = {d["code"]: d for d in data["departments"]}
    clock = application["clock"] + 1
    calendar = None
    for task in db.tasks_of(no):
        if not domain.restartable(task):
            continue
        given = dates.get(task["department"])
        if given:
            due, provisional = given["due_date"], given["provisional"]
        elif data["due_date"]:
            due, provisional = data["due_date"], data["provisional"]
        else:
            calendar = calendar or db.calendar()
            computed = calendar.add_workdays(data["supplemented_on"], task["limit_days"] or 0)
            due, provisional = computed.due_date, computed.provisional
        db.restart_task(task["task_id"], data["supplemented_on"], due, provisional, clock)
        db.audit(no, "intake", "restarted", task["task_id"], task["department"], before=snapshot(task),
                 after=snapshot(db.task(task["task_id"])),
                 detail={"supplemented_on": data["supplemented_on"], "materials": data["materials"]})
    db.set_application_status(no, "in_review", next_clock=True)


def supervise(db, as_of):
    """One pass of electronic supervision; safe on several replicas at once:
    cases are locked in one order and every notice is unique per task, clock
    and level."""
    try:
        day = domain.supervision_day(as_of, config.time_zone())
    except (TypeError, ValueError):
        raise ValidationFailed({"as_of": ["an ISO date or instant"]}) from None
    calendar = db.calendar()
    candidates = set()
    for task in db.open_tasks():
        reading = domain.read_clock(task["due_date"], day, calendar)
        if reading.level == "none":
            continue
        if reading.level == task["warning_level"] and not (
                reading.level == "red" and task["timeout_policy"] == "deemed_approval"):
            continue
        candidates.add(task["application_no"])
    summary = {"as_of": day, "warnings": [], "overdue": [], "deemed_approved": [], "concluded": {}}
    for application_row in db.lock_applications_under_review(candidates):
        application = db.application(application_row["application_no"])
        tasks = [t for t in db.tasks_of(application["application_no"]) if t["status"] == "open"]
        rosters = db.rosters({t["department"] for t in tasks})
        deemed = False
        for task in tasks:
            issued = db.issued_levels(task["task_id"], task["clock"])
            actions, reading = domain.supervision_actions(task, day, calendar, issued)
            roster = rosters.get(task["department"])
            for action in actions:
                if action == "deem":
                    record(db, task, calendar, domain.DEEMED, domain.SYSTEM, None,
                           f"超时默认通过: no decision by the due date {task['due_date'].isoformat()}")
                    decided = db.task(task["task_id"])
                    db.emit("task_deemed_approved", {
                        "application_no": task["application_no"], "task_id": task["task_id"],
                        "department": task["department"], "department_name": task["department_name"],
                        "due_date": task["due_date"], "decided_at": decided["decided_at"]})
                    metrics.DEEMED_APPROVALS.labels(task["department"]).inc()
                    summary["deemed_approved"].append(task["task_id"])
                    deemed = True
                    continue
                days = reading.working_days_left if action == "yellow" else reading.working_days_overdue
                notice = db.issue_notice(task, action, days, day)
                if notice is None:
                    continue  # another supervisor issued it
                before = snapshot(task)
                db.set_warning_level(task["task_id"], action)
                task = dict(task, warning_level=action)
                who = domain.assignee(roster)
                payload = {"application_no": task["application_no"], "task_id": task["task_id"],
                           "department": task["department"], "department_name": task["department_name"],
                           "item_name": application["item_name"], "level": action, "assignee": who,
                           "assignee_name": domain.name_of(roster, who),
                           "assignee_phone": domain.phone_of(roster, who), "due_date": task["due_date"]}
                if action == "yellow":
                    db.emit("task_warning", dict(payload, working_days_left=days))
                    summary["warnings"].append(task["task_id"])
                else:
                    db.emit("task_overdue", dict(payload, supervisor_phone=task["supervisor_phone"],
                                                 working_days_overdue=days, notice_no=notice["notice_no"]))
                    summary["overdue"].append({"task_id": task["task_id"], "notice_no": notice["notice_no"]})
                db.audit(task["application_no"], domain.SYSTEM, "warned" if action == "yellow" else "supervised",
                         task["task_id"], task["department"], before=before, after=snapshot(task),
                         detail={"level": action, "working_days": days, "as_of": day,
                                 "notice_no": notice["notice_no"]})
                metrics.SUPERVISION_NOTICES.labels(task["department"], action).inc()
        if deemed:
            summary["concluded"][application["application_no"]] = conclude(db, application, domain.SYSTEM)
    refresh_gauges(db)
    return summary


def recompute_provisional(db):
    """After a new year's schedule is loaded: provisional due dates of open
    tasks counted again from their start and limit. Cases are locked in the
    same order as supervision locks them."""
    calendar = db.calendar(fresh=True)
    changed, checked = [], 0
    cases = {t["application_no"] for t in db.open_provisional_tasks()}
    for application in db.lock_applications_under_review(cases):
        for task in db.tasks_of(application["application_no"]):
            if task["status"] != "open" or not task["provisional"] or task["limit_days"] is None:
                continue
            checked += 1
            due = calendar.add_workdays(task["started_on"], task["limit_days"])
            if (due.due_date, due.provisional) == (task["due_date"], task["provisional"]):
                continue
            db.set_due_date(task["task_id"], due.due_date, due.provisional)
            db.audit(task["application_no"], domain.SYSTEM, "due_date_recomputed", task["task_id"],
                     task["department"], before=snapshot(task),
                     after=snapshot(dict(task, due_date=due.due_date, provisional=due.provisional)))
            changed.append({"task_id": task["task_id"], "application_no": task["application_no"],
                            "department": task["department"], "before": task["due_date"],
                            "due_date": due.due_date, "provisional": due.provisional})
    return {"checked": checked, "changed": changed}


# ------------------------------------------------------------------ rosters

def set_roster(db, data):
    current = db.lock_roster(data["department"]) or {}

    def post(name, phone):
        value = data[name]
        if value is None:
            return {f"{name}_id": None, f"{name}_name": "", f"{name}_phone": None, f"{name}_absent": False}
        given = value if isinstance(value, dict) else {"id": value}
        same = current.get(f"{name}_id") == given["id"]
        return {
            f"{name}_id": given["id"],
            f"{name}_name": given.get("name") or (current.get(f"{name}_name") if same else "") or "",
            f"{name}_phone": phone or given.get("phone") or (current.get(f"{name}_phone") if same else None),
            f"{name}_absent": bool(current.get(f"{name}_absent")) if same else False,
        }

    roster = {"department": data["department"],
              "department_name": data["department_name"] or current.get("department_name") or ""}
    roster.update(post("primary", data["primary_phone"]))
    roster.update(post("backup", data["backup_phone"]))
    return roster_view(db.save_roster(roster))


def set_absent(db, data):
    roster = db.lock_roster(data["department"])
    if roster is None:
        raise NotFound(f"no roster for {data['department']}")
    if data["reviewer"] == roster["primary_id"]:
        post = "primary"
    elif data["reviewer"] == roster["backup_id"]:
        post = "backup"
    else:
        raise ValidationFailed({"reviewer": [f"not on the roster of {data['department']}"]})
    return roster_view(db.set_absence(data["department"], post, data["absent"]))
