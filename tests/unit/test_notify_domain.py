"""notify's pure rules: rendering, segments, masking, quiet hours, retries."""
import datetime
import zoneinfo

import pytest

from services.notify import domain, providers

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
BOOK = domain.TemplateBook.load()
SIG = "【XX市政务服务中心】"


def book(text):
    return domain.TemplateBook.from_data({"t": {"code": "T1", "recipient": "applicant", "text": text}})


# ------------------------------------------------------------- segments

@pytest.mark.parametrize("length, expected", [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)])
def test_segments_count_70_then_67(length, expected):
    assert domain.segments("字" * length) == expected


@pytest.mark.parametrize("total, expected", [(70, 1), (71, 2), (134, 2)])
def test_segments_count_the_signature(total, expected):
    body = "办" * (total - len(SIG))
    rendered = book(body).render("t", {}, "XX市政务服务中心")
    assert rendered.text == SIG + body
    assert len(rendered.text) == total
    assert rendered.segments == expected


def test_a_long_sign_name_can_push_a_text_into_two_segments():
    body = "办" * (70 - len(SIG))
    assert book(body).render("t", {}, "XX市政务服务中心").segments == 1
    assert book(body).render("t", {}, "XX市人民政府政务服务中心").segments == 2


# ------------------------------------------------------------- rendering

def test_rendering_fills_every_variable_and_puts_the_signature_first():
    rendered = BOOK.render("application_accepted", {
        "name_masked": "张*", "item_name": "食品经营许可", "application_no": "2026ZW000123",
        "due_date": "2026-03-20"}, "XX市政务服务中心")
    assert rendered.text.startswith("【XX市政务服务中心】张*您好")
    assert "2026ZW000123" in rendered.text and "2026-03-20" in rendered.text and "食品经营许可" in rendered.text
    assert "{" not in rendered.text and " " not in rendered.text
    assert rendered.code == "OW_ACCEPTED"
    assert rendered.params["due_date"] == "2026-03-20"
    assert rendered.segments == domain.segments(rendered.text)


def test_a_missing_variable_fails_loudly_naming_every_missing_one():
    with pytest.raises(domain.TemplateError) as err:
        BOOK.render("application_accepted", {"name_masked": "张*", "item_name": "食品经营许可"})
    assert "application_no" in str(err.value) and "due_date" in str(err.value)


def test_an_empty_or_none_variable_counts_as_missing():
    with pytest.raises(domain.TemplateError):
        book("缴费{amount_yuan}元").render("t", {"amount_yuan": ""})
    with pytest.raises(domain.TemplateError):
        book("缴费{amount_yuan}元").render("t", {"amount_yuan": None})


def test_unknown_template_is_an_error():
    with pytest.raises(domain.TemplateError):
        BOOK.render("no_such_template", {})


def test_template_file_is_checked_when_loaded():
    with pytest.raises(domain.TemplateError) as err:
        domain.TemplateBook.from_data({
            "a": {"code": "A", "recipient": "nobody", "text": "x"},
            "b": {"recipient": "applicant", "text": "x"},
            "c": {"code": "C", "recipient": "applicant", "text": "{applicant.name}"},
        })
    message = str(err.value)
    assert "a: recipient" in message and "b: missing code" in message and "c: placeholders" in message


def test_every_shipped_template_renders_with_its_variables_and_in_chinese():
    for name, template in BOOK.templates.items():
        values = {v: "1" for v in template.variables}
        rendered = BOOK.render(name, values)
        assert rendered.text.startswith("【") and "】" in rendered.text
        assert any("\u4e00" <= ch <= "\u9fff" for ch in rendered.text[len(SIG):])


def test_urgent_templates_are_the_red_warning_the_supervision_notices_and_the_one_time_code():
    assert {n for n, t in BOOK.templates.items() if t.urgent} == {
        "task_overdue_red", "task_supervision_notice", "notice_escalated", "task_unstaffed",
        "complaint_supervision_notice", "portal_tracking_code"}


# ---------------------------------------------------------- personal data

def test_a_resident_id_number_never_renders():
    with pytest.raises(domain.PersonalDataLeak):
        book("证件{x}").render("t", {"x": "11010519491231002X"})


@pytest.mark.parametrize("fen, text", [(0, "0.00"), (5, "0.05"), (100, "1.00"), (12345, "123.45"), (-250, "-2.50")])
def test_yuan_from_fen(fen, text):
    assert domain.yuan(fen) == text


# ------------------------------------------------------ what each event sends

CONTACT = {"application_no": "2026ZW000001", "phone": "13800000001", "name": "李四", "name_masked": "李*",
           "item_name": "食品经营许可", "collect": "请携带身份证原件到3号窗口领取许可证。", "fees_total_fen": 0}


def test_acceptance_receipt_depends_on_the_status():
    event = {"application_no": "2026ZW000001", "status": "accepted", "due_date": "2026-03-20", "fees": []}
    [notice] = domain.acceptance_notices(event, CONTACT)
    assert notice.template == "application_accepted" and notice.recipient_role == "applicant"
    [done] = domain.acceptance_notices({**event, "status": "completed", "collect": "当场领取。"}, CONTACT)
    assert done.template == "application_completed_on_the_spot" and done.variables["collect"] == "当场领取。"
    [pay] = domain.acceptance_notices({**event, "status": "awaiting_payment",
                                       "fees": [{"amount_fen": 1050}, {"amount_fen": 2000}]}, CONTACT)
    assert pay.template == "application_awaiting_payment" and pay.variables["amount_yuan"] == "30.50"


def test_materials_notice_lists_every_missing_material_once():
    event = {"application_no": "2026ZW000001",
             "missing_materials": [{"code": "m1", "name": "营业执照"}, {"code": "m2", "name": "场所平面图"}]}
    [notice] = domain.materials_notices(event, CONTACT)
    text = BOOK.render(notice.template, notice.variables).text
    assert "营业执照、场所平面图" in text


def test_approval_says_what_to_pay_and_bring():
    [free] = domain.review_notices({"application_no": "x", "outcome": "approved"}, CONTACT)
    assert free.variables["next_step"] == CONTACT["collect"]
    [paid] = domain.review_notices({"application_no": "x", "outcome": "approved"},
                                   {**CONTACT, "fees_total_fen": 30000})
    assert "300.00元" in paid.variables["next_step"] and CONTACT["collect"] in paid.variables["next_step"]


def test_rejection_gives_each_departments_reasons():
    event = {"application_no": "x", "outcome": "rejected", "rejections": [
        {"department": "sc", "department_name": "市场监管局", "opinion": "场所不符合要求。", "legal_basis": "《食品经营许可管理办法》第十一条"},
        {"department": "fire", "department_name": "消防救援支队", "opinion": "消防通道堵塞", "legal_basis": None}]}
    [notice] = domain.review_notices(event, CONTACT)
    text = BOOK.render(notice.template, notice.variables).text
    assert "市场监管局：场所不符合要求（依据：《食品经营许可管理办法》第十一条）" in text
    assert "消防救援支队：消防通道堵塞。" in text
    assert notice.template == "review_rejected"


def test_bill_notices_show_yuan_with_two_decimals():
    [bill] = domain.bill_issued_notices({"application_no": "x", "total_fen": 10000, "bill_no": "B1"}, CONTACT)
    assert bill.variables["amount_yuan"] == "100.00"
    [paid] = domain.bill_paid_notices({"application_no": "x", "total_fen": 10001, "bill_no": "B1",
                                       "receipt_no": "R9"}, CONTACT)
    assert paid.variables["receipt_no"] == "R9" and paid.variables["amount_yuan"] == "100.01"


def test_overdue_warns_the_assignee_and_sends_the_supervision_notice_to_the_supervisor():
    event = {"application_no": "x", "department": "sc", "department_name": "市场监管局", "assignee": "王五",
             "assignee_phone": "13900000001", "supervisor_phone": "13900000002", "due_date": "2026-03-01",
             "working_days_overdue": 2, "notice_no": "DB-2026-0001"}
    red, supervision = domain.overdue_notices(event)
    assert (red.template, red.recipient_role, red.phone) == ("task_overdue_red", "assignee", "13900000001")
    assert (supervision.template, supervision.recipient_role, supervision.phone) == (
        "task_supervision_notice", "supervisor", "13900000002")
    assert "DB-2026-0001" in BOOK.render(supervision.template, supervision.variables).text


def test_no_phone_no_notice():
    assert domain.warning_notices({"application_no": "x", "assignee_phone": None}) == []
    assert domain.materials_notices({"application_no": "x", "missing_materials": []}, {**CONTACT, "phone": ""}) == []


# ------------------------------------------------------------------ timing

def at(hour, minute=0, day=5):
    return datetime.datetime(2026, 1, day, hour, minute, tzinfo=SHANGHAI)


def test_quiet_hours_across_midnight():
    window = domain.parse_quiet_hours("21:00-08:00")
    assert domain.quiet_until(at(20, 59), window) is None
    assert domain.quiet_until(at(21, 0), window) == at(8, 0, day=6)
    assert domain.quiet_until(at(23, 30), window) == at(8, 0, day=6)
    assert domain.quiet_until(at(3, 0), window) == at(8, 0)
    assert domain.quiet_until(at(8, 0), window) is None


def test_quiet_hours_within_a_day_and_disabled():
    window = domain.parse_quiet_hours("12:00-13:30")
    assert domain.quiet_until(at(12, 10), window) == at(13, 30)
    assert domain.quiet_until(at(14, 0), window) is None
    assert domain.parse_quiet_hours("") is None
    assert domain.parse_quiet_hours(None) is None
    with pytest.raises(ValueError):
        domain.parse_quiet_hours("nine to five")


def test_next_local_midnight():
    assert domain.next_local_midnight(at(15)) == datetime.datetime(2026, 1, 6, tzinfo=SHANGHAI)


def text(phone, urgent=False, cap_day=None):
    return {"message_id": f"m{len(phone)}-{phone}-{urgent}-{cap_day}", "phone": phone, "urgent": urgent,
            "cap_day": cap_day}


def test_a_claim_asks_the_cap_once_per_text_that_counts():
    now = at(15)
    claimed = [text("a"), text("a", urgent=True), text("b"), text("a"), text("c", cap_day=now.date())]
    assert domain.asked_of_cap(claimed, today=now.date(), quiet_end=None, daily_cap=3) == {"a": 2, "b": 1}
    assert domain.asked_of_cap(claimed, today=now.date(), quiet_end=None, daily_cap=0) == {}
    assert domain.asked_of_cap(claimed, today=now.date(), quiet_end=at(18), daily_cap=3) == {}


def test_a_claim_sends_what_the_cap_gave_in_order_and_holds_the_rest_till_midnight():
    now = at(15)
    first, urgent, second, other, retried = (text("a"), text("a", urgent=True), text("a"), text("b"),
                                             text("c", cap_day=now.date()))
    plan = domain.plan_claim([first, urgent, second, other, retried], now=now, quiet_end=None, daily_cap=3,
                             granted={"a": 1, "b": 1})
    assert plan.send == [(first, now.date()), (urgent, None), (other, now.date()), (retried, None)]
    assert plan.hold == [(second, domain.next_local_midnight(now), "daily_cap")]


def test_a_claim_holds_all_but_urgent_texts_in_quiet_hours():
    now, quiet_end = at(22), at(8, day=6)
    plain, urgent = text("a"), text("b", urgent=True)
    plan = domain.plan_claim([plain, urgent], now=now, quiet_end=quiet_end, daily_cap=3, granted={})
    assert plan.send == [(urgent, None)] and plan.hold == [(plain, quiet_end, "quiet_hours")]


def test_a_phone_another_sender_was_counting_waits_for_the_next_pass():
    now = at(15)
    waits, goes = text("a"), text("b")
    plan = domain.plan_claim([waits, goes], now=now, quiet_end=None, daily_cap=3, granted={"b": 1})
    assert plan.send == [(goes, now.date())] and plan.hold == []


def test_backoff_doubles_up_to_the_cap():
    assert [domain.retry_delay(n, 1.0, 10) for n in (1, 2, 3, 4, 5, 6)] == [1, 2, 4, 8, 10, 10]


def plan(**kw):
    args = dict(attempts=1, provider="http", provider_attempts=1, retryable=True, reason="http_500",
                primary="http", fallback="local", max_attempts=6, failover_after=3, base=1.0, cap=60)
    args.update(kw)
    return domain.after_failure(**args)


def test_retry_then_fail_over_then_give_up():
    assert plan() == domain.AfterFailure("queued", "http", 1, 1.0)
    assert plan(attempts=2, provider_attempts=2).delay == 2.0
    assert plan(attempts=3, provider_attempts=3) == domain.AfterFailure("queued", "local", 0, 0.0)
    # on the fallback it keeps retrying there, never back and forth
    assert plan(attempts=4, provider="local", provider_attempts=1).provider == "local"
    failed = plan(attempts=6, provider="local", provider_attempts=3)
    assert failed.status == "failed" and "6 attempts" in failed.reason


def test_without_fallback_it_retries_the_primary_until_the_bound():
    assert plan(attempts=3, provider_attempts=3, fallback=None) == domain.AfterFailure("queued", "http", 3, 4.0)
    assert plan(attempts=6, provider_attempts=6, fallback=None).status == "failed"


def test_a_permanent_refusal_fails_over_once_then_is_terminal():
    assert plan(retryable=False) == domain.AfterFailure("queued", "local", 0, 0.0)
    final = plan(retryable=False, fallback=None, reason="INVALID_PHONE")
    assert final.status == "failed" and final.reason == "INVALID_PHONE"


def test_a_provider_that_may_have_taken_the_message_is_never_failed_over():
    assert plan(attempts=3, provider_attempts=3, maybe_sent=True) == domain.AfterFailure("queued", "http", 3, 4.0)
    assert plan(retryable=False, maybe_sent=True).status == "failed"
    assert plan(attempts=6, provider_attempts=6, maybe_sent=True).status == "failed"


def test_sending_reads_as_queued_in_the_contract():
    assert domain.contract_status("sending") == "queued"
    assert domain.contract_status("delivered") == "delivered"


def test_request_signature_is_hmac_sha256_over_timestamp_nonce_body():
    import hashlib
    import hmac
    expected = hmac.new(b"k", b"1700000000\nabc\n{}", hashlib.sha256).hexdigest()
    assert providers.sign("k", "1700000000", "abc", b"{}") == expected
