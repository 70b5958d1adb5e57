"""Appointments within slot capacity on working days, reminders the day
before, missed appointments counted; home and agent visits; the report."""
import json

import pytest
from nameko.exceptions import RemoteError

from .conftest import HOLIDAY, day, ref, today


def error(call):
    with pytest.raises(RemoteError) as err:
        call()
    return err.value


def test_slots_show_capacity_per_item_and_only_working_days_have_any(hall):
    slots = hall.rpc.slots("ENT-EST", day(1).isoformat())
    assert [(s["slot"], s["capacity"], s["booked"], s["available"]) for s in slots] == [
        ("00:00-12:00", 3, 0, 3), ("12:00-24:00", 3, 0, 3)]
    assert hall.rpc.slots("ENT-NAME", day(1).isoformat())[0]["capacity"] == 1
    assert hall.rpc.slots("ENT-EST", day(HOLIDAY).isoformat()) == []
    assert error(lambda: hall.rpc.slots("NO-ITEM", day(1).isoformat())).exc_type == "ValidationFailed"
    assert error(lambda: hall.rpc.slots("ENT-EST", day(-1).isoformat())).exc_type == "ValidationFailed"
    assert error(lambda: hall.rpc.slots("ENT-EST", "tomorrow")).exc_type == "ValidationFailed"


def test_booking_fills_a_slot_and_the_last_place_is_taken_once(hall):
    date = day(1).isoformat()
    booked = hall.rpc.book("ENT-NAME", date, "00:00-12:00", "13900000011", ref())
    assert booked["status"] == "booked" and booked["queue_code"] == "A"
    assert booked["appointment_no"].startswith(f"Y{today().year}")
    assert error(lambda: hall.rpc.book("ENT-NAME", date, "00:00-12:00", "13900000012", ref())).exc_type == "Conflict"
    assert hall.rpc.slots("ENT-NAME", date)[0]["available"] == 0
    # the same phone books one appointment per item and day
    hall.rpc.book("ENT-EST", date, "00:00-12:00", "13900000013", ref())
    assert error(lambda: hall.rpc.book("ENT-EST", date, "12:00-24:00", "13900000013", ref())).exc_type == "Conflict"
    event = hall.events("appointment_booked")[0]
    assert event["appointment_no"] == booked["appointment_no"] and event["phone"] == "13900000011"
    assert event["queue_name"] == "企业开办" and event["slot"] == "00:00-12:00"


def test_bad_bookings_list_every_problem(hall):
    err = error(lambda: hall.rpc.book("NO-ITEM", day(HOLIDAY).isoformat(), "07:00-08:00", "123", ""))
    assert set(json.loads(err.value)) == {"item_code", "date", "slot", "phone", "client_ref"}
    err = error(lambda: hall.rpc.book("ENT-EST", day(30).isoformat(), "00:00-12:00", "13900000014", ref()))
    assert json.loads(err.value) == {"date": ["is more than 7 days ahead"]}
    assert hall.sql("SELECT count(*) AS n FROM appointments")[0]["n"] == 0


def test_cancelling_frees_the_place_once(hall):
    date = day(2).isoformat()
    booked = hall.rpc.book("ENT-NAME", date, "12:00-24:00", "13900000021", ref())
    key = ref()
    cancelled = hall.rpc.cancel_booking(booked["appointment_no"], key)
    assert cancelled["status"] == "cancelled"
    assert hall.rpc.cancel_booking(booked["appointment_no"], key) == cancelled
    assert error(lambda: hall.rpc.cancel_booking(booked["appointment_no"], ref())).exc_type == "Conflict"
    assert error(lambda: hall.rpc.cancel_booking("Y1999000001", ref())).exc_type == "NotFound"
    assert hall.rpc.slots("ENT-NAME", date)[1]["available"] == 1
    assert len(hall.events("appointment_cancelled")) == 1


def test_an_appointment_ticket_is_taken_once_on_its_day_in_its_queue(hall):
    soon = hall.rpc.book("ENT-EST", day(1).isoformat(), "12:00-24:00", "13900000031", ref())
    assert error(lambda: hall.rpc.take_ticket("A", "appointment", ref(), appointment_no=soon["appointment_no"])
                 ).exc_type == "Conflict"  # not today
    slot = next(s for s in hall.rpc.slots("ENT-EST", today().isoformat()) if s["available"])
    now = hall.rpc.book("ENT-EST", today().isoformat(), slot["slot"], "13900000032", ref())
    assert error(lambda: hall.rpc.take_ticket("B", "appointment", ref(), appointment_no=now["appointment_no"])
                 ).exc_type == "ValidationFailed"
    ticket = hall.rpc.take_ticket("A", "appointment", ref(), appointment_no=now["appointment_no"])
    assert hall.rpc.ticket(ticket["ticket_no"])["appointment_no"] == now["appointment_no"]
    assert error(lambda: hall.rpc.take_ticket("A", "appointment", ref(), appointment_no=now["appointment_no"])
                 ).exc_type == "Conflict"
    assert error(lambda: hall.rpc.cancel_booking(now["appointment_no"], ref())).exc_type == "Conflict"


def test_reminders_go_the_day_before_once_and_missed_appointments_are_counted(hall):
    tomorrow = hall.rpc.book("ENT-EST", day(1).isoformat(), "00:00-12:00", "13900000041", ref())
    later = hall.rpc.book("ENT-EST", day(2).isoformat(), "00:00-12:00", "13900000042", ref())
    swept = hall.rpc.sweep()
    assert swept["reminded"] == [tomorrow["appointment_no"]] and swept["missed"] == []
    assert hall.rpc.sweep()["reminded"] == []
    reminders = hall.events("appointment_reminder")
    assert [(e["appointment_no"], e["phone"]) for e in reminders] == [(tomorrow["appointment_no"], "13900000041")]
    assert hall.rpc.appointment(tomorrow["appointment_no"])["reminded"]
    # the day passes without the applicant
    hall.sql("UPDATE appointments SET day = day - 3, starts_at = starts_at - interval '3 days', "
             "ends_at = ends_at - interval '3 days' WHERE appointment_no = %s", (later["appointment_no"],))
    assert hall.rpc.sweep()["missed"] == [later["appointment_no"]]
    assert hall.rpc.sweep()["missed"] == []
    assert hall.rpc.appointment(later["appointment_no"])["status"] == "missed"
    assert [e["appointment_no"] for e in hall.events("appointment_missed")] == [later["appointment_no"]]
    assert error(lambda: hall.rpc.sweep("2999-01-01T00:00:00+08:00")).exc_type == "ValidationFailed"


def test_a_home_visit_is_requested_scheduled_and_completed_with_its_application(hall):
    requested = hall.rpc.request_visit("home", "ENT-EST", "13900000051", "幸福路8号3单元", day(1).isoformat(), ref())
    assert requested["status"] == "requested" and requested["visit_no"].startswith(f"V{today().year}")
    assert requested["phone_masked"] == "139****0051"
    assert error(lambda: hall.rpc.complete_visit(requested["visit_no"], ref())).exc_type == "Conflict"
    scheduled = hall.rpc.assign_visit(requested["visit_no"], "王五", ref())
    assert scheduled["status"] == "scheduled" and scheduled["scheduled_date"] == day(1).isoformat()
    event = hall.events("visit_scheduled")[0]
    assert event["assigned_to"] == "王五" and event["phone"] == "13900000051" and event["kind"] == "home"
    done = hall.rpc.complete_visit(requested["visit_no"], ref(), application_no="2026ZW000777")
    assert done["status"] == "completed" and done["application_no"] == "2026ZW000777"
    assert [a["action"] for a in done["history"]] == ["requested", "scheduled", "completed"]
    assert error(lambda: hall.rpc.complete_visit(requested["visit_no"], ref())).exc_type == "Conflict"
    agent = hall.rpc.request_visit("agent", "NTAX-REG", "13900000052", "代办：开发区管委会", day(2).isoformat(), ref())
    assert [v["visit_no"] for v in hall.rpc.visits("requested")] == [agent["visit_no"]]
    assert [v["visit_no"] for v in hall.rpc.visits("completed")] == [requested["visit_no"]]
    report = hall.rpc.report(today().isoformat(), day(3).isoformat())
    assert (report["home_visits"], report["home_visits_completed"], report["agent_visits"]) == (1, 1, 1)


def test_bad_visit_requests_list_every_problem(hall):
    err = error(lambda: hall.rpc.request_visit("drone", "NO-ITEM", "1", "x", day(HOLIDAY).isoformat(), ""))
    assert set(json.loads(err.value)) == {"kind", "item_code", "phone", "address", "preferred_date", "client_ref"}
    visit = hall.rpc.request_visit("home", "ENT-EST", "13900000053", "幸福路9号", day(1).isoformat(), ref())
    err = error(lambda: hall.rpc.assign_visit(visit["visit_no"], "王五", ref(), day(HOLIDAY).isoformat()))
    assert json.loads(err.value) == {"scheduled_date": ["is not a working day"]}
    assert error(lambda: hall.rpc.assign_visit("V1999000001", "王五", ref())).exc_type == "NotFound"
    assert error(lambda: hall.rpc.visits("lost")).exc_type == "ValidationFailed"


def test_report_counts_tickets_waits_no_shows_and_appointments(hall):
    hall.take("A")
    hall.take("A", "remote", phone="13900000061")
    first = hall.call("1")
    hall.rpc.finish(first["ticket_no"], "no_show", ref())
    hall.rpc.book("ENT-EST", day(1).isoformat(), "00:00-12:00", "13900000062", ref())
    report = hall.rpc.report(today().isoformat(), today().isoformat())
    assert (report["tickets"], report["remote_tickets"], report["no_shows"], report["served"]) == (2, 1, 1, 0)
    assert report["average_wait_minutes"] is not None
    assert hall.rpc.report(day(1).isoformat(), day(1).isoformat())["appointments"] == 1
    assert error(lambda: hall.rpc.report(day(1).isoformat(), today().isoformat())).exc_type == "ValidationFailed"
