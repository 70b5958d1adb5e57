"""The HTTP provider against a real local gateway that fails, times out and
recovers: retries with backoff, failover, terminal failures recorded."""
from services.notify import metrics as sms_metrics

from .conftest import STATUSES, accepted, new_application_no, new_phone


def http_settings(gw, prefix="SMS_HTTP_", **extra):
    return {prefix + "URL": gw.url, prefix + "KEY": gw.key, prefix + "CONNECT_TIMEOUT": "0.5",
            prefix + "READ_TIMEOUT": "0.4", **extra}


def attempts_of(notify_sql, message_id):
    return notify_sql("SELECT provider, outcome, error FROM message_attempts WHERE message_id = %s ORDER BY id",
                      (message_id,))


def test_gateway_errors_are_retried_with_backoff_until_it_recovers(start_notify, gateway, publish_event, sent,
                                                                     notify_sql):
    gw = gateway()
    gw.script = ["fail", "fail"]
    retries = sms_metrics.RETRIES.labels("http")
    before = retries._value.get()
    start_notify(SMS_PROVIDER="http", **http_settings(gw))
    no, phone = new_application_no(), new_phone()
    publish_event("intake", "application_accepted", accepted(no, phone))
    [message] = sent(no, 1)
    assert message["attempts"] == 3 and message["provider"] == "http"
    assert message["provider_message_id"].startswith("gw-")
    requests = gw.requests_for(phone)
    assert len(requests) == 3 and gw.bad_signatures == 0
    first = requests[0]
    assert first["sign_name"] == "XX市政务服务中心" and first["template_code"] == "OW_ACCEPTED"
    assert first["template_param"]["application_no"] == no and first["content"] == message["text"]
    assert {r["out_id"] for r in requests} == {message["message_id"]}
    assert [a["outcome"] for a in attempts_of(notify_sql, message["message_id"])] == ["retry", "retry", "sent"]
    assert retries._value.get() >= before + 2


def test_a_read_timeout_is_retried_and_the_gateway_dedupes_on_the_message_id(start_notify, gateway, publish_event,
                                                                              sent, notify_sql):
    gw = gateway(slow_seconds=1.0)
    gw.script = ["timeout"]
    start_notify(SMS_PROVIDER="http", **http_settings(gw))
    no, phone = new_application_no(), new_phone()
    publish_event("intake", "application_accepted", accepted(no, phone))
    [message] = sent(no, 1)
    assert message["attempts"] == 2
    [timed_out, ok] = attempts_of(notify_sql, message["message_id"])
    assert "read_timeout" in timed_out["error"] and ok["outcome"] == "sent"
    # the slow first request reached the gateway too; both carried the same
    # out_id, so the gateway sent one text and gave one message id
    assert len(gw.requests_for(phone)) == 2
    assert gw.accepted[message["message_id"]] == message["provider_message_id"]


def test_failover_to_the_second_provider_when_the_first_keeps_failing(start_notify, gateway, publish_event, sent,
                                                                      notify_sql):
    down, backup = gateway(default="fail"), gateway()
    start_notify(SMS_PROVIDER="http", SMS_FALLBACK_PROVIDER="http_backup", SMS_FAILOVER_AFTER="2",
                 **http_settings(down), **http_settings(backup, "SMS_HTTP_BACKUP_"))
    no, phone = new_application_no(), new_phone()
    publish_event("intake", "application_accepted", accepted(no, phone))
    [message] = sent(no, 1)
    assert message["provider"] == "http_backup" and message["attempts"] == 3
    assert len(down.requests_for(phone)) == 2 and len(backup.requests_for(phone)) == 1
    assert [(a["provider"], a["outcome"]) for a in attempts_of(notify_sql, message["message_id"])] == [
        ("http", "retry"), ("http", "retry"), ("http_backup", "sent")]


def test_a_refused_number_fails_for_good_with_its_reason(start_notify, gateway, publish_event, sent, notify_sql, wait):
    gw = gateway(default="refuse")
    start_notify(SMS_PROVIDER="http", **http_settings(gw))
    no, phone = new_application_no(), new_phone()
    publish_event("intake", "application_accepted", accepted(no, phone))
    [message] = sent(no, 1, status="failed")
    assert message["attempts"] == 1 and "INVALID_PHONE" in message["failure_reason"]
    wait(lambda: notify_sql(f"SELECT 1 {STATUSES} "
                            "AND m->>'application_no' = %s AND m->>'status' = 'failed'", (no,)),
         message="the failure reported to intake")


def test_an_unreachable_gateway_is_bounded_and_recorded(start_notify, publish_event, sent, notify_sql):
    start_notify(SMS_PROVIDER="http", SMS_HTTP_URL="http://127.0.0.1:9/sms/send", SMS_HTTP_KEY="k",
                 SMS_HTTP_CONNECT_TIMEOUT="0.3", SMS_MAX_ATTEMPTS="3", SMS_RETRY_BASE_SECONDS="0.1")
    no, phone = new_application_no(), new_phone()
    publish_event("intake", "application_accepted", accepted(no, phone))
    [message] = sent(no, 1, status="failed")
    assert message["attempts"] == 3 and "gave up after 3 attempts" in message["failure_reason"]
    assert len(attempts_of(notify_sql, message["message_id"])) == 3
