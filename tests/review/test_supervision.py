"""Electronic supervision (电子监察) against the real broker and database:
warnings, supervision notices, deemed approval, several supervisors at once,
the timer, and provisional due dates after a year's schedule is loaded.

Cases here are dated June 2025 and supervised "as of" then, so the cases of
other tests (dated around today) are never warned by these passes."""
import datetime
from zoneinfo import ZoneInfo

import psycopg
from nameko.testing.services import entrypoint_hook

from onewindow import workdays
from services.review import metrics
from services.review.service import ReviewService
from tests.review.conftest import department, refresh_gauges
from tests.review.test_review import decide


def two_departments(uid, due_date="2025-06-13", fire_policy="escalate"):
    market = department(f"SCJG{uid}", "市场监督管理局", due_date=due_date, primary=f"sc-a-{uid}",
                        backup=f"sc-b-{uid}", lead=True, fields={"business_scope": "预包装食品销售"})
    fire = department(f"XF{uid}", "消防救援大队", due_date=due_date, primary=f"xf-a-{uid}",
                      backup=f"xf-b-{uid}", policy=fire_policy, fields={"floor": 2})
    return market, fire


def june_case(case, *departments):
    return case(*departments, accepted_on="2025-05-29", due_date="2025-06-13")


def test_yellow_then_red_each_once_with_a_supervision_notice(review, rpc, case, uid, outbox):
    market, fire = two_departments(uid)
    no, tasks = june_case(case, market, fire)

    rpc.review.supervise("2025-06-11")  # Wednesday: two working days left
    assert outbox(no, "task_warning") == []
    summary = rpc.review.supervise("2025-06-12T10:00:00+08:00")  # Thursday: one left
    assert set(summary["warnings"]) >= {tasks[market["code"]]["task_id"], tasks[fire["code"]]["task_id"]}
    warnings = outbox(no, "task_warning")
    assert len(warnings) == 2
    warning = [w for w in warnings if w["department"] == fire["code"]][0]
    assert warning["level"] == "yellow" and warning["working_days_left"] == 1
    assert warning["assignee"] == f"xf-a-{uid}" and warning["assignee_phone"] == "13800138001"
    assert warning["due_date"] == "2025-06-13" and warning["department_name"] == "消防救援大队"
    rpc.review.supervise("2025-06-12")  # the next tick: nothing new
    assert len(outbox(no, "task_warning")) == 2
    refresh_gauges(review)
    assert metrics.TASKS_YELLOW.labels(fire["code"])._value.get() == 1

    rpc.review.supervise("2025-06-17")  # Tuesday after the Friday due date
    rpc.review.supervise("2025-06-18")
    overdue = outbox(no, "task_overdue")
    assert len(overdue) == 2
    notice = [o for o in overdue if o["department"] == fire["code"]][0]
    assert notice["level"] == "red" and notice["working_days_overdue"] == 2
    assert notice["notice_no"].startswith("DB-2025-") and notice["supervisor_phone"] == "13900139000"
    assert len({o["notice_no"] for o in overdue}) == 2

    view = rpc.review.application(no)
    assert {t["warning_level"] for t in view["tasks"]} == {"red"}
    assert {t["status"] for t in view["tasks"]} == {"open"}  # escalation does not decide
    assert len(view["supervision_notices"]) == 4
    supervised = [h for h in view["history"] if h["action"] == "supervised"]
    assert len(supervised) == 2 and supervised[0]["before"]["warning_level"] == "yellow"
    assert supervised[0]["after"]["warning_level"] == "red" and supervised[0]["actor"] == "system"
    refresh_gauges(review)
    assert metrics.TASKS_RED.labels(fire["code"])._value.get() == 1
    assert metrics.TASKS_OVERDUE.labels(fire["code"])._value.get() == 1
    assert metrics.TASKS_OPEN.labels(fire["code"])._value.get() == 1
    assert metrics.SUPERVISION_NOTICES.labels(fire["code"], "red")._value.get() == 1

    # once decided, the task leaves the gauges
    decide(rpc, tasks[fire["code"]], f"xf-a-{uid}")
    refresh_gauges(review)
    assert metrics.TASKS_OPEN.labels(fire["code"])._value.get() == 0
    assert metrics.TASKS_RED.labels(fire["code"])._value.get() == 0


def test_a_task_first_seen_overdue_gets_red_only(review, rpc, case, uid, outbox):
    no, _ = june_case(case, *two_departments(uid))
    rpc.review.supervise("2025-06-20")
    assert outbox(no, "task_warning") == []
    assert len(outbox(no, "task_overdue")) == 2


def test_deemed_approval_decides_an_overdue_task_and_the_case_proceeds(review, rpc, case, uid, outbox):
    market, fire = two_departments(uid, fire_policy="deemed_approval")
    no, tasks = june_case(case, market, fire)
    decide(rpc, tasks[market["code"]], f"sc-a-{uid}")
    summary = rpc.review.supervise("2025-06-16")
    assert tasks[fire["code"]]["task_id"] in summary["deemed_approved"]
    assert summary["concluded"][no] == "approved"

    view = rpc.review.application(no)
    assert view["status"] == "approved"
    fire_task = [t for t in view["tasks"] if t["department"] == fire["code"]][0]
    assert fire_task["status"] == "deemed_approved" and fire_task["reviewer"] == "system"
    assert fire_task["decision"] == "deemed_approval"
    deemed = outbox(no, "task_deemed_approved")
    assert len(deemed) == 1 and deemed[0]["due_date"] == "2025-06-13"
    assert [d["decision"] for d in outbox(no, "task_decided")] == ["approve", "deemed_approval"]
    completed = outbox(no, "review_completed")
    assert len(completed) == 1 and completed[0]["outcome"] == "approved"
    audit = [h for h in view["history"] if h["action"] == "deemed_approved"][0]
    assert audit["actor"] == "system" and audit["before"]["status"] == "open"
    assert audit["after"]["status"] == "deemed_approved"
    assert metrics.DEEMED_APPROVALS.labels(fire["code"])._value.get() == 1
    # a later pass changes nothing
    rpc.review.supervise("2025-06-30")
    assert len(outbox(no, "task_deemed_approved")) == 1 and len(outbox(no, "review_completed")) == 1


def test_two_supervisors_at_once_issue_each_notice_once(run_services, rpc, case, uid, outbox):
    run_services(ReviewService, ReviewService)  # two instances on one queue
    cases = [june_case(case, *two_departments(f"{uid}{n}", fire_policy="deemed_approval" if n % 2 else "escalate"))
             for n in range(3)]
    calls = [rpc.review.supervise.call_async("2025-06-17") for _ in range(4)]
    for call in calls:
        call.result()
    notices = set()
    for no, tasks in cases:
        overdue = outbox(no, "task_overdue")
        assert sorted(o["task_id"] for o in overdue) == sorted(t["task_id"] for t in tasks.values())
        notices.update(o["notice_no"] for o in overdue)
        deemed = outbox(no, "task_deemed_approved")
        assert len(deemed) == (1 if any(t["timeout_policy"] == "deemed_approval" for t in tasks.values()) else 0)
        assert len(outbox(no, "task_decided")) == len(deemed)
    assert len(notices) == 6
    # and a rerun of both produces nothing new
    for call in [rpc.review.supervise.call_async("2025-06-18") for _ in range(2)]:
        call.result()
    assert sum(len(outbox(no, "task_overdue")) for no, _ in cases) == 6


def test_a_restarted_clock_is_supervised_afresh(review, rpc, case, uid, outbox, publish, wait):
    market, fire = two_departments(uid)
    no, tasks = june_case(case, market, fire)
    rpc.review.supervise("2025-06-16")
    assert len(outbox(no, "task_overdue")) == 2
    decide(rpc, tasks[market["code"]], f"sc-a-{uid}")
    decide(rpc, tasks[fire["code"]], f"xf-a-{uid}", "request_materials", opinion="需补充消防验收材料",
           missing_materials=["M-FIRE"])
    publish("materials_supplemented", {
        "application_no": no, "supplemented_on": "2025-06-20", "due_date": "2025-07-04", "provisional": False,
        "materials": ["M-FIRE"],
        "departments": [{"code": fire["code"], "due_date": "2025-07-04", "provisional": False}]})
    wait(lambda: rpc.review.application(no)["status"] == "in_review", message="the restart")
    restarted = [t for t in rpc.review.application(no)["tasks"] if t["department"] == fire["code"]][0]
    assert restarted["warning_level"] == "none" and restarted["clock"] == 2
    # the new clock is a new clock, but the red card of the first stays on the record
    kept = [n for n in rpc.review.application(no)["supervision_notices"] if n["task_id"] == restarted["task_id"]]
    assert [(n["clock"], n["level"]) for n in kept] == [(1, "red")] and kept[0]["notice_no"]
    assert [n["notice_no"] for n in rpc.review.notices() if n["task_id"] == restarted["task_id"]] == \
        [kept[0]["notice_no"]]

    rpc.review.supervise("2025-07-03")
    rpc.review.supervise("2025-07-07")
    warnings = outbox(no, "task_warning")
    assert [w["task_id"] for w in warnings] == [restarted["task_id"]]  # the old clock went straight to red
    overdue = [o for o in outbox(no, "task_overdue") if o["task_id"] == restarted["task_id"]]
    assert len(overdue) == 2 and overdue[0]["notice_no"] != overdue[1]["notice_no"]
    assert overdue[1]["due_date"] == "2025-07-04"
    # the approved department was not restarted
    assert len([o for o in outbox(no, "task_overdue") if o["department"] == market["code"]]) == 1


def test_supervise_rejects_a_bad_instant(review, rpc):
    from nameko.exceptions import RemoteError
    import pytest
    with pytest.raises(RemoteError) as err:
        rpc.review.supervise("the day after tomorrow")
    assert err.value.exc_type == "ValidationFailed" and "as_of" in err.value.value


def test_the_timer_supervises_as_of_now(review, case, uid, outbox):
    today = datetime.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    due = today - datetime.timedelta(days=7)
    market, fire = two_departments(uid, due_date=due.isoformat())
    no, _ = case(market, fire, accepted_on=(due - datetime.timedelta(days=20)).isoformat(),
                 due_date=due.isoformat())
    with entrypoint_hook(list(review.containers)[0], "supervise_on_timer") as tick:
        tick()
    overdue = outbox(no, "task_overdue")
    assert len(overdue) == 2 and {o["due_date"] for o in overdue} == {due.isoformat()}


def test_provisional_due_dates_are_recomputed_when_the_year_is_loaded(review, rpc, case, uid, review_database):
    # accepted Monday 28 December 2026, 5 working days: 2027 was not published,
    # so weekends only (29, 30, 31 Dec, 1 and 4 Jan) and provisional
    market = department(f"SCJG{uid}", "市场监督管理局", due_date="2027-01-04", provisional=True, limit_days=5,
                        primary=f"sc-a-{uid}", backup=f"sc-b-{uid}")
    no, tasks = case(market, accepted_on="2026-12-28", due_date="2027-01-04")
    assert tasks[market["code"]]["provisional"] is True
    url = review_database
    with psycopg.connect(url, autocommit=True) as conn:
        already = conn.execute("SELECT 1 FROM calendar_years WHERE year = 2027").fetchone()
    assert already is None
    try:
        with psycopg.connect(url) as conn:
            workdays.store_year(conn, 2027, workdays.parse_schedule("2027-01-01 holiday 元旦\n"), source="test")
        result = rpc.review.recompute_provisional()
        changed = [c for c in result["changed"] if c["task_id"] == tasks[market["code"]]["task_id"]]
        assert changed == [{"task_id": tasks[market["code"]]["task_id"], "application_no": no,
                            "department": market["code"], "before": "2027-01-04", "due_date": "2027-01-05",
                            "provisional": False}]
        task = rpc.review.application(no)["tasks"][0]
        assert task["due_date"] == "2027-01-05" and task["provisional"] is False
        assert rpc.review.application(no)["history"][-1]["action"] == "due_date_recomputed"
        # nothing left to change
        assert not [c for c in rpc.review.recompute_provisional()["changed"] if c["application_no"] == no]
    finally:
        with psycopg.connect(url) as conn:
            conn.execute("DELETE FROM workday_overrides WHERE day >= '2027-01-01' AND day < '2028-01-01'")
            conn.execute("DELETE FROM calendar_years WHERE year = 2027")
