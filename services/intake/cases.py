"""What intake does with a case: the use cases behind the entrypoints.

Each function works on one IntakeStore (one transaction) and the working-day
calendar; no nameko here. Event handlers lock the case row (FOR UPDATE) and
derive its status from everything heard so far, so events arriving in any
order lead to the same record."""
import datetime
from zoneinfo import ZoneInfo

from onewindow import config
from onewindow.errors import Conflict, NotFound, ValidationFailed
from onewindow.validation import load

from . import domain, schemas
from . import metrics as m


def today():
    return datetime.datetime.now(ZoneInfo(config.time_zone())).date()


def applicant_public(applicant):
    """What events and SMS may carry: never the ID number."""
    return {"kind": applicant.get("kind"), "name": applicant["name"],
            "name_masked": domain.mask_name(applicant["name"]), "phone": applicant["phone"]}


def _case_view(case):
    return {
        "accepted": case["accepted_on"] is not None,
        "kind": case["kind"],
        "has_fees": case["has_fees"],
        "review_outcome": case["review_outcome"],
        "bill_status": case["bill_status"],
        "awaiting_materials": case["materials_stage"] is not None,
        "review_started": case["review_started"],
    }


# ------------------------------------------------------------------ submit

def submit(store, calendar, application, on=None):
    on = on or today()
    catalog = store.current_catalog()
    app = schemas.load_application(catalog, application)
    if not store.claim_request("submit", app["client_ref"]):
        return _first_result(store, "submit", app["client_ref"])
    item = catalog.item(app["item_code"])
    application_no = domain.application_number(config.centre_code(), on.year, store.next_sequence(on.year))
    missing = catalog.missing_materials(item, app["materials"])
    case = {
        "application_no": application_no, "client_ref": app["client_ref"], "item_code": item["code"],
        "item_name": item["name"], "catalog_version": catalog.version_no, "kind": item["kind"],
        "channel": app["channel"], "applicant": app["applicant"], "applicant_phone": app["applicant"]["phone"],
        "form": app["form"], "materials": app["materials"], "missing_materials": missing,
        "materials_stage": "intake" if missing else None, "status": "needs_materials",
        "received_on": on, "accepted_on": None, "clock_started_on": None, "due_date": None,
        "provisional": False, "visits": 1, "fee_lines": catalog.bill_lines(item),
        "free_registration": item["free_registration"], "review_outcome": None, "outcome": None,
        "concluded_on": None, "receipt": None,
    }
    case["has_fees"] = bool(case["fee_lines"])
    m.RECEIVED.labels(item["code"], app["channel"]).inc()
    if missing:
        case["receipt"] = materials_notice(case, item, missing)
        store.add_application(case)
        store.add_history(application_no, "intake", "received",
                          f"收件，材料不齐，一次性告知补正{len(missing)}项", detail={"missing": missing})
        _request_materials_at_intake(store, case, missing)
        result = _result(case)
    else:
        changes, departments, events = acceptance(catalog, item, case, on, calendar)
        case.update(changes)
        store.add_application(case)
        store.add_departments(application_no, departments)
        store.add_history(application_no, "intake", "accepted", _accepted_summary(case))
        for event_type, payload in events:
            store.emit(event_type, payload)
        result = _result(case)
    store.save_request_result("submit", app["client_ref"], application_no, result)
    return result


def _first_result(store, operation, client_ref):
    result = store.request_result(operation, client_ref)
    if result is None:  # the first call is still running in another transaction
        raise Conflict(f"{operation} with client_ref {client_ref} is in progress")
    return result


def _result(case):
    return {
        "application_no": case["application_no"],
        "status": case["status"],
        "missing_materials": [{"code": x["code"], "name": x["name"]} for x in case["missing_materials"]],
        "due_date": case["due_date"].isoformat() if case["due_date"] else None,
        "provisional": case["provisional"],
        "receipt": case["receipt"],
    }


def _request_materials_at_intake(store, case, missing):
    m.MATERIALS_REQUESTED.labels(case["item_code"], "intake").inc()
    store.emit("materials_requested", {
        "application_no": case["application_no"], "item_code": case["item_code"],
        "item_name": case["item_name"], "stage": "intake", "visits": case["visits"],
        "applicant": applicant_public(case["applicant"]), "missing_materials": missing,
    })


def materials_notice(case, item, missing):
    """补正材料一次性告知书: everything missing, at once."""
    return {
        "title": "补正材料一次性告知书",
        "application_no": case["application_no"],
        "item_code": item["code"],
        "item_name": item["name"],
        "received_on": case["received_on"].isoformat(),
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
                "fields": catalog.department_fields(item, d["code"], case["form"]),
            })
    if instant:
        status = "awaiting_payment" if fee_lines else "completed"
    else:
        status = "accepted"
    changes = {
        "status": status, "accepted_on": on, "clock_started_on": on, "due_date": due.due_date,
        "provisional": due.provisional, "missing_materials": [], "materials_stage": None,
        "review_outcome": "approved" if instant else None,
        "concluded_on": on if status == "completed" else None,
        "outcome": "approved" if status == "completed" else None,
    }
    accepted_case = dict(case, **changes)
    changes["receipt"] = receipt(catalog, item, accepted_case, fee_lines)
    events = [("application_accepted", {
        "application_no": case["application_no"], "item_code": item["code"], "item_name": item["name"],
        "catalog_version": catalog.label, "kind": item["kind"], "channel": case["channel"], "status": status,
        "accepted_on": on, "due_date": due.due_date, "provisional": due.provisional, "visits": case["visits"],
        "applicant": applicant_public(case["applicant"]),
        "departments": departments,
        "fees": fee_lines,
        "free_registration": item["free_registration"],
        "collect": item["collect"],
        "legal_limit_days": item["legal_limit_days"], "committed_limit_days": item["committed_limit_days"],
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
        "application_no": case["application_no"],
        "item_code": item["code"],
        "item_name": item["name"],
        "kind": item["kind"],
        "applicant": domain.mask_name(case["applicant"]["name"]),
        "accepted_on": case["accepted_on"].isoformat(),
        "departments": [{"code": d["code"], "name": catalog.department(d["code"])["name"], "lead": d["lead"]}
                        for d in item["departments"]],
        "legal_limit_days": item["legal_limit_days"],
        "committed_limit_days": item["committed_limit_days"],
        "due_date": case["due_date"].isoformat(),
        "provisional": case["provisional"],
        "fees": [{"fee_code": f["fee_code"], "name": f["name"], "amount_fen": f["amount_fen"]} for f in fee_lines],
        "total_fen": sum(f["amount_fen"] for f in fee_lines),
        "free_registration": item["free_registration"],
        "materials_received": case["materials"],
        "collect": item["collect"],
        "track": "凭受理编号和申请时登记的手机号码查询办理进度",
    }


def _accepted_summary(case):
    if case["status"] == "completed":
        return "即办件，当场办结"
    if case["status"] == "awaiting_payment":
        return "即办件，当场审核通过，待缴费"
    return f"受理，承诺{case['due_date'].isoformat()}前办结"


def _completed_payload(case, outcome, on):
    return {
        "application_no": case["application_no"], "item_code": case["item_code"], "item_name": case["item_name"],
        "outcome": outcome, "status": "completed" if outcome == "approved" else "rejected",
        "concluded_on": on,
        "applicant": {k: v for k, v in applicant_public(case["applicant"]).items() if k != "kind"},
    }


# ------------------------------------------------------------------ supplement

def supplement(store, calendar, application_no, materials, client_ref, on=None):
    on = on or today()
    data = load(schemas.SupplementSchema, {"application_no": application_no, "materials": materials,
                                             "client_ref": client_ref})
    case = store.case(data["application_no"])
    if case is None:
        raise NotFound(f"no application {data['application_no']}")
    catalog = store.catalog(case["catalog_version"])
    item = catalog.item(case["item_code"])
    schemas.check_supplied_materials(item, data["materials"], case["missing_materials"])
    if not store.claim_request("supplement", data["client_ref"]):
        return _first_result(store, "supplement", data["client_ref"])
    case = store.case(data["application_no"], lock=True)
    if case["materials_stage"] is None:
        raise Conflict(f"application {application_no} is not awaiting materials (status {case['status']})")
    supplied = list(dict.fromkeys(data["materials"]))
    provided = list(dict.fromkeys(list(case["materials"]) + supplied))
    remaining = [x for x in case["missing_materials"] if x["code"] not in supplied]
    visits = case["visits"] + 1
    if visits == 3:
        m.THIRD_VISITS.labels(case["item_code"]).inc()
    case.update(materials=provided, visits=visits)
    if remaining:
        store.update_case(application_no, materials=provided, visits=visits, missing_materials=remaining)
        store.add_history(application_no, "intake", "supplemented",
                          f"补正材料{len(supplied)}项，尚缺{len(remaining)}项", detail={"materials": supplied})
        case["missing_materials"] = remaining
        result = _result(case)
    elif case["materials_stage"] == "intake":
        changes, departments, events = acceptance(catalog, item, case, on, calendar)
        store.update_case(application_no, materials=provided, visits=visits, **changes)
        store.add_departments(application_no, departments)
        case.update(changes)
        store.add_history(application_no, "intake", "accepted", "补正齐全，" + _accepted_summary(case),
                          detail={"materials": supplied})
        for event_type, payload in events:
            store.emit(event_type, payload)
        result = _result(case)
    else:
        result = _restart_review(store, calendar, catalog, item, case, supplied, on)
    store.save_request_result("supplement", data["client_ref"], application_no, result)
    return result


def _restart_review(store, calendar, catalog, item, case, supplied, on):
    """Review sent the case back; now it is complete: the departments still
    deciding restart (not resume) their clocks from today."""
    waiting = [d["department"] for d in store.departments(case["application_no"])
               if d["status"] not in ("approved", "deemed_approved", "rejected")]
    if not waiting:
        waiting = [d["code"] for d in item["departments"]]
    due, per_department = domain.due_dates(item, on, calendar, departments=set(waiting))
    for code, dept_due in per_department.items():
        store.update_department(case["application_no"], code, due_date=dept_due.due_date,
                                provisional=dept_due.provisional, status="open", warning_level="none")
    changes = {"materials": case["materials"], "visits": case["visits"], "missing_materials": [],
               "materials_stage": None, "clock_started_on": on, "due_date": due.due_date,
               "provisional": due.provisional, "overdue": False}
    case.update(changes)
    changes["status"] = case["status"] = domain.case_status(_case_view(case))
    store.update_case(case["application_no"], **changes)
    store.add_history(case["application_no"], "intake", "materials_supplemented",
                      f"补正齐全，审查重新计时，承诺{due.due_date.isoformat()}前办结", detail={"materials": supplied})
    store.emit("materials_supplemented", {
        "application_no": case["application_no"], "supplemented_on": on, "due_date": due.due_date,
        "provisional": due.provisional, "materials": supplied,
        "departments": [{"code": c, "due_date": d.due_date, "provisional": d.provisional}
                        for c, d in per_department.items()],
    })
    return _result(case)


# ------------------------------------------------------------------ events in

BILL_RANK = {None: 0, "unpaid": 1, "paid": 2, "waived": 2, "refunded": 3}


def _locked_case(store, event):
    application_no = event.get("application_no")
    case = store.case(application_no, lock=True) if application_no else None
    if case is None:
        # not (yet) known here: raise, so the inbox retries it later
        raise LookupError(f"application {application_no} not known to intake yet")
    return case


def settle(store, case, changes, on=None):
    """Write `changes`, derive the status, and conclude the case once."""
    case = dict(case, **changes)
    status = domain.case_status(_case_view(case))
    changes = dict(changes, status=status)
    if status in domain.CONCLUDED and case["concluded_on"] is None:
        outcome = "approved" if status == "completed" else "rejected"
        on = on or today()
        changes.update(concluded_on=on, outcome=outcome)
        store.emit("application_completed", _completed_payload(case, outcome, on))
        m.CONCLUDED.labels(case["item_code"], outcome).inc()
        store.add_history(case["application_no"], "intake", "concluded",
                          "办结：准予许可" if outcome == "approved" else "办结：不予许可")
    store.update_case(case["application_no"], **changes)
    return status


_DECISIONS = {"approve": "同意", "reject": "不同意", "request_materials": "要求补正",
              "deemed_approval": "超时默认同意"}


def on_review_event(store, event_type, event):
    case = _locked_case(store, event)
    no = case["application_no"]
    department = event.get("department")
    changes = {"review_started": True}
    if event_type == "task_decided":
        store.update_department(no, department, task_id=event.get("task_id"),
                                status=event.get("task_status") or event.get("decision"),
                                decision=event.get("decision"), opinion=event.get("opinion"),
                                legal_basis=event.get("legal_basis"), reviewer=event.get("reviewer"),
                                acting_for=event.get("acting_for"), decided_at=event.get("decided_at"))
        acting = f"（代{event['acting_for']}）" if event.get("acting_for") else ""
        summary = f"{department} {event.get('reviewer') or ''}{acting}：{_DECISIONS.get(event.get('decision'), event.get('decision'))}"
    elif event_type == "veto_filed":
        summary = f"{department} 否决报备：{event.get('opinion') or ''}（{event.get('legal_basis') or ''}）"
    elif event_type == "review_completed":
        changes.update(review_outcome=event["outcome"], rejections=event.get("rejections") or [])
        summary = "并联审批通过" if event["outcome"] == "approved" else "并联审批不予通过"
    elif event_type == "materials_requested":
        missing = event.get("missing_materials") or []
        changes.update(materials_stage="review", missing_materials=missing)
        m.MATERIALS_REQUESTED.labels(case["item_code"], "review").inc()
        summary = f"审查部门要求补正材料{len(missing)}项，暂停计时"
    elif event_type == "task_warning":
        store.update_department(no, department, warning_level="yellow", task_id=event.get("task_id"))
        summary = f"{department} 黄牌预警：剩余{event.get('working_days_left')}个工作日"
    elif event_type == "task_overdue":
        store.update_department(no, department, warning_level="red", task_id=event.get("task_id"))
        changes["overdue"] = True
        summary = f"{department} 红牌督办：超期{event.get('working_days_overdue')}个工作日（{event.get('notice_no') or ''}）"
    elif event_type == "task_deemed_approved":
        store.update_department(no, department, status="deemed_approved", decision="deemed_approval",
                                task_id=event.get("task_id"), decided_at=event.get("decided_at"))
        summary = f"{department} 超时默认同意"
    else:
        raise ValueError(f"unexpected review event {event_type}")
    store.add_history(no, "review", event_type, summary, event_id=event.get("event_id"),
                      detail=event, at=event.get("occurred_at"))
    settle(store, case, changes)


def on_fees_event(store, event_type, event):
    case = _locked_case(store, event)
    no = case["application_no"]
    bill = dict(case["bill"] or {})
    bill.update({k: event[k] for k in ("bill_no", "total_fen") if k in event})
    if event.get("lines"):
        bill["lines"] = event["lines"]
    new_status = {"bill_issued": "unpaid", "bill_paid": "paid", "bill_refunded": "refunded",
                  "bill_waived": "waived"}[event_type]
    status = case["bill_status"]
    if BILL_RANK[new_status] > BILL_RANK[status]:
        status = new_status
    bill["status"] = status
    at = event.get("paid_at") or event.get("refunded_at") or event.get("waived_at") or event.get("occurred_at")
    amount = int(event.get("total_fen") or 0)
    if event_type == "bill_paid":
        bill.update(paid_at=at, receipt_no=event.get("receipt_no"), method=event.get("method"))
        store.record_fee_movement(event["event_id"], no, "paid", amount, at)
        summary = f"缴费{amount / 100:.2f}元（{event.get('receipt_no') or ''}）"
    elif event_type == "bill_refunded":
        bill.update(refunded_at=at, refund_reason=event.get("reason"))
        store.record_fee_movement(event["event_id"], no, "refunded", amount, at)
        summary = f"退费{amount / 100:.2f}元：{event.get('reason') or ''}"
    elif event_type == "bill_waived":
        bill.update(waived_at=at, waive_reason=event.get("reason"))
        store.record_fee_movement(event["event_id"], no, "waived", amount, at)
        summary = f"减免收费：{event.get('reason') or ''}"
    else:
        summary = f"开具缴费通知{amount / 100:.2f}元（{event.get('bill_no')}）"
    store.add_history(no, "fees", event_type, summary, event_id=event.get("event_id"), detail=event,
                      at=event.get("occurred_at"))
    settle(store, case, {"bill": bill, "bill_status": status})


def on_message_status(store, event):
    if not event.get("application_no"):
        return
    _locked_case(store, event)
    store.record_notice({
        "message_id": str(event["message_id"]), "application_no": event["application_no"],
        "source_event_id": event.get("source_event_id"), "template": event.get("template"),
        "status": event.get("status"), "segments": event.get("segments"),
        "phone_masked": event.get("phone_masked"), "text": event.get("text"),
        "at": event.get("at") or event.get("occurred_at"),
    })


# ------------------------------------------------------------------ reading

def record(store, application_no):
    """get(): the whole record from intake's own tables."""
    case = store.case(application_no) if isinstance(application_no, str) else None
    if case is None:
        raise NotFound(f"no application {application_no}")
    applicant = case["applicant"]
    catalog = store.catalog(case["catalog_version"])
    # Resident ID numbers leave intake masked, form fields included: replies
    # end up in callers' logs.
    form = {name: domain.mask_id(value) if catalog.fields.get(name, {}).get("type") == "id_number" and value
            else value for name, value in case["form"].items()}
    return {
        "application_no": case["application_no"],
        "item_code": case["item_code"], "item_name": case["item_name"], "kind": case["kind"],
        "catalog_version": catalog.label,
        "channel": case["channel"], "status": case["status"],
        "status_label": domain.STATUS_LABELS.get(case["status"], case["status"]),
        "applicant": {"kind": applicant["kind"], "name": applicant["name"], "phone": applicant["phone"],
                      "id_number_masked": domain.mask_id(applicant.get("id_number")),
                      "uscc": applicant.get("uscc")},
        "form": form, "materials": case["materials"],
        "missing_materials": case["missing_materials"], "materials_stage": case["materials_stage"],
        "received_at": case["received_at"], "received_on": case["received_on"],
        "accepted_on": case["accepted_on"], "clock_started_on": case["clock_started_on"],
        "due_date": case["due_date"], "provisional": case["provisional"], "overdue": case["overdue"],
        "visits": case["visits"],
        "departments": [{k: d[k] for k in ("department", "name", "lead", "limit_days", "timeout_policy",
                                           "due_date", "provisional", "task_id", "status", "decision", "opinion",
                                           "legal_basis", "reviewer", "acting_for", "warning_level", "decided_at")}
                        for d in store.departments(application_no)],
        "fees": case["fee_lines"], "free_registration": case["free_registration"],
        "bill": case["bill"], "review_outcome": case["review_outcome"], "rejections": case["rejections"],
        "outcome": case["outcome"], "concluded_on": case["concluded_on"],
        "receipt": case["receipt"],
        "notices": store.notices(application_no),
        "history": store.history(application_no),
        "rating": ({"score": case["rating"], "comment": case["rating_comment"], "rated_at": case["rated_at"]}
                   if case["rating"] else None),
    }


def track(store, application_no, phone):
    """What the applicant may see; a wrong phone looks exactly like no case."""
    data = load(schemas.TrackQuery, {"application_no": application_no, "phone": phone})
    case = store.case(data["application_no"])
    if (case is None or not domain.is_mainland_mobile(data["phone"])
            or domain.normal_mobile(data["phone"]) != case["applicant_phone"]):
        raise NotFound("no application with that number and phone")
    applicant = case["applicant"]
    amount_due = 0
    if case["status"] == "awaiting_payment":
        amount_due = (case["bill"] or {}).get("total_fen") or sum(f["amount_fen"] for f in case["fee_lines"])
    awaiting = []
    if case["materials_stage"]:
        awaiting = [{"code": x["code"], "name": x["name"]} for x in case["missing_materials"]]
    return {
        "application_no": case["application_no"], "item_name": case["item_name"], "status": case["status"],
        "status_label": domain.STATUS_LABELS.get(case["status"], case["status"]),
        "applicant": {"name_masked": domain.mask_name(applicant["name"]),
                      "id_masked": domain.mask_id(applicant.get("id_number") or applicant.get("uscc"))},
        "received_on": case["received_on"], "accepted_on": case["accepted_on"],
        "due_date": case["due_date"], "provisional": case["provisional"],
        "awaiting_materials": awaiting,
        "amount_due_fen": amount_due,
        "bill_no": (case["bill"] or {}).get("bill_no"),
        "departments": [{"name": d["name"], "status": d["status"]} for d in store.departments(case["application_no"])],
        "concluded_on": case["concluded_on"], "outcome": case["outcome"],
        "rated": case["rating"] is not None,
    }


def rate(store, application_no, score, comment):
    data = load(schemas.Rating, {"application_no": application_no, "score": score, "comment": comment})
    case = store.case(data["application_no"], lock=True)
    if case is None:
        raise NotFound(f"no application {data['application_no']}")
    if case["status"] not in domain.CONCLUDED:
        raise Conflict("a case is rated once it is concluded")
    if case["rating"] is not None:
        raise Conflict("this case has already been rated")
    rated_at = datetime.datetime.now(ZoneInfo(config.time_zone()))
    store.update_case(case["application_no"], rating=data["score"], rating_comment=data["comment"],
                      rated_at=rated_at)
    store.add_history(case["application_no"], "intake", "rated", f"服务评价{data['score']}分")
    store.emit("application_rated", {"application_no": case["application_no"], "score": data["score"],
                                     "rated_at": rated_at})
    m.RATINGS.labels(str(data["score"])).inc()
    return {"application_no": case["application_no"], "score": data["score"], "comment": data["comment"],
            "rated_at": rated_at}


def report(store, start, end, on=None):
    period = load(schemas.Period, {"start": start, "end": end})
    figures = store.period_figures(period["start"], period["end"], on or today())
    result = {
        "start": period["start"], "end": period["end"],
        "received": figures["received"], "accepted": figures["accepted"],
        "instant_ratio": domain.ratio(figures["instant"], figures["accepted"]),
        "completed": figures["completed"],
        "completion_rate": domain.ratio(figures["completed"], figures["accepted"]),
        "overdue": figures["overdue"],
        "ratings": figures["ratings"],
        "satisfaction_rate": domain.ratio(figures["satisfied"], figures["ratings"]),
        "fees_fen": figures["fees_fen"],
    }
    result["headline"] = domain.headline(period["start"], period["end"], result)
    return result


def due_date(store, calendar, item_code, accepted_on):
    data = load(schemas.DueDateQuery, {"item_code": item_code, "accepted_on": accepted_on})
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
