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

def test_materials_accept_codes_and_objects():
    materials, problems = domain.normalize_materials(["m1", {"code": "m2", "name": "Lease"}, "m1", {"code": " "}, 7])
    assert materials == [{"code": "m1", "name": "m1"}, {"code": "m2", "name": "Lease"}]
    assert problems == {"3": ["code is required"], "4": ["must be a material code or {code, name}"]}


def test_rejection_needs_opinion_and_legal_basis_both_reported():
    assert domain.decision_problems("reject", " ", None, None) == {
        "opinion": ["a rejection needs an opinion"], "legal_basis": ["a rejection needs a legal basis (否决报备)"]}
    assert domain.decision_problems("reject", "no", "art. 1", None) == {}


def test_request_for_materials_must_name_them():
    assert "missing_materials" in domain.decision_problems("request_materials", None, None, [])
    assert domain.decision_problems("request_materials", None, None, ["m1"]) == {}
    assert domain.decision_problems("approve", None, None, None) == {}


# ---------------------------------------------------------------- A/B posts

ROSTER = {"primary_id": "p1", "primary_absent": False, "backup_id": "b1", "primary_phone": "13800000001",
          "backup_phone": "13800000002"}


def test_primary_decides_while_present():
    assert domain.assignee(ROSTER) == "p1"
    assert domain.authorize(ROSTER, "p1") == (True, None)
    assert domain.authorize(ROSTER, "b1") == (False, None)
    assert domain.authorize(ROSTER, "stranger") == (False, None)


def test_backup_acts_for_the_absent_primary():
    away = dict(ROSTER, primary_absent=True)
    assert domain.assignee(away) == "b1"
    assert domain.authorize(away, "b1") == (True, "p1")
    assert domain.authorize(away, "p1") == (False, None)
    assert domain.phone_of(away, "b1") == "13800000002"


def test_no_roster_no_decision():
    assert domain.authorize(None, "p1") == (False, None)


# ---------------------------------------------------------------- the clock

def test_as_of_accepts_dates_and_instants_in_the_centres_zone():
    assert domain.supervision_day("2026-03-02") == D(2026, 3, 2)
    # 17:00 UTC on 1 March is 01:00 on 2 March in Beijing
    assert domain.supervision_day("2026-03-01T17:00:00+00:00") == D(2026, 3, 2)
    assert domain.supervision_day("2026-03-01T17:00:00Z") == D(2026, 3, 2)
    assert domain.supervision_day("2026-03-01T23:30:00") == D(2026, 3, 1)
    with pytest.raises(ValueError):
        domain.supervision_day("next tuesday")


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
