"""督办 that escalates, answers, dry runs and unstaffed departments against
the real broker and database.

Cases here fall due on Wednesday 11 February 2026, before the Spring
Festival (15-23 February off, Saturday 14 February a make-up working day),
and are supervised "as of" those days; notices rise a level after two
unanswered working days (the default of OW_ESCALATION_WORKING_DAYS)."""
import datetime
import json

from services.review.service import ReviewService
from tests.review.conftest import department
from tests.review.test_review import ref, remote_error


def festive_case(case, uid):
    market = department(f"SCJG{uid}", "市场监督管理局", due_date="2026-02-11", primary=f"sc-a-{uid}",
                        backup=f"sc-b-{uid}", lead=True)
    fire = department(f"XF{uid}", "消防救援大队", due_date="2026-02-11", primary=f"xf-a-{uid}",
                      backup=f"xf-b-{uid}")
    no, tasks = case(market, fire, accepted_on="2026-01-28", due_date="2026-02-11")
    return no, tasks[market["code"]], tasks[fire["code"]]


def test_an_unanswered_notice_rises_to_level_three_over_the_spring_festival(run_services, rpc, case, uid,
                                                                            outbox):
    review = run_services(ReviewService, ReviewService)  # two replicas: every level still once
    rpc.review.set_supervision_contact(2, "中心主任", "13900000202")
    rpc.review.set_supervision_contact(3, "监察室", "13900000303")
    assert [(c["level"], c["phone"]) for c in rpc.review.supervision_contacts()] == [
        (2, "13900000202"), (3, "13900000303")]
    no, market, fire = festive_case(case, uid)

    def supervise_twice(day):
        for call in [rpc.review.supervise.call_async(day) for _ in range(2)]:
            call.result()

    supervise_twice("2026-02-12")  # overdue: level 1 for both departments
    notices = {n["task_id"]: n for n in rpc.review.notices("open") if n["application_no"] == no}
    assert {n["level"] for n in notices.values()} == {1} and len(notices) == 2
    assert notices[market["task_id"]]["levels"][0]["recipient"]["phone"] == "13900139000"

    # the fire department answers its notice: it escalates no further
    answer_ref = ref()
    answered = rpc.review.answer_notice(notices[fire["task_id"]]["notice_no"], "已安排现场核查，2月13日办结",
                                        answer_ref)
    assert answered["status"] == "answered" and answered["answer"] == "已安排现场核查，2月13日办结"
    assert rpc.review.answer_notice(answered["notice_no"], "已安排现场核查，2月13日办结", answer_ref) == answered
    assert remote_error(lambda: rpc.review.answer_notice(answered["notice_no"], "again", ref())).exc_type == \
        "Conflict"

    supervise_twice("2026-02-13")  # one working day since level 1: nothing yet
    assert outbox(no, "notice_escalated") == []
    # a dry run tells what the 14th (a make-up Saturday) would do, and does nothing
    foreseen = rpc.review.supervise("2026-02-14", dry_run=True)
    assert {"notice_no": notices[market["task_id"]]["notice_no"], "level": 2} in foreseen["escalated"]
    assert foreseen["dry_run"] is True and outbox(no, "notice_escalated") == []

    supervise_twice("2026-02-14")
    [second] = outbox(no, "notice_escalated")
    assert (second["level"], second["level_name"], second["recipient_phone"], second["task_id"]) == (
        2, "director", "13900000202", market["task_id"])
    supervise_twice("2026-02-23")  # the festival: no working day has passed
    supervise_twice("2026-02-24")  # one
    assert len(outbox(no, "notice_escalated")) == 1
    supervise_twice("2026-02-25")  # two: the supervision office
    escalated = outbox(no, "notice_escalated")
    assert [(e["level"], e["recipient_phone"]) for e in escalated] == [(2, "13900000202"), (3, "13900000303")]
    supervise_twice("2026-03-31")  # level 3 is the last
    assert len(outbox(no, "notice_escalated")) == 2

    from services.review import metrics
    from tests.review.conftest import refresh_gauges
    refresh_gauges(review[0])
    assert metrics.NOTICES_UNANSWERED.labels(market["department"], "3")._value.get() == 1
    assert metrics.NOTICES_UNANSWERED.labels(fire["department"], "1")._value.get() == 0
    by_task = {n["task_id"]: n for n in rpc.review.notices() if n["application_no"] == no}
    assert by_task[market["task_id"]]["level"] == 3 and by_task[market["task_id"]]["status"] == "open"
    assert [lv["as_of"] for lv in by_task[market["task_id"]]["levels"]] == ["2026-02-12", "2026-02-14",
                                                                            "2026-02-25"]
    assert by_task[fire["task_id"]]["level"] == 1 and by_task[fire["task_id"]]["status"] == "answered"
    assert [n["notice_no"] for n in rpc.review.notices("answered") if n["application_no"] == no] == [
        answered["notice_no"]]
    assert len(outbox(no, "task_overdue")) == 2
    history = [h["action"] for h in rpc.review.application(no)["history"]]
    assert history.count("escalated") == 2 and history.count("notice_answered") == 1


def test_notice_calls_validate_and_name_what_is_missing(review, rpc):
    err = remote_error(lambda: rpc.review.notices("pending"))
    assert err.exc_type == "ValidationFailed" and "status" in json.loads(err.value)
    assert remote_error(lambda: rpc.review.answer_notice("DB-1999-000000", "x", ref())).exc_type == "NotFound"
    err = remote_error(lambda: rpc.review.set_supervision_contact(1, "", "123"))
    assert set(json.loads(err.value)) == {"level", "name", "phone"}


def test_a_future_instant_is_only_a_dry_run(review, rpc, case, uid, outbox):
    later = (datetime.date.today() + datetime.timedelta(days=400)).isoformat()
    market = department(f"SCJG{uid}", "市场监督管理局", due_date="2026-12-31", primary=f"sc-a-{uid}",
                        backup=f"sc-b-{uid}", policy="deemed_approval")
    no, tasks = case(market, accepted_on="2026-11-20", due_date="2026-12-31")
    err = remote_error(lambda: rpc.review.supervise(later))
    assert json.loads(err.value) == {"as_of": ["in the future: allowed only with dry_run=True, which changes nothing"]}
    foreseen = rpc.review.supervise(later, dry_run=True)
    task_id = tasks[market["code"]]["task_id"]
    assert {"task_id": task_id, "notice_no": None} in foreseen["overdue"]
    assert task_id in foreseen["deemed_approved"]
    # and what the timer would do by then, day by day, if nobody acted
    assert [e["action"] for e in foreseen["timeline"] if e["task_id"] == task_id] == ["yellow", "red", "deem"]
    assert [e["on"] for e in foreseen["timeline"] if e["task_id"] == task_id][1] == "2027-01-01"
    view = rpc.review.application(no)
    assert view["status"] == "in_review" and view["tasks"][0]["warning_level"] == "none"
    # nothing but the acceptance's own task_opened: the dry run emitted nothing
    assert view["supervision_notices"] == [] and [e["type"] for e in outbox(no)] == ["task_opened"]


def test_with_both_posts_absent_nobody_is_assignee_and_the_department_hears_at_once(review, rpc, case, uid,
                                                                                    outbox):
    market = department(f"SCJG{uid}", "市场监督管理局", due_date="2026-12-31", primary=f"sc-a-{uid}",
                        backup=f"sc-b-{uid}")
    no, tasks = case(market, accepted_on="2026-11-20", due_date="2026-12-31")
    rpc.review.set_absent(market["code"], f"sc-a-{uid}", True)
    assert outbox(no, "task_unstaffed") == []  # the backup acts
    roster = rpc.review.set_absent(market["code"], f"sc-b-{uid}", True)
    assert roster["assignee"] is None
    assert roster["assignment"]["reason"] == "nobody: every reviewer of both posts is absent"
    [warned] = outbox(no, "task_unstaffed")
    assert warned["supervisor_phone"] == "13900139000" and warned["task_id"] == tasks[market["code"]]["task_id"]
    task = rpc.review.application(no)["tasks"][0]
    assert task["assignee"] is None and task["assignment"]["may_decide"] == []
    # a supervision pass does not warn twice
    rpc.review.supervise()
    assert len(outbox(no, "task_unstaffed")) == 1
