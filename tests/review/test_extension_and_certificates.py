"""延期, 出证, the veto register and materials checked against the item's
catalog, against the real broker and database.

Extension cases are due after today (an overdue task cannot be extended)."""
import datetime
import json
from zoneinfo import ZoneInfo

from services.review import domain
from tests.review.conftest import department
from tests.review.test_review import decide, ref, remote_error, three_departments


def upcoming(uid, limit_days=10):
    """A market task accepted today, due in `limit_days` working days, legal limit 20."""
    calendar = domain_calendar()
    today = datetime.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    due = calendar.add_workdays(today, limit_days).due_date
    market = department(f"SCJG{uid}", "市场监督管理局", due_date=due.isoformat(), primary=f"sc-a-{uid}",
                        backup=f"sc-b-{uid}", lead=True, limit_days=limit_days)
    return today, due, market


def domain_calendar():
    from onewindow.workdays import WorkdayCalendar
    return WorkdayCalendar()


def test_a_department_extends_its_task_once_within_the_legal_limit(review, rpc, case, uid, outbox):
    today, due, market = upcoming(uid)
    no, tasks = case(market, accepted_on=today.isoformat(), due_date=due.isoformat(), legal_limit_days=20)
    task = tasks[market["code"]]
    calendar = domain_calendar()
    legal = calendar.add_workdays(today, 20).due_date
    room = calendar.workdays_between(due, legal)

    # every problem at once; then past the legal limit, then another department
    err = remote_error(lambda: rpc.review.extend(task["task_id"], market["code"], 0, "", ""))
    assert err.exc_type == "ValidationFailed"
    assert set(json.loads(err.value)) == {"working_days", "reason", "client_ref"}
    err = remote_error(lambda: rpc.review.extend(task["task_id"], market["code"], room + 1, "现场核查", ref()))
    assert err.exc_type == "ValidationFailed"
    assert json.loads(err.value)["working_days"] == [
        f"at most {room}: the item's legal limit (20 working days) ends on {legal.isoformat()}"]
    assert remote_error(lambda: rpc.review.extend(task["task_id"], "OTHER", 1, "x", ref())).exc_type == "Forbidden"

    client_ref = ref()
    extended = rpc.review.extend(task["task_id"], market["code"], 3, "需现场核查经营场所", client_ref)["task"]
    new_due = calendar.add_workdays(due, 3).due_date
    assert extended["due_date"] == new_due.isoformat() and extended["extended"] is True
    assert extended["extension"]["previous_due_date"] == due.isoformat()
    assert extended["extension"]["legal_due_date"] == legal.isoformat()
    assert extended["extension"]["reason"] == "需现场核查经营场所"
    assert extended["extension"]["by"] == f"sbx-department-{market['code']}"   # the principal that extended it
    # the same call again returns the first result; a second extension is refused
    assert rpc.review.extend(task["task_id"], market["code"], 3, "需现场核查经营场所", client_ref)["task"] == extended
    assert remote_error(lambda: rpc.review.extend(task["task_id"], market["code"], 1, "再延", ref())).exc_type \
        == "Conflict"

    [event] = outbox(no, "task_extended")
    assert (event["due_date"], event["previous_due_date"], event["working_days"]) == (
        new_due.isoformat(), due.isoformat(), 3)
    assert event["applicant"]["phone"] == "13700137000" and event["department_name"] == "市场监督管理局"
    last = rpc.review.application(no)["history"][-1]
    assert (last["action"], last["actor"], last["by"]) == ("extended", market["code"], f"sbx-department-{market['code']}")

    # supervision counts from the new date: a dry run the day before the old
    # due date warns nothing, the day before the new one it warns
    before_old = calendar.add_workdays(today, 9).due_date
    assert task["task_id"] not in rpc.review.supervise(before_old.isoformat(), dry_run=True)["warnings"]
    day_before_new = calendar.add_workdays(due, 2).due_date
    assert task["task_id"] in rpc.review.supervise(day_before_new.isoformat(), dry_run=True)["warnings"]


def test_a_decided_task_is_not_extended(review, rpc, case, uid):
    today, due, market = upcoming(uid)
    no, tasks = case(market, accepted_on=today.isoformat(), due_date=due.isoformat())
    decide(rpc, tasks[market["code"]], f"sc-a-{uid}")
    err = remote_error(lambda: rpc.review.extend(tasks[market["code"]]["task_id"], market["code"], 1, "x", ref()))
    assert err.exc_type == "Conflict" and "approved, not open" in err.value


def test_an_approval_issues_its_certificate_and_the_outcome_names_it(review, rpc, case, uid, outbox):
    market, fire, health = three_departments(uid)
    no, tasks = case(market, fire)
    licence = {"document_no": f"JY133010{uid}", "document_name": "食品经营许可证"}
    err = remote_error(lambda: decide(rpc, tasks[fire["code"]], f"xf-a-{uid}", "reject", opinion="不符合",
                                      legal_basis="消防法第十五条", result=licence))
    assert json.loads(err.value) == {"result": ["only an approval issues a licence or certificate (出证)"]}
    err = remote_error(lambda: decide(rpc, tasks[market["code"]], f"sc-a-{uid}", result={"document_no": ""}))
    assert set(json.loads(err.value)) == {"result.document_no", "result.document_name"}

    decided = decide(rpc, tasks[market["code"]], f"sc-a-{uid}", result=licence)
    assert decided["task"]["result"] == licence
    decide(rpc, tasks[fire["code"]], f"xf-a-{uid}")
    [completed] = outbox(no, "review_completed")
    assert completed["documents"] == [dict(licence, department=market["code"], department_name="市场监督管理局")]
    assert outbox(no, "task_decided")[0]["result"] == licence


def test_requested_materials_must_be_in_the_items_catalog_and_carry_its_names(review, rpc, case, uid, outbox):
    market, fire, health = three_departments(uid)
    no, tasks = case(market, fire)
    err = remote_error(lambda: decide(rpc, tasks[fire["code"]], f"xf-a-{uid}", "request_materials", opinion="补",
                                      missing_materials=["M-FIRE", "M-NOPE", 7, {"code": "M-ALSO-NOT"}]))
    assert err.exc_type == "ValidationFailed"
    assert json.loads(err.value) == {
        "missing_materials.1": ["M-NOPE is not a material of this item"],
        "missing_materials.2": ["must be a material code or {code, name}"],
        "missing_materials.3": ["M-ALSO-NOT is not a material of this item"]}
    decide(rpc, tasks[fire["code"]], f"xf-a-{uid}", "request_materials", opinion="补",
           missing_materials=["M-FIRE", {"code": "M-LEASE", "name": "whatever the department typed"}])
    decide(rpc, tasks[market["code"]], f"sc-a-{uid}")
    [requested] = outbox(no, "materials_requested")
    assert [(m["code"], m["name"]) for m in requested["missing_materials"]] == [
        ("M-FIRE", "消防安全承诺书"), ("M-LEASE", "租赁合同")]


def test_the_veto_register_lists_every_rejection_of_the_period(review, rpc, case, uid):
    market, fire, health = three_departments(uid)
    no, tasks = case(market, fire, health)
    decide(rpc, tasks[fire["code"]], f"xf-a-{uid}", "reject", opinion="疏散通道不足", legal_basis="消防法第十五条")
    today = datetime.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    register = [v for v in rpc.review.vetoes(today, today) if v["application_no"] == no]
    assert len(register) == 1
    veto = register[0]
    assert {k: veto[k] for k in ("department", "department_name", "reviewer", "opinion", "legal_basis",
                                 "item_name")} == {
        "department": fire["code"], "department_name": "消防救援大队", "reviewer": f"xf-a-{uid}",
        "opinion": "疏散通道不足", "legal_basis": "消防法第十五条", "item_name": "食品经营许可"}
    assert veto["filed_at"].startswith(today)  # an instant in the centre's zone
    assert [v for v in rpc.review.vetoes("2020-01-01", "2020-12-31") if v["application_no"] == no] == []
    err = remote_error(lambda: rpc.review.vetoes("2026-12-01", "2026-11-01"))
    assert json.loads(err.value) == {"end": ["before start"]}
