import datetime as dt

import pytest

from onewindow.workdays import WorkdayCalendar, parse_schedule

D = dt.date


def test_national_day_2025_and_its_make_up_saturdays():
    cal = WorkdayCalendar()
    # 2025-09-28 (Sunday) and 2025-10-11 (Saturday) are 调休 working days
    assert cal.is_workday(D(2025, 9, 28)) == (True, False)
    assert cal.is_workday(D(2025, 10, 11)) == (True, False)
    assert cal.is_workday(D(2025, 10, 1)) == (False, False)
    assert cal.is_workday(D(2025, 10, 8)) == (False, False)
    # accepted Friday 26 Sep: Sun 28, Mon 29, Tue 30 Sep, then Thu 9, Fri 10, Sat 11 Oct
    expected = [D(2025, 9, 28), D(2025, 9, 29), D(2025, 9, 30), D(2025, 10, 9), D(2025, 10, 10), D(2025, 10, 11)]
    assert [cal.add_workdays(D(2025, 9, 26), n).due_date for n in range(1, 7)] == expected


def test_zero_days_is_the_same_day():
    assert WorkdayCalendar().add_workdays(D(2026, 3, 2), 0).due_date == D(2026, 3, 2)


def test_unpublished_year_is_weekends_only_and_provisional():
    cal = WorkdayCalendar()
    due = cal.add_workdays(D(2026, 12, 28), 5)
    # 29, 30, 31 Dec 2026 are known working days; 2027 is not published
    assert due.provisional is True
    assert due.due_date == D(2027, 1, 4)  # Fri 1 Jan counted as a weekday (no schedule yet), Mon 4 Jan
    assert WorkdayCalendar().add_workdays(D(2026, 12, 1), 5).provisional is False


def test_a_loaded_year_is_authoritative():
    days = parse_schedule("2027-01-01 holiday 元旦\n2027-01-02 holiday\n2027-01-03 holiday\n")
    cal = WorkdayCalendar({d: w for d, (w, _) in days.items()}, {2027})
    due = cal.add_workdays(D(2026, 12, 28), 5)
    assert due.provisional is False
    assert due.due_date == D(2027, 1, 5)


def test_working_days_between_counts_both_ways():
    cal = WorkdayCalendar()
    assert cal.workdays_between(D(2025, 9, 26), D(2025, 10, 9)) == 4
    assert cal.workdays_between(D(2025, 10, 9), D(2025, 9, 26)) == -4
    assert cal.workdays_between(D(2025, 10, 9), D(2025, 10, 9)) == 0


def test_bad_schedule_lines_are_all_named():
    with pytest.raises(ValueError) as err:
        parse_schedule("2027-01-01 holiday\n2027-13-01 holiday\nnonsense\n2027-02-01 party\n")
    message = str(err.value)
    assert "line 2" in message and "line 3" in message and "line 4" in message and "line 1" not in message


def test_a_service_reads_its_calendar_through_its_store_at_most_once_per_ttl():
    from types import SimpleNamespace

    from onewindow.workdays import CalendarCache

    class Unit:
        def __init__(self):
            self.queries = 0

        def all(self, sql):
            self.queries += 1
            return [{"day": D(2031, 1, 2), "is_workday": False}] if "workday_overrides" in sql else [{"year": 2031}]

    class Service:
        calendar = CalendarCache(ttl=60)

    unit, service = Unit(), Service()
    service.store = SimpleNamespace(unit=unit)
    assert service.calendar().is_workday(D(2031, 1, 2)) == (False, False)  # the loaded year's holiday
    service.calendar()
    assert unit.queries == 2  # overrides and years, once
    service.calendar.invalidate()
    service.calendar()
    assert unit.queries == 4
    Service.calendar.invalidate()  # the class's own, as set-up and tests reach it
    service.calendar()
    assert unit.queries == 6


def test_a_calendar_asks_chinese_calendar_once_a_day_and_answers_as_it_would(monkeypatch):
    import datetime as dt

    import chinese_calendar

    from onewindow import workdays

    overrides = {dt.date(2026, 10, 10): False, dt.date(2027, 1, 4): True}
    days = [dt.date(2026, 9, 20) + dt.timedelta(days=n) for n in range(150)]
    expected = [workdays.WorkdayCalendar(overrides, loaded_years={2027})._is_workday(day) for day in days]
    asked = []
    original = chinese_calendar.is_workday
    monkeypatch.setattr(workdays.chinese_calendar, "is_workday", lambda day: asked.append(day) or original(day))
    calendar = workdays.WorkdayCalendar(overrides, loaded_years={2027})
    first = [calendar.is_workday(day) for day in days]
    again = [calendar.is_workday(day) for day in days]
    assert first == again == expected
    shipped = [day for day in days if day.year == 2026 and day not in overrides]
    assert sorted(asked) == shipped  # once each, though asked twice here and walked by due dates below
    calendar.add_workdays(dt.date(2026, 9, 26), 20)
    assert len(asked) == len(shipped)
