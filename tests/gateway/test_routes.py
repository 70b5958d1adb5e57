"""Every gateway route, for success and for each error it can give: a table
of (route, what, arguments, status) run against the whole centre, plus the
errors every route shares (no token, a revoked token, a body that is not an
object, an argument the method does not take, a body over the limit)."""
import uuid

import pytest
import requests

from scripts.sample import application

ITEM = "ENT-EST"


@pytest.fixture(scope="module")
def world(centre, gateway, admin, platform_env):
    """Cases built through the gateway: `billed` (approved, bill unpaid),
    `paid` and `waivable` (both billed), `open` (tasks undecided)."""
    import time

    tag = uuid.uuid4().hex[:8]
    item = next(i for i in gateway.call("intake", "list_items") if i["code"] == ITEM)
    fields = gateway.call("intake", "form_for", item_code=ITEM)["fields"]

    def submit(name):
        app, _ = application(item, fields, f"gw-{tag}-{name}", phone="13700137000")
        case = gateway.call("intake", "submit", application=app)
        assert case["status"] == "accepted", case
        return case["application_no"], app

    def tasks(number):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            response = gateway.post("review", "application", {"application_no": number})
            if response.status_code == 200 and len(response.json()["tasks"]) == len(item["departments"]):
                return response.json()["tasks"]
            time.sleep(0.1)
        raise AssertionError(f"review never opened the tasks of {number}")

    def approve(number):
        for task in tasks(number):
            gateway.call("review", "decide", task_id=task["task_id"], department=task["department"],
                         reviewer=task["assignee"], decision="approve", opinion="同意",
                         client_ref=f"gw-{tag}-{task['task_id']}")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            response = gateway.post("fees", "bill", {"application_no": number})
            if response.status_code == 200:
                return response.json()
            time.sleep(0.1)
        raise AssertionError(f"no bill for {number}")

    world = {"tag": tag, "item": item, "fields": fields}
    world["billed"], world["app"] = submit("billed")
    world["bill"] = approve(world["billed"])
    world["paid"], _ = submit("paid")
    paid_bill = approve(world["paid"])
    gateway.call("fees", "pay", bill_no=paid_bill["bill_no"], amount_fen=paid_bill["total_fen"], method="pos",
                 payment_ref=f"gw-{tag}-paid")
    world["paid_bill"] = paid_bill
    world["waivable"], _ = submit("waivable")
    world["waivable_bill"] = approve(world["waivable"])
    app, missing = application(item, fields, f"gw-{tag}-incomplete", phone="13700137000", leave_out_materials=1)
    world["incomplete"] = gateway.call("intake", "submit", application=app)["application_no"]
    world["missing"] = [m["code"] for m in missing]
    world["withdrawable"], _ = submit("withdrawable")
    world["complaint"] = gateway.call("intake", "complain", text="窗口排队太久", phone="13700137000",
                                      client_ref=f"gw-{tag}-complaint")["complaint_no"]
    world["reducible"], _ = submit("reducible")
    world["reducible_bill"] = approve(world["reducible"])
    world.update(hall_world(gateway, tag))
    world["notice"] = overdue_notice(gateway, tag, platform_env)
    world["open"], _ = submit("open")
    world["open_tasks"] = tasks(world["open"])
    world["department"] = world["open_tasks"][0]["department"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if gateway.call("intake", "get", application_no=world["paid"])["status"] == "completed":
            break
        time.sleep(0.1)
    return world


def overdue_notice(gateway, tag, platform_env):
    """A supervision notice (督办): a case review took over long ago, overdue now."""
    import time

    from kombu import Connection, Exchange

    from tests.review.conftest import department
    number = f"2025GW{tag}"
    event = {"event_id": str(uuid.uuid4()), "occurred_at": "2026-01-02T09:00:00+08:00", "application_no": number,
             "item_code": ITEM, "item_name": "企业开办", "accepted_on": "2026-01-02", "due_date": "2026-01-09",
             "provisional": False, "applicant": {"kind": "enterprise", "name": "某公司", "phone": "13700137000"},
             "departments": [department(f"GW{tag[:4]}", "某局", due_date="2026-01-09", primary="p", backup="b")],
             "fees": []}
    exchange = Exchange("intake.events", type="topic", durable=True)
    with Connection(platform_env["amqp_uri"]) as conn:
        conn.Producer(serializer="json").publish(event, exchange=exchange, routing_key="application_accepted",
                                                 declare=[exchange])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        gateway.call("review", "supervise")
        notices = [n for n in gateway.call("review", "notices", status="open") if n.get("application_no") == number]
        if notices:
            return notices[0]["notice_no"]
        time.sleep(0.2)
    raise AssertionError(f"no supervision notice for {number}")


def hall_world(gateway, tag):
    """Tickets in each state the hall's calls need, an appointment and a visit
    (the hall runs tests/hall/layout.yaml: open all day)."""
    import datetime
    refs = iter(range(1000))

    def ref():
        return f"gw-{tag}-hall-{next(refs)}"

    take = lambda queue="A", channel="kiosk", **kw: gateway.call("hall", "take_ticket", queue_code=queue,
                                                                   channel=channel, client_ref=ref(), **kw)
    world = {"hall_ref": ref}
    world["finishing"] = take()
    gateway.call("hall", "call_next", window_code="1", client_ref=ref())
    world["recalling"] = take()
    gateway.call("hall", "call_next", window_code="2", client_ref=ref())
    world["transferring"] = take()
    world["remote"] = take(channel="remote", phone="13800138111")
    today = datetime.date.fromisoformat(gateway.call("hall", "queues")[0].get("day", "") or
                                        datetime.date.today().isoformat())
    for offset in range(1, 8):
        day = (today + datetime.timedelta(days=offset)).isoformat()
        free = [s for s in gateway.call("hall", "slots", item_code=ITEM, date=day) if s["available"] >= 2]
        if free:
            world["booking"] = {"item_code": ITEM, "date": day, "slot": free[0]["slot"]}
            break
    world["appointment"] = gateway.call("hall", "book", phone="13800138112", client_ref=ref(),
                                        **world["booking"])["appointment_no"]
    world["visit"] = gateway.call("hall", "request_visit", kind="home", item_code=ITEM, phone="13800138113",
                                  address="杭州市西湖区文三路 1 号", preferred_date=world["booking"]["date"],
                                  client_ref=ref())["visit_no"]
    return world


W = "world"  # arguments built from the world: a function of it

# (service, method, what, arguments or a function of the world, expected status)
TABLE = [
    ("intake", "health", "ok", {}, 200),
    ("intake", "list_items", "ok", {}, 200),
    ("intake", "form_for", "ok", {"item_code": ITEM}, 200),
    ("intake", "form_for", "unknown item", {"item_code": "NO-SUCH-ITEM"}, 404),
    ("intake", "due_date", "ok", {"item_code": ITEM, "accepted_on": "2026-11-02"}, 200),
    ("intake", "due_date", "bad date", {"item_code": ITEM, "accepted_on": "2026-13-45"}, 400),
    ("intake", "recompute_provisional", "ok", {}, 200),
    ("intake", "submit", "ok", lambda w: {"application": dict(w["app"], client_ref=f"gw-{w['tag']}-again")}, 200),
    ("intake", "submit", "every problem", {"application": {"channel": "fax"}}, 400),
    ("intake", "supplement", "unknown case",
     {"application_no": "2026ZW999999", "materials": ["X"], "client_ref": "s-1"}, 404),
    ("intake", "supplement", "ok",
     lambda w: {"application_no": w["incomplete"], "materials": w["missing"], "client_ref": f"gw-{w['tag']}-s"}, 200),
    ("intake", "supplement", "not awaiting materials",
     lambda w: {"application_no": w["billed"], "materials": [w["item"]["materials"][0]["code"]],
                "client_ref": f"gw-{w['tag']}-s2"}, 409),
    ("intake", "supplement", "no materials", {"application_no": "2026ZW1", "materials": [], "client_ref": "s"}, 400),
    ("intake", "get", "ok", lambda w: {"application_no": w["billed"]}, 200),
    ("intake", "get", "unknown case", {"application_no": "2026ZW999999"}, 404),
    ("intake", "track", "ok", lambda w: {"application_no": w["billed"], "phone": "13700137000"}, 200),
    ("intake", "track", "wrong phone", lambda w: {"application_no": w["billed"], "phone": "13900000000"}, 404),
    ("intake", "track", "no phone", lambda w: {"application_no": w["billed"], "phone": ""}, 400),
    ("intake", "rate", "ok", lambda w: {"application_no": w["paid"], "score": 5}, 200),
    ("intake", "rate", "not concluded", lambda w: {"application_no": w["billed"], "score": 5}, 409),
    ("intake", "rate", "score out of range", lambda w: {"application_no": w["paid"], "score": 9}, 400),
    ("intake", "rate", "unknown case", {"application_no": "2026ZW999999", "score": 4}, 404),
    ("intake", "report", "ok", {"start": "2026-01-01", "end": "2026-12-31"}, 200),
    ("intake", "report", "end before start", {"start": "2026-12-31", "end": "2026-01-01"}, 400),
    ("intake", "refuse", "ok", lambda w: {"application": dict(w["app"], client_ref=f"gw-{w['tag']}-refused"),
                                          "reasons": ["不属于本中心受理范围"], "legal_basis": "《行政许可法》第三十二条"}, 200),
    ("intake", "refuse", "no reasons", lambda w: {"application": w["app"], "reasons": [], "legal_basis": ""}, 400),
    ("intake", "withdraw", "ok", lambda w: {"application_no": w["withdrawable"], "reason": "申请人撤回",
                                            "client_ref": f"gw-{w['tag']}-withdraw"}, 200),
    ("intake", "withdraw", "already concluded", lambda w: {"application_no": w["paid"], "reason": "申请人撤回",
                                                           "client_ref": f"gw-{w['tag']}-withdraw-2"}, 409),
    ("intake", "withdraw", "unknown case", {"application_no": "2026ZW999999", "reason": "r", "client_ref": "w"}, 404),
    ("intake", "withdraw", "no reason", {"application_no": "2026ZW1", "reason": "", "client_ref": "w"}, 400),
    ("intake", "register_inquiry", "ok", {"channel": "phone", "topic": "营业执照", "answered_by": "w-01"}, 200),
    ("intake", "register_inquiry", "unknown channel", {"channel": "fax", "topic": "t", "answered_by": "w"}, 400),
    ("intake", "complain", "ok", {"text": "材料退回两次", "phone": "13700137000"}, 200),
    ("intake", "complain", "not a mobile number", {"text": "t", "phone": "12345"}, 400),
    ("intake", "complaints", "ok", {"status": "open"}, 200),
    ("intake", "complaints", "unknown status", {"status": "lost"}, 400),
    ("intake", "answer_complaint", "ok", lambda w: {"complaint_no": w["complaint"], "answer": "已改进",
                                                    "client_ref": f"gw-{w['tag']}-answer"}, 200),
    ("intake", "answer_complaint", "already answered", lambda w: {"complaint_no": w["complaint"], "answer": "再答",
                                                                  "client_ref": f"gw-{w['tag']}-answer-2"}, 409),
    ("intake", "answer_complaint", "unknown complaint", {"complaint_no": "NO-SUCH", "answer": "a", "client_ref": "a"},
     404),
    ("intake", "answer_complaint", "no answer", {"complaint_no": "C", "answer": "", "client_ref": "a"}, 400),
    ("intake", "supervise_complaints", "ok", {}, 200),
    ("intake", "supervise_complaints", "bad date", {"as_of": "someday"}, 400),
    ("intake", "publicity", "ok", {"start": "2026-01-01", "end": "2026-12-31"}, 200),
    ("intake", "publicity", "end before start", {"start": "2026-12-31", "end": "2026-01-01"}, 400),
    ("intake", "ranking", "ok", {"start": "2026-01-01", "end": "2026-12-31", "by": "department"}, 200),
    ("intake", "ranking", "unknown grouping", {"start": "2026-01-01", "end": "2026-12-31", "by": "colour"}, 400),
    ("review", "health", "ok", {}, 200),
    ("review", "tasks", "ok", lambda w: {"department": w["department"]}, 200),
    ("review", "tasks", "unknown status", lambda w: {"department": w["department"], "status": "lost"}, 400),
    ("review", "application", "ok", lambda w: {"application_no": w["open"]}, 200),
    ("review", "application", "unknown case", {"application_no": "2026ZW999999"}, 404),
    ("review", "application", "empty number", {"application_no": ""}, 400),
    ("review", "decide", "ok", lambda w: _decision(w, w["open_tasks"][0], "ok"), 200),
    ("review", "decide", "already decided",
     lambda w: dict(_decision(w, w["open_tasks"][0], "again"), decision="request_materials",
                    missing_materials=[w["item"]["materials"][0]["code"]]), 409),
    ("review", "decide", "another department's task",
     lambda w: dict(_decision(w, w["open_tasks"][-1], "f"), department="NOT_MINE"), 403),
    ("review", "decide", "unknown task",
     lambda w: dict(_decision(w, w["open_tasks"][0], "x"), task_id=str(uuid.uuid4())), 404),
    ("review", "decide", "rejection without legal basis",
     lambda w: dict(_decision(w, w["open_tasks"][-1], "r"), decision="reject"), 400),
    ("review", "extend", "ok", lambda w: _extension(w, w["open_tasks"][-1], "e1"), 200),
    ("review", "extend", "already extended", lambda w: _extension(w, w["open_tasks"][-1], "e2"), 409),
    ("review", "extend", "another department's task",
     lambda w: dict(_extension(w, w["open_tasks"][-1], "e3"), department="NOT_MINE"), 403),
    ("review", "extend", "unknown task",
     lambda w: dict(_extension(w, w["open_tasks"][-1], "e4"), task_id=str(uuid.uuid4())), 404),
    ("review", "extend", "no days", lambda w: dict(_extension(w, w["open_tasks"][-1], "e5"), working_days=0), 400),
    ("review", "feed", "ok", lambda w: {"department": w["department"]}, 200),
    ("review", "feed", "limit out of range", lambda w: {"department": w["department"], "limit": 0}, 400),
    ("review", "vetoes", "ok", {"start": "2026-01-01", "end": "2026-12-31"}, 200),
    ("review", "vetoes", "not a date", {"start": "someday", "end": "2026-12-31"}, 400),
    ("review", "notices", "ok", {"status": "open"}, 200),
    ("review", "notices", "unknown status", {"status": "lost"}, 400),
    ("review", "answer_notice", "ok", lambda w: {"notice_no": w["notice"], "answer": "已督促办理",
                                                 "client_ref": f"gw-{w['tag']}-notice"}, 200),
    ("review", "answer_notice", "already answered", lambda w: {"notice_no": w["notice"], "answer": "再答",
                                                               "client_ref": f"gw-{w['tag']}-notice-2"}, 409),
    ("review", "answer_notice", "unknown notice", {"notice_no": "NO-SUCH", "answer": "a", "client_ref": "n"}, 404),
    ("review", "answer_notice", "no answer", {"notice_no": "N", "answer": "", "client_ref": "n"}, 400),
    ("review", "supervision_contacts", "ok", {}, 200),
    ("review", "set_supervision_contact", "ok", {"level": 2, "name": "中心主任", "phone": "13900139002"}, 200),
    ("review", "set_supervision_contact", "unknown level", {"level": 5, "name": "n", "phone": "13900139002"}, 400),
    ("review", "roster", "ok", lambda w: {"department": w["department"]}, 200),
    ("review", "roster", "unknown department", {"department": "NO_SUCH_DEPT"}, 404),
    ("review", "set_roster", "ok", lambda w: {"department": f"GW{w['tag']}", "primary": "p1", "backup": "b1"}, 200),
    ("review", "set_roster", "same person twice", {"department": "GWX", "primary": "p1", "backup": "p1"}, 400),
    ("review", "set_absent", "ok",
     lambda w: {"department": w["department"], "reviewer": w["open_tasks"][0]["assignee"], "absent": False}, 200),
    ("review", "set_absent", "not a boolean", {"department": "GWX", "reviewer": "p1", "absent": "yes"}, 400),
    ("review", "supervise", "ok", {}, 200),
    ("review", "recompute_provisional", "ok", {}, 200),
    ("fees", "health", "ok", {}, 200),
    ("fees", "bill", "ok", lambda w: {"application_no": w["billed"]}, 200),
    ("fees", "bill", "no bill", {"application_no": "2026ZW999999"}, 404),
    ("fees", "bill", "empty number", {"application_no": ""}, 400),
    ("fees", "pay", "ok", lambda w: {"bill_no": w["bill"]["bill_no"], "amount_fen": w["bill"]["total_fen"],
                                     "method": "pos", "payment_ref": f"gw-{w['tag']}-pay"}, 200),
    ("fees", "pay", "already paid", lambda w: {"bill_no": w["paid_bill"]["bill_no"],
                                               "amount_fen": w["paid_bill"]["total_fen"], "method": "pos",
                                               "payment_ref": f"gw-{w['tag']}-pay-again"}, 409),
    ("fees", "pay", "unknown bill", {"bill_no": "NO-BILL", "amount_fen": 100, "method": "pos", "payment_ref": "p"},
     404),
    ("fees", "pay", "negative amount", {"bill_no": "B", "amount_fen": -1, "method": "gold", "payment_ref": "p"}, 400),
    ("fees", "refund", "ok", lambda w: {"bill_no": w["paid_bill"]["bill_no"], "reason": "撤回",
                                        "refund_ref": f"gw-{w['tag']}-refund"}, 200),
    ("fees", "refund", "not paid", lambda w: {"bill_no": w["waivable_bill"]["bill_no"], "reason": "撤回",
                                              "refund_ref": f"gw-{w['tag']}-refund-2"}, 409),
    ("fees", "refund", "unknown bill", {"bill_no": "NO-BILL", "reason": "r", "refund_ref": "r-1"}, 404),
    ("fees", "refund", "no reason", {"bill_no": "B", "reason": "", "refund_ref": "r"}, 400),
    ("fees", "waive", "ok", lambda w: {"bill_no": w["waivable_bill"]["bill_no"], "department": w["department"],
                                       "reason": "困难群众", "waiver_ref": f"gw-{w['tag']}-waive"}, 200),
    ("fees", "waive", "paid bill", lambda w: {"bill_no": w["paid_bill"]["bill_no"], "department": w["department"],
                                              "reason": "困难群众", "waiver_ref": f"gw-{w['tag']}-waive-2"}, 409),
    ("fees", "waive", "unknown bill", {"bill_no": "NO-BILL", "department": "D", "reason": "r", "waiver_ref": "w"},
     404),
    ("fees", "waive", "no reason", {"bill_no": "B", "department": "D", "reason": "", "waiver_ref": "w"}, 400),
    ("fees", "reduce", "ok", lambda w: _reduction(w, w["reducible_bill"], "r1"), 200),
    ("fees", "reduce", "paid bill", lambda w: _reduction(w, w["paid_bill"], "r2"), 409),
    ("fees", "reduce", "unknown bill", lambda w: dict(_reduction(w, w["reducible_bill"], "r3"), bill_no="NO-BILL"),
     404),
    ("fees", "reduce", "no lines", {"bill_no": "B", "department": "D", "lines": [], "reduction_ref": "r"}, 400),
    ("fees", "remind_unpaid", "ok", {}, 200),
    ("fees", "remind_unpaid", "bad date", {"as_of": "someday"}, 400),
    ("fees", "totals", "ok", {"start": "2026-01-01", "end": "2026-12-31", "group_by": "department"}, 200),
    ("fees", "totals", "unknown grouping", {"start": "2026-01-01", "end": "2026-12-31", "group_by": "colour"}, 400),
    ("fees", "check_ledger", "ok", {}, 200),
    ("hall", "health", "ok", {}, 200),
    ("hall", "queues", "ok", {}, 200),
    ("hall", "windows", "ok", {}, 200),
    ("hall", "take_ticket", "ok", lambda w: {"queue_code": "A", "channel": "kiosk", "client_ref": w["hall_ref"]()},
     200),
    ("hall", "take_ticket", "unknown channel", {"queue_code": "A", "channel": "pigeon", "client_ref": "t"}, 400),
    ("hall", "ticket", "ok", lambda w: {"ticket_no": w["transferring"]["ticket_no"]}, 200),
    ("hall", "ticket", "unknown ticket", {"ticket_no": "Z999"}, 404),
    ("hall", "call_next", "window still serving", lambda w: {"window_code": "1", "client_ref": w["hall_ref"]()}, 409),
    ("hall", "call_next", "unknown window", {"window_code": "99", "client_ref": "c"}, 400),
    ("hall", "recall", "ok", lambda w: {"ticket_no": w["recalling"]["ticket_no"], "window_code": "2",
                                        "client_ref": w["hall_ref"]()}, 200),
    ("hall", "recall", "unknown ticket", lambda w: {"ticket_no": "Z999", "window_code": "2",
                                                    "client_ref": w["hall_ref"]()}, 404),
    ("hall", "check_in", "ok", lambda w: {"ticket_no": w["remote"]["ticket_no"], "client_ref": w["hall_ref"]()}, 200),
    ("hall", "check_in", "no ticket number", {"ticket_no": "", "client_ref": "c"}, 400),
    ("hall", "finish", "ok", lambda w: {"ticket_no": w["finishing"]["ticket_no"], "outcome": "served",
                                        "client_ref": w["hall_ref"]()}, 200),
    ("hall", "finish", "already finished", lambda w: {"ticket_no": w["finishing"]["ticket_no"], "outcome": "served",
                                                      "client_ref": w["hall_ref"]()}, 409),
    ("hall", "finish", "unknown outcome", {"ticket_no": "x", "outcome": "maybe", "client_ref": "c"}, 400),
    ("hall", "check_in", "already served", lambda w: {"ticket_no": w["finishing"]["ticket_no"],
                                                      "client_ref": w["hall_ref"]()}, 409),
    ("hall", "call_next", "ok", lambda w: {"window_code": "1", "client_ref": w["hall_ref"]()}, 200),
    ("hall", "transfer", "ok", lambda w: {"ticket_no": w["transferring"]["ticket_no"], "queue_code": "B",
                                          "client_ref": w["hall_ref"]()}, 200),
    ("hall", "transfer", "already there", lambda w: {"ticket_no": w["transferring"]["ticket_no"], "queue_code": "B",
                                                     "client_ref": w["hall_ref"]()}, 409),
    ("hall", "transfer", "unknown queue", lambda w: {"ticket_no": w["transferring"]["ticket_no"], "queue_code": "Q",
                                                     "client_ref": w["hall_ref"]()}, 400),
    ("hall", "slots", "ok", lambda w: {"item_code": ITEM, "date": w["booking"]["date"]}, 200),
    ("hall", "slots", "unknown item", lambda w: {"item_code": "NO-SUCH", "date": w["booking"]["date"]}, 400),
    ("hall", "book", "ok", lambda w: dict(w["booking"], phone="13800138114", client_ref=w["hall_ref"]()), 200),
    ("hall", "book", "the same phone twice", lambda w: dict(w["booking"], phone="13800138112",
                                                            client_ref=w["hall_ref"]()), 409),
    ("hall", "book", "not a mobile number", lambda w: dict(w["booking"], phone="123", client_ref="b"), 400),
    ("hall", "appointment", "ok", lambda w: {"appointment_no": w["appointment"]}, 200),
    ("hall", "appointment", "unknown appointment", {"appointment_no": "NO-SUCH"}, 404),
    ("hall", "cancel_booking", "ok", lambda w: {"appointment_no": w["appointment"], "client_ref": w["hall_ref"]()}, 200),
    ("hall", "cancel_booking", "already cancelled",
     lambda w: {"appointment_no": w["appointment"], "client_ref": w["hall_ref"]()}, 409),
    ("hall", "cancel_booking", "unknown appointment", {"appointment_no": "NO-SUCH", "client_ref": "c"}, 404),
    ("hall", "sweep", "ok", {}, 200),
    ("hall", "sweep", "in the future", {"as_of": "2099-01-01T00:00:00+08:00"}, 400),
    ("hall", "request_visit", "ok", lambda w: {"kind": "agent", "item_code": ITEM, "phone": "13800138115",
                                               "address": "文三路 2 号", "preferred_date": w["booking"]["date"],
                                               "client_ref": w["hall_ref"]()}, 200),
    ("hall", "request_visit", "unknown kind", {"kind": "drone", "item_code": ITEM, "phone": "13800138115",
                                               "address": "a", "preferred_date": "2026-01-01", "client_ref": "v"}, 400),
    ("hall", "assign_visit", "ok", lambda w: {"visit_no": w["visit"], "staff": "代办员王", "client_ref": w["hall_ref"]()},
     200),
    ("hall", "complete_visit", "ok", lambda w: {"visit_no": w["visit"], "client_ref": w["hall_ref"]()}, 200),
    ("hall", "assign_visit", "already completed",
     lambda w: {"visit_no": w["visit"], "staff": "代办员李", "client_ref": w["hall_ref"]()}, 409),
    ("hall", "complete_visit", "unknown visit", {"visit_no": "NO-SUCH", "client_ref": "c"}, 404),
    ("hall", "visits", "ok", {"status": "completed"}, 200),
    ("hall", "visits", "unknown status", {"status": "lost"}, 400),
    ("hall", "report", "ok", {"start": "2026-01-01", "end": "2026-12-31"}, 200),
    ("hall", "report", "end before start", {"start": "2026-12-31", "end": "2026-01-01"}, 400),
    ("notify", "health", "ok", {}, 200),
    ("portal", "health", "ok", {}, 200),
    ("notify", "messages", "ok", lambda w: {"application_no": w["billed"]}, 200),
    ("notify", "messages", "empty number", {"application_no": ""}, 400),
    ("notify", "delivery_report", "ok", {"provider_message_id": "not-sent-yet", "status": "delivered"}, 200),
    ("notify", "delivery_report", "unknown status", {"provider_message_id": "nope", "status": "lost"}, 400),
]


def _reduction(world, bill, suffix):
    line = max(bill["lines"], key=lambda l: l["amount_fen"])
    return {"bill_no": bill["bill_no"], "department": line["department"],
            "lines": [{"fee_code": line["fee_code"], "amount_fen": 1, "legal_basis": "《行政事业性收费管理条例》"}],
            "reduction_ref": f"gw-{world['tag']}-{suffix}"}


def _extension(world, task, suffix):
    return {"task_id": task["task_id"], "department": task["department"], "working_days": 1, "reason": "需现场核查",
            "client_ref": f"gw-{world['tag']}-{task['task_id']}-{suffix}"}


def _decision(world, task, suffix):
    return {"task_id": task["task_id"], "department": task["department"], "reviewer": task["assignee"],
            "decision": "approve", "opinion": "同意", "client_ref": f"gw-{world['tag']}-{task['task_id']}-{suffix}"}


@pytest.mark.parametrize("service,method,what,arguments,status", TABLE,
                         ids=[f"{s}.{m}-{w}" for s, m, w, _, _ in TABLE])
def test_route(world, gateway, service, method, what, arguments, status):
    body = arguments(world) if callable(arguments) else arguments
    response = gateway.post(service, method, body, headers={"X-Request-Id": f"t-{method}"})
    assert response.status_code == status, response.text
    assert response.headers["X-Request-Id"] == f"t-{method}"
    assert response.headers["Content-Type"].startswith("application/json")
    if status != 200:
        error = response.json()["error"]
        assert error["type"] == {400: "ValidationFailed", 403: "Forbidden", 404: "NotFound", 409: "Conflict"}[status]
        assert error["message"]
        if status == 400:
            assert error["problems"], "a ValidationFailed lists its problems"


def test_a_validation_failure_lists_every_problem(gateway):
    response = gateway.post("review", "decide", {"task_id": "", "department": "", "reviewer": "", "decision": "no",
                                                 "opinion": None, "client_ref": ""})
    assert response.status_code == 400
    assert set(response.json()["error"]["problems"]) >= {"task_id", "department", "reviewer", "decision", "client_ref"}


def routes():
    from onewindow import apidocs
    from services.registry import CENTRE
    from services.gateway.dependencies import offered
    return sorted(apidocs.openapi(CENTRE.classes, only=offered)["paths"])


@pytest.mark.parametrize("path", routes())
def test_every_route_refuses_a_missing_or_unknown_token(centre, path):
    no_token = requests.post(centre + path, json={}, timeout=30)
    assert no_token.status_code == 401
    assert no_token.json()["error"]["code"] == "unauthorized"
    assert no_token.headers["X-Request-Id"]
    forged = requests.post(centre + path, json={}, headers={"Authorization": "Bearer owt_forged"}, timeout=30)
    assert forged.status_code == 401


@pytest.mark.parametrize("path", routes())
def test_every_route_refuses_a_body_that_is_not_arguments(gateway, path):
    service, method = path.split("/")[-2:]
    not_an_object = gateway.post(service, method, data=b"[1, 2]")
    assert not_an_object.status_code == 400
    assert not_an_object.json()["error"]["code"] == "bad_json"
    unknown_argument = gateway.post(service, method, {"no_such_argument": 1})
    assert unknown_argument.status_code == 400, unknown_argument.text
    assert unknown_argument.json()["error"]["type"] in ("ValidationFailed", "IncorrectSignature")


def test_a_revoked_token_is_refused_at_once(centre, admin, token):
    principal = f"revoked-{uuid.uuid4().hex[:6]}"
    mine = token(principal)
    headers = {"Authorization": f"Bearer {mine}"}
    assert requests.post(f"{centre}/api/v1/intake/health", json={}, headers=headers, timeout=30).status_code == 200
    assert admin.gateway.revoke_tokens(principal) == {"principal": principal, "revoked": 1}
    assert requests.post(f"{centre}/api/v1/intake/health", json={}, headers=headers, timeout=30).status_code == 401


def test_tokens_are_stored_hashed(centre, token, service_sql):
    mine = token(f"hashed-{uuid.uuid4().hex[:6]}")
    rows = service_sql("gateway", "SELECT token_hash FROM tokens")
    assert mine not in {r["token_hash"] for r in rows}
    from services.gateway.domain import token_hash
    assert token_hash(mine) in {r["token_hash"] for r in rows}


def test_a_body_over_the_limit_is_refused_before_it_is_read(gateway):
    from onewindow import config
    response = gateway.post("intake", "health", data=b" " * (config.gateway_max_body_bytes() + 1))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


def test_a_method_outside_the_contract_is_not_found(gateway):
    response = gateway.post("gateway", "issue_token", {"principal": "me"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "method_not_found"


def test_a_request_id_is_made_up_when_absent_and_the_openapi_document_is_served(centre, gateway):
    response = gateway.post("intake", "health")
    assert len(response.headers["X-Request-Id"]) == 32
    document = requests.get(f"{centre}/api/v1/openapi.json", timeout=30).json()
    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]) == set(routes())
