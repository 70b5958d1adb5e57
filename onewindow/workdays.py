"""Working days of the State Council calendar: weekends, public holidays and
调休 make-up working days.

chinese_calendar ships the published schedules; `workday_overrides` and
`calendar_years` (in every service's database) hold years an operator loads
later and corrections. A count that reaches a year nobody has published is
made on weekends only and marked provisional; it is recomputed when the year
is loaded.
"""
import datetime
import time
import zoneinfo
from dataclasses import dataclass

import chinese_calendar

from . import config


def zone():
    """The centre's time zone (OW_TIME_ZONE)."""
    return zoneinfo.ZoneInfo(config.time_zone())


def local_now():
    """Now, in the centre's time zone."""
    return datetime.datetime.now(zone())


def today():
    """The centre's date: deadlines and reports count in its time zone."""
    return local_now().date()


@dataclass(frozen=True)
class DueDate:
    due_date: datetime.date
    provisional: bool

    def as_dict(self):
        return {"due_date": self.due_date.isoformat(), "provisional": self.provisional}


def _shipped(year):
    try:
        chinese_calendar.is_workday(datetime.date(year, 6, 1))
        return True
    except NotImplementedError:
        return False


_SHIPPED_YEARS = {y for y in range(2004, 2101) if _shipped(y)}


class WorkdayCalendar:
    def __init__(self, overrides=None, loaded_years=()):
        self.overrides = dict(overrides or {})
        self.loaded_years = set(loaded_years)
        self._prefix = {}  # year -> running count of working days, filled on demand
        # day -> is_workday's answer: chinese_calendar takes tens of
        # microseconds a day, and a due date walks every day to it (1.6 % of
        # intake's CPU). The answers cannot change: a calendar is made
        # afresh when its overrides do (CalendarCache).
        self._answers = {}

    def knows(self, year):
        return year in self.loaded_years or year in _SHIPPED_YEARS

    def is_workday(self, day):
        """(is it a working day, is the answer provisional)"""
        answer = self._answers.get(day)
        if answer is None:
            answer = self._answers[day] = self._is_workday(day)
        return answer

    def _is_workday(self, day):
        if day in self.overrides:
            return self.overrides[day], False
        if day.year in self.loaded_years or day.year not in _SHIPPED_YEARS:
            # a loaded year lists its holidays and make-up days as overrides
            return day.weekday() < 5, not self.knows(day.year)
        return chinese_calendar.is_workday(day), False

    def add_workdays(self, start, days):
        """The `days`-th working day after `start` (the day of acceptance is
        not counted). Zero days: decided on the day, `start` itself."""
        day, provisional = start, False
        remaining = days
        while remaining > 0:
            day += datetime.timedelta(days=1)
            working, unsure = self.is_workday(day)
            provisional = provisional or unsure
            if working:
                remaining -= 1
        return DueDate(day, provisional)

    def workdays_between(self, start, end):
        """Working days after `start` up to and including `end`; negative when
        `end` is before `start` (working days overdue)."""
        if end == start:
            return 0
        sign = 1 if end > start else -1
        lo, hi = (start, end) if sign > 0 else (end, start)
        if (hi - lo).days <= 400:
            count, day = 0, lo
            while day < hi:
                day += datetime.timedelta(days=1)
                count += self.is_workday(day)[0]
            return sign * count
        # Long spans (a supervision date far out): per-year prefix sums, each
        # year counted once per calendar instead of walking every day.
        def up_to(day):
            return sum(self._year(y)[-1] for y in range(lo.year, day.year)) + \
                self._year(day.year)[day.timetuple().tm_yday - 1]
        return sign * (up_to(hi) - up_to(lo))

    def _year(self, year):
        """Running count of working days through each day of `year`."""
        cache = self._prefix
        if year not in cache:
            prefix, count, day = [], 0, datetime.date(year, 1, 1)
            while day.year == year:
                count += self.is_workday(day)[0]
                prefix.append(count)
                day += datetime.timedelta(days=1)
            cache[year] = prefix
        return cache[year]


def parse_schedule(text):
    """A published year as text lines 'YYYY-MM-DD workday|holiday [name]'.
    Returns {date: is_workday}; raises ValueError naming every bad line."""
    days, problems = {}, []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(None, 2)
        try:
            day = datetime.date.fromisoformat(parts[0])
            kind = parts[1]
            if kind not in ("workday", "holiday"):
                raise ValueError(kind)
        except (ValueError, IndexError):
            problems.append(f"line {number}: expected 'YYYY-MM-DD workday|holiday [name]', got {line!r}")
            continue
        days[day] = (kind == "workday", parts[2] if len(parts) > 2 else "")
    if problems:
        raise ValueError("; ".join(problems))
    return days


class CalendarCache:
    """Loads a service's overrides at most every `ttl` seconds.

    Declared once on a service class, `calendar = CalendarCache()`, it is
    read in an entrypoint as `self.calendar()` (through the worker's
    `store`) and dropped with `self.calendar.invalidate()`."""

    def __init__(self, ttl=30.0):
        self.ttl = ttl
        self._calendar = None
        self._loaded_at = 0.0

    def get(self, unit):
        if self._calendar is None or time.monotonic() - self._loaded_at > self.ttl:
            self._calendar = load(unit)
            self._loaded_at = time.monotonic()
        return self._calendar

    def invalidate(self):
        self._calendar = None

    def __get__(self, service, owner=None):
        return self if service is None else _ServiceCalendar(self, service)


class _ServiceCalendar:
    """A service's cache as one of its workers sees it."""

    def __init__(self, cache, service):
        self.cache, self.service = cache, service

    def __call__(self):
        return self.cache.get(self.service.store.unit)

    def invalidate(self):
        self.cache.invalidate()


def load(unit):
    overrides = {r["day"]: r["is_workday"] for r in unit.all("SELECT day, is_workday FROM workday_overrides")}
    years = {r["year"] for r in unit.all("SELECT year FROM calendar_years")}
    return WorkdayCalendar(overrides, years)


def record_years_known(service_name, loaded_years, today=None):
    """Export whether this year's and next year's schedules are known (shipped
    or loaded), so operators are warned in December when next year's is not."""
    from . import metrics
    on = today if today is not None else local_now().date()
    calendar = WorkdayCalendar(loaded_years=loaded_years)
    years = (on.year, on.year + 1)
    for year in years:
        metrics.CALENDAR_YEAR_LOADED.labels(service_name, str(year)).set(1 if calendar.knows(year) else 0)
    try:  # the year just gone is no longer watched
        metrics.CALENDAR_YEAR_LOADED.remove(service_name, str(on.year - 1))
    except KeyError:
        pass
    return {year: calendar.knows(year) for year in years}


def store_year(unit, year, days, source=""):
    """Record a published year's holidays and make-up days (replacing any
    earlier load of that year)."""
    unit.execute("DELETE FROM workday_overrides WHERE day >= %s AND day < %s",
                  (datetime.date(year, 1, 1), datetime.date(year + 1, 1, 1)))
    for day, (working, name) in sorted(days.items()):
        if day.year != year:
            raise ValueError(f"{day} is not in {year}")
        unit.execute("INSERT INTO workday_overrides (day, is_workday, name) VALUES (%s, %s, %s)",
                     (day, working, name))
    unit.execute(
        "INSERT INTO calendar_years (year, source) VALUES (%s, %s) "
        "ON CONFLICT (year) DO UPDATE SET loaded_at = now(), source = EXCLUDED.source",
        (year, source),
    )


@dataclass(frozen=True)
class ClockReading:
    level: str              # none, yellow, red
    working_days_left: int  # >= 0 while not overdue
    working_days_overdue: int


def read_clock(due_date, today, calendar):
    """Electronic supervision's reading of a clock: yellow when one working
    day (or less: due today) is left, red once the due date has passed.
    Working days overdue counts the working days after the due date up to
    today (0 when only rest days have passed)."""
    if today > due_date:
        return ClockReading("red", 0, calendar.workdays_between(due_date, today))
    left = calendar.workdays_between(today, due_date)
    return ClockReading("yellow" if left <= 1 else "none", left, 0)
