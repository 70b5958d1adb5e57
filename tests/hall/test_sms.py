"""The hall's events become SMS through notify, once per event: a remote
ticket taken, three ahead, called to window N; an appointment booked and
reminded; a visit scheduled. Kiosk tickets send nothing."""
from services.notify.service import NotifyService

from .conftest import day, ref


def test_the_hall_tells_ticket_appointment_and_visit_holders_by_sms_once(hall, run_services, rpc, wait):
    run_services(NotifyService, notify={"OW_QUIET_HOURS": "", "OW_SMS_SEND_INTERVAL": "0.1"})
    ticket_phone, booking_phone, visit_phone = "13700000001", "13700000002", "13700000003"
    for _ in range(4):
        hall.take("A")
    remote = hall.take("A", "remote", phone=ticket_phone)
    for window in ("1", "2", "4", "5", "3"):
        hall.call(window)
    booked = hall.rpc.book("ENT-EST", day(1).isoformat(), "00:00-12:00", booking_phone, ref())
    hall.rpc.sweep()
    visit = hall.rpc.request_visit("home", "ENT-EST", visit_phone, "幸福路8号", day(1).isoformat(), ref())
    hall.rpc.assign_visit(visit["visit_no"], "王五", ref())

    def texts(phone, count):
        found = rpc.notify.messages(phone=phone)
        return {m["template"]: m["text"] for m in found} if len(found) >= count else None

    ticket = wait(lambda: texts(ticket_phone, 3), message="the ticket holder's three texts")
    assert set(ticket) == {"hall_ticket_taken", "hall_turn_near", "hall_ticket_called"}
    assert f"远程取号{remote['ticket_no']}" in ticket["hall_ticket_taken"] and "前面还有4位" in ticket["hall_ticket_taken"]
    assert "前面还有3位" in ticket["hall_turn_near"]
    assert f"请{remote['ticket_no']}号到3号窗口办理" in ticket["hall_ticket_called"]
    booking = wait(lambda: texts(booking_phone, 2), message="the booking and its reminder")
    assert set(booking) == {"hall_appointment_booked", "hall_appointment_reminder"}
    assert booked["appointment_no"] in booking["hall_appointment_reminder"]
    visit_text = wait(lambda: texts(visit_phone, 1), message="the visit's text")
    assert "王五" in visit_text["hall_visit_scheduled"] and visit["visit_no"] in visit_text["hall_visit_scheduled"]
    assert len(rpc.notify.messages(phone=ticket_phone)) == 3  # once per event
