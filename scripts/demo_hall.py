"""Walk the hall (make demo, after the case): a remote ticket, an appointment
and a home visit, with every SMS they cause. It runs its own hall and notify
in a sandbox (its own vhost and databases) with a hall open all day and today
a working day, so it shows the same at any hour; the centre's own hall keeps
its opening hours."""
import os
import pathlib
import subprocess
import sys
import time
import uuid

import psycopg
from onewindow import workdays
from onewindow.sandbox import Sandbox
from scripts.demo import show, step, wait_for
from services.registry import CENTRE

LAYOUT = pathlib.Path(__file__).resolve().parent / "demo_hall_layout.yaml"
REMOTE, BOOKING, VISIT = "13800138001", "13800138002", "13800138003"


def ref():
    return uuid.uuid4().hex


def sms(rpc, phone, count, who):
    for message in wait_for(lambda: (lambda m: m if len(m) >= count else None)(rpc.notify.messages(phone=phone)),
                            f"{count} SMS to {who}"):
        print(f"  [{message['status']:<6}] {message['template']:<26} {message['text']}")


def walk(rpc):
    today = workdays.today().isoformat()
    step("the hall's queues (排队)")
    show(rpc.hall.queues())

    step("four applicants take tickets at the kiosk; one more takes a remote ticket by phone (远程取号)")
    for _ in range(4):
        print(f"  kiosk: {rpc.hall.take_ticket('A', 'kiosk', ref())['ticket_no']}")
    remote = rpc.hall.take_ticket("A", "remote", ref(), phone=REMOTE)
    show(remote)

    step("windows 1 and 2 call (叫号): the remote holder hears when three are ahead")
    first = rpc.hall.call_next("1", ref())
    print(f"  window 1 calls {first['ticket_no']}")
    print(f"  {remote['ticket_no']}: {rpc.hall.ticket(remote['ticket_no'])['ahead']} ahead")
    rpc.hall.finish(first["ticket_no"], "served", ref(), application_no="2026ZW000101")
    second = rpc.hall.call_next("2", ref())
    print(f"  window 2 calls {second['ticket_no']}; nobody comes")
    rpc.hall.finish(second["ticket_no"], "no_show", ref())

    step("the remote holder arrives and checks in at the kiosk; window 1 calls the rest")
    rpc.hall.check_in(remote["ticket_no"], ref())
    while True:
        called = rpc.hall.call_next("1", ref())
        print(f"  window 1 calls {called['ticket_no']}")
        if called["ticket_no"] == remote["ticket_no"]:
            break
        rpc.hall.finish(called["ticket_no"], "served", ref(), application_no="2026ZW000102")
    show(rpc.hall.finish(remote["ticket_no"], "served", ref(), application_no="2026ZW000103"))
    sms(rpc, REMOTE, 3, "the remote ticket holder")

    step("an appointment (预约) for today: slots, booking, check-in; its window calls it first")
    slot = next(s for s in rpc.hall.slots("ENT-EST", today) if s["available"])
    print(f"  {slot['slot']}: {slot['available']} of {slot['capacity']} places left")
    booked = rpc.hall.book("ENT-EST", today, slot["slot"], BOOKING, ref())
    show(booked)
    rpc.hall.take_ticket("A", "kiosk", ref())
    arrived = rpc.hall.take_ticket("A", "appointment", ref(), appointment_no=booked["appointment_no"])
    called = rpc.hall.call_next("3", ref())
    print(f"  {arrived['ticket_no']} (the appointment) taken after a kiosk ticket; window 3 calls "
          f"{called['ticket_no']} first")
    rpc.hall.finish(called["ticket_no"], "served", ref(), application_no="2026ZW000104")
    print(f"  appointment {booked['appointment_no']}: {rpc.hall.appointment(booked['appointment_no'])['status']}")
    sms(rpc, BOOKING, 1, "the applicant with the appointment")

    step("a home visit (上门服务): requested, given to a clerk, completed with its application")
    visit = rpc.hall.request_visit("home", "ENT-EST", VISIT, "幸福路8号3单元101", today, ref())
    print(f"  requested: {visit['visit_no']} ({visit['status']})")
    scheduled = rpc.hall.assign_visit(visit["visit_no"], "王五", ref())
    print(f"  scheduled: {scheduled['assigned_to']} on {scheduled['scheduled_date']}")
    show(rpc.hall.complete_visit(visit["visit_no"], ref(), application_no="2026ZW000105"))
    sms(rpc, VISIT, 1, "the applicant visited at home")

    step("the hall's figures of today (intake's report includes them)")
    show(rpc.hall.report(today, today))


def main():
    os.environ["OW_QUIET_HOURS"] = ""  # the demo may run at night
    with Sandbox(CENTRE, "owdemo") as sandbox:
        with psycopg.connect(sandbox.databases["hall"], autocommit=True) as conn:
            conn.execute("INSERT INTO workday_overrides (day, is_workday, name) VALUES (%s, true, 'demo') "
                         "ON CONFLICT (day) DO UPDATE SET is_workday = true", (workdays.today(),))
        env = dict(os.environ, HALL_LAYOUT=str(LAYOUT), OW_SMS_SEND_INTERVAL="0.2",
                   HALL_METRICS_PORT="", NOTIFY_METRICS_PORT="")
        procs = [subprocess.Popen([sys.executable, "-m", "onewindow", "serve", service], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for service in ("hall", "notify")]
        try:
            with sandbox.router(timeout=30) as rpc:  # each desk as the principal it is
                for service in ("hall", "notify"):
                    wait_for(lambda: _answers(rpc, service), f"{service} to start")
                print(f"\nThe hall (its own sandbox, open all day; screen at "
                      f"http://127.0.0.1:{os.environ['HALL_PORT']}/hall while this runs)")
                walk(rpc)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(20)


def _answers(rpc, service):
    try:
        return getattr(rpc, service).health()
    except Exception:
        time.sleep(0.5)
        return None


if __name__ == "__main__":
    main()
