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


def test_headline_reads_like_a_centre_report():
    text = domain.headline(D(2026, 1, 1), D(2026, 1, 31), {
        "received": 120, "accepted": 110, "instant_ratio": 0.4545, "completed": 100, "completion_rate": 0.9091,
        "overdue": 2, "fees_fen": 1234500, "satisfaction_rate": 0.98, "ratings": 50})
    assert text == ("2026年1月1日至2026年1月31日，中心共接件120件，受理110件，其中即办件占45.5%；"
                    "办结100件，办结率90.9%；超期2件；收费12,345.00元；群众满意率98.0%（50条评价）。")
    assert "暂无群众评价" in domain.headline(D(2026, 1, 1), D(2026, 1, 1), {
        "received": 0, "accepted": 0, "instant_ratio": 0, "completed": 0, "completion_rate": 0,
        "overdue": 0, "fees_fen": 0, "satisfaction_rate": 0, "ratings": 0})
