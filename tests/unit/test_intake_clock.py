"""Statutory clocks in working days, case status, numbers and the headline."""
import datetime as dt

import pytest

from onewindow.workdays import WorkdayCalendar
from services.intake import domain
from services.intake.store import read_catalog_file

D = dt.date
CATALOG = domain.Catalog(read_catalog_file(), 1)


def item_with(limit, departments=("MR",)):
    return {"committed_limit_days": limit,
            "departments": [{"code": c, "limit_days": limit} for c in departments]}


def test_due_date_counts_from_the_next_working_day_across_national_day_2025():
    cal = WorkdayCalendar()
    # accepted Friday 26 Sep 2025: Sun 28 Sep (调休) is day 1, 1-8 Oct are holidays,
    # Sat 11 Oct (调休) is day 6
    due, per = domain.due_dates(item_with(6, ("MR", "QS")), D(2025, 9, 26), cal)
    assert due.due_date == D(2025, 10, 11) and not due.provisional
    assert per["QS"].due_date == D(2025, 10, 11)
    assert domain.due_dates(item_with(1), D(2025, 9, 26), cal)[0].due_date == D(2025, 9, 28)
    assert domain.due_dates(item_with(4), D(2025, 9, 26), cal)[0].due_date == D(2025, 10, 9)
    assert domain.due_dates(item_with(7), D(2025, 9, 26), cal)[0].due_date == D(2025, 10, 13)


def test_land_use_committed_twelve_working_days_over_the_holiday():
    due, _ = domain.due_dates(CATALOG.item("LAND-USE"), D(2025, 9, 26), WorkdayCalendar())
    # 28, 29, 30 Sep; 9, 10, 11, 13, 14, 15, 16, 17, 20 Oct
    assert due.due_date == D(2025, 10, 20)


def test_instant_item_is_due_the_same_day():
    due, _ = domain.due_dates(CATALOG.item("EPB-EIA-REG"), D(2025, 9, 30), WorkdayCalendar())
    assert due.due_date == D(2025, 9, 30)


def test_due_date_reaching_2027_is_provisional_until_the_year_is_loaded():
    item = CATALOG.item("EPB-EIA-REPORT")          # 15 working days
    due, per = domain.due_dates(item, D(2026, 12, 21), WorkdayCalendar())
    assert due.provisional and per["EPB"].provisional
    # weekends only: 22-25, 28-31 Dec 2026 (8), then 1, 4-8, 11 Jan 2027
    assert due.due_date == D(2027, 1, 11)
    published = WorkdayCalendar({D(2027, 1, 1): False}, {2027})
    loaded, _ = domain.due_dates(item, D(2026, 12, 21), published)
    assert not loaded.provisional and loaded.due_date == D(2027, 1, 12)


def test_the_case_due_date_is_never_before_a_department_due_date():
    item = {"committed_limit_days": 3, "departments": [{"code": "A", "limit_days": 3},
                                                       {"code": "B", "limit_days": 5}]}
    due, per = domain.due_dates(item, D(2026, 3, 2), WorkdayCalendar())
    assert due.due_date == per["B"].due_date == D(2026, 3, 9)


def base_case(**kw):
    case = {"accepted": True, "kind": "committed", "has_fees": True, "review_outcome": None,
            "bill_status": None, "awaiting_materials": False, "review_started": False}
    case.update(kw)
    return case


@pytest.mark.parametrize("kw,status", [
    ({"accepted": False}, "needs_materials"),
    ({}, "accepted"),
    ({"review_started": True}, "in_review"),
    ({"review_started": True, "awaiting_materials": True}, "needs_materials"),
    ({"review_outcome": "rejected"}, "rejected"),
    ({"review_outcome": "approved"}, "awaiting_payment"),
    ({"review_outcome": "approved", "bill_status": "unpaid"}, "awaiting_payment"),
    ({"review_outcome": "approved", "bill_status": "paid"}, "completed"),
    ({"review_outcome": "approved", "bill_status": "waived"}, "completed"),
    ({"review_outcome": "approved", "has_fees": False}, "completed"),
    # a payment heard before the review's outcome waits for it
    ({"bill_status": "paid", "review_started": True}, "in_review"),
])
def test_case_status_is_derived_from_what_was_heard(kw, status):
    assert domain.case_status(base_case(**kw)) == status


def test_application_numbers_are_readable():
    assert domain.application_number("ZW", 2026, 123) == "ZW2026000123"


FRONT = {"refused": 3, "withdrawn": 4, "inquiries": 57, "complaints": 1}


def test_headline_reads_like_a_centre_report():
    text = domain.headline(D(2026, 1, 1), D(2026, 1, 31), {
        "received": 120, "accepted": 110, "instant_ratio": 0.4545, "completed": 100, "completion_rate": 0.9091,
        "overdue": 2, "fees_fen": 1234500, "satisfaction_rate": 0.98, "ratings": 50, **FRONT})
    assert text == ("2026年1月1日至2026年1月31日，中心共接件120件，受理110件，其中即办件占45.5%；"
                    "不予受理3件，申请人撤回4件；办结100件，办结率90.9%；超期2件；首问登记咨询57人次，受理投诉1件；"
                    "收费12,345.00元；群众满意率98.0%（50条评价）。")
    assert "暂无群众评价" in domain.headline(D(2026, 1, 1), D(2026, 1, 1), {
        "received": 0, "accepted": 0, "instant_ratio": 0, "completed": 0, "completion_rate": 0,
        "overdue": 0, "fees_fen": 0, "satisfaction_rate": 0, "ratings": 0, **FRONT})
    with_hall = domain.headline(D(2026, 1, 1), D(2026, 1, 31), {
        "received": 0, "accepted": 0, "instant_ratio": 0, "completed": 0, "completion_rate": 0, "overdue": 0,
        "fees_fen": 0, "satisfaction_rate": 0, "ratings": 0, **FRONT, "hall": True, "appointments": 8,
        "home_visits": 2})
    assert "受理投诉1件；预约办理8件，上门服务2次；收费" in with_hall


def clock(**changes):
    case = {"accepted_on": D(2026, 3, 2), "due_date": D(2026, 3, 9), "decided_on": None, "materials_stage": None,
            "overdue": False, "withdrawn_on": None}
    return dict(case, **changes)


def test_only_the_centres_time_makes_a_case_late():
    today = D(2026, 4, 1)
    assert domain.centre_late(clock(), today)                                           # open, past due
    assert not domain.centre_late(clock(), D(2026, 3, 9))                               # due today
    assert not domain.centre_late(clock(decided_on=D(2026, 3, 9)), today)               # bill waits: applicant's
    assert domain.centre_late(clock(decided_on=D(2026, 3, 10)), today)                  # decided late
    assert not domain.centre_late(clock(materials_stage="review"), today)               # materials awaited
    assert domain.centre_late(clock(materials_stage="review", overdue=True), today)     # review's red card stays
    assert not domain.centre_late(clock(withdrawn_on=D(2026, 3, 5)), today)
    assert domain.centre_late(clock(withdrawn_on=D(2026, 3, 12)), today)
    assert not domain.centre_late(clock(accepted_on=None, due_date=None), today)        # never accepted


def test_status_of_refused_and_withdrawn_cases_overrides_what_comes_later():
    base = {"accepted": True, "kind": "committed", "has_fees": True, "review_outcome": "approved",
            "bill_status": "paid", "awaiting_materials": False, "review_started": True}
    assert domain.case_status(base) == "completed"
    assert domain.case_status(dict(base, withdrawn=True)) == "withdrawn"
    assert domain.case_status(dict(base, accepted=False, refused=True)) == "refused"


def test_ranking_puts_on_time_then_satisfied_then_uncomplained_first():
    rows = [{"key": "W1", "late": False, "working_days": 2, "rating": 5},
            {"key": "W1", "late": True, "working_days": 6, "rating": 3},
            {"key": "W2", "late": False, "working_days": 1, "rating": None},
            {"key": "W3", "late": False, "working_days": 4, "rating": 5}]
    lines = domain.ranking(rows, {"W2": 2, "W4": 1})
    assert [(x["key"], x["rank"]) for x in lines] == [("W3", 1), ("W2", 2), ("W1", 3), ("W4", 4)]
    w1 = lines[2]
    assert (w1["cases"], w1["on_time_rate"], w1["average_working_days"], w1["satisfaction_rate"]) == (2, 0.5, 4.0, 0.5)
    assert lines[3] == {"key": "W4", "cases": 0, "on_time_rate": 0.0, "average_working_days": None, "ratings": 0,
                        "satisfaction_rate": 0.0, "complaints": 1, "rank": 4}


def test_complaints_are_warned_once_then_noticed_once():
    from onewindow.workdays import WorkdayCalendar
    calendar = WorkdayCalendar()
    open_ = {"answered_at": None, "due_date": D(2026, 3, 9), "warning_level": "none", "noticed_on": None}
    assert domain.complaint_actions(open_, D(2026, 3, 5), calendar)[0] == []
    assert domain.complaint_actions(open_, D(2026, 3, 6), calendar)[0] == ["warn"]   # Friday, Monday due
    warned = dict(open_, warning_level="yellow")
    assert domain.complaint_actions(warned, D(2026, 3, 9), calendar)[0] == []
    actions, reading = domain.complaint_actions(warned, D(2026, 3, 11), calendar)
    assert actions == ["notice"] and reading.working_days_overdue == 2
    assert domain.complaint_actions(dict(warned, noticed_on=D(2026, 3, 11)), D(2026, 3, 12), calendar)[0] == []
    assert domain.complaint_actions(dict(open_, answered_at="x"), D(2026, 3, 12), calendar)[0] == []
