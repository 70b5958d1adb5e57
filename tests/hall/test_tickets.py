"""Tickets: daily numbers per queue, positions and estimated waits, window
calling in its order, recall, expiry of unclaimed remote tickets, transfer,
finish, idempotency and bad input."""
import datetime
import json

import pytest
from nameko.exceptions import RemoteError

from .conftest import ref, today


def error(call):
    with pytest.raises(RemoteError) as err:
        call()
    return err.value


def test_kiosk_tickets_are_numbered_per_queue_and_day_with_positions(hall):
    first, second = hall.take("A"), hall.take("A")
    other = hall.take("B")
    assert (first["ticket_no"], second["ticket_no"], other["ticket_no"]) == ("A001", "A002", "B001")
    assert (first["position"], second["position"], other["position"]) == (1, 2, 1)
    assert first["estimated_wait_minutes"] == 0
    # one ahead, six minutes by default (nothing served yet), five windows serve A
    assert second["estimated_wait_minutes"] == 2
    view = hall.rpc.ticket("A002")
    assert view["status"] == "waiting" and view["position"] == 2 and view["history"][0]["action"] == "taken"
    taken = hall.events("ticket_taken")
    assert [e["ticket_no"] for e in taken] == ["A001", "A002", "B001"]
    assert taken[1]["position"] == 2 and taken[1]["queue_name"] == "企业开办"
    assert hall.sql("SELECT count(*) AS n FROM tickets")[0]["n"] == 3


def test_the_same_client_ref_takes_one_ticket_and_another_use_of_it_is_a_conflict(hall):
    key = ref()
    once = hall.rpc.take_ticket("A", "kiosk", key)
    assert hall.rpc.take_ticket("A", "kiosk", key) == once
    assert error(lambda: hall.rpc.take_ticket("B", "kiosk", key)).exc_type == "Conflict"
    assert hall.sql("SELECT count(*) AS n FROM tickets")[0]["n"] == 1
    called = hall.rpc.call_next("1", "call-1")
    assert hall.rpc.call_next("1", "call-1") == called


def test_bad_input_lists_every_problem_at_once(hall):
    err = error(lambda: hall.rpc.take_ticket("Z", "pigeon", "", phone="12345"))
    assert err.exc_type == "ValidationFailed"
    problems = json.loads(err.value)
    assert set(problems) >= {"channel", "client_ref", "phone"}
    err = error(lambda: hall.rpc.take_ticket("Z", "remote", ref()))
    problems = json.loads(err.value)
    assert set(problems) == {"queue_code", "phone"}
    assert error(lambda: hall.rpc.take_ticket("A", "appointment", ref())).exc_type == "ValidationFailed"
    assert error(lambda: hall.rpc.call_next("99", ref())).exc_type == "ValidationFailed"
    assert error(lambda: hall.rpc.ticket("A999")).exc_type == "NotFound"
    assert error(lambda: hall.rpc.ticket("not a ticket")).exc_type == "ValidationFailed"
    err = error(lambda: hall.rpc.finish("x", "maybe", ""))
    assert set(json.loads(err.value)) == {"ticket_no", "outcome", "client_ref"}
    assert error(lambda: hall.rpc.take_ticket("A", "kiosk", ref(), unknown=1)).exc_type == "ValidationFailed"
    assert hall.sql("SELECT count(*) AS n FROM tickets")[0]["n"] == 0


def test_window_calls_appointments_due_then_green_channel_then_queue_order(hall):
    today_slot = next(s for s in hall.rpc.slots("ENT-EST", today().isoformat()) if s["available"])
    booked = hall.rpc.book("ENT-EST", today().isoformat(), today_slot["slot"], "13900000001", ref())
    plain = hall.take("A")
    green = hall.take("A", green_channel="70岁以上老人")
    appointment = hall.rpc.take_ticket("A", "appointment", ref(), appointment_no=booked["appointment_no"])
    # instants, not strings: the slot is in the centre's zone, the test's clock may be in another
    if datetime.datetime.fromisoformat(today_slot["starts_at"]) <= datetime.datetime.now(datetime.timezone.utc):
        expected = [appointment["ticket_no"], green["ticket_no"], plain["ticket_no"]]
    else:  # the slot has not begun: the appointment waits its turn
        expected = [green["ticket_no"], plain["ticket_no"], appointment["ticket_no"]]
    called = []
    for _ in range(3):
        ticket = hall.call("1")
        called.append(ticket["ticket_no"])
        hall.rpc.finish(ticket["ticket_no"], "served", ref(), application_no=f"APP-{ticket['ticket_no']}")
    assert called == expected
    assert hall.call("1") is None
    assert hall.rpc.appointment(booked["appointment_no"])["status"] == "checked_in"


def test_a_window_finishes_before_it_calls_again_and_only_a_called_ticket_is_finished(hall):
    waiting = hall.take("A")
    assert error(lambda: hall.rpc.finish(waiting["ticket_no"], "served", ref())).exc_type == "Conflict"
    hall.take("A")
    called = hall.call("2")
    assert called["ticket_no"] == waiting["ticket_no"] and called["status"] == "called"
    assert called["window_code"] == "2"
    assert error(lambda: hall.call("2")).exc_type == "Conflict"
    assert error(lambda: hall.rpc.finish(called["ticket_no"], "no_show", ref(), application_no="X1")
                 ).exc_type == "ValidationFailed"
    done = hall.rpc.finish(called["ticket_no"], "served", ref(), application_no="2026ZW000123")
    assert done["status"] == "served" and done["application_no"] == "2026ZW000123"
    assert error(lambda: hall.rpc.finish(called["ticket_no"], "no_show", ref())).exc_type == "Conflict"
    finished = hall.events("ticket_finished")
    assert finished[0]["application_no"] == "2026ZW000123" and finished[0]["outcome"] == "served"
    second = hall.call("2")
    assert hall.rpc.finish(second["ticket_no"], "no_show", ref())["status"] == "no_show"


def test_remote_ticket_holder_hears_when_three_are_ahead_and_when_called(hall):
    for _ in range(4):
        hall.take("A")
    remote = hall.take("A", "remote", phone="13800000002")
    assert remote["position"] == 5
    assert hall.events("turn_near") == []
    first = hall.call("1")
    near = hall.events("turn_near")
    assert [(e["ticket_no"], e["ahead"], e["phone"]) for e in near] == [(remote["ticket_no"], 3, "13800000002")]
    hall.rpc.finish(first["ticket_no"], "served", ref())
    for _ in range(3):
        hall.rpc.finish(hall.call("1")["ticket_no"], "served", ref())
    assert len(hall.events("turn_near")) == 1  # once per ticket
    called = hall.call("4")
    assert called["ticket_no"] == remote["ticket_no"]
    event = [e for e in hall.events("ticket_called") if e["ticket_no"] == remote["ticket_no"]][0]
    assert event["window_code"] == "4" and event["phone"] == "13800000002" and event["channel"] == "remote"


def test_a_remote_ticket_taken_near_the_front_is_not_told_twice(hall):
    hall.take("A")
    remote = hall.take("A", "remote", phone="13800000003")
    assert remote["position"] == 2
    hall.call("1")
    assert hall.events("turn_near") == []


def test_an_unclaimed_remote_ticket_lapses_at_its_second_call(hall):
    remote = hall.take("A", "remote", phone="13800000004")
    kiosk = hall.take("A")
    called = hall.call("3")
    assert called["ticket_no"] == remote["ticket_no"] and not called["checked_in"]
    lapsed = hall.rpc.recall(remote["ticket_no"], "3", ref())
    assert lapsed["status"] == "expired"
    assert [e["ticket_no"] for e in hall.events("ticket_expired")] == [remote["ticket_no"]]
    assert hall.call("3")["ticket_no"] == kiosk["ticket_no"]  # the window moved on
    assert error(lambda: hall.rpc.check_in(remote["ticket_no"], ref())).exc_type == "Conflict"


def test_a_checked_in_remote_ticket_is_recalled_not_expired(hall):
    remote = hall.take("A", "remote", phone="13800000005")
    assert hall.rpc.check_in(remote["ticket_no"], ref())["checked_in"]
    hall.call("1")
    again = hall.rpc.recall(remote["ticket_no"], "1", ref())
    assert again["status"] == "called" and again["calls"] == 2
    assert len([e for e in hall.events("ticket_called") if e["ticket_no"] == remote["ticket_no"]]) == 2
    assert error(lambda: hall.rpc.recall(remote["ticket_no"], "2", ref())).exc_type == "Conflict"
    assert hall.rpc.finish(remote["ticket_no"], "served", ref())["status"] == "served"


def test_a_transferred_ticket_is_called_in_its_new_queue_before_later_tickets(hall):
    moved = hall.take("A")
    later = hall.take("B")
    hall.call("1")
    view = hall.rpc.transfer(moved["ticket_no"], "B", ref())
    assert view["status"] == "waiting" and view["queue_code"] == "B" and view["transferred_from"] == "A"
    assert view["position"] == 1
    assert hall.call("1") is None  # window 1 is free again and A is empty
    assert hall.call("6")["ticket_no"] == moved["ticket_no"]
    assert hall.rpc.ticket(later["ticket_no"])["position"] == 1
    assert error(lambda: hall.rpc.transfer(moved["ticket_no"], "B", ref())).exc_type == "Conflict"
    assert error(lambda: hall.rpc.transfer(moved["ticket_no"], "Q", ref())).exc_type == "ValidationFailed"


def test_estimated_wait_follows_the_measured_service_time_of_the_queue(hall):
    served = hall.take("A")
    hall.call("1")
    hall.rpc.finish(served["ticket_no"], "served", ref())
    # this service took 20 minutes
    hall.sql("UPDATE tickets SET called_at = finished_at - interval '20 minutes' WHERE ticket_no = %s",
             (served["ticket_no"],))
    for _ in range(5):
        hall.take("A")
    waiting = hall.take("A")
    assert waiting["position"] == 6
    assert waiting["estimated_wait_minutes"] == 20  # five ahead, 20 minutes each, five windows
    queue = next(q for q in hall.rpc.queues() if q["code"] == "A")
    assert queue["waiting"] == 6 and queue["estimated_wait_minutes"] == 24
    assert queue["windows"] == ["1", "2", "3", "4", "5"] and queue["average_wait_minutes"] is not None


def test_queues_and_windows_show_who_is_served_where(hall):
    hall.take("A")
    hall.take("B")
    called = hall.call("3")
    queues = {q["code"]: q for q in hall.rpc.queues()}
    assert set(queues["A"]) >= {"code", "name", "windows", "waiting", "now_serving", "average_wait_minutes"}
    assert queues["A"]["now_serving"] == [called["ticket_no"]] and queues["B"]["waiting"] == 1
    windows = {w["code"]: w for w in hall.rpc.windows()}
    assert windows["3"]["now_serving"] == called["ticket_no"] and windows["1"]["now_serving"] is None


def test_a_window_clerk_calls_and_finishes_at_its_own_window_only(hall, rpc, platform_env):
    platform_env["sandbox"].principal("window", name="window-7")  # window 7's clerk in the layout
    clerk = rpc.as_principal("window-7")
    hall.take("B")
    assert error(lambda: hall.rpc.call_next("7", ref())).exc_type == "Forbidden"  # another window's system
    called = clerk.hall.call_next("7", ref())
    assert error(lambda: hall.rpc.finish(called["ticket_no"], "served", ref())).exc_type == "Forbidden"
    assert clerk.hall.finish(called["ticket_no"], "served", ref())["status"] == "served"
    assert {h["actor"] for h in hall.rpc.ticket(called["ticket_no"])["history"][1:]} == {"window-7"}
