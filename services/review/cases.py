"""What review does with a case: the steps behind the entrypoints that tie
the pure rules (domain.py) to the tables (store.py).

Each function works on one ReviewStore (one transaction); no nameko here."""
import logging
import uuid
from zoneinfo import ZoneInfo

from onewindow import config
from onewindow.errors import Conflict, Forbidden, NotFound, PrerequisiteMissing, ValidationFailed
from onewindow.principals import DEPARTMENT
from onewindow.validation import load
from onewindow.workdays import local_now, today

from . import domain, metrics, schemas

log = logging.getLogger(__name__)


# ------------------------------------------------------------------ views

def person(member):
    return {k: member[k] for k in ("id", "name", "phone", "absent")} if member else None


def roster_view(roster):
    posts = {post: [person(m) for m in domain.members(roster, post)] for post in domain.POSTS}
    return {"department": roster["department"], "department_name": roster["department_name"],
            "primary": (posts["primary"] or [None])[0], "backup": (posts["backup"] or [None])[0],
            "posts": posts, "assignee": domain.assignee(roster),
            "assignment": domain.assignment(roster).as_dict(), "source": roster["source"],
            "updated_by": roster.get("updated_by")}


def snapshot(task):
    """The state a history entry records before and after a change."""
    return {key: task.get(key) for key in (
        "status", "decision", "opinion", "legal_basis", "missing_materials", "reviewer", "acting_for",
        "due_date", "provisional", "warning_level", "clock", "result")}


def task_view(task, roster, with_fields=False):
    now = domain.assignment(roster)
    view = {
        "task_id": task["task_id"], "application_no": task["application_no"],
        "department": task["department"], "department_name": task["department_name"], "lead": task["lead"],
        "status": task["status"], "assignee": now.assignee,
        "assignee_name": domain.name_of(roster, now.assignee), "assignment": now.as_dict(),
        "decision": task["decision"], "opinion": task["opinion"], "legal_basis": task["legal_basis"],
        "missing_materials": task["missing_materials"], "reviewer": task["reviewer"],
        "acting_for": task["acting_for"], "decided_at": task["decided_at"], "result": task["result"],
        "due_date": task["due_date"], "provisional": task["provisional"], "started_on": task["started_on"],
        "limit_days": task["limit_days"], "timeout_policy": task["timeout_policy"],
        "warning_level": task["warning_level"], "clock": task["clock"],
        "extended": task["extension"] is not None, "extension": task["extension"],
    }
    if with_fields:
        view["fields"] = task["fields"]
        for extra in ("item_code", "item_name", "accepted_on", "application_status", "applicant_name_masked",
                      "green_channel"):
            if extra in task:
                view[extra] = task[extra]
    return view


def notice_view(notice):
    return {
        "notice_no": notice["notice_no"], "level": notice["level"],
        "level_name": domain.NOTICE_LEVELS[notice["level"]], "levels": notice["levels"],
        "status": "answered" if notice["answered_at"] else "open",
        "task_id": notice["task_id"], "clock": notice["clock"], "application_no": notice["application_no"],
        "item_name": notice["item_name"], "department": notice["department"],
        "department_name": notice["department_name"], "due_date": notice["due_date"],
        "working_days_overdue": notice["working_days"], "as_of": notice["as_of"], "issued_at": notice["issued_at"],
        "task_status": notice["task_status"], "answer": notice["answer"], "answered_at": notice["answered_at"],
        "answered_by": notice["answered_by"],
    }


def history_view(row):
    return {"at": row["at"], "actor": row["actor"], "acting_for": row["acting_for"], "by": row["by"],
            "action": row["action"],
            "task_id": row["task_id"], "department": row["department"], "before": row["before"],
            "after": row["after"], "detail": row["detail"]}


def refresh_gauges(store):
    metrics.set_department_gauges(store.department_counts(today()))
    metrics.set_notice_gauges(store.unanswered_notice_counts())


# ------------------------------------------------------------------ steps

def conclude(store, application, actor, by=None):
    """Apply what the tasks now add up to; emit the case's outcome once."""
    no = application["application_no"]
    tasks = store.tasks_of(no)
    outcome = domain.aggregate(tasks)
    if outcome.kind == "pending":
        return "in_review"
    case = {"application_no": no, "item_code": application["item_code"], "item_name": application["item_name"],
            "applicant": application["applicant"]}
    if outcome.kind == "rejected":
        for task in tasks:
            if task["task_id"] in outcome.moot:
                store.make_moot(task["task_id"])
                store.audit(no, actor, "mooted", task["task_id"], task["department"], before=snapshot(task),
                         after=dict(snapshot(task), status="moot"), detail={"reason": "another department rejected"},
                         by=by)
        store.set_application_status(no, "rejected", completed=True)
        store.emit("review_completed", dict(case, outcome="rejected", rejections=outcome.rejections,
                                         completed_at=local_now()))
    elif outcome.kind == "materials_requested":
        store.set_application_status(no, "materials_requested")
        store.emit("materials_requested", dict(case, stage="review", missing_materials=outcome.missing_materials))
    else:
        store.set_application_status(no, "approved", completed=True)
        store.emit("review_completed", dict(case, outcome="approved", rejections=[], fees=application["fees"],
                                         documents=documents(tasks),
                                         completed_at=local_now()))
    store.audit(no, actor, f"case_{outcome.kind}", before={"status": application["status"]},
             after={"status": outcome.kind},
             detail={"rejections": outcome.rejections, "missing_materials": outcome.missing_materials,
                     "moot": outcome.moot}, by=by)
    return outcome.kind


def documents(tasks):
    """The licences and certificates the approvals issue (出证), lead department first."""
    return [dict(task["result"], department=task["department"], department_name=task["department_name"])
            for task in tasks if task["result"]]


def record(store, task, calendar, decision, reviewer, acting_for, opinion, legal_basis=None, missing_materials=None,
           result=None, by=None):
    """Write one decision, its audit entry, its events and metrics."""
    status = domain.STATUS_OF_DECISION[decision]
    after = store.record_decision(task["task_id"], status, decision, opinion, legal_basis, missing_materials,
                                  reviewer, acting_for, result)
    decided_at = after["decided_at"]
    store.audit(task["application_no"], reviewer, "decided" if decision != domain.DEEMED else "deemed_approved",
             task["task_id"], task["department"], acting_for=acting_for, before=snapshot(task), after=snapshot(after),
             by=by)
    base = {"application_no": task["application_no"], "task_id": task["task_id"], "department": task["department"]}
    store.emit("task_decided", dict(base, decision=decision, task_status=status, reviewer=reviewer,
                                 acting_for=acting_for, opinion=opinion, legal_basis=legal_basis,
                                 missing_materials=missing_materials, decided_at=decided_at, result=result,
                                 department_name=task["department_name"]))
    if decision == "reject":
        store.emit("veto_filed", dict(base, reviewer=reviewer, acting_for=acting_for, opinion=opinion,
                                   legal_basis=legal_basis, decided_at=decided_at,
                                   department_name=task["department_name"]))
        metrics.VETOES.labels(task["department"]).inc()
    metrics.DECISIONS.labels(task["department"], decision).inc()
    metrics.DURATION.labels(task["department"]).observe(
        domain.review_working_days(task["started_on"], decided_at.astimezone(ZoneInfo(config.time_zone())).date(),
                                   calendar))
    return after


def application(store, query, caller):
    """A case under review with its tasks, history and supervision notices;
    a department sees only the cases it has a task in."""
    found = store.application(query["application_no"])
    if found is None:
        raise NotFound(f"no application {query['application_no']} under review")
    no = found["application_no"]
    tasks = store.tasks_of(no)
    if caller.role == DEPARTMENT and all(t["department"] != caller.department for t in tasks):
        raise Forbidden(f"{no} has no task of {caller.department}")
    rosters = store.rosters({t["department"] for t in tasks})
    return {
        "application_no": no, "status": found["status"], "item_code": found["item_code"],
        "item_name": found["item_name"], "clock": found["clock"], "completed_at": found["completed_at"],
        "tasks": [task_view(t, rosters.get(t["department"])) for t in tasks],
        "history": [history_view(h) for h in store.history_of(no)],
        "supervision_notices": [
            {k: n[k] for k in ("task_id", "department", "clock", "level", "notice_no", "due_date",
                               "working_days", "as_of", "issued_at", "answered_at")}
            for n in store.notices_of(no)],
    }


def roster(store, department):
    found = store.roster(department)
    if found is None:
        raise NotFound(f"no roster for {department}")
    return roster_view(found)


def own_task(store, task_id, department, read=None):
    """(task as it is once its case is locked, the case) for a change by
    `department`: NotFound for an unknown task, Forbidden for another
    department's. `read`: the task as the caller has just read it, not read
    again before the lock."""
    task = read or store.task(task_id)
    if task is None:
        raise NotFound(f"no review task {task_id}")
    if task["department"] != department:
        raise Forbidden(f"task {task['task_id']} belongs to another department")
    return store.lock_application_of(task)


def decide(store, calendar, data, by=None):
    """Check the decision (every problem at once, the item's catalog of
    materials included once the task is known), then record it."""
    problems, args = {}, None
    try:
        args = load(schemas.Decide, data)
    except ValidationFailed as failed:
        problems = failed.problems
    task = store.task(data["task_id"]) if isinstance(data.get("task_id"), str) else None
    if task is not None and task["department"] == data.get("department") and \
            data.get("decision") == "request_materials":
        application = store.application(task["application_no"])
        _, bad = domain.normalize_materials(data.get("missing_materials"), application["materials"])
        for index, found in bad.items():
            problems.setdefault(f"missing_materials.{index}", [])
            problems[f"missing_materials.{index}"] += [p for p in found
                                                       if p not in problems[f"missing_materials.{index}"]]
    if problems:
        raise ValidationFailed(problems)
    # A repeated client_ref never gets here: the rpc entrypoint answered it
    # from the platform's idempotency_keys.
    task, application = own_task(store, args["task_id"], args["department"], task)
    roster = store.roster(task["department"])
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
        materials, _ = domain.normalize_materials(args["missing_materials"], application["materials"])
    after = record(store, task, calendar, args["decision"], args["reviewer"], acting_for, args["opinion"],
                   args["legal_basis"], materials, args["result"], by)
    # conclude moots open tasks only: this one, decided, stays as recorded
    status = conclude(store, application, args["reviewer"], by)
    return {"task": task_view(after, roster), "application_status": status}


def accept(store, data):
    """One task per department of an accepted case (instant items have none)."""
    departments = {}
    for department in data["departments"]:
        departments.setdefault(department["code"], department)
    if not departments:
        return
    no = data["application_no"]
    applicant = {k: data["applicant"].get(k) for k in ("kind", "name", "name_masked", "phone")}
    if not store.add_application(no, data["item_code"], data["item_name"], data["accepted_on"], applicant,
                              data["fees"], data.get("event_id"), data["legal_limit_days"], data["materials"],
                              data["green_channel"]):
        log.info("application %s is already under review; event %s ignored", no, data.get("event_id"))
        return
    for code in sorted(departments):  # one order, so two handlers never deadlock on rosters
        roster = domain.roster_from_event(departments[code])
        if roster:
            store.adopt_roster(roster)
    for code, department in departments.items():
        task = {
            "task_id": str(uuid.uuid4()), "application_no": no, "department": code,
            "department_name": department["name"] or "", "lead": department["lead"], "fields": department["fields"],
            "limit_days": department["limit_days"], "started_on": data["accepted_on"],
            "due_date": department["due_date"] or data["due_date"],
            "provisional": department["provisional"] if department["due_date"] else data["provisional"],
            "timeout_policy": department["timeout_policy"], "supervisor_phone": department["supervisor_phone"],
        }
        store.add_task(task)
        store.audit(no, "intake", "task_created", task["task_id"], code, after=snapshot(dict(task, status="open",
                                                                                          warning_level="none",
                                                                                          clock=1)))
        # a department system hears of its new task (the gateway's webhooks) without reading the form
        store.emit("task_opened", {k: task[k] for k in ("application_no", "task_id", "department", "department_name",
                                                     "lead", "due_date", "provisional")}
                | {"item_code": data["item_code"], "item_name": data["item_name"]})


def restart(store, calendar, data):
    """补正 completed: every task not approved starts a fresh clock (restart, not resume)."""
    no = data["application_no"]
    application = store.lock_application(no)
    if application is None:
        # acceptance not seen yet: the inbox keeps this until it has come
        raise PrerequisiteMissing(f"application {no} is not under review yet")
    if application["status"] != "materials_requested":
        store.audit(no, "intake", "supplement_ignored", detail={"status": application["status"],
                                                             "event_id": data.get("event_id")})
        return
    dates = {d["code"]: d for d in data["departments"]}
    clock = application["clock"] + 1
    for task in store.tasks_of(no):
        if not domain.restartable(task):
            continue
        given = dates.get(task["department"])
        if given:
            due, provisional = given["due_date"], given["provisional"]
        elif data["due_date"]:
            due, provisional = data["due_date"], data["provisional"]
        else:
            computed = calendar.add_workdays(data["supplemented_on"], task["limit_days"] or 0)
            due, provisional = computed.due_date, computed.provisional
        store.restart_task(task["task_id"], data["supplemented_on"], due, provisional, clock)
        store.audit(no, "intake", "restarted", task["task_id"], task["department"], before=snapshot(task),
                 after=snapshot(store.task(task["task_id"])),
                 detail={"supplemented_on": data["supplemented_on"], "materials": data["materials"]})
    store.set_application_status(no, "in_review", next_clock=True)


def withdraw(store, data):
    """撤回: the applicant withdrew before conclusion; open tasks become moot
    and the case is no longer reviewed or supervised."""
    no = data["application_no"]
    application = store.lock_application(no)
    if application is None:
        if data["moot_departments"]:
            # intake saw open tasks: the acceptance is still on its way here
            raise PrerequisiteMissing(f"application {no} is not under review yet")
        return  # never reached review (not accepted, or an instant item)
    if application["status"] not in ("in_review", "materials_requested"):
        store.audit(no, "intake", "withdrawal_ignored", detail={"status": application["status"]})
        return
    for task in store.tasks_of(no):
        if task["status"] == "open":
            store.make_moot(task["task_id"])
            store.audit(no, "intake", "mooted", task["task_id"], task["department"], before=snapshot(task),
                        after=dict(snapshot(task), status="moot"), detail={"reason": "withdrawn by the applicant"})
    store.set_application_status(no, "withdrawn", completed=True)
    store.audit(no, "intake", "case_withdrawn", before={"status": application["status"]},
                after={"status": "withdrawn"}, detail={"reason": data["reason"], "withdrawn_on": data["withdrawn_on"]})


SUMMARY_KEYS = {"yellow": "warnings", "red": "overdue", "deem": "deemed_approved", "unstaffed": "unstaffed"}


def supervise(store, calendar, as_of, dry_run=False, escalate_after=2):
    """One pass of electronic supervision; safe on several replicas at once:
    cases are locked in one order, every notice is unique per task, clock
    (and due date) and level, every level of a 督办 once. A dry run reports
    what a pass as of that instant would do and changes nothing; an instant
    in the future is allowed only as a dry run."""
    try:
        day, future = domain.supervision_moment(as_of, config.time_zone())
    except (TypeError, ValueError):
        raise ValidationFailed({"as_of": ["an ISO date or instant"]}) from None
    if future and not dry_run:
        raise ValidationFailed({"as_of": ["in the future: allowed only with dry_run=True, which changes nothing"]})
    foreseen = foresee(store, day, calendar, escalate_after, timeline_from=today() if dry_run else None)
    summary = {"as_of": day, "dry_run": dry_run, "warnings": [], "overdue": [], "deemed_approved": [],
               "escalated": [], "unstaffed": [], "concluded": {}}
    if dry_run:
        for task_id, actions in foreseen["tasks"].items():
            for action in actions:
                summary[SUMMARY_KEYS[action]].append(
                    {"task_id": task_id, "notice_no": None} if action == "red" else task_id)
        return dict(summary, escalated=foreseen["escalated"], timeline=foreseen["timeline"])
    contacts = store.supervision_contacts() if foreseen["escalated"] else {}
    for application_row in store.lock_applications_under_review(foreseen["cases"]):
        application = store.application(application_row["application_no"])
        tasks = [t for t in store.tasks_of(application["application_no"]) if t["status"] == "open"]
        rosters = store.rosters({t["department"] for t in tasks})
        deemed = False
        for notice in store.escalating_notices(application["application_no"]):
            level = domain.next_notice_level(notice, day, calendar, escalate_after)
            if level is not None:
                escalate(store, notice, level, day, contacts.get(level) or {}, summary)
        for task in tasks:
            roster = rosters.get(task["department"])
            actions, reading = domain.supervision_actions(task, day, calendar, store.issued_levels(task),
                                                          staffed=domain.assignee(roster) is not None)
            for action in actions:
                if action == "deem":
                    deem(store, task, calendar)
                    summary["deemed_approved"].append(task["task_id"])
                    deemed = True
                elif action == "unstaffed":
                    if warn_unstaffed(store, task, day, application["item_name"]):
                        summary["unstaffed"].append(task["task_id"])
                else:
                    task = warn(store, task, action, reading, day, application, roster, summary)
        if deemed:
            summary["concluded"][application["application_no"]] = conclude(store, application, domain.SYSTEM)
    return summary


def foresee(store, day, calendar, escalate_after, timeline_from=None):
    """What a pass as of `day` would do, read without locks: the actions per
    open task, the notices to escalate, and the cases to lock for it; with
    `timeline_from`, also what the timer would do each day from then to
    `day` if nobody acted."""
    tasks = store.open_tasks()
    issued = store.issued_levels_of_open_tasks()
    rosters = store.rosters({t["department"] for t in tasks})
    notices = store.escalating_notices()
    foreseen = {"tasks": {}, "escalated": [], "cases": set(), "timeline": []}
    for task in tasks:
        staffed = domain.assignee(rosters.get(task["department"])) is not None
        actions, _ = domain.supervision_actions(task, day, calendar, issued.get(task["task_id"], set()), staffed)
        if actions:
            foreseen["tasks"][task["task_id"]] = actions
            foreseen["cases"].add(task["application_no"])
        if timeline_from is not None:
            notice = next((n for n in notices if n["task_id"] == task["task_id"]), None)
            for on, action in domain.timeline(task, issued.get(task["task_id"], set()), notice, timeline_from, day,
                                              calendar, escalate_after, staffed):
                foreseen["timeline"].append({"on": on, "action": action, "task_id": task["task_id"],
                                             "application_no": task["application_no"],
                                             "department": task["department"]})
    for notice in notices:
        level = domain.next_notice_level(notice, day, calendar, escalate_after)
        if level is not None:
            foreseen["escalated"].append({"notice_no": notice["notice_no"], "level": level})
            foreseen["cases"].add(notice["application_no"])
    foreseen["timeline"].sort(key=lambda e: (e["on"], e["application_no"], e["department"]))
    return foreseen


def deem(store, task, calendar):
    """超时默认: the system approves an overdue task of a deemed-approval department."""
    decided = record(store, task, calendar, domain.DEEMED, domain.SYSTEM, None,
                     f"超时默认通过: no decision by the due date {task['due_date'].isoformat()}")
    store.emit("task_deemed_approved", {
        "application_no": task["application_no"], "task_id": task["task_id"],
        "department": task["department"], "department_name": task["department_name"],
        "due_date": task["due_date"], "decided_at": decided["decided_at"]})
    metrics.DEEMED_APPROVALS.labels(task["department"]).inc()


def warn(store, task, action, reading, day, application, roster, summary):
    """A yellow warning or a red supervision notice (督办, level 1), once."""
    days = reading.working_days_left if action == "yellow" else reading.working_days_overdue
    notice = store.issue_notice(task, action, days, day)
    if notice is None:
        return task  # another supervisor issued it
    before = snapshot(task)
    store.set_warning_level(task["task_id"], action)
    task = dict(task, warning_level=action)
    who = domain.assignee(roster)
    payload = {"application_no": task["application_no"], "task_id": task["task_id"],
               "department": task["department"], "department_name": task["department_name"],
               "item_name": application["item_name"], "level": action, "assignee": who,
               "assignee_name": domain.name_of(roster, who),
               "assignee_phone": domain.phone_of(roster, who), "due_date": task["due_date"],
               "extended": task["extension"] is not None}
    if action == "yellow":
        store.emit("task_warning", dict(payload, working_days_left=days))
        summary["warnings"].append(task["task_id"])
    else:
        store.emit("task_overdue", dict(payload, supervisor_phone=task["supervisor_phone"],
                                     working_days_overdue=days, notice_no=notice["notice_no"], notice_level=1))
        summary["overdue"].append({"task_id": task["task_id"], "notice_no": notice["notice_no"]})
    store.audit(task["application_no"], domain.SYSTEM, "warned" if action == "yellow" else "supervised",
             task["task_id"], task["department"], before=before, after=snapshot(task),
             detail={"level": action, "working_days": days, "as_of": day, "notice_no": notice["notice_no"]})
    metrics.SUPERVISION_NOTICES.labels(task["department"], action).inc()
    return task


def warn_unstaffed(store, task, day, item_name):
    """Nobody may decide the task (every reviewer of both posts absent): the
    department's supervisor hears it at once, once per task and due date."""
    if store.issue_notice(task, "unstaffed", 0, day) is None:
        return False
    store.emit("task_unstaffed", {
        "application_no": task["application_no"], "task_id": task["task_id"], "department": task["department"],
        "department_name": task["department_name"], "item_name": item_name, "due_date": task["due_date"],
        "supervisor_phone": task["supervisor_phone"]})
    store.audit(task["application_no"], domain.SYSTEM, "unstaffed", task["task_id"], task["department"],
             detail={"as_of": day})
    metrics.SUPERVISION_NOTICES.labels(task["department"], "unstaffed").inc()
    return True


def escalate(store, notice, level, day, recipient, summary):
    """督办 one level up, once: the centre's director (2), the supervision office (3)."""
    recipient = {"name": recipient.get("name") or "", "phone": recipient.get("phone")}
    if not store.raise_notice(notice["notice_no"], level, day, recipient):
        return
    store.emit("notice_escalated", {
        "application_no": notice["application_no"], "task_id": notice["task_id"], "notice_no": notice["notice_no"],
        "level": level, "level_name": domain.NOTICE_LEVELS[level], "recipient_name": recipient["name"],
        "recipient_phone": recipient["phone"], "department": notice["department"],
        "department_name": notice["department_name"], "item_name": notice["item_name"],
        "due_date": notice["due_date"], "issued_on": notice["as_of"], "as_of": day})
    store.audit(notice["application_no"], domain.SYSTEM, "escalated", notice["task_id"], notice["department"],
             detail={"notice_no": notice["notice_no"], "level": level, "as_of": day})
    metrics.SUPERVISION_NOTICES.labels(notice["department"], f"level{level}").inc()
    summary["escalated"].append({"notice_no": notice["notice_no"], "level": level})


# ------------------------------------------------------------------ 督办 notices

def notices(store, status):
    return [notice_view(n) for n in store.notices(status)]


def answer_notice(store, args, by):
    """The answer (反馈) to a supervision notice: it escalates no further."""
    first = store.notice_by_answer_ref(args["client_ref"])
    if first is not None:
        if first["notice_no"] != args["notice_no"]:
            raise Conflict(f"client_ref {args['client_ref']} was used for another notice")
        return notice_view(first)
    notice = store.notice(args["notice_no"], lock=True)
    if notice is None:
        raise NotFound(f"no supervision notice {args['notice_no']}")
    if notice["answered_at"]:
        raise Conflict(f"notice {notice['notice_no']} was answered on {notice['answered_at'].isoformat()}")
    store.answer_notice(notice["notice_no"], args["answer"], by, args["client_ref"])
    store.audit(notice["application_no"], by, "notice_answered", notice["task_id"], notice["department"],
             detail={"notice_no": notice["notice_no"], "level": notice["level"], "answer": args["answer"]}, by=by)
    return notice_view(store.notice(notice["notice_no"]))


def supervision_contacts(store):
    return [{"level": level, "level_name": domain.NOTICE_LEVELS[level], **contact}
            for level, contact in sorted(store.supervision_contacts().items())]


def set_supervision_contact(store, data):
    store.set_supervision_contact(data["level"], data["name"], data["phone"])
    return supervision_contacts(store)


# ------------------------------------------------------------------ 延期

def extend(store, calendar, args, by, today_=None):
    """延期: once per task, before it is overdue, never past the item's legal
    limit; the applicant hears the new due date, supervision counts from it."""
    first = store.task_by_extension_ref(args["client_ref"])
    if first is not None:
        if first["task_id"] != args["task_id"]:
            raise Conflict(f"client_ref {args['client_ref']} was used for another task")
        return {"task": task_view(first, store.roster(first["department"]))}
    task, application = own_task(store, args["task_id"], args["department"])
    plan, refusal, problems = domain.extension(task, args["working_days"], application["legal_limit_days"],
                                               today_ or today(), calendar)
    if problems:
        raise ValidationFailed(problems)
    if refusal:
        raise Conflict(f"task {task['task_id']} cannot be extended: {refusal}")
    extension = {"working_days": plan.working_days, "reason": args["reason"], "clock": task["clock"],
                 "previous_due_date": plan.previous_due_date, "due_date": plan.due_date,
                 "provisional": plan.provisional, "legal_due_date": plan.legal_due_date,
                 "extended_at": local_now(), "by": by}
    if not store.extend_task(task["task_id"], extension, args["client_ref"]):
        raise Conflict(f"task {task['task_id']} was already extended")
    after = store.task(task["task_id"])
    store.audit(task["application_no"], args["department"], "extended", task["task_id"], task["department"],
             before=snapshot(task), after=snapshot(after), by=by,
             detail={"working_days": plan.working_days, "reason": args["reason"], "legal_due_date": plan.legal_due_date})
    store.emit("task_extended", {
        "application_no": task["application_no"], "task_id": task["task_id"], "department": task["department"],
        "department_name": task["department_name"], "item_code": application["item_code"],
        "item_name": application["item_name"], "applicant": application["applicant"],
        "working_days": plan.working_days, "reason": args["reason"], "previous_due_date": plan.previous_due_date,
        "due_date": plan.due_date, "provisional": plan.provisional, "legal_due_date": plan.legal_due_date})
    metrics.EXTENSIONS.labels(task["department"]).inc()
    return {"task": task_view(after, store.roster(task["department"]))}


# ------------------------------------------------------------------ reading

def tasks(store, query):
    rows = store.tasks_of_department(query["department"], query["status"], query["limit"], query["offset"])
    roster = store.roster(query["department"])
    return [task_view(row, roster, with_fields=True) for row in rows]


def feed(store, query):
    """What changed for a department since the cursor, in order; within one
    page the green channel comes first. The cursor is opaque to callers."""
    rows, roster = store.feed(query["department"], domain.parse_cursor(query["after"]), query["limit"])
    cursor = str(rows[-1]["feed_seq"]) if rows else query["after"] or "0"
    page = sorted(rows, key=lambda r: r["green_channel"] is None)  # stable: change order kept within each
    return {"cursor": cursor, "tasks": [task_view(row, roster, with_fields=True) for row in page]}


def vetoes(store, period):
    return [dict(row) for row in store.vetoes(period["start"], period["end"])]


def recompute_provisional(store, calendar):
    """After a new year's schedule is loaded: provisional due dates of open
    tasks counted again from their start and limit. Cases are locked in the
    same order as supervision locks them."""
    changed, checked = [], 0
    cases = {t["application_no"] for t in store.open_provisional_tasks()}
    for application in store.lock_applications_under_review(cases):
        for task in store.tasks_of(application["application_no"]):
            if task["status"] != "open" or not task["provisional"] or task["limit_days"] is None:
                continue
            checked += 1
            due = calendar.add_workdays(task["started_on"], task["limit_days"])
            if (due.due_date, due.provisional) == (task["due_date"], task["provisional"]):
                continue
            store.set_due_date(task["task_id"], due.due_date, due.provisional)
            store.audit(task["application_no"], domain.SYSTEM, "due_date_recomputed", task["task_id"],
                     task["department"], before=snapshot(task),
                     after=snapshot(dict(task, due_date=due.due_date, provisional=due.provisional)))
            changed.append({"task_id": task["task_id"], "application_no": task["application_no"],
                            "department": task["department"], "before": task["due_date"],
                            "due_date": due.due_date, "provisional": due.provisional})
    return {"checked": checked, "changed": changed}


# ------------------------------------------------------------------ rosters

def set_roster(store, data, by=None):
    current = store.lock_roster(data["department"])
    posts = {post: domain_people(data[post], data[f"{post}_phone"]) for post in domain.POSTS}
    roster = domain.merge_roster(current, data["department"], data["department_name"], posts)
    saved = store.save_roster(roster, by)
    warn_if_unstaffed(store, saved)
    return roster_view(saved)


def domain_people(value, phone):
    """A post as a list of people; a `*_phone` argument names the first one's phone."""
    people = [] if value is None else list(value) if isinstance(value, list) else [value]
    if phone and people:
        first = people[0] if isinstance(people[0], dict) else {"id": people[0]}
        people[0] = dict(first, phone=phone)
    return people


def set_absent(store, data, by=None):
    roster = store.lock_roster(data["department"])
    if roster is None:
        raise NotFound(f"no roster for {data['department']}")
    if domain.member(roster, data["reviewer"]) is None:
        raise ValidationFailed({"reviewer": [f"not on the roster of {data['department']}"]})
    roster = store.set_absence(data["department"], data["reviewer"], data["absent"], by)
    warn_if_unstaffed(store, roster)
    return roster_view(roster)


def warn_if_unstaffed(store, roster):
    """With every reviewer absent, supervision warns about each open task at once."""
    if domain.assignee(roster) is not None:
        return
    day = today()
    for task in store.open_tasks_of_department(roster["department"]):
        warn_unstaffed(store, task, day, store.application(task["application_no"])["item_name"])
