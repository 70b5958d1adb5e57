"""notify against the real broker and database, with the local provider:
one text per event, in Chinese, with segments, receipts and holds."""
import datetime
import json
import zoneinfo

import pytest
from nameko.exceptions import RemoteError

from onewindow import links
from onewindow import metrics as platform_metrics
from services.notify import domain

from .conftest import STATUSES, accepted, event, new_application_no, new_phone


def status_events(notify_sql, application_no):
    return [r["m"] for r in notify_sql(
        f"SELECT m {STATUSES} "
        "AND m->>'application_no' = %s ORDER BY id, i", (application_no,))]


PORTAL = "https://zwfw.example.gov.cn"


def test_an_applicant_hears_of_every_step_once(start_notify, publish_event, rpc, sent, notify_sql, wait):
    start_notify(OW_PORTAL_URL=PORTAL + "/", OW_PORTAL_SECRET="a-secret")
    no, phone = new_application_no(), new_phone()
    publish_event("intake", "application_accepted", accepted(no, phone, fees=[20000, 10050]))
    publish_event("review", "review_completed", event(application_no=no, outcome="approved", rejections=[],
                                                completed_at="2026-03-10T15:00:00+08:00"))
    publish_event("fees", "bill_issued", event(application_no=no, bill_no="B2026000001", total_fen=30050, lines=[],
                                         status="unpaid"))
    publish_event("fees", "bill_paid", event(application_no=no, bill_no="B2026000001", total_fen=30050, lines=[],
                                       method="wechat", payment_ref="p1", receipt_no="R2026000009",
                                       paid_at="2026-03-11T10:00:00+08:00"))
    publish_event("intake", "application_completed", event(
        application_no=no, item_code="FOOD-1", item_name="食品经营许可", outcome="approved", status="completed",
        concluded_on="2026-03-11", applicant={"name": "张三丰", "name_masked": "张**", "phone": phone}))
    messages = sent(no, 5)
    by_template = {m["template"]: m for m in messages}
    assert set(by_template) == {"application_accepted_online", "review_approved", "bill_issued", "bill_paid",
                                "rating_invitation"}
    by_template["application_accepted"] = by_template["application_accepted_online"]
    assert "受理编号" + no in by_template["application_accepted"]["text"]
    assert "2026-03-20" in by_template["application_accepted"]["text"]
    assert by_template["application_accepted"]["text"].endswith(f"查询进度：{PORTAL}/track")
    assert "300.50元" in by_template["review_approved"]["text"]
    assert "请携带身份证原件到3号窗口领取" in by_template["review_approved"]["text"]
    assert "300.50元" in by_template["bill_issued"]["text"] and "B2026000001" in by_template["bill_issued"]["text"]
    assert "R2026000009" in by_template["bill_paid"]["text"]
    # signed: only the phone that got the link can rate the case
    assert by_template["rating_invitation"]["text"].endswith(f"欢迎评价本次服务：{PORTAL}{links.rating_path('a-secret', no)}")
    assert "网上办事大厅" not in by_template["bill_issued"]["text"]   # payment is at the cashier window
    for m in messages:
        assert m["text"].startswith("【XX市政务服务中心】张**您好")
        assert "张三丰" not in m["text"]  # the masked name is enough to greet
        assert m["segments"] == domain.segments(m["text"])
        assert m["attempts"] == 1 and m["recipient_role"] == "applicant"
        assert m["phone_masked"] == phone[:3] + "****" + phone[-4:]
        assert m["provider"] == "local" and m["provider_message_id"]
    # intake hears of each message sent, for its case record
    wait(lambda: len(status_events(notify_sql, no)) == 5, message="message_statuses events")
    for payload in status_events(notify_sql, no):
        assert payload["status"] == "sent" and phone not in json.dumps(payload, ensure_ascii=False)
        assert payload["source_event_id"] == by_template[payload["template"]]["event_id"]
    # the same list by phone
    assert {m["message_id"] for m in rpc.notify.messages(phone=phone)} == {m["message_id"] for m in messages}


def test_delivery_receipts(start_notify, publish_event, rpc, sent, notify_sql):
    start_notify()
    no, phone = new_application_no(), new_phone()
    publish_event("intake", "application_accepted", accepted(no, phone))
    [message] = sent(no, 1)
    delivered = rpc.notify.delivery_report(message["provider_message_id"], "delivered")
    assert delivered["status"] == "delivered" and delivered["delivered_at"]
    again = rpc.notify.delivery_report(message["provider_message_id"], "delivered")
    assert again["status"] == "delivered" and again["delivered_at"] == delivered["delivered_at"]
    late = rpc.notify.delivery_report(message["provider_message_id"], "failed")
    assert late["status"] == "delivered"  # the first final receipt stands
    assert [e["status"] for e in status_events(notify_sql, no)] == ["sent", "delivered"]
    # a receipt for a send not recorded yet is kept for when it is
    assert rpc.notify.delivery_report("no-such-id", "delivered") == {
        "provider_message_id": "no-such-id", "status": "delivered", "kept_until_sent": True}
    with pytest.raises(RemoteError) as err:
        rpc.notify.delivery_report("", "read")
    assert err.value.exc_type == "ValidationFailed"
    problems = json.loads(err.value.value)
    assert set(problems) == {"provider_message_id", "status"}


def test_a_failed_receipt_is_recorded_with_its_reason(start_notify, publish_event, rpc, sent):
    start_notify()
    no, phone = new_application_no(), new_phone()
    publish_event("intake", "application_accepted", accepted(no, phone))
    [message] = sent(no, 1)
    failed = rpc.notify.delivery_report(message["provider_message_id"], "failed", reason="phone switched off")
    assert failed["status"] == "failed" and "phone switched off" in failed["failure_reason"]
    assert rpc.notify.messages(application_no=no)[0]["status"] == "failed"


def test_messages_query_is_validated(start_notify, rpc):
    start_notify()
    with pytest.raises(RemoteError) as err:
        rpc.notify.messages(phone="12345")
    assert err.value.exc_type == "ValidationFailed" and "phone" in json.loads(err.value.value)
    assert rpc.notify.messages(application_no="2026ZWNOSUCH") == []


def test_a_redelivered_event_sends_nothing_twice(start_notify, publish_event, sent, notify_sql, wait):
    start_notify()
    no, phone = new_application_no(), new_phone()
    accepted_event = accepted(no, phone)
    handled = platform_metrics.ENTRYPOINT_SECONDS.labels("notify", "on_application_accepted", "event")
    before = count_of(handled)
    publish_event("intake", "application_accepted", accepted_event)
    sent(no, 1)
    publish_event("intake", "application_accepted", accepted_event)
    publish_event("intake", "application_accepted", {**accepted_event, "occurred_at": "2026-03-02T09:00:01+08:00"})
    wait(lambda: count_of(handled) >= before + 3, message="both duplicates handled")
    assert len(notify_sql("SELECT 1 FROM messages WHERE event_id = %s", (accepted_event["event_id"],))) == 1
    assert len(status_events(notify_sql, no)) == 1
    # the handler is repeatable: it ran three times, queued once, and its
    # successes kept no inbox row
    assert notify_sql("SELECT 1 FROM inbox WHERE event_id = %s", (accepted_event["event_id"],)) == []


def count_of(histogram):
    return sum(bucket.get() for bucket in histogram._buckets)


def test_a_review_event_before_the_contact_waits_for_it(start_notify, publish_event, sent, rpc, notify_sql, wait):
    start_notify()
    no, phone = new_application_no(), new_phone()
    rejected = event(application_no=no, outcome="rejected", completed_at="2026-03-10T15:00:00+08:00", rejections=[
        {"department": "market", "department_name": "市场监管局", "opinion": "经营场所与住所不符",
         "legal_basis": "《食品经营许可管理办法》第十一条", "reviewer": "r1"},
        {"department": "fire", "department_name": "消防救援支队", "opinion": "疏散通道不足", "legal_basis": "《消防法》",
         "reviewer": "r2"}])
    publish_event("review", "review_completed", rejected)
    wait(lambda: notify_sql("SELECT status FROM inbox WHERE event_id = %s AND status = 'waiting'",
                            (rejected["event_id"],)), message="the early event to wait for the contact")
    assert rpc.notify.messages(application_no=no) == []
    publish_event("intake", "application_accepted", accepted(no, phone))
    messages = sent(no, 2)
    [rejection] = [m for m in messages if m["template"] == "review_rejected"]
    assert "市场监管局：经营场所与住所不符（依据：《食品经营许可管理办法》第十一条）" in rejection["text"]
    assert "消防救援支队：疏散通道不足" in rejection["text"]
    assert rejection["segments"] >= 2


def test_the_one_notice_of_missing_materials_at_intake_and_review(start_notify, publish_event, sent):
    start_notify()
    no, phone = new_application_no(), new_phone()
    publish_event("intake", "materials_requested", event(
        application_no=no, item_code="FOOD-1", item_name="食品经营许可", stage="intake", visits=1,
        applicant={"kind": "person", "name": "李四", "name_masked": "李*", "phone": phone},
        missing_materials=[{"code": "m1", "name": "营业执照"}, {"code": "m2", "name": "场所平面图"}]))
    [first] = sent(no, 1)
    assert "营业执照、场所平面图" in first["text"] and first["text"].startswith("【XX市政务服务中心】李*您好")
    publish_event("intake", "application_accepted", accepted(no, phone))
    publish_event("review", "materials_requested", event(application_no=no, stage="review", missing_materials=[
        {"code": "m3", "name": "卫生许可证明", "departments": ["health"]},
        {"code": "m4", "name": "消防验收意见书", "departments": ["fire"]}]))
    messages = sent(no, 3)
    [review_notice] = [m for m in messages if m["template"] == "materials_requested"
                       and m["message_id"] != first["message_id"]]
    assert "卫生许可证明、消防验收意见书" in review_notice["text"]


def test_instant_items_get_a_suitable_receipt(start_notify, publish_event, sent):
    start_notify()
    done_no, pay_no, phone = new_application_no(), new_application_no(), new_phone()
    publish_event("intake", "application_accepted", accepted(done_no, phone, status="completed", collect="当场领取证照。"))
    publish_event("intake", "application_accepted", accepted(pay_no, phone, status="awaiting_payment", fees=[1500]))
    [done] = sent(done_no, 1)
    [pay] = sent(pay_no, 1)
    assert done["template"] == "application_completed_on_the_spot" and "当场领取证照。" in done["text"]
    assert pay["template"] == "application_awaiting_payment" and "15.00元" in pay["text"]


def test_reviewers_get_yellow_red_and_supervision_notices(start_notify, publish_event, sent):
    start_notify()
    no, assignee, supervisor = new_application_no(), new_phone(), new_phone()
    common = dict(application_no=no, task_id=7, department="market", department_name="市场监管局",
                  assignee="王五", assignee_phone=assignee, due_date="2026-03-16")
    publish_event("review", "task_warning", event(level="yellow", working_days_left=1, **common))
    publish_event("review", "task_overdue", event(level="red", supervisor_phone=supervisor, working_days_overdue=2,
                                            notice_no="DB-2026-0042", **common))
    messages = sent(no, 3)
    by_template = {m["template"]: m for m in messages}
    assert by_template["task_warning_yellow"]["phone_masked"].endswith(assignee[-4:])
    assert "剩余1个工作日" in by_template["task_warning_yellow"]["text"]
    assert by_template["task_overdue_red"]["recipient_role"] == "assignee"
    assert "2个工作日" in by_template["task_overdue_red"]["text"]
    notice = by_template["task_supervision_notice"]
    assert notice["recipient_role"] == "supervisor" and notice["phone_masked"].endswith(supervisor[-4:])
    assert "督办通知DB-2026-0042" in notice["text"] and "王五" in notice["text"]


def test_quiet_hours_hold_applicant_messages_but_not_red_warnings(start_notify, publish_event, rpc, sent, wait):
    zone = zoneinfo.ZoneInfo("Asia/Shanghai")
    now = datetime.datetime.now(zone)
    start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(hours=1)
    start_notify(OW_QUIET_HOURS=f"{start:%H:%M}-{end:%H:%M}")
    no, phone, assignee, supervisor = new_application_no(), new_phone(), new_phone(), new_phone()
    publish_event("intake", "application_accepted", accepted(no, phone))
    publish_event("review", "task_overdue", event(
        application_no=no, task_id=1, department="market", department_name="市场监管局", level="red",
        assignee="王五", assignee_phone=assignee, supervisor_phone=supervisor, due_date="2026-03-16",
        working_days_overdue=1, notice_no="DB-1"))
    wait(lambda: len([m for m in rpc.notify.messages(application_no=no) if m["status"] == "sent"]) == 2,
         message="the red warning and the supervision notice")
    messages = {m["template"]: m for m in rpc.notify.messages(application_no=no)}
    held = messages["application_accepted"]
    assert held["status"] == "queued" and held["held"] and held["held_reason"] == "quiet_hours"
    assert held["attempts"] == 0
    not_before = datetime.datetime.fromisoformat(held["not_before"])
    assert abs((not_before - end).total_seconds()) < 61
    assert messages["task_overdue_red"]["status"] == "sent"
    assert messages["task_supervision_notice"]["status"] == "sent"


def test_the_daily_cap_holds_what_is_over_it_visibly(start_notify, publish_event, rpc, wait):
    start_notify(OW_SMS_DAILY_CAP="2")
    phone = new_phone()
    numbers = [new_application_no() for _ in range(3)]
    for no in numbers:
        publish_event("intake", "application_accepted", accepted(no, phone))

    def settled():
        found = rpc.notify.messages(phone=phone)
        statuses = sorted(m["status"] for m in found)
        return found if statuses == ["queued", "sent", "sent"] and any(m["held"] for m in found) else None

    messages = wait(settled, message="two sent and one held by the cap")
    [held] = [m for m in messages if m["status"] == "queued"]
    assert held["held_reason"] == "daily_cap"
    tomorrow = datetime.datetime.now(zoneinfo.ZoneInfo("Asia/Shanghai")).date() + datetime.timedelta(days=1)
    assert datetime.datetime.fromisoformat(held["not_before"]).astimezone(
        zoneinfo.ZoneInfo("Asia/Shanghai")).date() == tomorrow


def test_the_reconciler_sends_a_message_stuck_in_sending(start_notify, notify_sql, rpc, wait):
    no, phone = new_application_no(), new_phone()
    # a sender that died mid-send left this behind: in `sending`, lease over
    notify_sql(
        "INSERT INTO messages (message_id, event_id, event_type, template, template_code, recipient_role, "
        "  application_no, phone, text, segments, status, attempts, provider, provider_attempts, lease_until) "
        "VALUES (gen_random_uuid(), gen_random_uuid()::text, 'application_accepted', 'application_accepted', "
        "  'OW_ACCEPTED', 'applicant', %s, %s, '【XX市政务服务中心】测试', 1, 'sending', 1, 'local', 1, "
        "  now() - interval '1 minute')", (no, phone))
    start_notify()
    [message] = wait(lambda: [m for m in rpc.notify.messages(application_no=no) if m["status"] == "sent"],
                     message="the stuck message to be sent")
    assert message["attempts"] == 2
    assert notify_sql("SELECT count(*) AS n FROM message_attempts WHERE message_id = %s",
                      (message["message_id"],))[0]["n"] == 1
