"""Receipt callbacks of Alibaba Cloud SMS and Tencent Cloud SMS: the URL's
token, every receipt of a push, every problem named at once."""
import json

import pytest

from services.notify import receipts
from services.notify.receipts import Receipt, ReceiptRefused

ALIYUN = [{"phone_number": "1391234****", "send_time": "2026-03-02 09:00:01", "report_time": "2026-03-02 09:00:04",
           "success": True, "err_code": "DELIVERED", "err_msg": "用户接收成功", "sms_size": "1",
           "biz_id": "900619746936498^0", "out_id": "m-1"},
          {"phone_number": "1381111****", "send_time": "2026-03-02 09:00:01", "report_time": "2026-03-02 09:01:00",
           "success": False, "err_code": "MK:0001", "err_msg": "用户关机", "sms_size": "2",
           "biz_id": "900619746936499^0", "out_id": "m-2"}]
TENCENT = [{"user_receive_time": "2026-03-02 09:00:04", "nationcode": "86", "mobile": "13912345678",
            "report_status": "SUCCESS", "errmsg": "DELIVRD", "description": "用户短信送达成功", "sid": "2645:1"},
           {"user_receive_time": "2026-03-02 09:00:09", "nationcode": "86", "mobile": "13811111111",
            "report_status": "FAIL", "errmsg": "MN:0001", "description": "空号", "sid": "2645:2"}]


def body(items):
    return json.dumps(items, ensure_ascii=False).encode()


def test_an_aliyun_push_gives_one_receipt_per_report():
    assert receipts.parse("aliyun", body(ALIYUN), "tok", "tok") == [
        Receipt("aliyun:900619746936498^0", "delivered", None, "m-1"),
        Receipt("aliyun:900619746936499^0", "failed", "MK:0001 用户关机", "m-2")]


def test_a_tencent_push_gives_one_receipt_per_report():
    assert receipts.parse("tencent", body(TENCENT), "tok", "tok") == [
        Receipt("tencent:2645:1", "delivered", None, None),
        Receipt("tencent:2645:2", "failed", "MN:0001 空号", None)]


@pytest.mark.parametrize("expected,given", [("tok", "bad"), ("tok", None), ("tok", ""), ("", ""), (None, "x")])
def test_a_wrong_or_missing_token_is_refused_before_the_body_is_read(expected, given):
    with pytest.raises(ReceiptRefused) as err:
        receipts.parse("aliyun", b"not even json", given, expected)
    assert err.value.status == 403


def test_every_problem_of_a_push_is_named_and_nothing_is_applied():
    bad = [dict(ALIYUN[0], biz_id=""), dict(ALIYUN[1], success="yes"), "nonsense", dict(ALIYUN[0], out_id="a\x00b")]
    with pytest.raises(ReceiptRefused) as err:
        receipts.parse("aliyun", body(bad), "tok", "tok")
    assert err.value.status == 400
    assert err.value.problems == ["receipt 0: biz_id is missing", "receipt 1: success must be true or false",
                                  "receipt 2: not an object", "receipt 3: out_id is not a plausible value"]
    with pytest.raises(ReceiptRefused) as err:
        receipts.parse("tencent", body([dict(TENCENT[0], report_status="OK", sid=None)]), "tok", "tok")
    assert err.value.problems == ["receipt 0: sid is missing", "receipt 0: report_status must be SUCCESS or FAIL"]


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b'"text"', "[1]".encode() * 400_000])
def test_bodies_that_are_not_a_push_are_refused(raw):
    with pytest.raises(ReceiptRefused):
        receipts.parse("tencent", raw, "tok", "tok")


def test_an_unknown_provider_is_not_found():
    with pytest.raises(ReceiptRefused) as err:
        receipts.parse("huawei", body(TENCENT), "tok", "tok")
    assert err.value.status == 404


def test_answers_are_what_each_provider_documents():
    assert receipts.answer("aliyun") == (200, {"code": 0, "msg": "成功"})
    assert receipts.answer("tencent") == (200, {"result": 0, "errmsg": "OK"})
    refused = ReceiptRefused(["wrong or missing token"], status=403)
    assert receipts.answer("aliyun", refused) == (403, {"code": 1, "msg": "wrong or missing token"})
    assert receipts.answer("tencent", refused) == (403, {"result": 1, "errmsg": "wrong or missing token"})


def test_forward_applies_known_receipts_and_counts_unknown_ones():
    calls = []

    class NotFound(Exception):
        pass

    def delivery_report(provider_message_id, status, reason):
        calls.append((provider_message_id, status, reason))
        if provider_message_id.endswith("2"):
            raise NotFound(provider_message_id)

    found = receipts.parse("tencent", body(TENCENT), "tok", "tok")
    assert receipts.forward(found, delivery_report, not_found=(NotFound,)) == (1, 1)
    assert calls == [("tencent:2645:1", "delivered", None), ("tencent:2645:2", "failed", "MN:0001 空号")]


def test_an_outcome_of_the_wrong_type_is_refused():
    with pytest.raises(ReceiptRefused) as err:
        receipts.parse("aliyun", body([dict(ALIYUN[0], success=1)]), "tok", "tok")
    assert err.value.problems == ["receipt 0: success must be true or false"]
