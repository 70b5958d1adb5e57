"""hall domain: the layout of the hall, ticket numbers and statuses, the
estimated wait, appointment slots and visits.

Pure rules on plain values: no nameko, no SQL. The order in which a window
calls tickets is one SQL expression (store.CALL_ORDER), because the database
must pick and lock the next ticket in that order in one statement.
"""
import dataclasses
import datetime
import math
import pathlib
import re

import yaml

from onewindow.config import Setting

LAYOUT_FILE = pathlib.Path(__file__).resolve().parent / "layout.yaml"
LAYOUT = Setting("HALL_LAYOUT", "", doc="the hall's layout file, if not the shipped layout.yaml")

CHANNELS = ("kiosk", "remote", "appointment")
OUTCOMES = ("served", "no_show")
TICKET_STATUSES = ("waiting", "called", "served", "no_show", "expired")
APPOINTMENT_STATUSES = ("booked", "checked_in", "cancelled", "missed")
VISIT_KINDS = ("home", "agent")
VISIT_STATUSES = ("requested", "scheduled", "completed")
REMOTE_CALLS_BEFORE_EXPIRY = 2  # a remote ticket not checked in expires when called the second time
NEAR_TURN = 3                   # a remote ticket holder hears when this many are ahead

_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")
_CODE = re.compile(r"^[A-Z]$")


class LayoutError(ValueError):
    """The layout file is wrong; the message names every problem."""


def parse_time(text):
    """'09:30' -> time(9, 30); '24:00' is the end of the day (time.max)."""
    if not isinstance(text, str) or not _HHMM.match(text):
        raise ValueError(f"{text!r} is not HH:MM")
    if text == "24:00":
        return datetime.time.max
    return datetime.time(int(text[:2]), int(text[3:]))


def parse_span(text):
    """'09:00-12:00' -> (time(9), time(12)); the start before the end."""
    if not isinstance(text, str) or text.count("-") != 1:
        raise ValueError(f"{text!r} is not HH:MM-HH:MM")
    start, end = (parse_time(part.strip()) for part in text.split("-"))
    if start >= end:
        raise ValueError(f"{text!r} ends before it starts")
    return start, end


@dataclasses.dataclass(frozen=True)
class Queue:
    code: str
    name: str
    departments: tuple
    items: tuple


@dataclasses.dataclass(frozen=True)
class Window:
    code: str
    queues: tuple
    clerks: tuple = ()  # the window principals (a clerk's system) that call at this window

    def operated_by(self, principal_name):
        """A window clerk's system calls, recalls, finishes and transfers at
        its own window only. A window that names no clerks is any window
        principal's (a layout not yet bound to the clerks' systems)."""
        return not self.clerks or principal_name in self.clerks


@dataclasses.dataclass(frozen=True)
class Layout:
    opening_hours: tuple          # ((start, end), ...)
    open_days: str                # "workdays" or "every_day"
    queues: dict                  # code -> Queue, in the file's order
    windows: dict                 # code -> Window
    departments: dict             # code -> name
    slots: tuple                  # ("09:00-10:00", ...)
    capacity: int
    capacity_by_item: dict
    default_service_seconds: float
    service_time_sample: int
    remind_at: datetime.time
    booking_days: int

    @classmethod
    def load(cls, path=None):
        path = path or LAYOUT() or LAYOUT_FILE
        return cls.from_data(yaml.safe_load(pathlib.Path(path).read_text(encoding="utf-8")))

    @classmethod
    def from_data(cls, data):
        problems = []
        if not isinstance(data, dict):
            raise LayoutError("layout: expected a mapping")

        def spans(key, values):
            found = []
            for value in values or []:
                try:
                    found.append(parse_span(value))
                except ValueError as exc:
                    problems.append(f"{key}: {exc}")
            return tuple(found)

        hours = spans("opening_hours", data.get("opening_hours"))
        if not hours:
            problems.append("opening_hours: at least one HH:MM-HH:MM span")
        departments = {str(k): str(v) for k, v in (data.get("departments") or {}).items()}
        queues = {}
        for spec in data.get("queues") or []:
            code = str(spec.get("code", ""))
            if not _CODE.match(code):
                problems.append(f"queues: code {code!r} must be one capital letter (the ticket prefix)")
                continue
            if code in queues:
                problems.append(f"queues: {code} twice")
            unknown = [d for d in spec.get("departments") or [] if d not in departments]
            if unknown:
                problems.append(f"queues.{code}: departments {unknown} are not under departments")
            queues[code] = Queue(code, str(spec.get("name") or code), tuple(spec.get("departments") or ()),
                                 tuple(spec.get("items") or ()))
        if not queues:
            problems.append("queues: at least one")
        items = {}
        for queue in queues.values():
            for item in queue.items:
                if item in items:
                    problems.append(f"queues: item {item} is in both {items[item]} and {queue.code}")
                items[item] = queue.code
        windows = {}
        for spec in data.get("windows") or []:
            code = str(spec.get("code", "")).strip()
            served = tuple(str(q) for q in spec.get("queues") or ())
            if not code or len(code) > 8:
                problems.append(f"windows: code {code!r} must be 1 to 8 characters")
                continue
            if code in windows:
                problems.append(f"windows: {code} twice")
            if not served or any(q not in queues for q in served):
                problems.append(f"windows.{code}: queues {list(served)} must name known queues")
            clerks = spec.get("clerks") or []
            if not isinstance(clerks, list) or not all(isinstance(c, str) and c for c in clerks):
                problems.append(f"windows.{code}: clerks must be a list of principal names")
                clerks = ()
            windows[code] = Window(code, served, tuple(clerks))
        if not windows:
            problems.append("windows: at least one")
        unserved = [q for q in queues if not any(q in w.queues for w in windows.values())]
        if unserved:
            problems.append(f"queues {unserved} are served by no window")
        booking = data.get("appointments") or {}
        slots = tuple(booking.get("slots") or ())
        spans("appointments.slots", slots)
        capacity = booking.get("capacity", 0)
        by_item = dict(booking.get("capacity_by_item") or {})
        for name, value in [("capacity", capacity)] + [(f"capacity_by_item.{k}", v) for k, v in by_item.items()]:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                problems.append(f"appointments.{name}: a whole number of bookings, 0 or more")
        unknown_items = [k for k in by_item if k not in items]
        if unknown_items:
            problems.append(f"appointments.capacity_by_item: items {unknown_items} are in no queue")
        open_days = data.get("open_days", "workdays")
        if open_days not in ("workdays", "every_day"):
            problems.append("open_days: workdays or every_day")
        try:
            remind_at = parse_time(str(data.get("remind_at", "16:00")))
        except ValueError as exc:
            problems.append(f"remind_at: {exc}")
            remind_at = None
        numbers = {}
        for key, default in (("default_service_minutes", 8), ("service_time_sample", 20), ("booking_days", 14)):
            value = data.get(key, default)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                problems.append(f"{key}: a positive number")
            numbers[key] = value
        if problems:
            raise LayoutError("; ".join(problems))
        return cls(opening_hours=hours, open_days=open_days, queues=queues, windows=windows,
                   departments=departments, slots=slots, capacity=capacity, capacity_by_item=by_item,
                   default_service_seconds=float(numbers["default_service_minutes"]) * 60,
                   service_time_sample=int(numbers["service_time_sample"]), remind_at=remind_at,
                   booking_days=int(numbers["booking_days"]))

    # ------------------------------------------------------------ questions

    def queue_of_item(self, item_code):
        return next((q.code for q in self.queues.values() if item_code in q.items), None)

    def windows_of(self, queue_code):
        return [w.code for w in self.windows.values() if queue_code in w.queues]

    def capacity_of(self, item_code):
        return self.capacity_by_item.get(item_code, self.capacity)

    def is_open_day(self, day, calendar):
        return self.open_days == "every_day" or calendar.is_workday(day)[0]

    def is_open(self, at, calendar):
        """Is the hall open at this local instant (remote tickets are taken
        only then: a remote ticket is valid for today's hours)."""
        if not self.is_open_day(at.date(), calendar):
            return False
        moment = at.time().replace(tzinfo=None)
        return any(start <= moment < end for start, end in self.opening_hours)


# ------------------------------------------------------------ tickets

def ticket_number(queue_code, seq):
    """A001 ... A999, then A1000: the queue's letter and the day's sequence."""
    return f"{queue_code}{seq:03d}"


def ticket_status(ticket, today):
    """Derived from what happened to the ticket: finished with an outcome;
    expired (a remote ticket called twice without checking in, or any ticket
    of an earlier day left unfinished); called; else waiting."""
    if ticket["outcome"]:
        return ticket["outcome"]
    if remote_unclaimed(ticket) or ticket["service_day"] < today:
        return "expired"
    if ticket["called_at"] is not None:
        return "called"
    return "waiting"


def remote_unclaimed(ticket):
    """A remote ticket whose holder never checked in at the hall and was
    called twice: it lapses and the window moves on."""
    return (ticket["channel"] == "remote" and ticket["checked_in_at"] is None
            and ticket["calls"] >= REMOTE_CALLS_BEFORE_EXPIRY)


def estimated_wait_minutes(ahead, service_seconds, windows, default_seconds):
    """Minutes until a ticket with `ahead` tickets before it is called: the
    measured service time of the queue (mean of recent services, else the
    layout's default) times the tickets ahead, shared by its windows."""
    if ahead <= 0:
        return 0
    samples = [s for s in service_seconds if s is not None and s > 0]
    per_ticket = sum(samples) / len(samples) if samples else default_seconds
    return math.ceil(ahead * per_ticket / max(1, windows) / 60)


def near_turn(ahead, already_told):
    """Tell a remote ticket holder once, when NEAR_TURN or fewer are ahead."""
    return not already_told and ahead <= NEAR_TURN


# ------------------------------------------------------------ appointments

def slot_times(day, slot, zone):
    start, end = parse_span(slot)
    if end == datetime.time.max:
        end_at = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time(0), zone)
    else:
        end_at = datetime.datetime.combine(day, end, zone)
    return datetime.datetime.combine(day, start, zone), end_at


def booking_problems(layout, calendar, item_code, day, slot, now):
    """What is wrong with booking `slot` of `day` for `item_code`, all at once."""
    problems = {}
    if item_code is not None and layout.queue_of_item(item_code) is None:
        problems["item_code"] = [f"{item_code} is not served in this hall"]
    if day is not None:
        today = now.date()
        if day < today:
            problems.setdefault("date", []).append("is in the past")
        elif (day - today).days > layout.booking_days:
            problems.setdefault("date", []).append(f"is more than {layout.booking_days} days ahead")
        if not calendar.is_workday(day)[0]:
            problems.setdefault("date", []).append("is not a working day")
    if slot is not None:
        if slot not in layout.slots:
            problems["slot"] = [f"must be one of {', '.join(layout.slots)}"]
        elif day is not None and "date" not in problems and slot_times(day, slot, now.tzinfo)[1] <= now:
            problems["slot"] = ["is over"]
    return problems


def appointment_status(appointment):
    if appointment["cancelled_at"] is not None:
        return "cancelled"
    if appointment["ticket_no"] is not None:
        return "checked_in"
    if appointment["missed_at"] is not None:
        return "missed"
    return "booked"


def reminder_due(appointment_day, now, remind_at):
    """From `remind_at` on the day before the appointment."""
    eve = appointment_day - datetime.timedelta(days=1)
    return now.date() > eve or (now.date() == eve and now.time().replace(tzinfo=None) >= remind_at)


def document_number(prefix, year, value):
    """Y2026000123 (appointment), V2026000007 (visit): gap-free per year."""
    return f"{prefix}{year}{value:06d}"


# ------------------------------------------------------------ visits

def visit_status(visit):
    if visit["completed_at"] is not None:
        return "completed"
    if visit["assigned_to"]:
        return "scheduled"
    return "requested"


def visit_problems(layout, calendar, item_code, preferred_date, today):
    problems = {}
    if item_code is not None and layout.queue_of_item(item_code) is None:
        problems["item_code"] = [f"{item_code} is not served in this hall"]
    if preferred_date is not None:
        if preferred_date < today:
            problems.setdefault("preferred_date", []).append("is in the past")
        if not calendar.is_workday(preferred_date)[0]:
            problems.setdefault("preferred_date", []).append("is not a working day")
    return problems


# ------------------------------------------------------------ the big screen

def department_light(open_tasks):
    """(red, yellow): a department's overdue and warned open tasks, as
    review's supervision marked them."""
    levels = [task.get("warning_level") for task in open_tasks]
    return levels.count("red"), levels.count("yellow")
