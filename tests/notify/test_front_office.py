"""What the front office's events tell people, against the real broker and
database: refusal and withdrawal, reductions, waivers and reminders, each
step of a complaint; and no SMS promises a portal that is not configured."""
from .conftest import accepted, event, new_application_no, new_phone


def by_template(messages):
    return {m["template"]: m for m in messages}


def test_refusal_withdrawal_and_bill_notices_say_what_happened(start_notify, publish_event, sent, rpc):
    start_notify()
    refused_no, phone = new_application_no(), new_phone()
    publish_event("intake", "application_refused", event(
        application_no=refused_no, refusal_no="ZWBYSL2026000007", item_code=None, item_name="出入境证件办理",
        refused_on="2026-03-02", reasons=["不属于本中心受理范围。", "应向出入境管理部门申请"],
        legal_basis="《行政许可法》第三十二条", window="W07",
        applicant={"kind": "person", "name": "张三丰", "name_masked": "张**", "phone": phone}))
    [refusal] = sent(refused_no, 1)
    assert refusal["template"] == "application_refused"
    assert ("不予受理（ZWBYSL2026000007）。理由：不属于本中心受理范围；应向出入境管理部门申请。"
            "依据：《行政许可法》第三十二条。") in refusal["text"]

    no = new_application_no()
    publish_event("intake", "application_accepted", accepted(no, phone, fees=[20000, 10050]))
    bill = {"application_no": no, "bill_no": "B2026000031", "lines": [], "status": "unpaid"}
    publish_event("fees", "bill_reduced", event(**bill, total_fen=25050, gross_fen=30050, reduced_fen=5000,
                                                department="market", reduction_ref="r1",
                                                reduced_lines=[{"line_no": 1, "amount_fen": 5000,
                                                                "legal_basis": "《困难群众收费减免办法》"}]))
    publish_event("fees", "bill_reminder", event(**bill, total_fen=25050, working_days=3))
    publish_event("fees", "bill_waived", event(**bill, total_fen=25050, department="market", reason="低保户"))
    publish_event("intake", "application_withdrawn", event(
        application_no=no, item_code="FOOD-1", item_name="食品经营许可", reason="不办了", withdrawn_on="2026-03-05",
        applicant={"kind": "person", "name": "张三丰", "name_masked": "张**", "phone": phone}))
    texts = {t: m["text"] for t, m in by_template(sent(no, 5)).items()}
    assert set(texts) == {"application_accepted", "bill_reduced", "bill_reminder", "bill_waived",
                          "application_withdrawn"}
    assert "已减免50.00元（依据：《困难群众收费减免办法》），现应缴250.50元，缴费单号B2026000031" in texts["bill_reduced"]
    assert "应缴费用250.50元（缴费单号B2026000031）尚未缴纳" in texts["bill_reminder"]
    assert "已依规免收（低保户），无需缴费" in texts["bill_waived"]
    assert f"（编号{no}）已按您的申请撤回" in texts["application_withdrawn"]
    # no portal configured: the receipt points to the window, and no link anywhere
    assert "可凭受理编号到中心窗口查询办理进度" in texts["application_accepted"]
    assert not any("http" in text or "网上" in text for text in texts.values())
    publish_event("intake", "application_completed", event(
        application_no=no, item_code="FOOD-1", item_name="食品经营许可", outcome="approved", status="completed",
        concluded_on="2026-03-11", applicant={"name": "张三丰", "name_masked": "张**", "phone": phone}))
    later = no + "-marker"
    publish_event("intake", "application_refused", event(
        application_no=later, refusal_no="ZWBYSL2026000008", item_name="x", reasons=["r"], legal_basis="b",
        applicant={"name": "张三丰", "phone": phone}))
    sent(later, 1)   # handled after the completion: no rating invitation without a portal to rate on
    assert "rating_invitation" not in by_template(rpc.notify.messages(application_no=no))


def test_a_complainant_hears_each_step_and_the_department_the_clock(start_notify, publish_event, sent, rpc):
    start_notify()
    phone, supervisor = new_phone(), new_phone()
    complaint = {"complaint_no": "ZWTS2026000003", "application_no": None, "department": "QS",
                 "department_name": "质量技术监督局", "supervisor_phone": supervisor, "phone": phone,
                 "due_date": "2026-03-09", "received_on": "2026-03-02"}
    publish_event("intake", "complaint_received", event(**complaint))
    publish_event("intake", "complaint_warning", event(**complaint, working_days_left=1))
    publish_event("intake", "complaint_overdue", event(**complaint, notice_no="ZWTS2026000003-DB",
                                                       working_days_overdue=2))
    publish_event("intake", "complaint_answered", event(**complaint, answer="已责成质监局致歉并办结",
                                                        answered_on="2026-03-12", on_time=False))

    def messages(who, count):
        def ready():
            found = rpc.notify.messages(phone=who)
            return found if len(found) >= count and all(m["status"] == "sent" for m in found) else None
        from tests.conftest import wait_until
        return by_template(wait_until(ready, message=f"{count} messages to {who}"))

    mine = messages(phone, 3)
    assert set(mine) == {"complaint_received", "complaint_overdue_complainant", "complaint_answered"}
    assert "编号ZWTS2026000003，我们将于2026-03-09前答复您" in mine["complaint_received"]["text"]
    assert "中心已督办（ZWTS2026000003-DB）" in mine["complaint_overdue_complainant"]["text"]
    assert mine["complaint_answered"]["text"].endswith("已答复：已责成质监局致歉并办结")
    staff = messages(supervisor, 2)
    assert set(staff) == {"complaint_warning", "complaint_supervision_notice"}
    assert staff["complaint_supervision_notice"]["urgent"] is True
    assert "质量技术监督局的投诉ZWTS2026000003已超期2个工作日" in staff["complaint_supervision_notice"]["text"]
