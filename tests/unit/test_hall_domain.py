"""The hall's pure rules: the layout, ticket numbers and statuses, the
estimated wait, booking and visit checks, reminders, the screen's lights."""
import datetime
import zoneinfo

import pytest

from onewindow.workdays import WorkdayCalendar
from services.hall import domain

ZONE = zoneinfo.ZoneInfo("Asia/Shanghai")
MONDAY = datetime.date(2026, 11, 23)
SATURDAY = datetime.date(2026, 11, 28)
CALENDAR = WorkdayCalendar()

LAYOUT = domain.Layout.from_data({
    "opening_hours": ["09:00-12:00", "13:30-17:30"],
    "departments": {"MR": "市场监督管理局", "NTAX": "国家税务局"},
    "queues": [{"code": "A", "name": "企业开办", "departments": ["MR"], "items": ["ENT-EST", "ENT-NAME"]},
               {"code": "B", "name": "税务", "departments": ["NTAX"], "items": ["NTAX-REG"]}],
    "windows": [{"code": "1", "queues": ["A"], "clerks": ["window-1", "window-1b"]},
                {"code": "2", "queues": ["A", "B"], "clerks": ["window-2"]}],
    "appointments": {"slots": ["09:00-10:00", "15:30-16:30"], "capacity": 4, "capacity_by_item": {"ENT-EST": 6}},
})


def at(day, hh, mm=0):
    return datetime.datetime.combine(day, datetime.time(hh, mm), ZONE)


def ticket(**facts):
    base = {"outcome": None, "service_day": MONDAY, "channel": "kiosk", "checked_in_at": None, "calls": 0,
            "called_at": None}
    return dict(base, **facts)


def test_the_shipped_layout_loads_and_serves_every_catalog_item_once():
    import yaml
    from services.intake.store import CATALOG_FILE
    layout = domain.Layout.load(domain.LAYOUT_FILE)
    items = [i["code"] for i in yaml.safe_load(CATALOG_FILE.read_text(encoding="utf-8"))["items"]]
    assert all(layout.queue_of_item(i) for i in items)
    assert all(layout.windows_of(q) for q in layout.queues)


def test_a_wrong_layout_names_every_problem_at_once():
    with pytest.raises(domain.LayoutError) as err:
        domain.Layout.from_data({
            "opening_hours": ["17:00-09:00"],
            "queues": [{"code": "AB", "name": "x"}, {"code": "C", "items": ["X"], "departments": ["NOPE"]},
                       {"code": "D", "items": ["X"]}],
            "windows": [{"code": "1", "queues": ["Q"]}],
            "appointments": {"slots": ["9-10"], "capacity": -1},
            "open_days": "sometimes", "remind_at": "25:00", "booking_days": 0})
    message = str(err.value)
    for expected in ("ends before it starts", "one capital letter", "departments ['NOPE']", "item X is in both",
                     "must name known queues", "served by no window", "appointments.slots", "appointments.capacity",
                     "open_days", "remind_at", "booking_days"):
        assert expected in message, expected


def test_the_hall_is_open_in_its_hours_on_working_days():
    assert LAYOUT.is_open(at(MONDAY, 9), CALENDAR)
    assert not LAYOUT.is_open(at(MONDAY, 12, 30), CALENDAR)
    assert not LAYOUT.is_open(at(MONDAY, 17, 30), CALENDAR)
    assert not LAYOUT.is_open(at(SATURDAY, 10), CALENDAR)
    assert not LAYOUT.is_open(at(datetime.date(2026, 10, 1), 10), CALENDAR)  # National Day


def test_ticket_numbers_and_statuses_are_derived_from_what_happened():
    assert domain.ticket_number("A", 1) == "A001" and domain.ticket_number("B", 1234) == "B1234"
    assert domain.ticket_status(ticket(), MONDAY) == "waiting"
    assert domain.ticket_status(ticket(called_at=at(MONDAY, 10), calls=1), MONDAY) == "called"
    assert domain.ticket_status(ticket(outcome="no_show"), MONDAY) == "no_show"
    assert domain.ticket_status(ticket(), MONDAY + datetime.timedelta(days=1)) == "expired"
    remote = ticket(channel="remote", called_at=at(MONDAY, 10))
    assert domain.ticket_status(dict(remote, calls=1), MONDAY) == "called"
    assert domain.ticket_status(dict(remote, calls=2), MONDAY) == "expired"
    assert domain.ticket_status(dict(remote, calls=2, checked_in_at=at(MONDAY, 10)), MONDAY) == "called"


def test_the_estimated_wait_uses_the_measured_service_time_shared_by_the_windows():
    assert domain.estimated_wait_minutes(0, [600], 1, 480) == 0
    assert domain.estimated_wait_minutes(3, [], 1, 480) == 24          # the default, 8 minutes
    assert domain.estimated_wait_minutes(3, [300, 900], 2, 480) == 15  # 10 minutes each, two windows
    assert domain.estimated_wait_minutes(1, [1, 0, None], 1, 480) == 1


def test_a_remote_holder_is_told_once_when_three_or_fewer_are_ahead():
    assert domain.near_turn(3, False) and domain.near_turn(0, False)
    assert not domain.near_turn(4, False) and not domain.near_turn(2, True)


def test_booking_problems_are_listed_together():
    now = at(MONDAY, 15, 45)
    assert domain.booking_problems(LAYOUT, CALENDAR, "ENT-EST", MONDAY + datetime.timedelta(days=1),
                                   "09:00-10:00", now) == {}
    problems = domain.booking_problems(LAYOUT, CALENDAR, "NOPE", SATURDAY, "08:00-09:00", now)
    assert problems == {"item_code": ["NOPE is not served in this hall"], "date": ["is not a working day"],
                        "slot": ["must be one of 09:00-10:00, 15:30-16:30"]}
    assert domain.booking_problems(LAYOUT, CALENDAR, "ENT-EST", MONDAY, "09:00-10:00", now) == {"slot": ["is over"]}
    assert domain.booking_problems(LAYOUT, CALENDAR, "ENT-EST", MONDAY, "15:30-16:30", now) == {}
    far = domain.booking_problems(LAYOUT, CALENDAR, None, MONDAY + datetime.timedelta(days=30), None, now)
    assert far == {"date": ["is more than 14 days ahead"]}
    assert LAYOUT.capacity_of("ENT-EST") == 6 and LAYOUT.capacity_of("ENT-NAME") == 4


def test_reminders_go_from_the_hour_on_the_day_before():
    tuesday = MONDAY + datetime.timedelta(days=1)
    assert not domain.reminder_due(tuesday, at(MONDAY, 15, 59), datetime.time(16))
    assert domain.reminder_due(tuesday, at(MONDAY, 16), datetime.time(16))
    assert not domain.reminder_due(tuesday + datetime.timedelta(days=1), at(MONDAY, 20), datetime.time(16))


def test_appointment_and_visit_statuses():
    none = {"cancelled_at": None, "ticket_no": None, "missed_at": None}
    assert domain.appointment_status(none) == "booked"
    assert domain.appointment_status(dict(none, ticket_no="A001")) == "checked_in"
    assert domain.appointment_status(dict(none, missed_at=at(MONDAY, 17))) == "missed"
    assert domain.appointment_status(dict(none, cancelled_at=at(MONDAY, 8))) == "cancelled"
    visit = {"completed_at": None, "assigned_to": None}
    assert domain.visit_status(visit) == "requested"
    assert domain.visit_status(dict(visit, assigned_to="王五")) == "scheduled"
    assert domain.visit_status(dict(visit, assigned_to="王五", completed_at=at(MONDAY, 11))) == "completed"
    problems = domain.visit_problems(LAYOUT, CALENDAR, "ENT-EST", SATURDAY - datetime.timedelta(days=7), MONDAY)
    assert problems == {"preferred_date": ["is in the past", "is not a working day"]}


def test_a_departments_light_counts_its_red_and_yellow_tasks():
    tasks = [{"warning_level": level} for level in ("red", "yellow", "yellow", "none")]
    assert domain.department_light(tasks) == (1, 2)
    assert domain.department_light([]) == (0, 0)


def test_a_window_is_operated_by_its_own_clerks_only():
    assert LAYOUT.windows["1"].operated_by("window-1") and LAYOUT.windows["1"].operated_by("window-1b")
    assert not LAYOUT.windows["1"].operated_by("window-2")
    assert domain.Window("9", ("A",)).operated_by("any-window-principal")  # no clerks named
    with pytest.raises(domain.LayoutError, match="clerks must be a list"):
        domain.Layout.from_data({"opening_hours": ["09:00-17:00"], "queues": [{"code": "A"}],
                                 "windows": [{"code": "1", "queues": ["A"], "clerks": "window-1"}]})


@pytest.mark.parametrize("windows", [1, 3, 40])
def test_the_benchmarks_morning_rush_layout_is_a_valid_layout(windows):
    from scripts.rush import rush_layout
    layout = domain.Layout.from_data(rush_layout(windows)[0])
    assert len(layout.windows) == windows and all(layout.windows_of(q) for q in layout.queues)
