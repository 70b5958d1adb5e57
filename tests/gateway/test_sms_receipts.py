"""POST /sms/receipts/<provider>: Alibaba Cloud SMS and Tencent Cloud SMS
push delivery receipts to the gateway, which checks the URL's token and each
report (notify's receipts module) and calls notify.delivery_report."""
import json
import uuid

import pytest
import requests

TOKEN = "receipt-secret-" + uuid.uuid4().hex


@pytest.fixture
def tokens(monkeypatch):
    monkeypatch.setenv("ALIYUN_SMS_RECEIPT_TOKEN", TOKEN)
    monkeypatch.setenv("TENCENT_SMS_RECEIPT_TOKEN", TOKEN)


def sent_message(service_sql, provider_message_id):
    """A message notify handed to a provider, as its sender records it."""
    message_id = uuid.uuid4()
    service_sql("notify", "INSERT INTO messages (message_id, event_id, event_type, template, template_code, "
                "recipient_role, phone, text, segments, status, provider, provider_message_id, sent_at) "
                "VALUES (%s, %s, 'application_accepted', 'application_accepted', 'OW_ACCEPTED', 'applicant', "
                "'13912345678', 't', 1, 'sent', %s, %s, now())",
                (message_id, str(uuid.uuid4()), provider_message_id.split(":")[0], provider_message_id))
    return message_id


def status_of(service_sql, message_id):
    return service_sql("notify", "SELECT status, failure_reason FROM messages WHERE message_id = %s",
                       (message_id,))[0]


def push(centre, provider, items, token=TOKEN):
    return requests.post(f"{centre}/sms/receipts/{provider}", params={"token": token} if token else None,
                         data=json.dumps(items, ensure_ascii=False).encode(),
                         headers={"Content-Type": "application/json"}, timeout=30)


def test_an_aliyun_push_marks_its_messages_and_answers_as_alibaba_documents(centre, tokens, service_sql):
    biz_ok, biz_failed = f"{uuid.uuid4().int % 10 ** 15}^0", f"{uuid.uuid4().int % 10 ** 15}^0"
    delivered = sent_message(service_sql, f"aliyun:{biz_ok}")
    failed = sent_message(service_sql, f"aliyun:{biz_failed}")
    response = push(centre, "aliyun", [
        {"phone_number": "1391234****", "success": True, "err_code": "DELIVERED", "err_msg": "用户接收成功",
         "biz_id": biz_ok, "out_id": str(delivered), "send_time": "2026-03-02 09:00:01",
         "report_time": "2026-03-02 09:00:04", "sms_size": "1"},
        {"phone_number": "1391234****", "success": False, "err_code": "MK:0001", "err_msg": "用户关机",
         "biz_id": biz_failed, "out_id": str(failed), "send_time": "2026-03-02 09:00:01",
         "report_time": "2026-03-02 09:01:00", "sms_size": "1"},
        {"phone_number": "1391234****", "success": True, "err_code": "DELIVERED", "biz_id": "not-ours^0"}])
    assert response.status_code == 200 and response.json() == {"code": 0, "msg": "成功"}
    assert status_of(service_sql, delivered)["status"] == "delivered"
    assert status_of(service_sql, failed) == {"status": "failed", "failure_reason": "provider receipt: MK:0001 用户关机"}


def test_a_tencent_push_marks_its_message(centre, tokens, service_sql):
    sid = f"2645:{uuid.uuid4().int % 10 ** 20}"
    message = sent_message(service_sql, f"tencent:{sid}")
    response = push(centre, "tencent", [{"user_receive_time": "2026-03-02 09:00:04", "nationcode": "86",
                                         "mobile": "13912345678", "report_status": "SUCCESS", "errmsg": "DELIVRD",
                                         "description": "用户短信送达成功", "sid": sid}])
    assert response.status_code == 200 and response.json() == {"result": 0, "errmsg": "OK"}
    assert status_of(service_sql, message)["status"] == "delivered"


def test_without_the_token_nothing_changes(centre, tokens, service_sql):
    sid = f"2645:{uuid.uuid4().int % 10 ** 20}"
    message = sent_message(service_sql, f"tencent:{sid}")
    report = [{"report_status": "SUCCESS", "errmsg": "DELIVRD", "description": "", "sid": sid}]
    for token in (None, "guess"):
        response = push(centre, "tencent", report, token=token)
        assert response.status_code == 403 and response.json()["result"] == 1
    assert status_of(service_sql, message)["status"] == "sent"


def test_a_malformed_push_is_refused_whole(centre, tokens, service_sql):
    sid = f"2645:{uuid.uuid4().int % 10 ** 20}"
    message = sent_message(service_sql, f"tencent:{sid}")
    response = push(centre, "tencent", [{"report_status": "SUCCESS", "sid": sid}, {"report_status": "MAYBE"}])
    assert response.status_code == 400
    assert "report_status must be SUCCESS or FAIL" in response.json()["errmsg"]
    assert status_of(service_sql, message)["status"] == "sent"
    assert push(centre, "huawei", []).status_code == 404
