"""Alibaba Cloud SMS and Tencent Cloud SMS through their official SDKs,
against local servers that verify each provider's signature as documented
and answer as the provider does; then a receipt pushed back for the message
reaches notify.delivery_report."""
import json
import socket
import uuid

import pytest

from services.notify import clouds, providers, receipts
from services.notify.settings import Settings

from .cloud_servers import CloudSmsServer
from .conftest import accepted, new_application_no, new_phone

KEY_ID, SECRET = "LTAI-test-key", "s3cr3t-of-the-centre"


@pytest.fixture
def cloud():
    made = []

    def make(provider, **kwargs):
        made.append(CloudSmsServer(provider, KEY_ID, SECRET, **kwargs))
        return made[-1]

    yield make
    for server in made:
        server.close()


def cloud_config(provider, server=None, endpoint=None, secret=SECRET, **extra):
    prefix = {"aliyun": "ALIYUN_SMS_", "tencent": "TENCENT_SMS_"}[provider]
    return {"SMS_PROVIDER": provider, prefix + "KEY_ID": KEY_ID, prefix + "KEY_SECRET": secret,
            prefix + "ENDPOINT": endpoint or server.endpoint, prefix + "SCHEME": "http",
            prefix + "APP_ID": "1400000001", prefix + "CONNECT_TIMEOUT": "0.5", prefix + "READ_TIMEOUT": "0.5",
            prefix + "TEMPLATES": "OW_ACCEPTED=SMS_465000001" if provider == "aliyun" else "OW_ACCEPTED=2001001",
            **extra}


def provider_for(provider, **config):
    return providers.build(provider, Settings.load(cloud_config(provider, **config)))


def message(**fields):
    return {"message_id": str(uuid.uuid4()), "phone": "13912345678", "template": "application_accepted",
            "template_code": "OW_ACCEPTED", "text": "【XX市政务服务中心】张**您好……",
            "params": {"name_masked": "张**", "item_name": "食品经营许可", "application_no": "2026ZW0001",
                       "due_date": "2026-03-20"}, **fields}


# ------------------------------------------------------------------ Alibaba

def test_aliyun_send_is_signed_acs3_and_carries_the_out_id(cloud):
    server = cloud("aliyun")
    sms = message()
    provider_id = provider_for("aliyun", server=server).send(sms)
    assert server.bad_signatures == []
    [(params, _)] = server.requests
    assert params["Action"] == "SendSms" and params["Version"] == "2017-05-25"
    assert params["PhoneNumbers"] == "13912345678" and params["SignName"] == "XX市政务服务中心"
    assert params["TemplateCode"] == "SMS_465000001"                      # our code mapped to theirs
    assert json.loads(params["TemplateParam"]) == sms["params"]
    assert params["OutId"] == sms["message_id"]
    assert provider_id.startswith("aliyun:") and provider_id.endswith("^0")


def test_aliyun_with_a_wrong_secret_is_refused_by_the_signature_check(cloud):
    server = cloud("aliyun")
    with pytest.raises(providers.ProviderError) as err:
        provider_for("aliyun", server=server, secret="not-the-secret").send(message())
    assert server.bad_signatures == ["signature does not match"] and server.requests == []
    assert err.value.reason == "aliyun_SignatureDoesNotMatch"
    assert err.value.retryable and not err.value.maybe_sent


# ------------------------------------------------------------------ Tencent

def test_tencent_send_is_signed_tc3_with_positional_params_and_the_session_context(cloud):
    server = cloud("tencent")
    sms = message()
    provider_id = provider_for("tencent", server=server).send(sms)
    assert server.bad_signatures == []
    [(params, _)] = server.requests
    assert params["Action"] == "SendSms" and params["Version"] == "2021-01-11"
    assert params["Region"] == "ap-guangzhou"
    assert params["PhoneNumberSet"] == ["+8613912345678"] and params["SmsSdkAppId"] == "1400000001"
    assert params["SignName"] == "XX市政务服务中心" and params["TemplateId"] == "2001001"
    # {1}..{4} in the order the placeholders appear in templates.yaml's text
    assert params["TemplateParamSet"] == ["张**", "食品经营许可", "2026ZW0001", "2026-03-20"]
    assert params["SessionContext"] == sms["message_id"]
    assert provider_id.startswith("tencent:2645:")


def test_tencent_with_a_wrong_secret_is_refused_by_the_signature_check(cloud):
    server = cloud("tencent")
    with pytest.raises(providers.ProviderError) as err:
        provider_for("tencent", server=server, secret="not-the-secret").send(message())
    assert server.bad_signatures == ["signature does not match"]
    assert err.value.reason == "tencent_AuthFailure.SignatureFailure" and not err.value.maybe_sent


# ------------------------------------------------------------------ both

ANSWERS = {
    "aliyun": [("isv.MOBILE_NUMBER_ILLEGAL", False, False), ("isv.BUSINESS_LIMIT_CONTROL", True, False),
               ("aliyun_ServiceUnavailable", True, True)],
    "tencent": [("InvalidParameterValue.IncorrectPhoneNumber", False, False),
                ("LimitExceeded.PhoneNumberThirtySecondLimit", True, False),
                ("tencent_InternalError.RequestTimeException", True, True)],
}


@pytest.mark.parametrize("provider", ["aliyun", "tencent"])
def test_a_refused_number_fails_for_good_a_limit_is_retried_an_outage_may_have_sent(cloud, provider):
    server = cloud(provider)
    server.script = ["refuse", "throttle", "error"]
    sender = provider_for(provider, server=server)
    outcomes = []
    for _ in range(3):
        with pytest.raises(providers.ProviderError) as err:
            sender.send(message())
        outcomes.append((err.value.reason, err.value.retryable, err.value.maybe_sent))
    assert outcomes == ANSWERS[provider]
    assert len(server.requests) == 3        # the SDKs do not retry on their own: notify decides


@pytest.mark.parametrize("provider", ["aliyun", "tencent"])
def test_no_answer_in_time_may_have_been_sent_and_a_refused_connection_was_not(cloud, provider):
    server = cloud(provider, default="slow", slow_seconds=1.5)
    with pytest.raises(providers.ProviderError) as err:
        provider_for(provider, server=server).send(message())
    assert err.value.maybe_sent, err.value
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(providers.ProviderError) as err:
        provider_for(provider, endpoint=closed).send(message())
    assert err.value.reason == "connection" and not err.value.maybe_sent, err.value


def test_a_cloud_provider_without_its_keys_is_refused_at_start():
    with pytest.raises(ValueError) as err:
        providers.build("tencent", Settings.load({"SMS_PROVIDER": "tencent"}))
    assert "KEY_ID" in str(err.value) and "KEY_SECRET" in str(err.value) and "APP_ID" in str(err.value)


def test_template_ids_are_read_strictly():
    assert clouds.parse_template_ids(" OW_A=SMS_1, OW_B = 22 ,") == {"OW_A": "SMS_1", "OW_B": "22"}
    with pytest.raises(ValueError) as err:
        clouds.parse_template_ids("OW_A=SMS_1,OW_B,=3")
    assert "OW_B" in str(err.value) and "=3" in str(err.value)


# ------------------------------------------------------------------ through notify, receipt included

@pytest.mark.parametrize("provider", ["aliyun", "tencent"])
def test_an_accepted_application_is_texted_through_the_cloud_and_its_receipt_lands(
        provider, cloud, start_notify, publish_event, sent, rpc, wait):
    server = cloud(provider)
    start_notify(**cloud_config(provider, server=server))
    no, phone = new_application_no(), new_phone()
    publish_event("intake", "application_accepted", accepted(no, phone))
    # events other tests left in notify's queues go first: allow for them
    [sms] = sent(no, 1, timeout=60)
    assert sms["provider"] == provider and sms["provider_message_id"].startswith(f"{provider}:")
    to_phone = [params for params, _ in server.requests
                if params.get("PhoneNumbers") == phone or params.get("PhoneNumberSet") == [f"+86{phone}"]]
    assert server.bad_signatures == [] and len(to_phone) == 1

    native = sms["provider_message_id"].split(":", 1)[1]
    if provider == "aliyun":
        body = [{"phone_number": phone[:7] + "****", "send_time": "2026-03-02 09:00:01",
                 "report_time": "2026-03-02 09:00:04", "success": True, "err_code": "DELIVERED",
                 "err_msg": "用户接收成功", "sms_size": "1", "biz_id": native, "out_id": sms["message_id"]}]
    else:
        body = [{"user_receive_time": "2026-03-02 09:00:04", "nationcode": "86", "mobile": phone,
                 "report_status": "SUCCESS", "errmsg": "DELIVRD", "description": "用户短信送达成功",
                 "sid": native}]
    found = receipts.parse(provider, json.dumps(body).encode(), "t0ken", "t0ken")
    assert receipts.forward(found, rpc.notify.delivery_report) == (1, 0)
    wait(lambda: rpc.notify.messages(application_no=no)[0]["status"] == "delivered",
         message="the receipt to mark the SMS delivered")
