"""What the hall does: the use cases behind the entrypoints.

Each function works on one HallStore (one transaction) and the hall's layout;
no nameko here. `now` is the centre's local time, passed in so that tests
and the screen agree on one instant per call.
"""
import datetime

from marshmallow import ValidationError

from onewindow import idempotency, personal, principals, workdays
from onewindow.errors import Conflict, Forbidden, NotFound, ValidationFailed
from onewindow.validation import flatten, schema_instance, wire

from . import domain, metrics, schemas

now = workdays.local_now


def problems_of(schema, data):
    """(the valid fields, the problems): so that the domain's checks of the
    valid fields are listed beside the schema's in one ValidationFailed."""
    try:
        return schema_instance(schema).load(data), {}
    except ValidationError as exc:
        return exc.valid_data or {}, flatten(exc.messages)


# ------------------------------------------------------------ views

def ticket_view(store, layout, ticket, at):
    status = domain.ticket_status(ticket, at.date())
    view = {"ticket_no": ticket["ticket_no"], "service_day": ticket["service_day"], "queue_code": ticket["queue_code"],
            "queue_name": layout.queues[ticket["queue_code"]].name if ticket["queue_code"] in layout.queues else "",
            "channel": ticket["channel"], "status": status, "position": None, "ahead": None,
            "estimated_wait_minutes": None, "window_code": ticket["window_code"] if status != "waiting" else None,
            "calls": ticket["calls"], "taken_at": ticket["taken_at"], "called_at": ticket["first_called_at"],
            "checked_in": ticket["checked_in_at"] is not None, "finished_at": ticket["finished_at"],
            "appointment_no": ticket["appointment_no"], "green_channel": ticket["green_channel"] is not None,
            "application_no": ticket["application_no"], "transferred_from": ticket["transferred_from"],
            "phone_masked": personal.mask_phone(ticket["phone"])}
    if status == "waiting":
        ahead = store.ahead_of(ticket, at)
        view.update(ahead=ahead, position=ahead + 1,
                    estimated_wait_minutes=estimate(store, layout, ticket["queue_code"], ahead))
    return view


def estimate(store, layout, queue_code, ahead):
    return domain.estimated_wait_minutes(ahead, store.service_seconds(queue_code, layout.service_time_sample),
                                         len(layout.windows_of(queue_code)), layout.default_service_seconds)


def for_event(ticket, layout, **extra):
    """What every ticket event says: the number, the queue, whom to tell."""
    queue = layout.queues.get(ticket["queue_code"])
    return dict({"ticket_no": ticket["ticket_no"], "service_day": ticket["service_day"],
                 "queue_code": ticket["queue_code"], "queue_name": queue.name if queue else "",
                 "channel": ticket["channel"], "phone": ticket["phone"], "window_code": ticket["window_code"],
                 "appointment_no": ticket["appointment_no"], "calls": ticket["calls"]}, **extra)


# ------------------------------------------------------------ tickets

def take_ticket(store, layout, calendar, args, at, caller=None):
    """A ticket from the kiosk, the remote channel (phone or web; only while
    the hall is open today) or an appointment the applicant checks in for."""
    actor = name_of(caller)
    data = dict(args)
    query, problems = problems_of(schemas.TakeTicket, data)
    queue_code = query.get("queue_code")
    if queue_code and queue_code not in layout.queues:
        problems.setdefault("queue_code", []).append(f"no queue {queue_code}")
    channel = query.get("channel")
    if channel == "remote" and not query.get("phone"):
        problems.setdefault("phone", []).append("a remote ticket needs the phone its holder is told on")
    if channel == "appointment" and not query.get("appointment_no"):
        problems.setdefault("appointment_no", []).append("an appointment ticket names its appointment")
    if channel != "appointment" and query.get("appointment_no"):
        problems.setdefault("appointment_no", []).append("only for the appointment channel")
    if problems:
        raise ValidationFailed(problems)
    if not layout.is_open(at, calendar) and channel != "appointment":
        raise Conflict("the hall is closed now: tickets are taken during today's opening hours")

    appointment = None
    if channel == "appointment":
        appointment = check_in_appointment(store, query["appointment_no"], queue_code, at)
    seq = store.next_ticket_seq(at.date(), queue_code)
    ticket = store.add_ticket({
        "service_day": at.date(), "ticket_no": domain.ticket_number(queue_code, seq), "queue_code": queue_code,
        "seq": seq, "channel": channel, "phone": query["phone"] or (appointment or {}).get("phone"),
        "appointment_no": query["appointment_no"], "due_at": (appointment or {}).get("starts_at"),
        "green_channel": query["green_channel"], "taken_at": at,
        # the kiosk is in the hall; a remote holder checks in on arrival
        "checked_in_at": None if channel == "remote" else at,
    })
    if appointment is not None:
        store.appointment_ticketed(appointment["appointment_no"], ticket["ticket_no"])
        metrics.APPOINTMENTS.labels("checked_in").inc()
    store.history(ticket, "taken", actor=actor, detail={"channel": channel}, at=at)
    ahead = store.ahead_of(ticket, at)
    wait = estimate(store, layout, queue_code, ahead)
    if channel == "remote" and domain.near_turn(ahead, False):
        store.mark_near_told(ticket, at)  # the ticket SMS already says how near it is
    store.emit("ticket_taken", for_event(ticket, layout, ahead=ahead, position=ahead + 1,
                                      estimated_wait_minutes=wait, taken_at=at))
    metrics.TICKETS.labels(queue_code, channel).inc()
    return {"ticket_no": ticket["ticket_no"], "queue_code": queue_code, "position": ahead + 1,
            "estimated_wait_minutes": wait, "ahead": ahead, "service_day": ticket["service_day"],
            "channel": channel}


def take_ticket_online(store, layout, calendar, args, at):
    """The remote ticket form's take_ticket: no RPC entrypoint claims its
    client_ref, so it is claimed here (a refusal leaves it free)."""
    key = idempotency.key_of(args)

    def take():
        return take_ticket(store, layout, calendar, args, at)

    if key is None:
        return take()  # the form's problems, client_ref missing among them
    return idempotency.once(store.unit, "hall.take_ticket", key, principals.ANONYMOUS, args, take)


def check_in_appointment(store, appointment_no, queue_code, at):
    appointment = store.appointment(appointment_no, lock=True)
    if appointment is None:
        raise NotFound(f"no appointment {appointment_no}")
    status = domain.appointment_status(appointment)
    if status != "booked":
        raise Conflict(f"appointment {appointment_no} is {status}")
    if appointment["day"] != at.date():
        raise Conflict(f"appointment {appointment_no} is for {appointment['day']}, not today")
    if appointment["queue_code"] != queue_code:
        raise ValidationFailed({"queue_code": [f"appointment {appointment_no} is served in queue "
                                               f"{appointment['queue_code']}"]})
    return appointment


def name_of(caller):
    """How the ticket's history names who acted."""
    return caller.label() if caller is not None else ""


def find_ticket(store, ticket_no, day, lock=False):
    ticket = store.ticket(day, ticket_no, lock=lock)
    if ticket is None:
        raise NotFound(f"no ticket {ticket_no} on {day}")
    return ticket


def ticket(store, layout, query, at):
    found = find_ticket(store, query["ticket_no"], query["day"] or at.date())
    view = ticket_view(store, layout, found, at)
    view["history"] = store.ticket_history(found)
    return view


def check_window(layout, window_code, caller=None):
    if window_code not in layout.windows:
        raise ValidationFailed({"window_code": [f"no window {window_code}"]})
    window = layout.windows[window_code]
    check_clerk(window, caller)
    return window


def check_clerk(window, caller):
    """A window clerk's system acts at its own window only."""
    if caller is not None and caller.role == principals.WINDOW and not window.operated_by(caller.name):
        raise Forbidden(f"{caller.name} is not a clerk of window {window.code}")


def call_next(store, layout, query, at, caller=None):
    """The window's next ticket, or None when nobody waits. The window must
    have finished (or transferred) what it called before."""
    window = check_window(layout, query["window_code"], caller)
    actor = name_of(caller)

    store.lock_window(window.code)  # one clerk's double click never calls two tickets
    current = store.at_window(at.date(), window.code)
    if current:
        raise Conflict(f"window {window.code} is serving {current[0]['ticket_no']}: finish or transfer it first")
    with metrics.CALL_SECONDS.time():
        called = store.call_next(at.date(), window.queues, window.code, at)
    if called is None:
        return None
    store.history(called, "called", window.code, actor, at=at)
    announce_call(store, layout, called, at)
    if called["calls"] == 1 and called["first_called_at"] == at:
        metrics.WAIT_SECONDS.labels(called["queue_code"]).observe((at - called["taken_at"]).total_seconds())
    for told in store.near_turn(at.date(), window.queues, at):
        store.emit("turn_near", for_event(told, layout, ahead=told["ahead"]))
    return ticket_view(store, layout, called, at)


def announce_call(store, layout, ticket, at):
    store.emit("ticket_called", for_event(ticket, layout, called_at=at,
                                       wait_seconds=round((at - ticket["taken_at"]).total_seconds())))


def held_by(store, ticket_no, window_code, at):
    """A ticket this window called and has not finished."""
    found = find_ticket(store, ticket_no, at.date(), lock=True)
    status = domain.ticket_status(found, at.date())
    if status != "called" or found["window_code"] != window_code:
        raise Conflict(f"ticket {ticket_no} is {status}"
                       + (f" at window {found['window_code']}" if status == "called" else "")
                       + f", not called at window {window_code}")
    return found


def recall(store, layout, query, at, caller=None):
    """Call the ticket again. A remote ticket whose holder has not checked in
    lapses at its second call and the window is free for the next."""
    check_window(layout, query["window_code"], caller)
    actor = name_of(caller)

    found = held_by(store, query["ticket_no"], query["window_code"], at)
    again = store.recall(found, at)
    if domain.remote_unclaimed(again):
        store.history(again, "expired", query["window_code"], actor, at=at)
        store.emit("ticket_expired", for_event(again, layout, expired_at=at))
        metrics.EXPIRED.labels(again["queue_code"]).inc()
    else:
        store.history(again, "recalled", query["window_code"], actor, at=at)
        announce_call(store, layout, again, at)
    return ticket_view(store, layout, again, at)


def finish(store, layout, query, at, caller=None):
    """Served (with the application the window submitted, so a case is traced
    from ticket to conclusion) or no-show."""
    if query["outcome"] == "no_show" and query["application_no"]:
        raise ValidationFailed({"application_no": ["a no-show has no application"]})

    found = find_ticket(store, query["ticket_no"], at.date(), lock=True)
    status = domain.ticket_status(found, at.date())
    if status != "called":
        raise Conflict(f"ticket {query['ticket_no']} is {status}; only a called ticket is finished")
    check_clerk(layout.windows[found["window_code"]], caller)
    actor = name_of(caller)
    done = store.finish(found, query["outcome"], query["application_no"], at)
    store.history(done, query["outcome"], done["window_code"], actor,
               detail={"application_no": query["application_no"]}, at=at)
    service_seconds = round((at - done["called_at"]).total_seconds())
    store.emit("ticket_finished", for_event(done, layout, outcome=query["outcome"], finished_at=at,
                                         application_no=query["application_no"], service_seconds=service_seconds))
    if query["outcome"] == "served":
        metrics.SERVED.labels(done["window_code"]).inc()
        metrics.SERVICE_SECONDS.labels(done["queue_code"]).observe(service_seconds)
    else:
        metrics.NO_SHOWS.labels(done["queue_code"]).inc()
    return ticket_view(store, layout, done, at)


def transfer(store, layout, query, at, caller=None):
    """Send a waiting or called ticket to another queue; it keeps the time it
    was taken, so it is called there before those who came later."""
    if query["queue_code"] not in layout.queues:
        raise ValidationFailed({"queue_code": [f"no queue {query['queue_code']}"]})

    found = find_ticket(store, query["ticket_no"], at.date(), lock=True)
    status = domain.ticket_status(found, at.date())
    if status not in ("waiting", "called"):
        raise Conflict(f"ticket {query['ticket_no']} is {status}")
    if status == "called":
        check_clerk(layout.windows[found["window_code"]], caller)
    actor = name_of(caller)
    if found["queue_code"] == query["queue_code"]:
        raise Conflict(f"ticket {query['ticket_no']} already waits in queue {query['queue_code']}")
    moved = store.transfer(found, query["queue_code"])
    store.history(moved, "transferred", found["window_code"], actor,
               detail={"from": found["queue_code"], "to": query["queue_code"]}, at=at)
    store.emit("ticket_transferred", for_event(moved, layout, transferred_from=found["queue_code"]))
    return ticket_view(store, layout, moved, at)


def check_in(store, layout, query, at, caller=None):
    """A remote ticket holder arrives in the hall (scans at the kiosk)."""
    actor = name_of(caller)

    found = find_ticket(store, query["ticket_no"], at.date(), lock=True)
    status = domain.ticket_status(found, at.date())
    if status not in ("waiting", "called"):
        raise Conflict(f"ticket {query['ticket_no']} is {status}")
    arrived = store.check_in(found, at)
    store.history(arrived, "checked_in", actor=actor, at=at)
    return ticket_view(store, layout, arrived, at)


# ------------------------------------------------------------ the hall at a glance

def queues(store, layout, at):
    figures = store.queue_figures(at.date())
    serving = {}
    for row in store.serving(at.date()):
        if domain.ticket_status(row, at.date()) == "called":
            serving.setdefault(row["queue_code"], []).append(row["ticket_no"])
    result = []
    for queue in layout.queues.values():
        row = figures.get(queue.code) or {}
        waiting = row.get("waiting") or 0
        average = row.get("average_wait_seconds")
        result.append({
            "code": queue.code, "name": queue.name, "windows": layout.windows_of(queue.code),
            "departments": list(queue.departments), "waiting": waiting,
            "now_serving": sorted(serving.get(queue.code, [])),
            "average_wait_minutes": round(float(average) / 60, 1) if average is not None else None,
            "estimated_wait_minutes": estimate(store, layout, queue.code, waiting),
        })
    return result


def windows(store, layout, at):
    called = {row["window_code"]: row for row in store.serving(at.date())}
    result = []
    for window in layout.windows.values():
        row = called.get(window.code)
        current = row if row is not None and domain.ticket_status(row, at.date()) == "called" else None
        result.append({"code": window.code, "queues": list(window.queues),
                       "now_serving": current["ticket_no"] if current else None,
                       "last_called": row["ticket_no"] if row else None})
    return result


def refresh_gauges(store, layout, at):
    metrics.queue_figures(layout.queues, store.queue_figures(at.date()), at)


# ------------------------------------------------------------ appointments

def slots(store, layout, calendar, query, at):
    problems = domain.booking_problems(layout, calendar, query["item_code"], query["date"], None, at)
    if "item_code" in problems or any("past" in p or "ahead" in p for p in problems.get("date", [])):
        raise ValidationFailed(problems)
    if problems.get("date"):  # not a working day: nothing to book
        return []
    booked = store.booked_per_slot(query["item_code"], query["date"])
    capacity = layout.capacity_of(query["item_code"])
    result = []
    for slot in layout.slots:
        start, end = domain.slot_times(query["date"], slot, at.tzinfo)
        taken = booked.get(slot, 0)
        result.append({"slot": slot, "starts_at": start, "ends_at": end, "capacity": capacity, "booked": taken,
                       "available": max(0, capacity - taken) if end > at else 0})
    return result


def appointment_view(appointment):
    return {"appointment_no": appointment["appointment_no"], "item_code": appointment["item_code"],
            "queue_code": appointment["queue_code"], "date": appointment["day"], "slot": appointment["slot"],
            "starts_at": appointment["starts_at"], "ends_at": appointment["ends_at"],
            "status": domain.appointment_status(appointment), "ticket_no": appointment["ticket_no"],
            "phone_masked": personal.mask_phone(appointment["phone"]), "booked_at": appointment["booked_at"],
            "reminded": appointment["reminded_at"] is not None}


def appointment_event(appointment, layout, **extra):
    queue = layout.queues[appointment["queue_code"]]
    return dict({"appointment_no": appointment["appointment_no"], "item_code": appointment["item_code"],
                 "queue_code": queue.code, "queue_name": queue.name, "date": appointment["day"],
                 "slot": appointment["slot"], "phone": appointment["phone"]}, **extra)


def book(store, layout, calendar, item_code, date, slot, phone, client_ref, at, caller=None):
    """An appointment within the slot's capacity; the slot row is locked
    while the others are counted, so the last place is taken once."""
    query, problems = problems_of(schemas.Book, {"item_code": item_code, "date": date, "slot": slot,
                                                 "phone": phone, "client_ref": client_ref})
    problems.update({k: v for k, v in domain.booking_problems(
        layout, calendar, query.get("item_code"), query.get("date"), query.get("slot"), at).items()
        if k not in problems})
    if problems:
        raise ValidationFailed(problems)

    item, day = query["item_code"], query["date"]
    store.lock_slot(item, day, query["slot"])
    earlier = store.booking_of_phone(item, day, query["phone"])
    if earlier is not None:
        raise Conflict(f"this phone already has appointment {earlier['appointment_no']} for {item} on {day}")
    if store.booked_per_slot(item, day).get(query["slot"], 0) >= layout.capacity_of(item):
        raise Conflict(f"slot {query['slot']} of {day} is fully booked")
    start, end = domain.slot_times(day, query["slot"], at.tzinfo)
    appointment = store.add_appointment({
        "appointment_no": store.next_document("appointment", "Y", at.year), "item_code": item,
        "queue_code": layout.queue_of_item(item), "day": day, "slot": query["slot"], "starts_at": start,
        "ends_at": end, "phone": query["phone"], "booked_at": at})
    store.emit("appointment_booked", appointment_event(appointment, layout, booked_at=at))
    metrics.APPOINTMENTS.labels("booked").inc()
    return appointment_view(appointment)


def cancel_booking(store, layout, query, at, caller=None):

    appointment = store.appointment(query["appointment_no"], lock=True)
    if appointment is None:
        raise NotFound(f"no appointment {query['appointment_no']}")
    status = domain.appointment_status(appointment)
    if status != "booked" or appointment["ends_at"] <= at:
        raise Conflict(f"appointment {query['appointment_no']} is {status}"
                       + (" and its slot is over" if status == "booked" else ""))
    cancelled = store.cancel_appointment(appointment["appointment_no"], at)
    store.emit("appointment_cancelled", appointment_event(cancelled, layout, cancelled_at=at))
    metrics.APPOINTMENTS.labels("cancelled").inc()
    return appointment_view(cancelled)


def appointment(store, query):
    found = store.appointment(query["appointment_no"])
    if found is None:
        raise NotFound(f"no appointment {query['appointment_no']}")
    return appointment_view(found)


def sweep(store, layout, as_of, at):
    """Remind tomorrow's appointments (from remind_at the day before) and
    count the missed ones (slot over, no ticket): once each."""
    when = as_of.astimezone(at.tzinfo) if as_of else at
    if when > at:
        raise ValidationFailed({"as_of": ["must not be in the future"]})
    reminded, missed = [], []
    tomorrow = when.date() + datetime.timedelta(days=1)
    if domain.reminder_due(tomorrow, when, layout.remind_at):
        for row in store.reminders_due(tomorrow):
            store.reminded(row["appointment_no"], when)
            store.emit("appointment_reminder", appointment_event(row, layout, starts_at=row["starts_at"]))
            reminded.append(row["appointment_no"])
    for row in store.missed_by(when):
        store.missed(row["appointment_no"], when)
        store.emit("appointment_missed", appointment_event(row, layout, missed_at=when))
        metrics.APPOINTMENTS.labels("missed").inc()
        missed.append(row["appointment_no"])
    return {"as_of": when, "reminded": reminded, "missed": missed}


# ------------------------------------------------------------ visits

def visit_view(visit):
    return {"visit_no": visit["visit_no"], "kind": visit["kind"], "item_code": visit["item_code"],
            "status": domain.visit_status(visit), "address": visit["address"],
            "phone_masked": personal.mask_phone(visit["phone"]), "preferred_date": visit["preferred_date"],
            "assigned_to": visit["assigned_to"], "scheduled_date": visit["scheduled_date"],
            "requested_at": visit["requested_at"], "completed_at": visit["completed_at"],
            "application_no": visit["application_no"], "history": visit["history"]}


def visit_event(visit, **extra):
    return dict({"visit_no": visit["visit_no"], "kind": visit["kind"], "item_code": visit["item_code"],
                 "phone": visit["phone"], "address": visit["address"], "preferred_date": visit["preferred_date"],
                 "scheduled_date": visit["scheduled_date"], "assigned_to": visit["assigned_to"]}, **extra)


def request_visit(store, layout, calendar, kind, item_code, phone, address, preferred_date, client_ref, at,
                  caller=None):
    """上门服务 (home) or 代办 (agent): the centre's staff go to the applicant
    or act on their behalf."""
    actor = name_of(caller)
    query, problems = problems_of(schemas.RequestVisit, {
        "kind": kind, "item_code": item_code, "phone": phone, "address": address,
        "preferred_date": preferred_date, "client_ref": client_ref})
    problems.update({k: v for k, v in domain.visit_problems(
        layout, calendar, query.get("item_code"), query.get("preferred_date"), at.date()).items()
        if k not in problems})
    if problems:
        raise ValidationFailed(problems)

    visit = store.add_visit({
        "visit_no": store.next_document("visit", "V", at.year), "kind": query["kind"],
        "item_code": query["item_code"], "phone": query["phone"], "address": query["address"],
        "preferred_date": query["preferred_date"], "requested_at": at,
        "history": [{"action": "requested", "by": actor, "at": at.isoformat()}]})
    store.emit("visit_requested", visit_event(visit, requested_at=at))
    metrics.VISITS.labels(visit["kind"], "requested").inc()
    return visit_view(visit)


def locked_visit(store, visit_no):
    visit = store.visit(visit_no, lock=True)
    if visit is None:
        raise NotFound(f"no visit {visit_no}")
    return visit


def assign_visit(store, layout, calendar, query, at, caller=None):
    """A staff member takes the visit on a working day (the preferred one
    unless another is given); the applicant is told by SMS."""
    actor = name_of(caller)

    visit = locked_visit(store, query["visit_no"])
    if domain.visit_status(visit) == "completed":
        raise Conflict(f"visit {query['visit_no']} is completed")
    day = query["scheduled_date"] or visit["preferred_date"]
    problems = domain.visit_problems(layout, calendar, None, day, at.date())
    if problems:
        raise ValidationFailed({"scheduled_date": problems["preferred_date"]})
    assigned = store.assign_visit(visit["visit_no"], query["staff"], day, at,
                               {"action": "scheduled", "staff": query["staff"], "date": day.isoformat(),
                                "by": actor, "at": at.isoformat()})
    store.emit("visit_scheduled", visit_event(assigned, scheduled_at=at))
    return visit_view(assigned)


def complete_visit(store, layout, query, at, caller=None):
    actor = name_of(caller)

    visit = locked_visit(store, query["visit_no"])
    status = domain.visit_status(visit)
    if status != "scheduled":
        raise Conflict(f"visit {query['visit_no']} is {status}; a visit is completed after it is scheduled")
    done = store.complete_visit(visit["visit_no"], query["application_no"], at,
                             {"action": "completed", "application_no": query["application_no"],
                              "by": actor, "at": at.isoformat()})
    store.emit("visit_completed", visit_event(done, completed_at=at, application_no=query["application_no"]))
    metrics.VISITS.labels(done["kind"], "completed").inc()
    return visit_view(done)


def visits(store, query):
    views = [visit_view(v) for v in store.visits()]
    return [v for v in views if query["status"] in (None, v["status"])]


# ------------------------------------------------------------ report

def report(store, query):
    if query["end"] < query["start"]:
        raise ValidationFailed({"end": ["must not be before start"]})
    tickets, appointments, by_kind = store.report(query["start"], query["end"])
    average = tickets["average_wait_seconds"]
    return {"start": query["start"], "end": query["end"], "tickets": tickets["tickets"],
            "remote_tickets": tickets["remote_tickets"], "served": tickets["served"],
            "no_shows": tickets["no_shows"],
            "average_wait_minutes": round(float(average) / 60, 1) if average is not None else None,
            "appointments": appointments["appointments"], "appointments_cancelled": appointments["cancelled"],
            "appointments_missed": appointments["missed"],
            "home_visits": (by_kind.get("home") or {}).get("requested", 0),
            "home_visits_completed": (by_kind.get("home") or {}).get("completed", 0),
            "agent_visits": (by_kind.get("agent") or {}).get("requested", 0),
            "agent_visits_completed": (by_kind.get("agent") or {}).get("completed", 0)}


# ------------------------------------------------------------ the big screen

def board(store, layout, lights, at):
    """Everything the big screen shows, as plain values."""
    return wire({"at": at, "day": at.date(), "windows": windows(store, layout, at), "queues": queues(store, layout, at),
                 "departments": lights})
