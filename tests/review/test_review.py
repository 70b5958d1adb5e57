"""Review against the real broker and database: tasks from accepted cases,
decisions, the outcome of parallel review, 补正 restarts and A/B posts."""
import json
import uuid

import pytest
from nameko.exceptions import RemoteError

from onewindow import metrics as platform_metrics

from services.review import metrics
from tests.review.conftest import department


def ref():
    return f"ref-{uuid.uuid4().hex}"


def three_departments(uid, **overrides):
    market = department(f"SCJG{uid}", "市场监督管理局", due_date="2026-11-16", primary=f"sc-a-{uid}",
                        backup=f"sc-b-{uid}", lead=True,
                        fields={"business_scope": "热食类食品制售", "shop_area_m2": 80})
    fire = department(f"XF{uid}", "消防救援大队", due_date="2026-11-13", primary=f"xf-a-{uid}",
                      backup=f"xf-b-{uid}", limit_days=9, fields={"shop_area_m2": 80, "floor": 1})
    health = department(f"WJ{uid}", "卫生健康委员会", due_date="2026-11-16", primary=f"wj-a-{uid}",
                        backup=f"wj-b-{uid}", fields={"staff_with_health_cert": 6})
    for code, extra in overrides.items():
        {"market": market, "fire": fire, "health": health}[code].update(extra)
    return market, fire, health


def remote_error(call):
    with pytest.raises(RemoteError) as err:
        call()
    return err.value


def decide(rpc, task, reviewer, decision="approve", **kwargs):
    kwargs.setdefault("opinion", "同意" if decision == "approve" else "")
    kwargs.setdefault("client_ref", ref())
    return rpc.review.decide(task["task_id"], task["department"], reviewer, decision, kwargs.pop("opinion"),
                             kwargs.pop("client_ref"), **kwargs)


# ------------------------------------------------------------------ tasks from events

def test_an_accepted_case_opens_one_task_per_department_with_only_its_fields(review, rpc, case, uid, publish,
                                                                             query, wait):
    market, fire, health = three_departments(uid)
    no, tasks = case(market, fire, health)
    assert set(tasks) == {market["code"], fire["code"], health["code"]}
    view = rpc.review.application(no)
    assert view["status"] == "in_review"
    for task in view["tasks"]:
        for key in ("task_id", "department", "status", "assignee", "decision", "opinion", "reviewer",
                    "acting_for", "due_date", "warning_level"):
            assert key in task
        assert task["status"] == "open" and task["warning_level"] == "none" and task["decision"] is None
    assert tasks[fire["code"]]["due_date"] == "2026-11-13"
    assert tasks[market["code"]]["assignee"] == f"sc-a-{uid}"
    assert [h["action"] for h in view["history"]] == ["task_created"] * 3

    listed = rpc.review.tasks(fire["code"])
    assert [t["application_no"] for t in listed] == [no]
    assert listed[0]["fields"] == {"shop_area_m2": 80, "floor": 1}
    assert listed[0]["item_name"] == "食品经营许可"
    assert rpc.review.tasks(fire["code"], "approved") == []

    handled = platform_metrics.ENTRYPOINT_SECONDS.labels("review", "on_application_accepted", "event")
    before = sum(bucket.get() for bucket in handled._buckets)
    # an instant item has no departments: nothing to review
    instant, _ = case()
    # the same acceptance again (a new event id) opens nothing more
    publish("application_accepted", {"application_no": no, "accepted_on": "2026-11-02", "due_date": "2026-11-16",
                                     "departments": [market]})
    wait(lambda: sum(bucket.get() for bucket in handled._buckets) >= before + 2,
         message="the instant item's acceptance and the second one of the case to be handled")
    assert len(rpc.review.application(no)["tasks"]) == 3
    assert remote_error(lambda: rpc.review.application(instant)).exc_type == "NotFound"
    # the handler is repeatable: neither acceptance of the case, nor the
    # instant item's, kept an inbox row
    assert query("SELECT 1 FROM inbox WHERE payload->>'application_no' IN (%s, %s)", (no, instant)) == []


def test_tasks_and_application_validate_their_arguments(review, rpc):
    err = remote_error(lambda: rpc.review.tasks("SCJG", "finished"))
    assert err.exc_type == "ValidationFailed" and "status" in json.loads(err.value)
    assert remote_error(lambda: rpc.review.application("")).exc_type == "ValidationFailed"
    assert remote_error(lambda: rpc.review.application("2026ZWnosuchcase")).exc_type == "NotFound"


# ------------------------------------------------------------------ decisions

def test_all_departments_approving_approves_the_case_once(review, rpc, case, uid, outbox):
    market, fire, health = three_departments(uid)
    no, tasks = case(market, fire, health)
    first = decide(rpc, tasks[market["code"]], f"sc-a-{uid}")
    assert first["task"]["status"] == "approved" and first["application_status"] == "in_review"
    decide(rpc, tasks[fire["code"]], f"xf-a-{uid}")
    last = decide(rpc, tasks[health["code"]], f"wj-a-{uid}")
    assert last["application_status"] == "approved"

    view = rpc.review.application(no)
    assert view["status"] == "approved"
    assert {t["status"] for t in view["tasks"]} == {"approved"}
    assert {t["reviewer"] for t in view["tasks"]} == {f"sc-a-{uid}", f"xf-a-{uid}", f"wj-a-{uid}"}
    completed = outbox(no, "review_completed")
    assert len(completed) == 1 and completed[0]["outcome"] == "approved" and completed[0]["rejections"] == []
    decided = outbox(no, "task_decided")
    assert len(decided) == 3 and {d["decision"] for d in decided} == {"approve"}
    assert metrics.DECISIONS.labels(fire["code"], "approve")._value.get() == 1
    assert metrics.DURATION.labels(fire["code"])._sum.get() >= 0


def test_a_decision_lists_every_problem_at_once(review, rpc, case, uid):
    market, fire, health = three_departments(uid)
    _, tasks = case(market, fire, health)
    task = tasks[market["code"]]
    err = remote_error(lambda: rpc.review.decide(task["task_id"], task["department"], f"sc-a-{uid}", "reject",
                                                 "", ref()))
    assert err.exc_type == "ValidationFailed"
    assert set(json.loads(err.value)) == {"opinion", "legal_basis"}
    err = remote_error(lambda: rpc.review.decide("", task["department"], "", "defer", None, ""))
    assert set(json.loads(err.value)) == {"task_id", "reviewer", "decision", "client_ref"}
    err = remote_error(lambda: rpc.review.decide(task["task_id"], task["department"], f"sc-a-{uid}",
                                                 "request_materials", "补正", ref()))
    assert set(json.loads(err.value)) == {"missing_materials"}
    err = remote_error(lambda: rpc.review.decide(task["task_id"], task["department"], f"sc-a-{uid}",
                                                 "request_materials", "补正", ref(),
                                                 missing_materials=[{"name": "no code"}, 42]))
    assert set(json.loads(err.value)) == {"missing_materials.0", "missing_materials.1"}
    assert rpc.review.application(task["application_no"])["tasks"][0]["status"] == "open"


def test_a_rejection_concludes_at_once_with_every_veto_filed(review, rpc, case, uid, outbox):
    market, fire, health = three_departments(uid)
    no, tasks = case(market, fire, health)
    decide(rpc, tasks[health["code"]], f"wj-a-{uid}")
    result = decide(rpc, tasks[fire["code"]], f"xf-a-{uid}", "reject", opinion="疏散通道宽度不足",
                    legal_basis="《消防法》第十五条")
    assert result["application_status"] == "rejected"

    view = rpc.review.application(no)
    by_department = {t["department"]: t for t in view["tasks"]}
    assert by_department[fire["code"]]["status"] == "rejected"
    assert by_department[fire["code"]]["opinion"] == "疏散通道宽度不足"
    assert by_department[market["code"]]["status"] == "moot"
    assert by_department[health["code"]]["status"] == "approved"
    completed = outbox(no, "review_completed")
    assert len(completed) == 1
    assert completed[0]["outcome"] == "rejected"
    assert completed[0]["rejections"] == [{
        "department": fire["code"], "department_name": "消防救援大队", "opinion": "疏散通道宽度不足",
        "legal_basis": "《消防法》第十五条", "reviewer": f"xf-a-{uid}", "acting_for": None}]
    vetoes = outbox(no, "veto_filed")
    assert len(vetoes) == 1 and vetoes[0]["legal_basis"] == "《消防法》第十五条"
    assert metrics.VETOES.labels(fire["code"])._value.get() == 1
    # the moot task can no longer be decided
    err = remote_error(lambda: decide(rpc, tasks[market["code"]], f"sc-a-{uid}"))
    assert err.exc_type == "Conflict"
    mooted = [h for h in view["history"] if h["action"] == "mooted"]
    assert mooted[0]["before"]["status"] == "open" and mooted[0]["after"]["status"] == "moot"


def test_departments_decide_only_their_own_tasks_and_reviewers_only_on_the_roster(review, rpc, case, uid):
    market, fire, health = three_departments(uid)
    _, tasks = case(market, fire, health)
    task = tasks[market["code"]]
    err = remote_error(lambda: rpc.review.decide(task["task_id"], fire["code"], f"xf-a-{uid}", "approve", "ok",
                                                 ref()))
    assert err.exc_type == "Forbidden"
    assert remote_error(lambda: decide(rpc, task, "somebody-else")).exc_type == "Forbidden"
    # the backup may not act while the primary is present
    assert remote_error(lambda: decide(rpc, task, f"sc-b-{uid}")).exc_type == "Forbidden"
    err = remote_error(lambda: rpc.review.decide(str(uuid.uuid4()), market["code"], f"sc-a-{uid}", "approve", "",
                                                 ref()))
    assert err.exc_type == "NotFound"
    assert rpc.review.application(task["application_no"])["status"] == "in_review"


def test_the_same_client_ref_returns_the_first_result_and_another_decision_conflicts(review, rpc, case, uid,
                                                                                     outbox):
    market, fire, health = three_departments(uid)
    no, tasks = case(market, fire, health)
    key = ref()
    first = decide(rpc, tasks[market["code"]], f"sc-a-{uid}", client_ref=key)
    again = decide(rpc, tasks[market["code"]], f"sc-a-{uid}", client_ref=key)
    assert again == first
    # same key with another decision: Conflict, nothing changes
    assert remote_error(lambda: decide(rpc, tasks[market["code"]], f"sc-a-{uid}", "reject", opinion="x",
                                       legal_basis="y", client_ref=key)).exc_type == "Conflict"
    err = remote_error(lambda: decide(rpc, tasks[market["code"]], f"sc-a-{uid}", "reject", opinion="不符合",
                                      legal_basis="《食品安全法》第三十五条"))
    assert err.exc_type == "Conflict"
    # the key of one task cannot decide another
    assert remote_error(lambda: decide(rpc, tasks[fire["code"]], f"xf-a-{uid}", client_ref=key)).exc_type == \
        "Conflict"
    assert len(outbox(no, "task_decided")) == 1
    assert rpc.review.application(no)["status"] == "in_review"


def test_two_departments_deciding_at_the_same_instant_both_count(review, rpc, case, uid, outbox):
    market, fire, health = three_departments(uid)
    no, tasks = case(market, fire, health)
    decide(rpc, tasks[health["code"]], f"wj-a-{uid}")
    calls = [
        rpc.review.decide.call_async(tasks[market["code"]]["task_id"], market["code"], f"sc-a-{uid}", "approve",
                                     "同意", ref()),
        rpc.review.decide.call_async(tasks[fire["code"]]["task_id"], fire["code"], f"xf-a-{uid}", "approve",
                                     "同意", ref()),
    ]
    results = [c.result() for c in calls]
    assert sorted(r["application_status"] for r in results) == ["approved", "in_review"]
    assert rpc.review.application(no)["status"] == "approved"
    assert len(outbox(no, "review_completed")) == 1

    # and the same key sent twice at the same instant decides once
    market2, fire2, health2 = three_departments(uid + "X")
    no2, tasks2 = case(market2, fire2, health2)
    key = ref()
    twins = [rpc.review.decide.call_async(tasks2[fire2["code"]]["task_id"], fire2["code"], f"xf-a-{uid}X",
                                          "approve", "同意", key) for _ in range(2)]
    assert twins[0].result() == twins[1].result()
    assert len(outbox(no2, "task_decided")) == 1


# ------------------------------------------------------------------ 补正: stop the clock, restart

def test_requests_for_materials_are_united_in_one_notice_and_supplement_restarts_the_clock(
        review, rpc, case, uid, outbox, publish, wait):
    market, fire, health = three_departments(uid)
    no, tasks = case(market, fire, health)
    decide(rpc, tasks[market["code"]], f"sc-a-{uid}")
    first = decide(rpc, tasks[fire["code"]], f"xf-a-{uid}", "request_materials", opinion="请补充",
                   missing_materials=[{"code": "M-FLOOR", "name": "平面布局图"}, "M-LEASE"])
    assert first["application_status"] == "in_review"  # the health department is still reviewing
    assert outbox(no, "materials_requested") == []
    last = decide(rpc, tasks[health["code"]], f"wj-a-{uid}", "request_materials", opinion="请补充",
                  missing_materials=["M-HEALTH", {"code": "M-LEASE", "name": "租赁合同"}])
    assert last["application_status"] == "materials_requested"

    notices = outbox(no, "materials_requested")
    assert len(notices) == 1 and notices[0]["stage"] == "review"
    assert notices[0]["missing_materials"] == [
        {"code": "M-FLOOR", "name": "平面布局图", "departments": [fire["code"]]},
        {"code": "M-HEALTH", "name": "从业人员健康证明", "departments": [health["code"]]},
        {"code": "M-LEASE", "name": "租赁合同", "departments": sorted([fire["code"], health["code"]])},
    ]
    view = rpc.review.application(no)
    assert view["status"] == "materials_requested"
    # the clock is stopped: supervision does not touch a case waiting for the applicant
    rpc.review.supervise("2026-11-20")
    assert {t["warning_level"] for t in rpc.review.application(no)["tasks"]} == {"none"}

    publish("materials_supplemented", {
        "application_no": no, "supplemented_on": "2026-11-20", "due_date": "2026-12-04", "provisional": False,
        "materials": ["M-FLOOR", "M-LEASE", "M-HEALTH"],
        "departments": [{"code": fire["code"], "due_date": "2026-12-02", "provisional": False},
                        {"code": health["code"], "due_date": "2026-12-04", "provisional": False}],
    })
    view = wait(lambda: (v := rpc.review.application(no))["status"] == "in_review" and v,
                message="the tasks to restart")
    by_department = {t["department"]: t for t in view["tasks"]}
    assert by_department[market["code"]]["status"] == "approved"
    restarted = by_department[fire["code"]]
    assert restarted["status"] == "open" and restarted["due_date"] == "2026-12-02"
    assert restarted["started_on"] == "2026-11-20" and restarted["clock"] == 2
    assert restarted["decision"] is None and restarted["warning_level"] == "none"
    assert by_department[health["code"]]["due_date"] == "2026-12-04"
    assert [h for h in view["history"] if h["action"] == "restarted"][0]["before"]["status"] == \
        "materials_requested"
    # the restarted tasks are decided afresh; the case can now conclude
    decide(rpc, restarted, f"xf-a-{uid}")
    assert decide(rpc, by_department[health["code"]], f"wj-a-{uid}")["application_status"] == "approved"
    assert len(outbox(no, "review_completed")) == 1


# ------------------------------------------------------------------ A/B posts

def test_the_backup_acts_for_an_absent_primary_and_the_record_says_so(review, rpc, case, uid, outbox):
    market, fire, health = three_departments(uid)
    no, tasks = case(market, fire, health)
    code = market["code"]
    assert rpc.review.roster(code)["primary"]["id"] == f"sc-a-{uid}"  # taken from the first case

    roster = rpc.review.set_roster(code, {"id": f"zhang-{uid}", "name": "张伟", "phone": "13811112222"},
                                   f"li-{uid}", backup_phone="13833334444")
    assert roster["primary"] == {"id": f"zhang-{uid}", "name": "张伟", "phone": "13811112222", "absent": False}
    assert roster["backup"]["phone"] == "13833334444" and roster["assignee"] == f"zhang-{uid}"
    assert roster["updated_by"] == "sbx-supervisor"     # the calling principal changed it
    # the old roster is gone
    assert remote_error(lambda: decide(rpc, tasks[code], f"sc-a-{uid}")).exc_type == "Forbidden"
    assert remote_error(lambda: decide(rpc, tasks[code], f"li-{uid}")).exc_type == "Forbidden"

    away = rpc.review.set_absent(code, f"zhang-{uid}", True)
    assert away["assignee"] == f"li-{uid}" and away["primary"]["absent"] is True
    assert away["updated_by"] == f"sbx-department-{code}"
    assert rpc.review.tasks(code)[0]["assignee"] == f"li-{uid}"
    assert remote_error(lambda: decide(rpc, tasks[code], f"zhang-{uid}")).exc_type == "Forbidden"
    result = decide(rpc, tasks[code], f"li-{uid}")
    assert result["task"]["reviewer"] == f"li-{uid}" and result["task"]["acting_for"] == f"zhang-{uid}"
    decided = outbox(no, "task_decided")[0]
    assert decided["reviewer"] == f"li-{uid}" and decided["acting_for"] == f"zhang-{uid}"
    entry = [h for h in rpc.review.application(no)["history"] if h["action"] == "decided"][0]
    assert entry["actor"] == f"li-{uid}" and entry["acting_for"] == f"zhang-{uid}"
    assert entry["by"] == f"sbx-department-{code}"      # the principal behind the reviewer's decision
    assert {h["by"] for h in rpc.review.application(no)["history"] if h["action"] == "task_created"} == {None}
    assert entry["before"]["status"] == "open" and entry["after"]["status"] == "approved"

    back = rpc.review.set_absent(code, f"zhang-{uid}", False)
    assert back["assignee"] == f"zhang-{uid}"
    # re-setting the same primary by id keeps what is known of them
    assert rpc.review.set_roster(code, f"zhang-{uid}", f"li-{uid}")["primary"]["phone"] == "13811112222"


def test_roster_calls_validate_and_name_unknown_departments(review, rpc, uid):
    err = remote_error(lambda: rpc.review.set_roster("", {"name": "no id"}, 5))
    assert err.exc_type == "ValidationFailed"
    assert set(json.loads(err.value)) == {"department", "primary.id", "backup"}
    err = remote_error(lambda: rpc.review.set_roster(f"D{uid}", "same", "same"))
    assert set(json.loads(err.value)) == {"backup"}
    assert remote_error(lambda: rpc.review.set_absent(f"NONE{uid}", "x", True)).exc_type == "NotFound"
    rpc.review.set_roster(f"D{uid}", "p", "b")
    err = remote_error(lambda: rpc.review.set_absent(f"D{uid}", "stranger", True))
    assert err.exc_type == "ValidationFailed" and "reviewer" in json.loads(err.value)
    assert remote_error(lambda: rpc.review.set_absent(f"D{uid}", "p", "yes")).exc_type == "ValidationFailed"


def test_a_withdrawn_case_leaves_review_its_open_tasks_moot(review, rpc, case, uid, publish, wait, outbox):
    market, fire, health = three_departments(uid)
    no, tasks = case(market, fire)
    decide(rpc, tasks[market["code"]], f"sc-a-{uid}")
    publish("application_withdrawn", {"application_no": no, "reason": "申请人撤回", "withdrawn_on": "2026-11-23",
                                      "previous_status": "in_review", "moot_departments": [fire["code"]]})
    view = wait(lambda: (v := rpc.review.application(no))["status"] == "withdrawn" and v,
                message="the withdrawal")
    assert {t["department"]: t["status"] for t in view["tasks"]} == {market["code"]: "approved",
                                                                     fire["code"]: "moot"}
    assert remote_error(lambda: decide(rpc, tasks[fire["code"]], f"xf-a-{uid}")).exc_type == "Conflict"
    assert outbox(no, "review_completed") == []
