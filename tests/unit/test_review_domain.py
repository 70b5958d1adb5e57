"""Review's pure rules: aggregation of parallel decisions, A/B posts, and the
supervision clock in working days."""
import datetime

import pytest

from onewindow.workdays import WorkdayCalendar
from services.review import domain

D = datetime.date
CAL = WorkdayCalendar()  # the State Council calendar as shipped


def task(department, status, **extra):
    return dict({"task_id": f"t-{department}", "department": department, "department_name": department.upper(),
                 "status": status}, **extra)


# ---------------------------------------------------------------- aggregation

def test_all_approved_is_approved():
    assert domain.aggregate([task("a", "approved"), task("b", "approved")]).kind == "approved"


def test_deemed_approval_counts_as_approval():
    assert domain.aggregate([task("a", "approved"), task("b", "deemed_approved")]).kind == "approved"


def test_waiting_while_any_task_is_open():
    assert domain.aggregate([task("a", "approved"), task("b", "open")]).kind == "pending"


def test_one_rejection_rejects_at_once_and_open_tasks_become_moot():
    outcome = domain.aggregate([
        task("a", "open"),
        task("b", "rejected", opinion="not zoned for food", legal_basis="Food Safety Law art. 35", reviewer="b1"),
        task("c", "approved"),
        task("d", "open"),
    ])
    assert outcome.kind == "rejected"
    assert sorted(outcome.moot) == ["t-a", "t-d"]
    assert outcome.rejections == [{"department": "b", "department_name": "B", "opinion": "not zoned for food",
                                   "legal_basis": "Food Safety Law art. 35", "reviewer": "b1", "acting_for": None}]


def test_every_rejecting_department_is_listed():
    outcome = domain.aggregate([
        task("b", "rejected", opinion="x", legal_basis="lx"), task("a", "rejected", opinion="y", legal_basis="ly"),
        task("c", "materials_requested", missing_materials=[{"code": "m", "name": "M"}]),
    ])
    assert outcome.kind == "rejected"
    assert [r["department"] for r in outcome.rejections] == ["a", "b"]
    assert outcome.moot == []


def test_materials_wait_until_no_task_is_open():
    asked = task("a", "materials_requested", missing_materials=[{"code": "m1", "name": "Lease"}])
    assert domain.aggregate([asked, task("b", "open")]).kind == "pending"
    assert domain.aggregate([asked, task("b", "approved")]).kind == "materials_requested"


def test_materials_are_the_union_with_the_departments_that_asked():
    outcome = domain.aggregate([
        task("fire", "materials_requested", missing_materials=[{"code": "m2", "name": "Floor plan"},
                                                               {"code": "m1", "name": "m1"}]),
        task("health", "materials_requested", missing_materials=[{"code": "m1", "name": "Lease"}]),
        task("market", "approved"),
    ])
    assert outcome.kind == "materials_requested"
    assert outcome.missing_materials == [
        {"code": "m1", "name": "Lease", "departments": ["fire", "health"]},
        {"code": "m2", "name": "Floor plan", "departments": ["fire"]},
    ]


def test_a_case_without_tasks_is_not_approved():
    assert domain.aggregate([]).kind == "pending"


def test_restart_spares_only_approvals():
    assert not domain.restartable(task("a", "approved"))
    assert not domain.restartable(task("a", "deemed_approved"))
    assert domain.restartable(task("a", "materials_requested"))
    assert domain.restartable(task("a", "open"))


# ---------------------------------------------------------------- decisions

CATALOG = [{"code": "m1", "name": "申请表"}, {"code": "m2", "name": "租赁合同"}]


def test_materials_accept_codes_and_objects_named_by_the_catalog():
    materials, problems = domain.normalize_materials(
        ["m1", {"code": "m2", "name": "Lease"}, "m1", {"code": " "}, 7], CATALOG)
    assert materials == [{"code": "m1", "name": "申请表"}, {"code": "m2", "name": "租赁合同"}]
    assert problems == {"3": ["code is required"], "4": ["must be a material code or {code, name}"]}


def test_materials_outside_the_catalog_are_refused_every_one():
    materials, problems = domain.normalize_materials(["M-HEALTH", "m1", {"code": "X"}], CATALOG)
    assert materials == [{"code": "m1", "name": "申请表"}]
    assert problems == {"0": ["M-HEALTH is not a material of this item"], "2": ["X is not a material of this item"]}


def test_without_a_catalog_a_code_needs_its_name():
    materials, problems = domain.normalize_materials(["M-HEALTH", {"code": "m2", "name": "租赁合同"}], [])
    assert materials == [{"code": "m2", "name": "租赁合同"}]
    assert problems == {"0": ["M-HEALTH needs its name: the item's catalog is not known"]}


def test_only_an_approval_issues_a_certificate():
    document = {"document_no": "JY1330", "document_name": "食品经营许可证"}
    assert domain.decision_problems("approve", None, None, None, document) == {}
    assert domain.decision_problems("reject", "no", "art. 1", None, document) == {
        "result": ["only an approval issues a licence or certificate (出证)"]}


def test_rejection_needs_opinion_and_legal_basis_both_reported():
    assert domain.decision_problems("reject", " ", None, None) == {
        "opinion": ["a rejection needs an opinion"], "legal_basis": ["a rejection needs a legal basis (否决报备)"]}
    assert domain.decision_problems("reject", "no", "art. 1", None) == {}


def test_request_for_materials_must_name_them():
    assert "missing_materials" in domain.decision_problems("request_materials", None, None, [])
    assert domain.decision_problems("request_materials", None, None, ["m1"]) == {}
    assert domain.decision_problems("approve", None, None, None) == {}


# ---------------------------------------------------------------- A/B posts

def reviewer(id, post, absent=False, phone=None):
    return {"id": id, "name": id.upper(), "phone": phone, "post": post, "absent": absent}


ROSTER = {"department": "d", "members": [reviewer("p1", "primary", phone="13800000001"),
                                         reviewer("b1", "backup", phone="13800000002")]}


def absent(roster, *ids):
    return dict(roster, members=[dict(m, absent=m["id"] in ids) for m in roster["members"]])


def test_primary_decides_while_present():
    assert domain.assignee(ROSTER) == "p1"
    assert domain.authorize(ROSTER, "p1") == (True, None)
    assert domain.authorize(ROSTER, "b1") == (False, None)
    assert domain.authorize(ROSTER, "stranger") == (False, None)


def test_backup_acts_for_the_absent_primary():
    away = absent(ROSTER, "p1")
    assert domain.assignee(away) == "b1"
    assert domain.authorize(away, "b1") == (True, "p1")
    assert domain.authorize(away, "p1") == (False, None)
    assert domain.phone_of(away, "b1") == "13800000002"


def test_no_roster_no_decision():
    assert domain.authorize(None, "p1") == (False, None)
    assert domain.assignment(None).reason == "no roster for the department"


POOL = {"department": "d", "members": [reviewer("p1", "primary"), reviewer("p2", "primary"),
                                       reviewer("b1", "backup"), reviewer("b2", "backup")]}


def test_any_present_reviewer_of_the_primary_pool_decides():
    now = domain.assignment(absent(POOL, "p1"))
    assert (now.assignee, now.may_decide, now.acting_for) == ("p2", ("p2",), None)
    assert now.reason == "primary post (A岗)"
    assert domain.authorize(absent(POOL, "p1"), "b1") == (False, None)


def test_the_backup_pool_acts_for_the_primary_post_while_all_primaries_are_away():
    now = domain.assignment(absent(POOL, "p1", "p2", "b1"))
    assert (now.assignee, now.may_decide, now.acting_for) == ("b2", ("b2",), "p1")
    assert "every primary reviewer is absent" in now.reason


def test_with_both_posts_absent_nobody_is_assignee_and_supervision_warns_at_once():
    away = absent(ROSTER, "p1", "b1")
    now = domain.assignment(away)
    assert (now.assignee, now.may_decide) == (None, ())
    assert now.reason == "nobody: every reviewer of both posts is absent"
    t = task("a", "open", due_date=D(2026, 3, 20), timeout_policy="escalate")
    # ten working days left: the clock alone would say nothing
    assert domain.supervision_actions(t, D(2026, 3, 6), CAL, set(), staffed=False)[0] == ["unstaffed"]
    assert domain.supervision_actions(t, D(2026, 3, 6), CAL, {"unstaffed"}, staffed=False)[0] == []


def test_set_roster_keeps_what_it_knows_of_someone_named_again():
    current = absent(POOL, "p2")
    merged = domain.merge_roster(current, "d", None, {"primary": ["p2", {"id": "p3", "name": "王"}], "backup": []})
    assert [(m["id"], m["post"], m["absent"], m["name"]) for m in merged["members"]] == [
        ("p2", "primary", True, "P2"), ("p3", "primary", False, "王")]


# ---------------------------------------------------------------- the clock

def test_a_future_instant_is_told_apart_from_today():
    now = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=8)))
    assert domain.supervision_moment("2026-11-23", now=now) == (D(2026, 11, 23), False)
    assert domain.supervision_moment("2026-11-24", now=now) == (D(2026, 11, 24), True)
    assert domain.supervision_moment("2026-11-23T09:59:00+08:00", now=now) == (D(2026, 11, 23), False)
    assert domain.supervision_moment("2026-11-23T10:01:00+08:00", now=now) == (D(2026, 11, 23), True)
    assert domain.supervision_moment(None, now=now) == (D(2026, 11, 23), False)
    with pytest.raises(ValueError):
        domain.supervision_moment("2101-01-01", now=now)


def day_of(as_of):
    return domain.supervision_moment(as_of)[0]


def test_as_of_accepts_dates_and_instants_in_the_centres_zone():
    assert day_of("2026-03-02") == D(2026, 3, 2)
    # 17:00 UTC on 1 March is 01:00 on 2 March in Beijing
    assert day_of("2026-03-01T17:00:00+00:00") == D(2026, 3, 2)
    assert day_of("2026-03-01T17:00:00Z") == D(2026, 3, 2)
    assert day_of("2026-03-01T23:30:00") == D(2026, 3, 1)
    with pytest.raises(ValueError):
        day_of("next tuesday")


def test_yellow_when_one_working_day_is_left():
    due = D(2026, 3, 6)  # a Friday
    assert domain.read_clock(due, D(2026, 3, 4), CAL).level == "none"   # Wed: 2 left
    reading = domain.read_clock(due, D(2026, 3, 5), CAL)                # Thu: 1 left
    assert (reading.level, reading.working_days_left) == ("yellow", 1)


def test_rest_days_do_not_count_towards_the_warning():
    due = D(2026, 3, 9)  # a Monday
    assert domain.read_clock(due, D(2026, 3, 5), CAL).level == "none"   # Thu: Fri + Mon left
    assert domain.read_clock(due, D(2026, 3, 6), CAL).working_days_left == 1  # Fri: only Mon left


def test_holidays_of_the_state_council_calendar_count():
    # Spring Festival 2026: 15-23 February off, 14 February (Sat) and 28 February (Sat) are workdays
    due = D(2026, 2, 24)
    reading = domain.read_clock(due, D(2026, 2, 14), CAL)
    assert (reading.level, reading.working_days_left) == ("yellow", 1)


def test_red_once_the_due_date_has_passed_counted_in_working_days():
    due = D(2026, 3, 6)  # Friday
    assert domain.read_clock(due, D(2026, 3, 6), CAL).level == "yellow"  # due today: still warned, not red
    weekend = domain.read_clock(due, D(2026, 3, 7), CAL)
    assert (weekend.level, weekend.working_days_overdue) == ("red", 0)
    tuesday = domain.read_clock(due, D(2026, 3, 10), CAL)
    assert (tuesday.level, tuesday.working_days_overdue) == ("red", 2)


def test_each_level_once_per_clock():
    t = task("a", "open", due_date=D(2026, 3, 6), timeout_policy="escalate")
    assert domain.supervision_actions(t, D(2026, 3, 5), CAL, set())[0] == ["yellow"]
    assert domain.supervision_actions(t, D(2026, 3, 5), CAL, {"yellow"})[0] == []
    assert domain.supervision_actions(t, D(2026, 3, 9), CAL, {"yellow"})[0] == ["red"]
    assert domain.supervision_actions(t, D(2026, 3, 10), CAL, {"yellow", "red"})[0] == []
    # a red case is never warned yellow afterwards (e.g. an as_of in the past)
    assert domain.supervision_actions(t, D(2026, 3, 5), CAL, {"red"})[0] == []


def test_deemed_approval_policy_approves_an_overdue_task():
    t = task("a", "open", due_date=D(2026, 3, 6), timeout_policy="deemed_approval")
    assert domain.supervision_actions(t, D(2026, 3, 9), CAL, set())[0] == ["red", "deem"]
    assert domain.supervision_actions(t, D(2026, 3, 9), CAL, {"red"})[0] == ["deem"]
    assert domain.supervision_actions(t, D(2026, 3, 5), CAL, set())[0] == ["yellow"]


def test_decided_tasks_are_not_supervised():
    t = task("a", "approved", due_date=D(2026, 3, 6), timeout_policy="deemed_approval")
    assert domain.supervision_actions(t, D(2026, 3, 30), CAL, set())[0] == []


def test_review_duration_in_working_days():
    assert domain.review_working_days(D(2026, 3, 2), D(2026, 3, 2), CAL) == 0
    assert domain.review_working_days(D(2026, 3, 6), D(2026, 3, 9), CAL) == 1  # Fri -> Mon
    assert domain.review_working_days(D(2026, 9, 30), D(2026, 10, 8), CAL) == 1  # across National Day


# ---------------------------------------------------------------- 延期

def open_task(status="open", **extra):
    return task("a", status, **dict({"started_on": D(2026, 9, 14), "due_date": D(2026, 9, 30), "extension": None},
                                    **extra))


def test_an_extension_across_the_national_day_week():
    # due Wednesday 30 September 2026; 1-7 October are off, Saturday 10 October is a make-up working day
    plan, refusal, problems = domain.extension(open_task(), 3, 20, D(2026, 9, 29), CAL)
    assert (refusal, problems) == (None, {})
    assert (plan.previous_due_date, plan.due_date, plan.provisional) == (D(2026, 9, 30), D(2026, 10, 10), False)
    # 20 working days from Monday 14 September (Sunday 20 September is a make-up
    # working day, Friday 25 September is Mid-Autumn) end on Friday 16 October
    assert plan.legal_due_date == D(2026, 10, 16)


def test_an_extension_never_reaches_past_the_legal_limit():
    _, refusal, problems = domain.extension(open_task(), 9, 20, D(2026, 9, 29), CAL)
    assert refusal is None
    assert problems == {"working_days": ["at most 8: the item's legal limit (20 working days) ends on 2026-10-16"]}
    plan, _, _ = domain.extension(open_task(), 8, 20, D(2026, 9, 29), CAL)
    assert plan.due_date == D(2026, 10, 16)
    _, refusal, _ = domain.extension(open_task(due_date=D(2026, 10, 16)), 1, 20, D(2026, 9, 29), CAL)
    assert refusal == "the due date 2026-10-16 is already the legal limit"


def test_an_extension_once_open_and_not_late():
    assert "already extended once" in domain.extension(
        open_task(extension={"due_date": "2026-10-10"}), 1, 20, D(2026, 9, 29), CAL)[1]
    assert domain.extension(open_task(status="approved"), 1, 20, D(2026, 9, 29), CAL)[1] == \
        "the task is approved, not open"
    assert "overdue since 2026-09-30" in domain.extension(open_task(), 1, 20, D(2026, 10, 8), CAL)[1]
    assert domain.extension(open_task(), 1, None, D(2026, 9, 29), CAL)[1] == \
        "the item's legal limit is not known for this case"


def test_an_extended_task_is_warned_again_before_its_new_date():
    extended = open_task(due_date=D(2026, 10, 10), extension={"due_date": "2026-10-10"})
    # yellow was issued for 30 September; the store reports levels of the current due date only
    assert domain.supervision_actions(extended, D(2026, 10, 9), CAL, set())[0] == ["yellow"]
    assert domain.supervision_actions(extended, D(2026, 9, 30), CAL, set())[0] == []


# ---------------------------------------------------------------- 督办 that escalates

def notice(level, level_as_of, answered_at=None):
    return {"level": level, "level_as_of": level_as_of, "answered_at": answered_at}


def test_escalation_to_level_three_over_a_spring_festival():
    # level 1 on Thursday 12 February 2026, two working days per level;
    # Saturday 14 February is a make-up working day, 15-23 February are off
    assert domain.next_notice_level(notice(1, D(2026, 2, 12)), D(2026, 2, 13), CAL, 2) is None
    assert domain.next_notice_level(notice(1, D(2026, 2, 12)), D(2026, 2, 14), CAL, 2) == 2
    assert domain.next_notice_level(notice(2, D(2026, 2, 14)), D(2026, 2, 23), CAL, 2) is None
    assert domain.next_notice_level(notice(2, D(2026, 2, 14)), D(2026, 2, 24), CAL, 2) is None
    assert domain.next_notice_level(notice(2, D(2026, 2, 14)), D(2026, 2, 25), CAL, 2) == 3
    assert domain.next_notice_level(notice(3, D(2026, 2, 25)), D(2026, 6, 1), CAL, 2) is None


def test_an_answered_notice_escalates_no_further():
    answered = notice(1, D(2026, 2, 12), answered_at=datetime.datetime(2026, 2, 13, 9, 0))
    assert domain.next_notice_level(answered, D(2026, 3, 30), CAL, 2) is None


# ---------------------------------------------------------------- the feed

def test_a_feed_cursor_is_a_position_and_bad_ones_are_refused():
    assert domain.parse_cursor(None) == 0
    assert domain.parse_cursor("7421") == 7421
    for bad in ("", "abc", "-1", "1.5", "1" * 19):
        with pytest.raises(ValueError):
            domain.parse_cursor(bad)


def test_a_dry_runs_timeline_runs_the_timer_through_the_spring_festival():
    t = task("a", "open", due_date=D(2026, 2, 11), timeout_policy="escalate")
    assert domain.timeline(t, set(), None, D(2026, 2, 9), D(2026, 3, 1), CAL, 2) == [
        (D(2026, 2, 10), "yellow"), (D(2026, 2, 12), "red"), (D(2026, 2, 14), "level2"), (D(2026, 2, 25), "level3")]
    assert domain.timeline(t, set(), None, D(2026, 2, 9), D(2026, 2, 24), CAL, 2)[-1] == (D(2026, 2, 14), "level2")
    deemed = dict(t, timeout_policy="deemed_approval")
    assert domain.timeline(deemed, set(), None, D(2026, 2, 9), D(2026, 3, 1), CAL, 2) == [
        (D(2026, 2, 10), "yellow"), (D(2026, 2, 12), "red"), (D(2026, 2, 12), "deem")]
    # a notice already at level 2: only level 3 is left to come
    assert domain.timeline(t, {"yellow", "red"}, notice(2, D(2026, 2, 14)), D(2026, 2, 20), D(2026, 3, 1), CAL,
                           2) == [(D(2026, 2, 25), "level3")]
