"""What intake does with a case: the use cases behind the entrypoints.

Each function works on one IntakeStore (one transaction) and the working-day
calendar; no nameko here. Event handlers lock the case row (FOR UPDATE) and
derive its status from everything heard so far, so events arriving in any
order lead to the same record."""
import datetime
from zoneinfo import ZoneInfo

from onewindow import config, logs, personal
from onewindow.errors import Conflict, NotFound, PrerequisiteMissing, ValidationFailed
from onewindow.workdays import local_now, today

from . import domain, schemas, settings
from . import metrics as m


def applicant_public(applicant):
    """What events and SMS may carry: never the ID number."""
    return {"kind": applicant.get("kind"), "name": applicant["name"],
            "name_masked": personal.mask_name(applicant["name"]), "phone": applicant["phone"]}


def _case_view(case):
    return {
        "refused": case.refusal_no is not None,
        "withdrawn": case.withdrawn_on is not None,
        "accepted": case.accepted_on is not None,
        "kind": case.kind,
        "has_fees": case.has_fees,
        "review_outcome": case.review_outcome,
        "bill_status": case.bill_status,
        "awaiting_materials": case.materials_stage is not None,
        "review_started": case.review_started,
    }


# ------------------------------------------------------------------ submit

def submit(store, calendar, application, on=None, window=None, by=None):
    """`window`: the window principal taking the case (选优评差 per window);
    `by`: the principal the history names."""
    on = on or today()
    catalog = store.current_catalog()
    app = schemas.load_application(catalog, application)
    item = catalog.item(app["item_code"])
    application_no = domain.application_number(config.centre_code(), on.year, store.next_sequence(on.year))
    logs.bind(application_no=application_no)
    missing = catalog.missing_materials(item, app["materials"])
    fee_lines = catalog.bill_lines(item)
    case = domain.Application(
        application_no=application_no, client_ref=app["client_ref"], item_code=item["code"],
        item_name=item["name"], catalog_version=catalog.version_no, kind=item["kind"], channel=app["channel"],
        applicant=app["applicant"], applicant_phone=app["applicant"]["phone"], form=app["form"],
        materials=app["materials"], missing_materials=missing, materials_stage="intake" if missing else None,
        status="needs_materials", received_on=on, fee_lines=fee_lines, has_fees=bool(fee_lines),
        free_registration=item["free_registration"], window_code=window, green_channel=app["green_channel"])
    m.RECEIVED.labels(item["code"], app["channel"]).inc()
    if missing:
        case.receipt = materials_notice(case, item, missing)
        store.add_application(case)
        store.add_history(application_no, "intake", "received",
                          f"收件，材料不齐，一次性告知补正{len(missing)}项", detail={"missing": missing}, by=by)
        _request_materials_at_intake(store, case, missing)
        result = _result(case)
    else:
        changes, departments, events = acceptance(catalog, item, case, on, calendar)
        case.update(**changes)
        store.add_application(case)
        store.add_departments(application_no, departments)
        store.add_history(application_no, "intake", "accepted", _accepted_summary(case), by=by)
        for event_type, payload in events:
            store.emit(event_type, payload)
        result = _result(case)
    return result


def _result(case):
    return {
        "application_no": case.application_no,
        "status": case.status,
        "missing_materials": [{"code": x["code"], "name": x["name"]} for x in case.missing_materials],
        "due_date": case.due_date.isoformat() if case.due_date else None,
        "provisional": case.provisional,
        "receipt": case.receipt,
    }


def _request_materials_at_intake(store, case, missing):
    m.MATERIALS_REQUESTED.labels(case.item_code, "intake").inc()
    store.emit("materials_requested", {
        "application_no": case.application_no, "item_code": case.item_code,
        "item_name": case.item_name, "stage": "intake", "visits": case.visits,
        "applicant": applicant_public(case.applicant), "missing_materials": missing,
    })


def materials_notice(case, item, missing):
    """补正材料一次性告知书: everything missing, at once."""
    return {
        "title": "补正材料一次性告知书",
        "application_no": case.application_no,
        "item_code": item["code"],
        "item_name": item["name"],
        "received_on": case.received_on.isoformat(),
        "missing_materials": missing,
        "note": "请一次性补齐以上材料，材料齐全之日起计算承诺办理时限",
    }


def acceptance(catalog, item, case, on, calendar):
    """Accept a complete case on `on`: (column changes, department rows,
    events to emit). Instant items are decided at the window."""
    instant = item["kind"] == "instant"
    fee_lines = catalog.bill_lines(item)
    due, per_department = domain.due_dates(item, on, calendar)
    departments = []
    if not instant:
        for d in item["departments"]:
            dept = catalog.department(d["code"])
            departments.append({
                "code": d["code"], "name": dept["name"], "lead": d["lead"], "limit_days": d["limit_days"],
                "due_date": per_department[d["code"]].due_date, "provisional": per_department[d["code"]].provisional,
                "timeout_policy": d["timeout_policy"], "roster": dept["roster"],
                "supervisor_phone": dept["supervisor_phone"],
                "fields": catalog.department_fields(item, d["code"], case.form),
            })
    if instant:
        status = "awaiting_payment" if fee_lines else "completed"
    else:
        status = "accepted"
    changes = {
        "status": status, "accepted_on": on, "clock_started_on": on, "due_date": due.due_date,
        "provisional": due.provisional, "missing_materials": [], "materials_stage": None,
        "review_outcome": "approved" if instant else None,
        # an instant item is decided at the window: the centre's clock ends here
        "decided_on": on if instant else None,
        "concluded_on": on if status == "completed" else None,
        "outcome": "approved" if status == "completed" else None,
    }
    accepted_case = case.with_changes(**changes)
    changes["receipt"] = receipt(catalog, item, accepted_case, fee_lines)
    events = [("application_accepted", {
        "application_no": case.application_no, "item_code": item["code"], "item_name": item["name"],
        "catalog_version": catalog.label, "kind": item["kind"], "channel": case.channel, "status": status,
        "accepted_on": on, "due_date": due.due_date, "provisional": due.provisional, "visits": case.visits,
        "applicant": applicant_public(case.applicant),
        "departments": departments,
        "fees": fee_lines,
        "free_registration": item["free_registration"],
        "collect": item["collect"],
        "legal_limit_days": item["legal_limit_days"], "committed_limit_days": item["committed_limit_days"],
        "materials": [{"code": x["code"], "name": x["name"]} for x in item["materials"]],
        "green_channel": case.green_channel,
    })]
    m.ACCEPTED.labels(item["code"], item["kind"]).inc()
    if status == "completed":
        events.append(("application_completed", _completed_payload(accepted_case, "approved", on)))
        m.CONCLUDED.labels(item["code"], "approved").inc()
    return changes, departments, events


def receipt(catalog, item, case, fee_lines):
    """受理回执: the item, the departments, the due date, the fees and what to
    bring to collect the result."""
    return {
        "title": "受理回执",
        "application_no": case.application_no,
        "item_code": item["code"],
        "item_name": item["name"],
        "kind": item["kind"],
        "applicant": personal.mask_name(case.applicant["name"]),
        "accepted_on": case.accepted_on.isoformat(),
        "departments": [{"code": d["code"], "name": catalog.department(d["code"])["name"], "lead": d["lead"]}
                        for d in item["departments"]],
        "legal_limit_days": item["legal_limit_days"],
        "committed_limit_days": item["committed_limit_days"],
        "due_date": case.due_date.isoformat(),
        "provisional": case.provisional,
        "fees": [{"fee_code": f["fee_code"], "name": f["name"], "amount_fen": f["amount_fen"]} for f in fee_lines],
        "total_fen": sum(f["amount_fen"] for f in fee_lines),
        "free_registration": item["free_registration"],
        "materials_received": case.materials,
        "collect": item["collect"],
        "track": "凭受理编号和申请时登记的手机号码查询办理进度",
    }


def _accepted_summary(case):
    if case.status == "completed":
        return "即办件，当场办结"
    if case.status == "awaiting_payment":
        return "即办件，当场审核通过，待缴费"
    return f"受理，承诺{case.due_date.isoformat()}前办结"


def _completed_payload(case, outcome, on):
    return {
        "application_no": case.application_no, "item_code": case.item_code, "item_name": case.item_name,
        "outcome": outcome, "status": "completed" if outcome == "approved" else "rejected",
        "concluded_on": on,
        "applicant": {k: v for k, v in applicant_public(case.applicant).items() if k != "kind"},
    }


# ------------------------------------------------------------------ supplement

def supplement(store, calendar, data, on=None, by=None):
    on = on or today()
    application_no = data["application_no"]
    case = store.case(application_no)
    if case is None:
        raise NotFound(f"no application {application_no}")
    if case.status in (domain.REFUSED, domain.WITHDRAWN):
        raise Conflict(f"application {case.application_no} is {case.status}")
    catalog = store.catalog(case.catalog_version)
    item = catalog.item(case.item_code)
    schemas.check_supplied_materials(item, data["materials"], case.missing_materials)
    case = store.case(application_no, lock=True)
    if case.status in (domain.REFUSED, domain.WITHDRAWN):  # withdrawn since the first look
        raise Conflict(f"application {case.application_no} is {case.status}")
    if case.materials_stage is None:
        raise Conflict(f"application {application_no} is not awaiting materials (status {case.status})")
    supplied = list(dict.fromkeys(data["materials"]))
    provided = list(dict.fromkeys(list(case.materials) + supplied))
    remaining = [x for x in case.missing_materials if x["code"] not in supplied]
    visits = case.visits + 1
    if visits == 3:
        m.THIRD_VISITS.labels(case.item_code).inc()
    case.update(materials=provided, visits=visits)
    if remaining:
        store.update_case(application_no, materials=provided, visits=visits, missing_materials=remaining)
        store.add_history(application_no, "intake", "supplemented",
                          f"补正材料{len(supplied)}项，尚缺{len(remaining)}项", detail={"materials": supplied}, by=by)
        case.missing_materials = remaining
        result = _result(case)
    elif case.materials_stage == "intake":
        changes, departments, events = acceptance(catalog, item, case, on, calendar)
        store.update_case(application_no, materials=provided, visits=visits, **changes)
        store.add_departments(application_no, departments)
        case.update(**changes)
        store.add_history(application_no, "intake", "accepted", "补正齐全，" + _accepted_summary(case),
                          detail={"materials": supplied}, by=by)
        for event_type, payload in events:
            store.emit(event_type, payload)
        result = _result(case)
    else:
        result = _restart_review(store, calendar, catalog, item, case, supplied, on, by)
    return result


def _restart_review(store, calendar, catalog, item, case, supplied, on, by=None):
    """Review sent the case back; now it is complete: the departments still
    deciding restart (not resume) their clocks from today."""
    waiting = [d["department"] for d in store.departments(case.application_no)
               if d["status"] not in ("approved", "deemed_approved", "rejected")]
    if not waiting:
        waiting = [d["code"] for d in item["departments"]]
    due, per_department = domain.due_dates(item, on, calendar, departments=set(waiting))
    for code, dept_due in per_department.items():
        store.update_department(case.application_no, code, due_date=dept_due.due_date,
                                provisional=dept_due.provisional, status="open", warning_level="none")
    changes = {"materials": case.materials, "visits": case.visits, "missing_materials": [],
               "materials_stage": None, "clock_started_on": on, "due_date": due.due_date,
               "provisional": due.provisional}  # lateness before the request stays on record
    case.update(**changes)
    changes["status"] = case.status = domain.case_status(_case_view(case))
    store.update_case(case.application_no, **changes)
    store.add_history(case.application_no, "intake", "materials_supplemented",
                      f"补正齐全，审查重新计时，承诺{due.due_date.isoformat()}前办结", detail={"materials": supplied},
                      by=by)
    store.emit("materials_supplemented", {
        "application_no": case.application_no, "supplemented_on": on, "due_date": due.due_date,
        "provisional": due.provisional, "materials": supplied,
        "departments": [{"code": c, "due_date": d.due_date, "provisional": d.provisional}
                        for c, d in per_department.items()],
    })
    return _result(case)


# ------------------------------------------------------------------ events in

BILL_RANK = {None: 0, "unpaid": 1, "paid": 2, "waived": 2, "cancelled": 2, "refunded": 3}


def event_instant(event, *keys):
    """The instant of an event's fact in the centre's zone: the first of
    `keys` present, else occurred_at; None when it carries none."""
    for key in (*keys, "occurred_at"):
        value = event.get(key)
        if value:
            try:
                instant = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            except ValueError:
                continue
            if instant.tzinfo is None:
                instant = instant.replace(tzinfo=ZoneInfo(config.time_zone()))
            return instant.astimezone(ZoneInfo(config.time_zone()))
    return None


def event_day(event, *keys):
    """The centre's local date of an event's instant (see event_instant):
    replayed events keep their own days."""
    instant = event_instant(event, *keys)
    return instant.date() if instant else today()


def _locked_case(store, event):
    application_no = event.get("application_no")
    case = store.case(application_no, lock=True) if application_no else None
    if case is None:
        # not (yet) known here: raise, so the inbox retries it later
        raise PrerequisiteMissing(f"application {application_no} not known to intake yet")
    return case


def settle(store, case, changes, on=None, at=None):
    """Write `changes`, derive the status, and conclude the case once: on
    the day of the fact that concluded it (`at`, an event's instant, or `on`),
    not the day the event happened to be processed."""
    case = case.with_changes(**changes)
    status = domain.case_status(_case_view(case))
    changes = dict(changes, status=status)
    if status in domain.CONCLUDED and case.concluded_on is None:
        outcome = "approved" if status == "completed" else "rejected"
        on = at.date() if at else (on or today())
        changes.update(concluded_on=on, outcome=outcome)
        store.emit("application_completed", _completed_payload(case, outcome, on), occurred_at=at)
        m.CONCLUDED.labels(case.item_code, outcome).inc()
        store.add_history(case.application_no, "intake", "concluded",
                          "办结：准予许可" if outcome == "approved" else "办结：不予许可")
    store.update_case(case.application_no, **changes)
    return status


_DECISIONS = {"approve": "同意", "reject": "不同意", "request_materials": "要求补正",
              "deemed_approval": "超时默认同意"}


# What each review event changes in the case (beyond `review_started`) and
# the line it adds to the history: (store, case, event) -> (changes, summary).

def _task_decided(store, case, event):
    department = event.get("department")
    store.update_department(case.application_no, department, task_id=event.get("task_id"),
                            status=event.get("task_status") or event.get("decision"),
                            decision=event.get("decision"), opinion=event.get("opinion"),
                            legal_basis=event.get("legal_basis"), reviewer=event.get("reviewer"),
                            acting_for=event.get("acting_for"), decided_at=event.get("decided_at"))
    acting = f"（代{event['acting_for']}）" if event.get("acting_for") else ""
    decision = _DECISIONS.get(event.get("decision"), event.get("decision"))
    return {}, f"{department} {event.get('reviewer') or ''}{acting}：{decision}"


def _veto_filed(store, case, event):
    return {}, f"{event.get('department')} 否决报备：{event.get('opinion') or ''}（{event.get('legal_basis') or ''}）"


def _review_completed(store, case, event):
    changes = {"review_outcome": event["outcome"], "rejections": event.get("rejections") or [],
               "documents": event.get("documents") or []}
    if case.decided_on is None:
        changes["decided_on"] = event_day(event, "completed_at")
    return changes, "并联审批通过" if event["outcome"] == "approved" else "并联审批不予通过"


def _materials_requested(store, case, event):
    missing = event.get("missing_materials") or []
    m.MATERIALS_REQUESTED.labels(case.item_code, "review").inc()
    return {"materials_stage": "review", "missing_materials": missing}, f"审查部门要求补正材料{len(missing)}项，暂停计时"


def _task_warning(store, case, event):
    department = event.get("department")
    store.update_department(case.application_no, department, warning_level="yellow", task_id=event.get("task_id"))
    return {}, f"{department} 黄牌预警：剩余{event.get('working_days_left')}个工作日"


def _task_overdue(store, case, event):
    department = event.get("department")
    store.update_department(case.application_no, department, warning_level="red", task_id=event.get("task_id"))
    return ({"overdue": True},
            f"{department} 红牌督办：超期{event.get('working_days_overdue')}个工作日（{event.get('notice_no') or ''}）")


def _task_extended(store, case, event):
    department = event.get("department")
    due = datetime.date.fromisoformat(str(event["due_date"]))
    store.update_department(case.application_no, department, due_date=due,
                            provisional=bool(event.get("provisional")))
    # the case is due when its last department is
    changes = {"due_date": due} if case.due_date is None or due > case.due_date else {}
    return changes, f"{department} 延期{event.get('working_days')}个工作日至{due.isoformat()}：{event.get('reason') or ''}"


def _task_deemed_approved(store, case, event):
    department = event.get("department")
    store.update_department(case.application_no, department, status="deemed_approved", decision="deemed_approval",
                            task_id=event.get("task_id"), decided_at=event.get("decided_at"))
    return {}, f"{department} 超时默认同意"


REVIEW_EFFECTS = {
    "task_decided": _task_decided,
    "veto_filed": _veto_filed,
    "review_completed": _review_completed,
    "materials_requested": _materials_requested,
    "task_warning": _task_warning,
    "task_overdue": _task_overdue,
    "task_deemed_approved": _task_deemed_approved,
    "task_extended": _task_extended,
}


def on_review_event(store, event_type, event):
    case = _locked_case(store, event)
    changes, summary = REVIEW_EFFECTS[event_type](store, case, event)
    store.add_history(case.application_no, "review", event_type, summary, event_id=event.get("event_id"),
                      detail=event, at=event.get("occurred_at"))
    settle(store, case, dict(changes, review_started=True), at=event_instant(event, "completed_at", "decided_at"))


# What each fees event does: the bill status it stands for, and what it adds
# to the bill and the fee movements: (store, no, bill, event, at, amount) -> summary.

def _bill_issued(store, no, bill, event, at, amount):
    return f"开具缴费通知{amount / 100:.2f}元（{event.get('bill_no')}）"


def _bill_paid(store, no, bill, event, at, amount):
    bill.update(paid_at=at, receipt_no=event.get("receipt_no"), method=event.get("method"))
    store.record_fee_movement(event["event_id"], no, "paid", amount, at)
    return f"缴费{amount / 100:.2f}元（{event.get('receipt_no') or ''}）"


def _bill_refunded(store, no, bill, event, at, amount):
    bill.update(refunded_at=at, refund_reason=event.get("reason"))
    store.record_fee_movement(event["event_id"], no, "refunded", amount, at)
    return f"退费{amount / 100:.2f}元：{event.get('reason') or ''}"


def _bill_waived(store, no, bill, event, at, amount):
    bill.update(waived_at=at, waive_reason=event.get("reason"))
    store.record_fee_movement(event["event_id"], no, "waived", amount, at)
    return f"减免收费：{event.get('reason') or ''}"


def _bill_cancelled(store, no, bill, event, at, amount):
    bill.update(cancelled_at=at)
    return f"撤回办件，缴费通知{event.get('bill_no')}作废"


def _bill_reduced(store, no, bill, event, at, amount):
    bill.update(reductions=event.get("reductions"))
    return f"部分减免收费，应缴{amount / 100:.2f}元"


FEES_EFFECTS = {
    "bill_issued": ("unpaid", _bill_issued),
    "bill_paid": ("paid", _bill_paid),
    "bill_refunded": ("refunded", _bill_refunded),
    "bill_waived": ("waived", _bill_waived),
    "bill_cancelled": ("cancelled", _bill_cancelled),
    "bill_reduced": ("unpaid", _bill_reduced),
}


def on_fees_event(store, event_type, event):
    case = _locked_case(store, event)
    no = case.application_no
    bill = dict(case.bill or {})
    bill.update({k: event[k] for k in ("bill_no", "total_fen") if k in event})
    if event.get("lines"):
        bill["lines"] = event["lines"]
    new_status, effect = FEES_EFFECTS[event_type]
    status = case.bill_status
    if BILL_RANK[new_status] > BILL_RANK[status]:
        status = new_status
    bill["status"] = status
    at = (event.get("paid_at") or event.get("refunded_at") or event.get("waived_at") or event.get("cancelled_at")
          or event.get("reduced_at") or event.get("occurred_at"))
    summary = effect(store, no, bill, event, at, int(event.get("total_fen") or 0))
    store.add_history(no, "fees", event_type, summary, event_id=event.get("event_id"), detail=event,
                      at=event.get("occurred_at"))
    settle(store, case, {"bill": bill, "bill_status": status}, at=event_instant(event, "paid_at", "waived_at"))


def on_message_statuses(store, event):
    """notify's statuses of the texts one of its transactions settled, each
    kept as its case's notice. No lock on the cases: a notice is a row of
    its own, and three of them a case must not queue behind its decisions
    and payments."""
    notices = [{
        "message_id": str(status["message_id"]), "application_no": status["application_no"],
        "source_event_id": status.get("source_event_id"), "template": status.get("template"),
        "status": status.get("status"), "segments": status.get("segments"),
        "phone_masked": status.get("phone_masked"), "text": status.get("text"),
        "at": status.get("at") or event.get("occurred_at"),
    } for status in event.get("messages") or [] if status.get("application_no")]  # a hall ticket's has none
    notices = domain.latest_notices(notices)
    unknown = domain.unrecorded_cases(notices, store.record_notices(notices))
    if unknown:
        raise PrerequisiteMissing(f"applications {', '.join(unknown)} not known to intake yet")


# ------------------------------------------------------------------ reading

def record(store, application_no):
    """get(): the whole record from intake's own tables."""
    case = store.case(application_no) if isinstance(application_no, str) else None
    if case is None:
        raise NotFound(f"no application {application_no}")
    applicant = case.applicant
    catalog = store.catalog(case.catalog_version)
    # Resident ID numbers leave intake masked, form fields included: replies
    # end up in callers' logs.
    form = {name: personal.mask_id(value) if catalog.fields.get(name, {}).get("type") == "id_number" and value
            else value for name, value in case.form.items()}
    return {
        "application_no": case.application_no,
        "item_code": case.item_code, "item_name": case.item_name, "kind": case.kind,
        "catalog_version": catalog.label,
        "channel": case.channel, "status": case.status,
        "status_label": domain.STATUS_LABELS.get(case.status, case.status),
        "applicant": {"kind": applicant["kind"], "name": applicant["name"], "phone": applicant["phone"],
                      "id_number_masked": personal.mask_id(applicant.get("id_number")),
                      "uscc": applicant.get("uscc")},
        "form": form, "materials": case.materials,
        "missing_materials": case.missing_materials, "materials_stage": case.materials_stage,
        "received_at": case.received_at, "received_on": case.received_on,
        "accepted_on": case.accepted_on, "clock_started_on": case.clock_started_on,
        "due_date": case.due_date, "provisional": case.provisional, "overdue": case.overdue,
        "visits": case.visits,
        "departments": [{k: d[k] for k in ("department", "name", "lead", "limit_days", "timeout_policy",
                                           "due_date", "provisional", "task_id", "status", "decision", "opinion",
                                           "legal_basis", "reviewer", "acting_for", "warning_level", "decided_at")}
                        for d in store.departments(application_no)],
        "fees": case.fee_lines, "free_registration": case.free_registration,
        "bill": case.bill, "review_outcome": case.review_outcome, "rejections": case.rejections,
        "documents": case.documents, "green_channel": case.green_channel,
        "outcome": case.outcome, "concluded_on": case.concluded_on,
        "decided_on": case.decided_on, "window": case.window_code,
        "refusal": ({"refusal_no": case.refusal_no, "reasons": case.refusal_reasons,
                     "legal_basis": case.refusal_legal_basis} if case.refusal_no else None),
        "withdrawal": ({"withdrawn_on": case.withdrawn_on, "reason": case.withdrawal_reason}
                       if case.withdrawn_on else None),
        "receipt": case.receipt,
        "notices": store.notices(application_no),
        "history": store.history(application_no),
        "rating": ({"score": case.rating, "comment": case.rating_comment, "rated_at": case.rated_at}
                   if case.rating else None),
    }


def track(store, data):
    """What the applicant may see; a wrong phone looks exactly like no case."""
    case = store.case(data["application_no"])
    if (case is None or not personal.is_mainland_mobile(data["phone"])
            or personal.normal_phone(data["phone"]) != case.applicant_phone):
        raise NotFound("no application with that number and phone")
    applicant = case.applicant
    amount_due = 0
    if case.status == "awaiting_payment":
        amount_due = (case.bill or {}).get("total_fen") or sum(f["amount_fen"] for f in case.fee_lines)
    awaiting = []
    if case.materials_stage:
        awaiting = [{"code": x["code"], "name": x["name"]} for x in case.missing_materials]
    return {
        "application_no": case.application_no, "item_name": case.item_name, "status": case.status,
        "status_label": domain.STATUS_LABELS.get(case.status, case.status),
        "applicant": {"name_masked": personal.mask_name(applicant["name"]),
                      "id_masked": personal.mask_id(applicant.get("id_number") or applicant.get("uscc"))},
        "received_on": case.received_on, "accepted_on": case.accepted_on,
        "due_date": case.due_date, "provisional": case.provisional,
        "awaiting_materials": awaiting,
        "amount_due_fen": amount_due,
        "bill_no": (case.bill or {}).get("bill_no"),
        "departments": [{"name": d["name"], "status": d["status"]} for d in store.departments(case.application_no)],
        "concluded_on": case.concluded_on, "outcome": case.outcome,
        "documents": [{"document_name": d["document_name"], "document_no": d["document_no"]}
                      for d in case.documents],
        "rated": case.rating is not None,
    }


def rate(store, data, by=None):
    case = store.case(data["application_no"], lock=True)
    if case is None:
        raise NotFound(f"no application {data['application_no']}")
    if case.status not in domain.CONCLUDED:
        raise Conflict("a case is rated once it is concluded")
    if case.rating is not None:
        raise Conflict("this case has already been rated")
    rated_at = local_now()
    store.update_case(case.application_no, rating=data["score"], rating_comment=data["comment"],
                      rated_at=rated_at)
    store.add_history(case.application_no, "intake", "rated", f"服务评价{data['score']}分", by=by)
    store.emit("application_rated", {"application_no": case.application_no, "score": data["score"],
                                     "rated_at": rated_at})
    m.RATINGS.labels(str(data["score"])).inc()
    return {"application_no": case.application_no, "score": data["score"], "comment": data["comment"],
            "rated_at": rated_at}


def report(store, period, on=None, hall=None):
    """The centre's headline figures for the period. `hall(start, end)` gives
    the hall's appointments, home visits, tickets and average wait, or None
    where the centre runs no hall service (then they are 0)."""
    start, end = period["start"], period["end"]
    figures = store.period_figures(start, end)
    on = on or today()
    overdue = sum(domain.centre_late(row, on) for row in store.clock_rows(start, end))
    hall_figures = hall(start, end) if hall else None
    result = {
        "start": start, "end": end,
        "received": figures["received"], "accepted": figures["accepted"],
        "instant_ratio": domain.ratio(figures["instant"], figures["accepted"]),
        "completed": figures["completed"],
        "completion_rate": domain.ratio(figures["completed"], figures["accepted"]),
        "overdue": overdue,
        "ratings": figures["ratings"],
        "satisfaction_rate": domain.ratio(figures["satisfied"], figures["ratings"]),
        "fees_fen": figures["fees_fen"],
        "refused": figures["refused"],
        "withdrawn": figures["withdrawn"],
        "inquiries": figures["inquiries"],
        "inquiries_by_window": store.inquiry_counts(start, end, "window"),
        "inquiries_by_topic": store.inquiry_counts(start, end, "topic"),
        "complaints": figures["complaints"],
        # No hall service registered: the centre takes no tickets or
        # appointments through OneWindow, so there is nothing to count.
        "hall": hall_figures is not None,
    }
    for key in HALL_FIGURES:
        result[key] = (hall_figures or {}).get(key) or 0
    result["headline"] = domain.headline(start, end, result)
    return result


HALL_FIGURES = ("appointments", "home_visits", "tickets", "average_wait_minutes")


def open_overdue(store, on=None):
    """Open cases the centre is late on (the overdue gauge)."""
    on = on or today()
    return sum(domain.centre_late(row, on) for row in store.open_clock_rows())


# ------------------------------------------------------------------ the front office

def _number(store, kind, on):
    return domain.document_number(kind, config.centre_code(), on.year, store.next_document(kind, on.year))


def refuse(store, data, on=None, window=None, by=None):
    """不予受理: a numbered refusal with its reasons and legal basis. The
    application may name an item outside the catalog (outside the remit)."""
    on = on or today()
    app = data["application"]
    catalog = store.current_catalog()
    item = catalog.item(app["item_code"]) if app["item_code"] else None
    application_no = domain.application_number(config.centre_code(), on.year, store.next_sequence(on.year))
    logs.bind(application_no=application_no)
    refusal_no = _number(store, domain.REFUSAL, on)
    item_name = item["name"] if item else (app["item_name"] or app["item_code"])
    notice = {
        "title": "不予受理通知书", "refusal_no": refusal_no, "application_no": application_no,
        "item_code": app["item_code"], "item_name": item_name,
        "applicant": personal.mask_name(app["applicant"]["name"]), "refused_on": on.isoformat(),
        "reasons": data["reasons"], "legal_basis": data["legal_basis"],
        "note": "如不服本决定，可依法申请行政复议或者提起行政诉讼",
    }
    case = domain.Application(
        application_no=application_no, client_ref=app["client_ref"], item_code=app["item_code"] or "",
        item_name=item_name, catalog_version=catalog.version_no, kind=item["kind"] if item else "committed",
        channel=app["channel"], applicant=app["applicant"], applicant_phone=app["applicant"]["phone"],
        form=app["form"], materials=app["materials"], status=domain.REFUSED, received_on=on, receipt=notice,
        window_code=window, refusal_no=refusal_no, refusal_reasons=data["reasons"],
        refusal_legal_basis=data["legal_basis"])
    with store.unique(f"client_ref {app['client_ref']} was already used for another application"):
        store.add_application(case)
    store.add_history(application_no, "intake", "refused", f"不予受理（{refusal_no}）：" + "；".join(data["reasons"]),
                      detail={"reasons": data["reasons"], "legal_basis": data["legal_basis"]}, by=by)
    store.emit("application_refused", {
        "application_no": application_no, "refusal_no": refusal_no, "item_code": app["item_code"],
        "item_name": item_name, "refused_on": on, "reasons": data["reasons"], "legal_basis": data["legal_basis"],
        "applicant": applicant_public(app["applicant"]), "window": window,
    })
    m.REFUSED.labels(app["channel"]).inc()
    result = {"application_no": application_no, "refusal_no": refusal_no, "status": domain.REFUSED,
              "notice": notice}
    return result


def withdraw(store, data, on=None, by=None):
    """撤回 before conclusion: review's open tasks become moot and fees
    cancels an unpaid bill or refunds a paid one, on the event."""
    on = on or today()
    case = store.case(data["application_no"], lock=True)
    if case is None:
        raise NotFound(f"no application {data['application_no']}")
    if case.status not in domain.WITHDRAWABLE:
        raise Conflict(f"application {case.application_no} is {case.status}; only a case not yet "
                       "concluded can be withdrawn")
    no = case.application_no
    moot = store.moot_departments(no)
    status = settle(store, case, {"withdrawn_on": on, "withdrawal_reason": data["reason"]}, on=on)
    store.add_history(no, "intake", "withdrawn", f"申请人撤回：{data['reason']}",
                      detail={"moot": moot, "bill_status": case.bill_status}, by=by)
    store.emit("application_withdrawn", {
        "application_no": no, "item_code": case.item_code, "item_name": case.item_name,
        "reason": data["reason"], "withdrawn_on": on, "previous_status": case.status,
        "accepted": case.accepted_on is not None,
        "moot_departments": moot, "applicant": applicant_public(case.applicant),
    })
    m.WITHDRAWN.labels(case.item_code).inc()
    result = {"application_no": no, "status": status, "withdrawn_on": on.isoformat(), "reason": data["reason"],
              "moot_departments": moot}
    return result


def inquiry_view(row):
    return {"inquiry_no": row["inquiry_no"], "channel": row["channel"], "topic": row["topic"],
            "answered_by": row["answered_by"], "window": row["window_code"], "item_code": row["item_code"],
            "phone_masked": personal.mask_phone(row["phone"]) if row["phone"] else None,
            "referred_to": row["referred_to"], "asked_at": row["asked_at"], "asked_on": row["asked_on"]}


def register_inquiry(store, data, window=None, on=None):
    """首问负责: who answered a consultation first and where it was referred."""
    on = on or today()
    if data["item_code"] and store.current_catalog().item(data["item_code"]) is None:
        raise ValidationFailed({"item_code": ["unknown item"]})
    row = store.add_inquiry({
        "inquiry_no": _number(store, domain.INQUIRY, on), "channel": data["channel"], "topic": data["topic"],
        "answered_by": data["answered_by"], "window_code": window, "item_code": data["item_code"],
        "phone": data["phone"], "referred_to": data["referred_to"], "asked_on": on})
    m.INQUIRIES.labels(window or "", data["channel"]).inc()
    return inquiry_view(row)


def complaint_view(row):
    """A complaint as listed: the complainant's phone masked."""
    return {"complaint_no": row["complaint_no"], "text": row["text"],
            "phone_masked": personal.mask_phone(row["phone"]), "application_no": row["application_no"],
            "department": row["department"], "status": "answered" if row["answered_at"] else "open",
            "received_at": row["received_at"], "received_on": row["received_on"], "due_date": row["due_date"],
            "provisional": row["provisional"], "warning_level": row["warning_level"],
            "notice_no": row["notice_no"], "answer": row["answer"], "answered_at": row["answered_at"],
            "answered_on": row["answered_on"],
            "on_time": None if row["answered_on"] is None else row["answered_on"] <= row["due_date"]}


def _complaint_event(row, catalog=None):
    department = catalog.departments.get(row["department"]) if catalog and row["department"] else None
    return {"complaint_no": row["complaint_no"], "application_no": row["application_no"],
            "department": row["department"], "department_name": (department or {}).get("name"),
            "supervisor_phone": (department or {}).get("supervisor_phone"), "phone": row["phone"],
            "due_date": row["due_date"], "received_on": row["received_on"]}


def complain(store, calendar, data, on=None, by=None):
    """投诉: numbered, due in working days, answered by the department
    concerned (the case's lead department when only the case is named)."""
    on = on or today()
    catalog = store.current_catalog()
    problems = {}
    case = store.case(data["application_no"]) if data["application_no"] else None
    if data["application_no"] and case is None:
        problems["application_no"] = ["no such application"]
    if data["department"] and data["department"] not in catalog.departments:
        problems["department"] = ["unknown department"]
    if problems:
        raise ValidationFailed(problems)
    concerned = data["department"]
    if concerned is None and case is not None:
        concerned = next((d["department"] for d in store.departments(case.application_no) if d["lead"]), None)
    due = calendar.add_workdays(on, settings.complaint_days())
    row = store.add_complaint({
        "complaint_no": _number(store, domain.COMPLAINT, on), "text": data["text"], "phone": data["phone"],
        "application_no": data["application_no"], "department": concerned,
        "window_code": case.window_code if case else None, "received_on": on,
        "due_date": due.due_date, "provisional": due.provisional})
    if case is not None:
        store.add_history(case.application_no, "intake", "complaint", f"收到投诉{row['complaint_no']}", by=by)
    store.emit("complaint_received", _complaint_event(row, catalog))
    m.COMPLAINTS.labels(concerned or "").inc()
    return complaint_view(row)


def complaints(store, query):
    return [complaint_view(row) for row in store.complaints(query["status"])]


def answer_complaint(store, data, on=None, by=None):
    on = on or today()
    row = store.complaint(data["complaint_no"], lock=True)
    if row is None:
        raise NotFound(f"no complaint {data['complaint_no']}")
    if row["answered_at"] is not None:
        raise Conflict(f"complaint {row['complaint_no']} was answered on {row['answered_on']}")
    answered_at = local_now()
    store.update_complaint(row["complaint_no"], answer=data["answer"], answered_at=answered_at, answered_on=on)
    row = store.complaint(row["complaint_no"])
    if row["application_no"]:
        store.add_history(row["application_no"], "intake", "complaint_answered", f"投诉{row['complaint_no']}已答复",
                          by=by)
    store.emit("complaint_answered", dict(_complaint_event(row), answer=row["answer"], answered_on=on,
                                          on_time=on <= row["due_date"]))
    return complaint_view(row)


def supervise_complaints(store, calendar, as_of=None, dry_run=False):
    """Electronic supervision of unanswered complaints, as of a day: a
    warning when one working day is left, a supervision notice (督办) once
    overdue, each once. A day in the future only with dry_run."""
    day = as_of or today()
    if day > today() and not dry_run:
        raise ValidationFailed({"as_of": ["a day in the future is allowed only with dry_run"]})
    catalog = store.current_catalog()
    warnings, overdue = [], []
    for row in store.open_complaints():
        actions, reading = domain.complaint_actions(row, day, calendar)
        if "warn" in actions:
            warnings.append(row["complaint_no"])
            if not dry_run:
                store.update_complaint(row["complaint_no"], warning_level="yellow", warned_on=day)
                store.emit("complaint_warning", dict(_complaint_event(row, catalog),
                                                     working_days_left=reading.working_days_left))
        if "notice" in actions:
            overdue.append(row["complaint_no"])
            if not dry_run:
                notice_no = f"{row['complaint_no']}-DB"
                store.update_complaint(row["complaint_no"], warning_level="red", noticed_on=day, notice_no=notice_no)
                store.emit("complaint_overdue", dict(_complaint_event(row, catalog), notice_no=notice_no,
                                                     working_days_overdue=reading.working_days_overdue))
                m.COMPLAINTS_OVERDUE.labels(row["department"] or "").inc()
    return {"as_of": day, "dry_run": dry_run, "warnings": warnings, "overdue": overdue}


# ------------------------------------------------------------------ publicity and ranking

def publicity(store, period, on=None):
    """办件公示: the cases concluded in the period, personal data masked,
    on time or not."""
    on = on or today()
    return [{"application_no": row["application_no"], "item_code": row["item_code"], "item_name": row["item_name"],
             "applicant": personal.mask_name(row["applicant"]["name"]), "outcome": row["outcome"],
             "outcome_label": domain.STATUS_LABELS["completed" if row["outcome"] == "approved" else "rejected"],
             "accepted_on": row["accepted_on"], "due_date": row["due_date"], "concluded_on": row["concluded_on"],
             "on_time": not domain.centre_late(row, on)}
            for row in store.concluded_cases(period["start"], period["end"])]


def ranking(store, calendar, query, on=None):
    """选优评差 of the cases concluded in the period, by department, window
    or reviewer. Working days run from the case's acceptance to the decision
    (the department's own for departments and reviewers)."""
    start, end, by = query["start"], query["end"], query["by"]
    on = on or today()
    rows = []
    if by == "window":
        for row in store.concluded_cases(start, end):
            if not row["window_code"]:
                continue  # online and mobile cases pass no window
            rows.append({"key": row["window_code"], "late": domain.centre_late(row, on),
                         "working_days": (calendar.workdays_between(row["accepted_on"], row["decided_on"])
                                          if row["accepted_on"] and row["decided_on"] else None),
                         "rating": row["rating"]})
    else:
        for task in store.decided_tasks(start, end):
            if not task[by]:
                continue  # decided by nobody: deemed approved on timeout
            decided = event_day({"decided_at": task["decided_at"]}, "decided_at")
            rows.append({"key": task[by], "rating": task["rating"],
                         "late": task["warning_level"] == "red" or (task["due_date"] is not None
                                                                     and decided > task["due_date"]),
                         "working_days": calendar.workdays_between(task["accepted_on"], decided)})
    return {"start": start, "end": end, "by": by,
            "lines": domain.ranking(rows, store.complaint_counts(start, end, by))}


def due_date(store, calendar, data):
    catalog = store.current_catalog()
    item = catalog.item(data["item_code"])
    if item is None:
        raise ValidationFailed({"item_code": ["unknown item"]})
    due, per_department = domain.due_dates(item, data["accepted_on"], calendar)
    legal = calendar.add_workdays(data["accepted_on"], item["legal_limit_days"])
    return {"item_code": item["code"], "accepted_on": data["accepted_on"], "due_date": due.due_date,
            "provisional": due.provisional, "committed_limit_days": item["committed_limit_days"],
            "legal_limit_days": item["legal_limit_days"], "legal_due_date": legal.due_date,
            "departments": {c: d.as_dict() for c, d in per_department.items()}}


def recompute_provisional(store, calendar):
    """After an operator loads a new year: recount provisional due dates of
    open cases from the day their clock started."""
    checked = updated = still = 0
    for row in store.provisional_cases():
        checked += 1
        catalog = store.catalog(row["catalog_version"])
        item = catalog.item(row["item_code"])
        waiting = {d["department"] for d in store.provisional_departments(row["application_no"])}
        due, per_department = domain.due_dates(item, row["clock_started_on"], calendar,
                                               departments=waiting or None)
        for code, dept_due in per_department.items():
            store.update_department(row["application_no"], code, due_date=dept_due.due_date,
                                    provisional=dept_due.provisional)
        store.update_case(row["application_no"], due_date=due.due_date, provisional=due.provisional)
        updated += 1
        still += int(due.provisional)
    return {"checked": checked, "updated": updated, "still_provisional": still}
