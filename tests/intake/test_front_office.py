"""The front office of the second release against the real broker and
database: 不予受理, 撤回, 首问, 投诉 and its supervision, 办件公示, 选优评差,
and a replayed month whose report is pinned figure by figure."""
import datetime
import json
import uuid

import pytest
from nameko.exceptions import RemoteError

from onewindow.workdays import WorkdayCalendar
from onewindow.validation import load
from services.intake import cases, schemas
from services.intake import store as intake_store
from tests.intake.conftest import application

REFUSAL_REASONS = ["申请事项不属于本中心受理范围", "应向市公安局出入境管理支队提出申请"]


def remote_error(call, *args, **kwargs):
    with pytest.raises(RemoteError) as err:
        call(*args, **kwargs)
    return err.value


def test_refusal_is_numbered_with_reasons_and_legal_basis_and_announced(intake, rpc, outbox):
    app = dict(application("ENT-EST"), item_code="EXIT-PERMIT", item_name="出入境证件办理")
    refused = rpc.intake.refuse(app, REFUSAL_REASONS, "《行政许可法》第三十二条第一款第（二）项")
    no = refused["application_no"]
    assert refused["status"] == "refused" and refused["refusal_no"].startswith("ZWBYSL")
    assert refused["notice"]["reasons"] == REFUSAL_REASONS and refused["notice"]["applicant"] == "示例****公司"
    assert rpc.intake.refuse(app, REFUSAL_REASONS, "《行政许可法》第三十二条第一款第（二）项") == refused
    # the same client_ref with another request: Conflict, never the first result
    assert remote_error(rpc.intake.refuse, app, REFUSAL_REASONS, "《行政许可法》第三十二条").exc_type == "Conflict"
    record = rpc.intake.get(no)
    assert (record["status"], record["status_label"], record["accepted_on"]) == ("refused", "不予受理", None)
    assert record["refusal"] == {"refusal_no": refused["refusal_no"], "reasons": REFUSAL_REASONS,
                                 "legal_basis": "《行政许可法》第三十二条第一款第（二）项"}
    assert record["window"] == "sbx-window"     # the calling window principal
    [event] = outbox(no, "application_refused")
    assert event["reasons"] == REFUSAL_REASONS and event["legal_basis"].startswith("《行政许可法》")
    assert event["refusal_no"] == refused["refusal_no"] and "uscc" not in event["applicant"]
    problem = remote_error(rpc.intake.refuse, dict(app, client_ref="x", item_code=None, item_name=None,
                                                   applicant={"name": "", "phone": "123"}), [], "")
    assert problem.exc_type == "ValidationFailed"
    for field in ("reasons", "legal_basis", "application.item_name", "application.applicant.name",
                  "application.applicant.phone"):
        assert field in problem.value, field
    assert remote_error(rpc.intake.supplement, no, ["APP-FORM"], f"s-{no}").exc_type == "Conflict"


def test_withdrawal_moots_open_tasks_once_and_outlives_late_events(intake, rpc, outbox, publish, wait):
    no = rpc.intake.submit(application("ENT-EST"))["application_no"]
    publish("review", "task_decided", {"application_no": no, "task_id": "t-mr", "department": "MR",
                                       "decision": "approve", "task_status": "approved", "reviewer": "mr-li",
                                       "decided_at": "2026-03-02T10:00:00+08:00"})
    wait(lambda: rpc.intake.get(no)["departments"][0]["status"] == "approved", message="MR approved")
    withdrawn = rpc.intake.withdraw(no, "申请人决定暂缓设立", f"w-{no}")
    assert withdrawn["status"] == "withdrawn"
    assert withdrawn["moot_departments"] == ["QS", "NTAX", "LTAX", "STAT"]
    assert rpc.intake.withdraw(no, "申请人决定暂缓设立", f"w-{no}") == withdrawn
    assert remote_error(rpc.intake.withdraw, no, "再次撤回", f"w2-{no}").exc_type == "Conflict"
    [event] = outbox(no, "application_withdrawn")
    assert event["previous_status"] == "in_review" and event["moot_departments"] == withdrawn["moot_departments"]
    # review's outcome racing the withdrawal, then fees cancelling the bill it issued
    publish("review", "review_completed", {"application_no": no, "outcome": "approved", "rejections": []})
    publish("fees", "bill_cancelled", {"application_no": no, "bill_no": f"B-{no}", "total_fen": 44800,
                                       "status": "cancelled"})
    record = wait(lambda: (lambda r: r if (r["bill"] or {}).get("status") == "cancelled" else None)(
        rpc.intake.get(no)), message="bill cancelled")
    assert record["status"] == "withdrawn" and record["concluded_on"] is None
    assert record["withdrawal"]["reason"] == "申请人决定暂缓设立"
    assert outbox(no, "application_completed") == []
    assert {d["department"]: d["status"] for d in record["departments"]} == {
        "MR": "approved", "QS": "moot", "NTAX": "moot", "LTAX": "moot", "STAT": "moot"}
    concluded = rpc.intake.submit(application("ENT-NAME"))["application_no"]
    assert remote_error(rpc.intake.withdraw, concluded, "晚了", f"w-{concluded}").exc_type == "Conflict"
    assert remote_error(rpc.intake.withdraw, "ZW1999000001", "无", "w-none").exc_type == "NotFound"


def test_inquiries_and_complaints_are_numbered_listed_answered_and_supervised(intake, rpc, outbox, platform_env,
                                                                              intake_db, wait):
    first = rpc.intake.register_inquiry("window", "企业开办", "窗口07-王芳", item_code="ENT-EST",
                                        phone="13912345678", referred_to="市场监管局窗口", client_ref="inq-1")
    assert first["inquiry_no"].startswith("ZWSW") and first["phone_masked"] == "139****5678"
    assert rpc.intake.register_inquiry("window", "企业开办", "窗口07-王芳", item_code="ENT-EST",
                                       phone="13912345678", referred_to="市场监管局窗口", client_ref="inq-1") == first
    assert first["window"] == "sbx-window"      # the calling window principal answered first
    assert remote_error(rpc.intake.register_inquiry, "window", "企业开办", "窗口07-王芳",
                        client_ref="inq-1").exc_type == "Conflict"
    problem = remote_error(rpc.intake.register_inquiry, "fax", "", "", item_code="NOPE", phone="1")
    assert set(json.loads(problem.value)) >= {"channel", "topic", "answered_by", "phone"}

    no = rpc.intake.submit(application("ENT-EST"))["application_no"]
    complaint = rpc.intake.complain("窗口人员态度生硬，多次让我跑腿", "13912345678", application_no=no,
                                    client_ref=f"c-{no}")
    assert complaint["department"] == "MR" and complaint["status"] == "open"   # the case's lead department
    assert complaint["complaint_no"].startswith("ZWTS") and complaint["phone_masked"] == "139****5678"
    calendar = WorkdayCalendar()
    assert complaint["due_date"] == calendar.add_workdays(datetime.date.fromisoformat(complaint["received_on"]),
                                                          5).due_date.isoformat()
    [received] = [e for e in outbox_of(intake_db, "complaint_received") if e["complaint_no"] == complaint["complaint_no"]]
    assert received["phone"] == "13912345678" and received["supervisor_phone"]
    problem = remote_error(rpc.intake.complain, "", "1", application_no="ZW1999000001", department="XX")
    assert set(json.loads(problem.value)) >= {"text", "phone"}
    problem = remote_error(rpc.intake.complain, "投诉", "13912345678", application_no="ZW1999000001",
                           department="XX")
    assert set(json.loads(problem.value)) == {"application_no", "department"}

    # an older complaint, received on a replayed day, left unanswered past its due date
    old = replay(platform_env, lambda store: cases.complain(
        store, calendar, load(schemas.Complaint, {"text": "补正材料一直没有回音", "phone": "13800001111",
                                                  "department": "QS"}), on=datetime.date(2026, 3, 2)))
    result = rpc.intake.supervise_complaints("2026-03-06")          # one working day left
    assert old["complaint_no"] in result["warnings"] and old["complaint_no"] not in result["overdue"]
    result = rpc.intake.supervise_complaints("2026-03-12")          # past 2026-03-09
    assert old["complaint_no"] in result["overdue"]
    assert old["complaint_no"] not in rpc.intake.supervise_complaints("2026-03-13")["overdue"]   # once
    [notice] = [e for e in outbox_of(intake_db, "complaint_overdue") if e["complaint_no"] == old["complaint_no"]]
    assert notice["working_days_overdue"] == 3 and notice["notice_no"] == old["complaint_no"] + "-DB"
    assert remote_error(rpc.intake.supervise_complaints, "2099-01-01").exc_type == "ValidationFailed"

    listed = {c["complaint_no"]: c for c in rpc.intake.complaints("open")}
    assert listed[old["complaint_no"]]["warning_level"] == "red"
    answered = rpc.intake.answer_complaint(old["complaint_no"], "已督促质监局当日答复并致歉", "ans-1")
    assert answered["status"] == "answered" and answered["on_time"] is False
    assert rpc.intake.answer_complaint(old["complaint_no"], "已督促质监局当日答复并致歉", "ans-1") == answered
    assert remote_error(rpc.intake.answer_complaint, old["complaint_no"], "再答", "ans-2").exc_type == "Conflict"
    assert old["complaint_no"] in {c["complaint_no"] for c in rpc.intake.complaints("answered")}
    assert remote_error(rpc.intake.complaints, "lost").exc_type == "ValidationFailed"


def outbox_of(intake_db, event_type):
    return [r["payload"] for r in intake_db("SELECT payload FROM outbox WHERE event_type = %s ORDER BY id",
                                            (event_type,))]


def replay(platform_env, step, url=None):
    """Run a use case on intake's real database in one committed unit of work."""
    from onewindow.db import UnitOfWork, connect_pool
    pool = connect_pool(url or platform_env["databases"]["intake"], min_size=1, max_size=1)
    try:
        with UnitOfWork(pool, "intake") as unit:
            return step(intake_store.IntakeStore(unit))
    finally:
        pool.close()


# ---------------------------------------------------------------- a replayed month

MARCH = datetime.date(2025, 3, 1)


def day(n):
    return datetime.date(2025, 3, n)


def at(d, hour=10):
    return f"{d.isoformat()}T{hour:02d}:00:00+08:00"


def event(**payload):
    return {"event_id": str(uuid.uuid4()), **payload}


def test_a_replayed_month_reports_exact_figures(platform_env, extra_database):
    """March 2025 at a window, replayed day by day through the use cases on
    a database of its own; the report is pinned figure by figure."""
    url = extra_database("intake")
    replay(platform_env, lambda store: intake_store.bootstrap(store.unit), url)
    calendar = WorkdayCalendar()

    def run(step):
        return replay(platform_env, step, url)

    def submit(code, on, window=None):
        return run(lambda s: cases.submit(s, calendar, application(code), on=on, window=window))

    def completed(no, outcome, on):
        run(lambda s: cases.on_review_event(s, "review_completed", event(
            application_no=no, outcome=outcome, rejections=[], completed_at=at(on), occurred_at=at(on))))

    def paid(no, total, on):
        run(lambda s: cases.on_fees_event(s, "bill_paid", event(
            application_no=no, bill_no=f"B-{no}", total_fen=total, paid_at=at(on), occurred_at=at(on))))

    def decided(no, reviewer, on):
        run(lambda s: cases.on_review_event(s, "task_decided", event(
            application_no=no, task_id=f"t-{no}", department="MR", decision="approve", task_status="approved",
            reviewer=reviewer, decided_at=at(on), occurred_at=at(on))))

    # A: decided in time, paid two weeks later: the wait for payment is the applicant's
    a = submit("ENT-EST", day(3), window="W01")
    decided(a["application_no"], "mr-li", day(4))
    completed(a["application_no"], "approved", day(5))
    paid(a["application_no"], 44800, day(20))
    # B: an instant item with a fee, never paid: never the centre's lateness
    b = submit("PSB-SEAL", day(3), window="W01")
    # C: decided after its due date: late
    c = submit("ENT-EST", day(3), window="W02")
    decided(c["application_no"], "mr-wang", day(28))
    completed(c["application_no"], "approved", day(31))
    paid(c["application_no"], 44800, day(31))
    # D: still in review a month after its due date: late
    d = submit("MR-CHANGE", day(4), window="W02")
    # E: sent back for materials by review: the clock is the applicant's
    e = submit("MR-CHANGE", day(4), window="W02")
    run(lambda s: cases.on_review_event(s, "materials_requested", event(
        application_no=e["application_no"], stage="review", occurred_at=at(day(5)),
        missing_materials=[{"code": "ENT-LICENCE", "name": "营业执照"}])))
    # F: an instant item without fee, done on the spot
    f = submit("ENT-NAME", day(6), window="W01")
    # G: refused; H: withdrawn before its due date
    run(lambda s: cases.refuse(s, load(schemas.Refusal, {
        "application": dict(application("ENT-EST"), item_name="出入境证件", item_code=None),
        "reasons": REFUSAL_REASONS, "legal_basis": "《行政许可法》第三十二条"}), on=day(5)))
    h = submit("MR-CHANGE", day(6), window="W01")
    run(lambda s: cases.withdraw(s, load(schemas.Withdrawal, {
        "application_no": h["application_no"], "reason": "申请人撤回", "client_ref": "w-h"}), on=day(7)))
    for window, topic in (("W01", "企业开办"), ("W01", "企业开办"), ("W02", "税务登记")):
        run(lambda s: cases.register_inquiry(s, load(schemas.Inquiry, {
            "channel": "window", "topic": topic, "answered_by": "首问人"}), window=window, on=day(10)))
    run(lambda s: cases.complain(s, calendar, load(schemas.Complaint, {
        "text": "等候时间过长", "phone": "13800001111", "application_no": d["application_no"]}), on=day(12)))

    assert (a["status"], b["status"], f["status"]) == ("accepted", "awaiting_payment", "completed")
    period = load(schemas.Period, {"start": MARCH, "end": day(31)})
    report = run(lambda s: cases.report(s, period, on=datetime.date(2025, 4, 30)))
    assert {k: report[k] for k in ("received", "accepted", "instant_ratio", "completed", "completion_rate",
                                   "overdue", "refused", "withdrawn", "inquiries", "complaints", "fees_fen",
                                   "ratings", "appointments", "home_visits", "tickets",
                                   "average_wait_minutes")} == {
        "received": 8, "accepted": 7, "instant_ratio": 0.2857, "completed": 3, "completion_rate": 0.4286,
        "overdue": 2, "refused": 1, "withdrawn": 1, "inquiries": 3, "complaints": 1, "fees_fen": 89600,
        "ratings": 0, "appointments": 0, "home_visits": 0, "tickets": 0, "average_wait_minutes": 0}
    assert report["inquiries_by_window"] == {"W01": 2, "W02": 1}
    assert report["inquiries_by_topic"] == {"企业开办": 2, "税务登记": 1}
    assert report["headline"] == (
        "2025年3月1日至2025年3月31日，中心共接件8件，受理7件，其中即办件占28.6%；不予受理1件，申请人撤回1件；"
        "办结3件，办结率42.9%；超期2件；首问登记咨询3人次，受理投诉1件；收费896.00元；暂无群众评价。")
    with_hall = run(lambda s: cases.report(s, period, on=datetime.date(2025, 4, 30), hall=lambda *_: {
        "appointments": 12, "home_visits": 3, "tickets": 140, "average_wait_minutes": 9.5}))
    assert (with_hall["appointments"], with_hall["average_wait_minutes"]) == (12, 9.5)
    assert "预约办理12件，上门服务3次；" in with_hall["headline"]

    published = run(lambda s: cases.publicity(s, period, on=datetime.date(2025, 4, 30)))
    assert [(p["application_no"], p["concluded_on"], p["on_time"]) for p in published] == [
        (f["application_no"], day(6), True), (a["application_no"], day(20), True),
        (c["application_no"], day(31), False)]
    assert {p["applicant"] for p in published} == {"示例****公司"}
    windows = run(lambda s: cases.ranking(s, calendar, dict(period, by="window"), on=datetime.date(2025, 4, 30)))
    assert [(x["key"], x["cases"], x["on_time_rate"], x["complaints"], x["rank"]) for x in windows["lines"]] == [
        ("W01", 2, 1.0, 0, 1), ("W02", 1, 0.0, 1, 2)]
    assert windows["lines"][0]["average_working_days"] == 1.0   # A 2 working days, F 0
    departments = run(lambda s: cases.ranking(s, calendar, dict(period, by="department"), on=day(31)))
    assert [(x["key"], x["cases"], x["on_time_rate"], x["average_working_days"], x["complaints"])
            for x in departments["lines"]] == [("MR", 2, 0.5, 10.0, 1)]      # 1 and 19 working days; D's complaint
    reviewers = run(lambda s: cases.ranking(s, calendar, dict(period, by="reviewer"), on=day(31)))
    assert [(x["key"], x["on_time_rate"], x["average_working_days"], x["rank"]) for x in reviewers["lines"]] == [
        ("mr-li", 1.0, 1.0, 1), ("mr-wang", 0.0, 19.0, 2)]


def test_publicity_and_ranking_over_rpc_mask_and_validate(intake, rpc):
    no = rpc.intake.submit(application("ENT-NAME"))["application_no"]   # concluded on the spot
    today = cases.today().isoformat()
    [entry] = [p for p in rpc.intake.publicity(today, today) if p["application_no"] == no]
    assert entry["applicant"] == "示例****公司" and entry["on_time"] is True and entry["outcome"] == "approved"
    assert "phone" not in entry and "applicant_phone" not in entry
    lines = {x["key"]: x for x in rpc.intake.ranking(today, today, "window")["lines"]}
    assert lines["sbx-window"]["cases"] >= 1    # the calling window principal took it
    problem = remote_error(rpc.intake.ranking, today, "2000-01-01", "team")
    assert set(json.loads(problem.value)) == {"by", "end"}
    assert remote_error(rpc.intake.publicity, "x", today).exc_type == "ValidationFailed"
