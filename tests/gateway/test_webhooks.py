"""Departments' webhooks: a new task reaches the department's system once,
signed; a receiver that keeps failing is retried, then dead-lettered."""
import time
import uuid

import eventlet
import pytest

from scripts.bench_gateway import Receiver
from scripts.sample import application
from services.gateway import domain

SECRET = "a-secret-of-the-department-system"


@pytest.fixture
def receivers():
    made = []

    def make(status):
        made.append(Receiver(status))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


def test_a_new_task_reaches_the_department_once_and_a_bad_receiver_is_dead_lettered(
        centre, gateway, admin, receivers, wait, publish_event):
    item = next(i for i in gateway.call("intake", "list_items") if len(i["departments"]) >= 2)
    good_department, bad_department = item["departments"][:2]
    good, bad = receivers(200), receivers(500)
    admin.gateway.set_webhook(good_department, good.url, SECRET)
    admin.gateway.set_webhook(bad_department, bad.url, SECRET)

    fields = gateway.call("intake", "form_for", item_code=item["code"])["fields"]
    app, _ = application(item, fields, f"hook-{uuid.uuid4().hex[:8]}")
    number = gateway.call("intake", "submit", application=app)["application_no"]

    def for_case(receiver):
        return [r for r in receiver.received if number.encode() in r["body"]]

    delivery = wait(lambda: for_case(good), timeout=20, message="the good department's webhook")[0]
    import json
    body = json.loads(delivery["body"])
    assert body["event_type"] == "task_opened" and body["department"] == good_department
    assert body["event"]["application_no"] == number and body["event"]["task_id"]
    assert "applicant" not in body["event"] and "fields" not in body["event"]
    signature = delivery["headers"]["X-Onewindow-Signature"]
    assert domain.verify(SECRET, signature, delivery["body"], now=time.time())
    assert not domain.verify("another secret", signature, delivery["body"], now=time.time())
    assert delivery["headers"]["X-Onewindow-Delivery"] == body["delivery_id"]

    # three attempts (GATEWAY_WEBHOOK_ATTEMPTS in the fixture), then the dead-letter list
    dead = wait(lambda: [d for d in admin.gateway.deliveries(bad_department, "dead") if d["event_id"]
                         == json.loads(for_case(bad)[0]["body"])["event"]["event_id"]] if for_case(bad) else None,
                timeout=30, message="the bad receiver's delivery to be dead-lettered")[0]
    assert dead["attempts"] == 3 and dead["last_error"] == "HTTP 500"
    assert len(for_case(bad)) == 3
    assert len({r["headers"]["X-Onewindow-Delivery"] for r in for_case(bad)}) == 1  # the same delivery, retried

    # the same event again (a redelivery) is owed nothing more; nothing else arrives
    event = body["event"]
    publish_event("review", "task_opened", event)
    eventlet.sleep(1.0)
    assert len(for_case(good)) == 1
    assert [d["status"] for d in admin.gateway.deliveries(good_department) if d["event_id"] == event["event_id"]] \
        == ["delivered"]

    # an operator sends the dead letters again once the receiver is mended
    bad.status = 200
    assert admin.gateway.redeliver(bad_department) == {"redelivered": 1}
    wait(lambda: len(for_case(bad)) == 4, timeout=20, message="the redelivery")
